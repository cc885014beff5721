"""A flow pasted from Klaviyo is refused by ``cjo-stream validate`` with what to write here, at its line
(``cjo_stream/journeys/foreign_names.py``, ``liquid_hints.py``): its ``person.`` and ``event.extra.`` names, its
Django filters and tags. What each hint says to write loads and renders the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cjo_stream.journeys.foreign_names import foreign_hint, foreign_path
from cjo_stream.journeys.liquid_hints import _FILTERS, _TAGS, django_date
from cjo_stream.journeys.templates import Template, TemplateError
from tests.test_cli_errors import run, user_error

PASTED = """journey: abandoned_checkout
entry: {event: Checkout Started}
steps:
  - id: mail
    send:
      channel: email
      content:
        subject: "{{ person.first_name|default:'there' }}, your cart"
        preheader: "{% if event.Items|length > 0 %}{{ event.Items.0.ProductName }}{% endif %}"
        body: "{% for item in event.extra.line_items %}{{ item.title }}{% endfor %}"
        footer: "{{ organization.name }}"
        unsubscribe: "{% unsubscribe %}"
        total: "{{ event|lookup:'$value'|floatformat:2 }}"
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "flow.yaml").write_text(text)
    return tmp_path


def test_validate_tells_each_klaviyo_form_at_its_line(tmp_path: Path) -> None:
    err = user_error(run("validate", str(_write(tmp_path, PASTED))), 1)
    told = {int(m.group(1)): m.group(2) for m in re.finditer(r"flow\.yaml:(\d+): (.*)", err)}
    assert "Klaviyo's {{ person.first_name }} is {{ profile.traits.first_name }} here" in told[8]
    assert "Liquid's {% if %} takes no filters" in told[9]
    assert "Klaviyo's {{ event.extra.line_items }} is {{ event.properties.line_items }} here" in told[10]
    assert "Klaviyo's {{ organization.name }} has no counterpart here" in told[11]
    assert "Klaviyo's unsubscribe is not a tag here: write {unsubscribe_url} (single braces) where the link goes" in told[12]
    assert "Klaviyo's (Django's) lookup filter is a subscript here" in told[13]
    assert all('(README, "Coming from Klaviyo")' in told[n] for n in (8, 9, 10, 11, 12, 13)), told


def test_the_flow_written_as_the_hints_say_loads_and_renders(tmp_path: Path) -> None:
    fixed = (PASTED.replace("person.first_name|default:'there'", "profile.traits.first_name | default: 'there'")
             .replace("event.Items|length > 0", "event.properties.Items.size > 0")
             .replace("event.Items.0.ProductName", "event.properties.Items[0].ProductName")
             .replace("event.extra.line_items", "event.properties.line_items")
             .replace("{{ organization.name }}", "Shop Inc.").replace("{% unsubscribe %}", "")
             .replace("event|lookup:'$value'|floatformat:2", "event.properties['$value'] | round: 2"))
    p = run("validate", str(_write(tmp_path, fixed)))
    assert p.returncode == 0, p.stderr
    data = {"profile": {"traits": {}}, "event": {"properties": {
        "Items": [{"ProductName": "Lamp"}], "line_items": [{"title": "Lamp"}, {"title": "Mug"}], "$value": 12.345}}}
    assert Template("{{ profile.traits.first_name | default: 'there' }}").render(data) == "there"
    assert Template("{% if event.properties.Items.size > 0 %}{{ event.properties.Items[0].ProductName }}"
                    "{% endif %}").render(data) == "Lamp"
    assert Template("{% for item in event.properties.line_items %}{{ item.title }}{% endfor %}").render(data) == \
        "LampMug"
    assert Template("{{ event.properties['$value'] | round: 2 }}").render(data) == "12.35"


@pytest.mark.parametrize(("root", "keys", "ours"), [
    ("person", ("first_name",), "profile.traits.first_name"),
    ("person", ("email",), "profile.traits.email"),
    ("person", ("phone_number",), "profile.traits.phone"),
    ("person", ("external_id",), "profile.customer_id"),
    ("person", ("Favorite Color",), "profile.traits['Favorite Color']"),
    ("event", ("extra", "line_items"), "event.properties.line_items"),
    ("event", ("CheckoutURL",), "event.properties.CheckoutURL"),
])
def test_a_klaviyo_name_and_ours(root: str, keys: tuple[str, ...], ours: str) -> None:
    found = foreign_path(root, keys)
    assert found is not None and found[1] == ours and "Klaviyo" in found[0]


def test_a_klaviyo_name_in_a_condition_is_told_without_braces() -> None:
    assert foreign_hint("person", ("vip",), liquid=False).startswith("; Klaviyo's person.vip is profile.traits.vip")
    assert "Klaviyo's organization.name has no counterpart" in foreign_hint("organization", ("name",), liquid=False)


