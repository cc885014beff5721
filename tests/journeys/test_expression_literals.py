"""The parser records each path compared with a number or true/false (``Expression.literals``): ``validate``'s
warning on a trait an update writes as text and ``simulate``'s note on a property sent as text read it, where
they matched the condition's text with a regex that missed ``in [...]``, arithmetic and parentheses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.journeys.expressions import compile_expression

TRAIT = ("profile", ("traits", "x"))


@pytest.mark.parametrize(("source", "expected"), [
    ("profile.traits.x >= 100", {(*TRAIT, "a number", True, "profile.traits.x >= 100")}),
    ("100 < profile.traits['x']", {(*TRAIT, "a number", True, "100 < profile.traits['x']")}),
    ("profile.traits.x != -1.5", {(*TRAIT, "a number", False, "profile.traits.x != -1.5")}),
    ("profile.traits.x == true", {(*TRAIT, "true", True, "profile.traits.x == true")}),
    ("profile.traits.x != false", {(*TRAIT, "false", False, "profile.traits.x != false")}),
    ("profile.traits.x in [1, 2]", {(*TRAIT, "a number", True, "profile.traits.x in [1, 2]")}),
    ("profile.traits.x not in [1, 2]", {(*TRAIT, "a number", False, "profile.traits.x not in [1, 2]")}),
    ("profile.traits.x * 2 > 100", {(*TRAIT, "a number", True, "profile.traits.x * 2 > 100")}),
    ("(profile.traits.x) + 1 == 3", {(*TRAIT, "a number", True, "(profile.traits.x) + 1 == 3")}),
    ("-profile.traits.x < 0", {(*TRAIT, "a number", True, "-profile.traits.x < 0")}),
    ("event.name == 'a' and (profile.traits.x > 1 or profile.traits.y == false)",
     {(*TRAIT, "a number", True, "profile.traits.x > 1"),
      ("profile", ("traits", "y"), "false", True, "profile.traits.y == false")}),
])
def test_a_path_compared_with_a_literal_is_recorded_as_written(source: str, expected: set[object]) -> None:
    assert compile_expression(source).literals == expected


@pytest.mark.parametrize("source", [
    "profile.traits.x == 'gold'",                 # text with text
    "profile.traits.x > true",                    # ordering with a boolean: not a comparison text meets otherwise
    "profile.traits.x in ['a', 'b']",             # a list of text
    "profile.traits.x + profile.traits.y == 'ab'",  # `+` alone joins text
    "profile.traits.x > event.properties.y",      # no literal
    "exists(profile.traits.x)",
    "profile.traits.x == null",
])
def test_other_comparisons_record_nothing(source: str) -> None:
    assert compile_expression(source).literals == frozenset()


WRITER = """\
journey: keep
entry: {event: order_completed}
steps:
  - id: remember
    update:
      traits:
        last_revenue: "{{ event.properties.revenue }} EUR"  # text: not a lone output
"""
READER = """\
journey: read
entry:
  event: session_started
  when: profile.traits.last_revenue in [100, 200] or profile.traits.last_revenue * 2 > 50
steps:
  - {id: hi, send: {channel: email, content: {subject: hi, body: hi}}}
"""


def test_validate_tells_a_text_trait_in_a_number_list_and_in_arithmetic(tmp_path: Path) -> None:
    """The regex this replaced saw neither."""
    from cjo_stream.journeys.loader import load_topology
    from tests.journeys.test_language2 import write

    told = [w for w in load_topology(write(tmp_path, {"keep": WRITER, "read": READER})).warnings
            if "writes it from a template" in w]
    assert [w.split(": warning: ")[1].split(" compares")[0] for w in told] == [
        "`profile.traits.last_revenue * 2 > 50`", "`profile.traits.last_revenue in [100, 200]`"], told
    assert all(w.split(": warning: ")[0].endswith("read.yaml:4") for w in told), told
