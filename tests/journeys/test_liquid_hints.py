"""The hints added to a refused template (``cjo_stream/journeys/liquid_hints.py``) stay true: the two-decimals
recipe the `money` hint gives renders two decimals, and a reason naming nothing of another tool is unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from liquid import Environment

from cjo_stream.journeys.liquid_hints import TWO_DECIMALS, hint
from cjo_stream.journeys.templates import Template, TemplateError


@pytest.mark.parametrize(("price", "text"), [(7.5, "7.50"), (39.98, "39.98"), (5, "5.00"), ("7.5", "7.50"),
                                             (19.99 * 3, "59.97"), (0.05, "0.05"), (1234567.1, "1234567.10"),
                                             (129.0, "129.00")])
def test_the_two_decimals_recipe_renders_two_decimals(price: object, text: str) -> None:
    source = TWO_DECIMALS.replace("= x |", "= event.properties.price |")
    assert Template(source).render({"event": {"properties": {"price": price}}}) == text


@pytest.mark.parametrize(("source", "price", "text"), [("{{ p }}", 129.0, "129.0"), ("{{ p }}", 129, "129"),
                                                      ("{{ p | round: 2 }}", 7.5, "7.5"), ("{{ p | round }}", 129.0, "129")])
def test_a_number_renders_as_liquid_writes_it(source: str, price: object, text: str) -> None:
    """As the README says (Templates, "Numbers and money"), and as python-liquid's own render writes it: a
    float's ``129.0`` is Liquid's (Shopify's too), not a rendering of ours to fix."""
    data = {"event": {"properties": {"price": price}}}
    ours = Template(source.replace("p", "event.properties.price", 1)).render(data)
    assert ours == Environment().from_string(source).render(p=price) == text


def test_a_reason_of_no_other_tool_is_unchanged() -> None:
    assert hint("template: unknown filter 'upcse'") == "template: unknown filter 'upcse'"
    assert hint("template: unexpected tag 'endfi'") == "template: unexpected tag 'endfi'"


def test_the_readme_gives_the_same_recipe() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```liquid\n(.*?)\n```", readme, re.S)
    assert block is not None
    assert block.group(1) == TWO_DECIMALS.replace("= x |", "= event.properties.price |")


@pytest.mark.parametrize(("braze", "ours"), [
    ("Hi {{${first_name} | default: 'there'}}!", "{{ profile.traits.first_name | default: 'there' }}"),
    ("{{custom_attribute.${vip}}}", "{{ profile.traits.vip }}"),
    ("{{ profile.traits.first_name }} {{event_properties.${sku}}}", "{{ event.properties.sku }}"),
    ("{{canvas_entry_properties.${sku}}}", "{{ event.properties.sku }}"),
    ("{{${email_address}}}", "{{ profile.traits.email }}"),
    ("{{${user_id}}}", "{{ profile.customer_id }}"),
    ("{{custom_attribute.${Favorite Color}}}", "{{ profile.traits['Favorite Color'] }}"),
])
def test_a_braze_output_is_told_as_written_here(braze: str, ours: str) -> None:
    """The error named ``{{ profile.traits.first_name }}`` for every Braze output, the wrong root for an event
    property (a walkthrough migrating Canvases): it names the one it refuses, written as here, which loads."""
    with pytest.raises(TemplateError) as e:
        Template(braze)
    assert f" is {ours} here (README, Templates)" in e.value.reason, e.value.reason
    Template(ours)  # what it says to write loads


@pytest.mark.parametrize("braze", ["{{campaign.${api_id}}}",
                                   "{{ x }} {% if ${vip} %}VIP{% endif %} {{${first_name}}}"])  # a tag's, not an output's
def test_a_braze_name_without_an_output_written_here_keeps_the_general_hint(braze: str) -> None:
    with pytest.raises(TemplateError) as e:
        Template(braze)
    assert e.value.reason.endswith("name the profile field, e.g. {{ profile.traits.first_name }} (README, Templates)")


@pytest.mark.parametrize(("filter_", "told"), [
    ("handleize", "Shopify's handleize is not standard Liquid: {{ x | downcase | strip | replace: ' ', '-' }}"),
    ("pluralize: 'item', 'items'", "Shopify's pluralize is not standard Liquid"),
    ("img_url: '200x'", "Shopify's img_url is a storefront filter, not standard Liquid"),
])
def test_a_shopify_filter_is_told_what_to_write(filter_: str, told: str) -> None:
    """A Shopify theme's filters were "unknown filter 'handleize'" alone (a new user's walkthrough)."""
    with pytest.raises(TemplateError) as e:
        Template(f"{{{{ event.properties.title | {filter_} }}}}")
    assert told in hint(str(e.value)), hint(str(e.value))


@pytest.mark.parametrize(("recipe", "data", "text"), [
    ("{{ x | downcase | strip | replace: ' ', '-' }}", {"x": " Summer Sale "}, "summer-sale"),
    ("{% if n == 1 %}item{% else %}items{% endif %}", {"n": 2}, "items"),
])
def test_the_shopify_recipes_render(recipe: str, data: dict[str, object], text: str) -> None:
    source = recipe.replace("x |", "event.properties.x |").replace("n ==", "event.properties.n ==")
    assert Template(source).render({"event": {"properties": data}}) == text
