"""``day_of_week()`` and ``hour_of_day()``: the customer's own clock at the decision time (README, Expressions).

A branch on the clock (Adobe Journey Optimizer's time condition: weekends another way, a time slot) had no way to be
written: ``wait_until`` holds a customer until a window opens, but cannot send them elsewhere. Both read ``now`` in
the zone the engine times the customer in (``ctx["zone"]``, as ``wait_until`` and ``days_until``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cjo_stream.journeys.expressions import ZONE, ExpressionError, compile_expression


def at(now: str, zone: str | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"now": datetime.fromisoformat(now).timestamp()}
    if zone is not None:
        ctx[ZONE] = ZoneInfo(zone)
    return ctx


@pytest.mark.parametrize(("now", "zone", "day", "hour"), [
    ("2026-03-07T10:00:00+00:00", "UTC", "sat", 10.0),
    ("2026-03-09T07:30:00+00:00", "UTC", "mon", 7.5),
    ("2026-03-09T07:30:00+00:00", "Europe/Berlin", "mon", 8.5),
    ("2026-03-09T23:30:00+00:00", "Asia/Tokyo", "tue", 8.5),          # Tokyo's Tuesday morning
    ("2026-03-09T03:15:00+00:00", "America/Los_Angeles", "sun", 20.25),  # still Sunday evening there
    ("2026-03-09T07:30:00+00:00", None, "mon", 7.5),                    # no zone: UTC
])
def test_the_day_and_hour_are_the_customers_own(now: str, zone: str | None, day: str, hour: float) -> None:
    assert compile_expression("day_of_week()")(at(now, zone)) == day
    assert compile_expression("hour_of_day()")(at(now, zone)) == hour


def test_a_time_slot_and_the_weekend_are_conditions() -> None:
    slot = compile_expression("day_of_week() not in ['sat', 'sun'] and hour_of_day() >= 9 and hour_of_day() < 17.5")
    assert slot(at("2026-03-09T17:29:59+00:00", "UTC")) is True
    assert slot(at("2026-03-09T17:30:00+00:00", "UTC")) is False
    assert slot(at("2026-03-09T08:59:00+00:00", "UTC")) is False
    assert slot(at("2026-03-07T12:00:00+00:00", "UTC")) is False          # a Saturday
    assert slot(at("2026-03-09T08:30:00+00:00", "Europe/Berlin")) is True  # 09:30 in Berlin


def test_they_read_the_clock_and_the_zone_and_take_no_argument() -> None:
    e = compile_expression("hour_of_day() < 9")
    assert {"now", ZONE} <= e.roots
    assert compile_expression("hour_of_day()")({"now": None}) is None
    with pytest.raises(ValueError, match=r"day_of_week\(\) takes 0 arguments, got 1"):
        compile_expression("day_of_week(now)")


@pytest.mark.parametrize(("source", "told"), [
    ("day_of_week() == 'Sat'", "never 'Sat'"),                     # as a calendar writes it
    ("day_of_week() in ['saturday', 'sun']", "never 'saturday'"),
    ("day_of_week() not in ['sat', 'Sun']", "never 'Sun'"),
    ("day_of_week() == 6", "never 6"),                             # Python's weekday()
    ("'Sunday' != day_of_week()", "never 'Sunday'"),
    ("day_of_week() >= 'mon' and day_of_week() <= 'fri'", "orders as text"),  # 'sat' <= 'fri' is false, 'thu' too
    # an hour as wait_until writes it, as HHMM, or a whole hour by equality (9.5 at 09:30)
    ("hour_of_day() >= '09:00'", "hours from 0 to 24, never '09:00'"),
    ("hour_of_day() < 1730", "never 1730"),
    ("hour_of_day() == 9", "tests one exact second"),
    ("hour_of_day() in [9, 10]", "tests one exact second"),
])
def test_a_day_or_an_hour_it_never_says_is_refused(source: str, told: str) -> None:
    """A comparison with what day_of_week() or hour_of_day() never is loaded and never held (or, negated, always):
    the weekend branch, or the office-hours one, took nobody and nothing said why."""
    with pytest.raises(ExpressionError) as e:
        compile_expression(source)
    assert told in str(e.value) and ("'mon', 'tue'" in str(e.value) or "9.5" in str(e.value)), str(e.value)


@pytest.mark.parametrize("source", ["day_of_week() in ['sat', 'sun']", "'sat' == day_of_week()",
                                    "day_of_week() != 'sun'", "day_of_week() == profile.traits.day_off",
                                    "hour_of_day() >= 9 and hour_of_day() < 17.5", "hour_of_day() >= 0",
                                    "hour_of_day() < profile.traits.closes_at"])
def test_its_own_names_and_data_load(source: str) -> None:
    compile_expression(source)
