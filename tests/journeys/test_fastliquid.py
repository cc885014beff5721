"""The text-and-output render path gives exactly what python-liquid's own render gives, errors included."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cjo_stream.journeys.decision_time import DecisionTime
from cjo_stream.journeys.templates import MAX_OUTPUT_CHARS, RenderError, Template

SOURCES = [
    "{{ a }}", "{{ a.b }}", "{{ a.b.c }}", "{{ a[0] }}", "{{ a[-1] }}", "{{ a[5] }}", "{{ a.first }}", "{{ a.last }}",
    "{{ a.size }}", "{{ a['x y'] }}", "{{ a.first.b }}", "{{ a | default: 'd' }}",
    "{{ a | default: 'd', allow_false: true }}", "{{ a | default: nil }}", "{{ a | upcase }}",
    "{{ a.b | default: 'd' | upcase }}", "{{ a[9] | default: 'i' }}", "{{ a.b.c | default: 2 | plus: 1 }}",
    "{{ a | default: '' }}", "{{ a | default: a }}",
    "<{{ a | append: '!' | prepend: '<' }}>", "{{ a | size }}", "{{ a | join: ', ' }}", "{{ a | first }}",
    "{{ a | times: 2 }}", "{{ a | plus: 1.5 }}", "{{ a | round: 1 }}", "{{ a | minus: 0.5 }}", "{{ a | modulo: 7 }}",
    "{{ 10 | minus: a }}", "{{ a | json }}", "{{ a | slack_escape }}", "{{ a.b | default: '<x>' | slack_escape }}",
    "{{ a | truncate: 5 }}", "{{ a | escape }}", "{{ a | date: '%Y-%m' }}",
    "{{ a | slice: 1, 2 }}", "{{ a | split: ',' | join: '-' }}", "{{ a | url_encode }}", "{{ a | sort | join }}",
    "{{ nope }}", "{{ nope.deeper | default: 'n' }}", "{{ now }}", "{{ today }}", "text {{- a -}} more\n",
    "{{ a }}{{ a.b }} and {{ event.properties.name | default: 'x' }} for {{ profile.traits.first_name }}",
    "{{ a | append: a | append: a | append: a }}",
    "Hi{% if a %} {{ a }}{% endif %}!", "{% if a == 'text' %}t{% elsif a.b %}{{ a.b }}{% else %}e{% endif %}",
    "{% unless a %}none{% endunless %}{{ a.size }}", "{% case a %}{% when 1, 'text' %}one{% else %}{{ a }}{% endcase %}",
    "{% if a.b %}{% if a.b.c %}{{ a.b.c | join: '/' }}{% endif %}{% comment %}x{% endcomment %}{% endif %}",
    "{% if a contains 'x' and nope %}y{% endif %}{{ a | size }}", "{% if partial %}p{% endif %}",
    "{% if a %}{{ a | append: a | append: a | append: a }}{% endif %}{% if a %}{{ a }}{{ a }}{% endif %}",
    "{% if a == 'text' %}t{% endif %}", "{% if 'text' != a %}n{% else %}e{% endif %}", "{% if a == 1 %}1{% endif %}",
    "{% if a == true %}T{% elsif a == false %}F{% elsif a == nil %}N{% elsif a == 0 %}0{% else %}?{% endif %}",
    "{% if a.b == 1.0 %}f{% endif %}{% if a.b != nil %}d{% endif %}{% if a.size == 2 %}2{% endif %}",
    "{% if a.first %}{{ a.first }}{% elsif a %}  {% else %}e{% endif %}", "{% if a %}  {% endif %}x",
    "{% if a %}{% if a.b %}{{ a.b | default: 'z' }}{% else %}{{ a | size }}{% endif %}{% endif %}",
    "{% if nope %}n{% elsif a[0] == 1 %}i{% endif %}", "{% if now %}{{ now }}{% endif %}",
    "{% if today == nil %}t{% endif %}", "{% if a == empty %}E{% endif %}{% if a and a.b %}A{% endif %}",
    "{% if a == -1.5 %}m{% endif %}{% if a == '' %}s{% endif %}{% unless a %}u{% endunless %}",
    # a list's size/first/last, taken without python-liquid's get_item (nested, undefined, in tests)
    "{{ a.first.first }}|{{ a.last.size }}|{{ a.b.c.last }}{{ a.b.c.size }}", "{{ a.last.b | default: 'z' }}",
    "{{ a.first | default: 'f' }}{{ a.size | default: 0 }}", "{% if a.last == 'a' %}L{% elsif a.size %}S{% endif %}",
]
VALUES: list[Any] = [
    None, True, False, 0, 1, -1.5, 1e20, 12345678901234567890, "", "text", "a,b,c", "ü€😀 <b>&amp;", [],
    [1, "x", None, True], ["b", "a"], [{"b": 2}], {}, {"b": 1}, {"b": {"c": [1, 2]}}, {"first": "F", "size": 9},
    {"x y": 1, "b": None}, [[1, 2], []], [[], "x"], "2026-11-30T10:00:00Z", "x" * (MAX_OUTPUT_CHARS // 3 + 1),
    DecisionTime(1772445600.25),  # `now` in a send's templates
]


def outcome(t: Template, data: dict[str, Any]) -> tuple[str, str]:
    try:
        return "ok", t.render(data)
    except RenderError as e:
        return "error", e.reason


def liquid_only(source: str) -> Template:
    t = Template(source)
    t._fast = None  # what python-liquid alone renders
    return t


@pytest.mark.parametrize("source", SOURCES)
def test_same_output_as_python_liquid(source: str) -> None:
    fast, slow = Template(source), liquid_only(source)
    base = {"event": {"properties": {"name": "Tent"}}, "profile": {"traits": {}}, "journey": {"id": "j"}, "now": 1.5}
    for value in VALUES:
        data = {**base, "a": value}
        assert outcome(fast, data) == outcome(slow, data), (source, value)
    assert outcome(fast, base) == outcome(slow, base), (source, "no a")


def test_now_outputs_as_rfc_3339_text_and_computes_as_epoch_seconds() -> None:
    """`{{ now }}` rendered epoch seconds with a fraction (1772445600.25); on either render path it is now
    the decision time as the command's decided_at, while arithmetic and `date` read the number."""
    data = {"now": DecisionTime(1772445600.25), "profile": {"last": {"go": 1772442000}}}
    for source, text in (("{{ now }}", "2026-03-02T10:00:00.250Z"), ("{{ now | date: '%d %b %H:%M' }}", "02 Mar 10:00"),
                         ("{{ now | minus: profile.last.go }}", "3600.25"), ("{{ now | json }}", '"2026-03-02T10:00:00.250Z"'),
                         ("{% if now > profile.last.go %}{{ now | split: 'T' | first }}{% endif %}", "2026-03-02")):
        assert Template(source).render(data) == liquid_only(source).render(data) == text, source


