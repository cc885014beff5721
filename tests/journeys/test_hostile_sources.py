"""Hostile journey sources and templates: random text is refused with ``file:line: reason`` (never another
exception), and a template that tries to loop 10^9 times or render 100 MB fails that one send with a
recorded reason (``render_error``) while the journey and the next sends go on."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from cjo_stream.journeys.templates import (
    MAX_CONTENT_CHARS,
    MAX_OUTPUT_CHARS,
    RenderError,
    Template,
    TemplateError,
)
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

PROBLEM = re.compile(r"^j\.yaml:\d+: .+")

JOURNEY = """\
journey: fuzz
entry:
  event: go
  when: {when}
steps:
  - id: hello
    send: {{channel: in_app, content: {{body: {body}}}}}
"""


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _load(when: str, body: str) -> None:
    try:
        load_journey_text(JOURNEY.format(when=_yaml_str(when), body=_yaml_str(body)), "j.yaml")
    except JourneyLoadError as e:
        assert e.problems and all(PROBLEM.match(str(p)) for p in e.problems), e.problems


EXPRESSION_ATOMS = ["event", "profile", ".", "__class__", "__globals__", "[", "]", "(", ")", "'", "1", "==", "and",
                    "len", "lower", "import", "os", "__import__", "getattr", ",", "\\", "{{", "}}", "\n", "#", ":"]
TEMPLATE_ATOMS = ["{{", "}}", "{%", "%}", "for", "i", "in", "(1..1000000000)", "endfor", "if", "endif", "assign",
                  "x", "=", "|", "join", "append", "capture", "endcapture", "render", "include", "'os'", "raw",
                  "endraw", "event.properties.n", "comment", "cycle", "tablerow", "liquid", "echo", "\n", " "]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(when=st.text(max_size=60) | st.lists(st.sampled_from(EXPRESSION_ATOMS), max_size=12).map(" ".join))
def test_random_conditions_load_or_fail_with_file_and_line(when: str) -> None:
    _load(when or "true", "hi")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.text(max_size=60) | st.lists(st.sampled_from(TEMPLATE_ATOMS), max_size=14).map("".join))
def test_random_templates_load_or_fail_with_file_and_line(body: str) -> None:
    _load("true", body or "hi")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(st.sampled_from(TEMPLATE_ATOMS), max_size=14).map("".join),
       n=st.sampled_from([0, 3, 10**4, 10**9, -5, "9" * 30, "x", None]), s=st.sampled_from(["", "ab", "x" * 70_000]))
def test_rendering_raises_nothing_but_render_error(body: str, n: object, s: str) -> None:
    try:
        tpl = Template(body)
    except TemplateError:
        return
    try:
        out = tpl.render({"event": {"properties": {"n": n, "s": s}}, "profile": {}, "journey": {}})
    except RenderError:
        return
    assert len(out) <= MAX_OUTPUT_CHARS


@pytest.mark.parametrize("source", [
    "{% include 'etc/passwd' %}", "{% render '/etc/passwd' %}", "{{ event.__class__ }}", "{{ event | attr: 'x' }}",
])
def test_templates_cannot_reach_files_or_python_objects(source: str) -> None:
    try:
        out = Template(source).render({"event": {"properties": {}}, "profile": {}, "journey": {}})
    except (TemplateError, RenderError):
        return
    assert out == ""


@pytest.mark.parametrize(("source", "data"), [
    ("{% for i in (1..event.properties.n) %}x{% endfor %}", {"n": 10**9}),
    ("{{ (1..event.properties.n) | join }}", {"n": 10**9}),
    ("{{ (1..event.properties.n) | reverse | first }}", {"n": 10**9}),
    ("{% for i in (1..1000) %}{{ event.properties.s }}{% endfor %}", {"s": "x" * 100_000}),  # 100 MB
    ("{% assign s = event.properties.s %}{% for i in (1..30) %}{% assign s = s | append: s %}{% endfor %}{{ s }}",
     {"s": "xy"}),
    ("{% capture c %}{% for i in (1..9000) %}{{ event.properties.s }}{% endfor %}{% endcapture %}{{ c | size }}",
     {"s": "x" * 1000}),
])
def test_resource_limits_fail_the_render_quickly(source: str, data: dict[str, object]) -> None:
    tpl = Template(source)  # compiles: with empty data at load there is nothing to loop over
    t0 = time.perf_counter()
    with pytest.raises(RenderError, match="^limit: "):
        tpl.render({"event": {"properties": data}, "profile": {}, "journey": {}})
    assert time.perf_counter() - t0 < 30  # generous: a stalled partition would take hours, not seconds


def test_static_bombs_are_refused_at_load() -> None:
    with pytest.raises(JourneyLoadError, match=r"j\.yaml:7: .*loop iteration limit"):
        load_journey_text(JOURNEY.format(when='"true"', body=_yaml_str("{% for i in (1..1000000000) %}x{% endfor %}")),
                          "j.yaml")


ARGUMENT = """
journey: ratio
entry: {event: go}
steps:
  - id: per_item
    send:
      channel: in_app
      content: {body: "{{ event.properties.total | divided_by: event.properties.items }} {{ 'abcdef' | slice: 0, event.properties.n }}"}
