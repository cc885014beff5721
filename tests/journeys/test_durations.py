"""Durations in journey files as the README writes them (Steps): a number and one unit, decimals too."""

from __future__ import annotations

import pytest

from cjo_stream.journeys.durations import parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800),
                                               ("2w", 1209600), ("1.5d", 129600), ("36500d", 36500 * 86400)])
def test_the_documented_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 days", "1d12h", "2D", "3mo", "36501d", "0s"])
def test_other_forms_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)
