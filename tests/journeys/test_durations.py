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


@pytest.mark.parametrize(("text", "told"), [
    ("3 days", "; write 3d"), ("30min", "; write 30m"), ("1hr", "; write 1h"), ("2 weeks", "; write 2w"),
    ("1d12h", "; write 36h"), ("1h 30m", "; write 90m"), ("1.5 days", "; write 36h"), ("2D", "; write 2d"),
    ("PT1H", "; write 1h (ISO 8601's PT1H)"), ("P3D", "; write 3d (ISO 8601's P3D)"),
    ("3mo", "; a month has no fixed length: write 90d"),
])
def test_a_duration_written_another_way_is_told_the_one_meant(text: str, told: str) -> None:
    """A newcomer's ``wait: 3 days`` was told the forms, not the one meant (a walkthrough)."""
    with pytest.raises(ValueError) as e:
        parse_duration(text)
    assert str(e.value).endswith(told), str(e.value)


@pytest.mark.parametrize("text", ["soon", "3 dais", "0 days", "1d 2x", "P"])
def test_nothing_is_guessed_for_what_reads_as_no_duration(text: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_duration(text)
    assert str(e.value).endswith("(e.g. 30s, 15m, 1h, 7d, 2w)"), str(e.value)