"""


@pytest.mark.parametrize("body", ["{{ profile.traits.name | truncate: 5 }}", "{{ event.properties.n | plus: 'x' }}",
                                  "{{ event.properties.at | date: '%Y' }}", "{{ event.properties.xs | join: 1 }}",
                                  "{{ event.properties.xs | where: 'a', 1 | map: 'b' | sort: 'c' }}"])
def test_a_filter_with_constant_arguments_it_may_take_loads(body: str) -> None:
    """Only a refusal for every kind of value left of the filter refuses the template (the check above)."""
    load_journey_text(JOURNEY.format(when='"true"', body=_yaml_str(body)), "j.yaml")


def test_a_filter_whose_argument_is_data_loads_and_fails_only_that_send() -> None:
    # with the empty data of the load-time render these fail (divide by null, slice to null): they were refused
    sim = Simulator(engine(ARGUMENT))
    sim.handle(ev("go", T0, user="u1", props={"total": 12, "items": 4, "n": 2}))
    sim.handle(ev("go", T0, user="u2", props={"total": 12}))
    (cmd,) = sim.commands
    assert cmd.customer_id == "u1" and cmd.content == {"body": "3 ab"}
    (skip,) = sim.skips
    assert skip.customer_id == "u2" and skip.reason == "render_error"


@pytest.mark.parametrize(("body", "reason"), [
    ("{{ 5 | divided_by: 0 }}", "j.yaml:7: body: template: divided_by: can't divide by 0"),
    ("{{ event.properties.n | no_such_filter }}", "j.yaml:7: body: template: unknown filter 'no_such_filter'"),
    # a constant argument the filter refuses whatever the value left of it: each send was a render_error
    ("{{ profile.traits.name | truncate: 'abc' }}", "j.yaml:7: body: template: truncate expected an integer, found str"),
    ("{{ event.properties.s | slice: 'b' }}", "j.yaml:7: body: template: slice expected an integer start, found str"),
    ("{{ event.properties.n | divided_by: 0 }}", "j.yaml:7: body: template: divided_by: can't divide by 0"),
])
def test_a_filter_that_fails_on_constants_alone_is_refused_at_load(body: str, reason: str) -> None:
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(JOURNEY.format(when='"true"', body=_yaml_str(body)), "j.yaml")
    assert [str(p) for p in e.value.problems] == [reason]


BOMB = """
journey: bomb
entry: {event: go}
steps:
  - id: greedy
    send:
      channel: in_app
      content: {body: "{% for i in (1..event.properties.n) %}{{ event.properties.s }}{% endfor %}"}
  - id: after
    send: {channel: in_app, content: {body: "still here"}}