@pytest.mark.parametrize(("source", "fragment"), [
    ("{{ event.properties.name | title }}", "capitalize here"),
    ("{{ event.properties.name | truncatechars: 20 }}", "truncate here"),
    ("{{ event.properties.items | length }}", "size here"),
    ("{{ event.properties.name | upper }}", "upcase here"),
    ("{% unsubscribe %}", "List-Unsubscribe"),
    ("{% unsubscribe 'Click here' %}", "List-Unsubscribe"),
    ("{% manage_preferences %}", "List-Unsubscribe"),
    ("{% web_view %}", "no hosted copy"),
    ("{% currency_format event.properties.total %}", "for two decimals"),
    ("{% catalog event.properties.id %}x{% endcatalog %}", "read as {{ catalogs.products[event.properties.sku].title }} (README, Catalogs)"),
    ("{% coupon_code 'WELCOME' %}", "generate the code upstream"),
    ("{% if profile.traits.tags|length > 0 %}x{% endif %}", "takes no filters"),
    ("{% unless event.properties.items | size %}x{% endunless %}", "takes no filters"),
    ("{{ event.properties.Items.0.ProductName }}", "{{ event.properties.Items[0].ProductName }} here"),
    ("{{ event.properties.a.1 }}", "{{ event.properties.a[1] }} here"),
    ("{{ event.$value }}", "{{ event.$value }} is {{ event.properties['$value'] }} here"),
    ("{{ event.properties.$value | round }}", "is {{ event.properties['$value'] }} here"),
    ("{{ person.$phone_number }}", "{{ person.$phone_number }} is {{ profile.traits.phone }} here"),
    ("{{ person.$first_name }}", "is {{ profile.traits.first_name }} here"),
    ("{{ event.properties.d | format_date_string | date: '%d %B %Y' }}", "date reads a date's text"),
    ("{% for i in event.properties.items|slice:':3' %}{% endfor %}", "{% for item in x limit: 3 %}"),
    ("{% now 'Y' %}", "{{ 'now' | date: '%Y' }}"),
])
def test_a_klaviyo_filter_or_tag_says_what_to_write(source: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as e:
        Template(source)
    assert fragment in e.value.reason and "Klaviyo" in e.value.reason, e.value.reason


def test_the_loop_the_for_hint_gives_takes_the_first_three() -> None:
    tpl = Template("{% for item in event.properties.x limit: 3 %}{{ item }}{% endfor %}")
    assert tpl.render({"event": {"properties": {"x": [1, 2, 3, 4]}}}) == "123"


@pytest.mark.parametrize("source", ["{{ 1 | }}", "{% for x in (1..3) reversd %}{% endfor %}", "{{ a.b c }}",
                                    "{{${first_name}}}", "{{ $x }}"])
def test_a_syntax_error_of_no_klaviyo_form_is_not_told_as_one(source: str) -> None:
    with pytest.raises(TemplateError) as e:
        Template(source)
    assert "Klaviyo" not in e.value.reason, e.value.reason


_LIQUID = r"(?:\{\{.*?\}\}|\{%.*?%\})"


def test_every_liquid_the_klaviyo_hints_give_loads() -> None:
    """Each run of Liquid a Klaviyo hint writes (``{% if x %}yes{% else %}no{% endif %}``, the two-decimals recipe)
    compiles here, ``x`` standing for a value; ``{% if %}`` alone is a mention of the tag."""
    hints = [h for h in (*_FILTERS.values(), *_TAGS.values()) if "Klaviyo" in h]
    snippets = [s for h in hints for s in re.findall(rf"{_LIQUID}(?:[^{{}};:,]*?{_LIQUID})*", h) if s != "{% if %}"]
    assert len(snippets) >= 10, snippets
    for s in snippets:
        s = re.sub(r"\bx\b", "event.properties.x", s)
        if s.startswith("{% if") and "endif" not in s:
            s += "{% endif %}"
        Template(s)


@pytest.mark.parametrize(("django", "rendered"), [("F j, Y", "March 2, 2026"), ("D d M Y", "Mon 02 Mar 2026"),
                                                  ("H:i", "09:05"), ("n/j/y g:i A", "3/2/26 9:05 AM"),
                                                  ("d F o", "02 March 2026")])
def test_a_django_date_format_is_refused_with_the_strftime_one_that_renders_it(django: str, rendered: str) -> None:
    """Liquid's ``date`` wrote Klaviyo's ``'F j, Y'`` as those letters in every mail, and loaded without a word."""
    with pytest.raises(TemplateError) as e:
        Template(f"{{{{ event.timestamp | date: {django!r} }}}}")
    m = re.search(r"is '([^']+)' here", e.value.reason)
    assert m is not None and "Klaviyo" in e.value.reason, e.value.reason
    tpl = Template(f"{{{{ event.timestamp | date: {m.group(1)!r} }}}}")
    assert tpl.render({"event": {"timestamp": "2026-03-02T09:05:00Z"}}) == rendered


def test_a_django_date_format_keeps_its_escaped_letters() -> None:
    assert "is 'day %-d' here" in (django_date(r"\d\a\y j") or "")


@pytest.mark.parametrize("source", ["{{ now | date: '%d %b' }}", "{{ now | date: ' - ' }}",
                                    "{{ now | date: event.properties.format }}"])
def test_a_strftime_or_data_date_format_loads(source: str) -> None:
    Template(source)