def test_text_outputs_and_conditionals_take_the_quick_path_and_other_tags_do_not() -> None:
    for source in ("Hi {{ profile.traits.first_name | default: 'there' }}!", "{{ a.b[0].c | truncate: 3, '.' }}",
                   "{% if a %}x{% endif %}", "{% unless a %}{% case a %}{% when 1 %}{{ a }}{% endcase %}{% endunless %}"):
        assert Template(source)._fast is not None, source
    for source in ("{% assign b = a %}{{ b }}", "{% if a %}{% assign b = a %}{% endif %}{{ b }}",
                   "{% if a %}{% increment n %}{% endif %}", "{% for x in a %}{{ x }}{% endfor %}", "{{ a[b] }}",
                   "{{ a | default: b }}", "{{ 'lit' | upcase }}", "{{ a }}{% comment %}x{% endcomment %}",
                   "{{ partial }}", "plain text"):
        assert Template(source)._fast is None, source


def test_plain_if_tests_are_done_here_and_other_conditionals_by_python_liquid() -> None:
    def kinds(source: str) -> list[str]:
        fast = Template(source)._fast
        assert fast is not None
        return [type(p).__name__ for p in fast._parts]

    assert kinds("a{% if event.context.channel == 'app' %} in app{% elsif x %}{{ x }}{% else %}e{% endif %}") == \
        ["str", "_If"]
    assert kinds("{% if a %}{% if a.b != 2 %}{{ a.b }}{% endif %}{% endif %}") == ["_If"]
    for source in ("{% if a and b %}x{% endif %}", "{% if a > 1 %}x{% endif %}", "{% if a == b %}x{% endif %}",
                   "{% if a %}x{% elsif b %} {% endif %}", "{% if a %}{% unless b %}x{% endunless %}{% endif %}",
                   "{% unless a %}x{% endunless %}"):
        assert kinds(source) == ["IfNode"] or kinds(source) == ["UnlessNode"], source