"""


def test_a_failed_render_skips_that_send_with_a_reason_and_the_journey_goes_on() -> None:
    sim = Simulator(engine(BOMB))
    sim.handle(ev("go", T0, user="u1", props={"n": 10**9, "s": "x"}))
    sim.handle(ev("go", T0 + 1, user="u2", props={"n": 1000, "s": "y" * 100_000}))
    sim.handle(ev("go", T0 + 2, user="u3", props={"n": 3, "s": "z"}))
    skips = {(s.customer_id, s.step): s for s in sim.skips}
    assert skips[("u1", "greedy")].reason == "render_error"
    assert skips[("u1", "greedy")].detail == "limit: loop iteration limit reached"
    assert skips[("u2", "greedy")].reason == "render_error"
    assert skips[("u2", "greedy")].detail == "limit: output stream limit reached"
    sent = sorted((c.customer_id, c.step, c.content["body"]) for c in sim.commands)
    assert sent == [("u1", "after", "still here"), ("u2", "after", "still here"), ("u3", "after", "still here"),
                    ("u3", "greedy", "zzz")]


def test_all_content_fields_together_are_limited() -> None:
    many = """
journey: wide
entry: {event: go}
steps:
  - id: s
    send:
      channel: email
      to: "a@example.com"
      content: {a: "{{ event.properties.s }}", b: "{{ event.properties.s }}", c: "{{ event.properties.s }}"}
"""
    sim = Simulator(engine(many))
    sim.handle(ev("go", T0, props={"s": "x" * (MAX_CONTENT_CHARS // 3 + 10)}))
    (skip,) = sim.skips
    assert skip.reason == "render_error" and skip.detail is not None and skip.detail.startswith("limit: content")


def test_yaml_alias_bombs_are_refused() -> None:
    """"Billion laughs": nine aliases of nine aliases ... would expand to 387 million values."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    t0 = time.perf_counter()
    with pytest.raises(JourneyLoadError, match=r"l\.yaml:\d+: the file expands to more than"):
        load_journey_text("\n".join(lines) + "\njourney: x\n", "l.yaml")
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("line, reason", [
    # a tag the safe loader does not know ended validate with ConstructorError's traceback (exit 70)
    ("  event: !custom signed_up", "j.yaml:4: YAML: could not determine a constructor for the tag '!custom'"),
    ("  ? !foo [a]\n  : b", "j.yaml:4: YAML: could not determine a constructor for the tag '!foo'"),
    # a YAML 1.1 timestamp that is no date: ValueError's traceback
    ("  event: 2024-13-45", "j.yaml:4: YAML: '2024-13-45' cannot be read (month must be in 1..12)"),
])
def test_unknown_tags_and_impossible_dates_are_refused_with_the_line(line: str, reason: str) -> None:
    text = f"journey: j\nversion: 1\nentry:\n{line}\nsteps:\n  - id: s\n    wait: 1h\n"
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(text, "j.yaml")
    assert [str(p) for p in e.value.problems] == [reason]


def test_deep_nesting_is_named_not_a_bare_exception_name() -> None:
    deep = "[" * 5000 + "]" * 5000  # was 'j.yaml:1: YAML: RecursionError'
    with pytest.raises(JourneyLoadError, match=r"j\.yaml:1: YAML: lists or mappings nested too deeply"):
        load_journey_text(f"journey: j\nx: {deep}\n", "j.yaml")


def test_a_replace_growing_with_the_square_of_the_data_fails_that_send_before_it_is_built() -> None:
    """`replace: 'a', event.properties.s` over 60 KB took 3.5 GB and ended in MemoryError (a worker OOM-killed
    on the same record again and again; a security review): refused by its size, a render_error."""
    from cjo_stream.journeys.templates import RenderError, Template

    t = Template("{{ event.properties.s | replace: 'a', event.properties.s }}")
    with pytest.raises(RenderError, match="limit: replace would make more than 131072 characters"):
        t.render({"event": {"properties": {"s": "a" * 60_000}}})
    assert t.render({"event": {"properties": {"s": "abc"}}}) == "abcbc"
    assert Template("{{ 'banana' | replace: 'a', 'o' }}").render({}) == "bonono"
