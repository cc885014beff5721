"""The hints added to a refused template (``cjo_stream/journeys/liquid_hints.py``) stay true: the two-decimals
recipe the `money` hint gives renders two decimals, and a reason naming nothing of another tool is unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cjo_stream.journeys.liquid_hints import TWO_DECIMALS, hint
from cjo_stream.journeys.templates import Template


@pytest.mark.parametrize(("price", "text"), [(7.5, "7.50"), (39.98, "39.98"), (5, "5.00"), ("7.5", "7.50"),
                                             (19.99 * 3, "59.97"), (0.05, "0.05"), (1234567.1, "1234567.10")])
def test_the_two_decimals_recipe_renders_two_decimals(price: object, text: str) -> None:
    source = TWO_DECIMALS.replace("= x |", "= event.properties.price |")
    assert Template(source).render({"event": {"properties": {"price": price}}}) == text


def test_a_reason_of_no_other_tool_is_unchanged() -> None:
    assert hint("template: unknown filter 'upcse'") == "template: unknown filter 'upcse'"
    assert hint("template: unexpected tag 'endfi'") == "template: unexpected tag 'endfi'"


def test_the_readme_gives_the_same_recipe() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```liquid\n(.*?)\n```", readme, re.S)
    assert block is not None
    assert block.group(1) == TWO_DECIMALS.replace("= x |", "= event.properties.price |")