def test_a_render_over_the_output_limit_fails_as_python_liquid_fails() -> None:
    source = "{{ a }}{{ a }}{{ a }}"
    data = {"a": "é" * (MAX_OUTPUT_CHARS // 5)}  # 3 x 2 bytes x limit/5: more bytes than the limit, fewer chars
    assert outcome(Template(source), data) == outcome(liquid_only(source), data) == (
        "error", "limit: output stream limit reached")


def test_pairs_of_values() -> None:
    source = "{{ a.b | default: c }}-{{ c | join: '+' }}"
    fast, slow = Template(source), liquid_only(source)
    for a, c in itertools.product(VALUES[:12], VALUES[:16]):
        data = {"a": {"b": a}, "c": c}
        assert outcome(fast, data) == outcome(slow, data), (a, c)


def test_a_range_in_the_data_still_meets_the_filters_range_guard() -> None:
    # the quick path calls filters without the guard's wrapper: a range it is handed goes to python-liquid
    t = Template("{{ a | size }}")
    assert t._fast is not None
    with pytest.raises(RenderError, match="limit"):
        t.render({"a": range(10**9)})
    assert t.render({"a": range(3)}) == outcome(liquid_only("{{ a | size }}"), {"a": range(3)})[1] == "3"


def value_outcome(t: Template, data: dict[str, Any]) -> tuple[str, str]:
    try:
        v = t.value(data)
    except RenderError as e:
        return "error", e.reason
    return type(v).__name__, repr(v)  # (repr: nan equals itself)


LONE = [s for s in SOURCES if Template(s).lone]


def test_the_lone_outputs_are_the_templates_of_one_output_alone() -> None:
    assert "{{ a }}" in LONE and "{{ a | default: a }}" in LONE and "text {{- a -}} more\n" not in LONE
    assert not any("{%" in s or s.count("{{") > 1 for s in LONE)


@pytest.mark.parametrize("source", LONE)
def test_same_value_as_python_liquid(source: str) -> None:
    """An update's lone output evaluated on the quick path is python-liquid's value, of the same type."""
    fast, slow = Template(source), liquid_only(source)
    base = {"event": {"properties": {"name": "Tent"}}, "profile": {"traits": {}}, "journey": {"id": "j"}, "now": 1.5}
    for value in [*VALUES, range(3), range(10**9)]:
        data = {**base, "a": value}
        assert value_outcome(fast, data) == value_outcome(slow, data), (source, value)
    assert value_outcome(fast, base) == value_outcome(slow, base), (source, "no a")


@pytest.mark.parametrize("source", LONE)
def test_a_lone_outputs_value_is_what_it_renders_with_its_type(source: str) -> None:
    """The value is the render before it is made text: the same text for text, Liquid's spelling of a number or a
    boolean, and empty text for nil (which an update stores as a removed trait)."""
    for value in VALUES:
        data = {"a": value, "now": DecisionTime(1772445600.25)}
        rendered = outcome(Template(source), data)
        if rendered[0] == "error":
            assert value_outcome(Template(source), data) == rendered, (source, value)
            continue
        v = Template(source).value(data)
        assert type(v) in (str, int, float, bool, type(None)), (source, value, v)
        spelt = "" if v is None else str(v).lower() if type(v) is bool else str(v)
        assert spelt == rendered[1], (source, value, v)
