"""``days_until`` and ``days_until_anniversary``: whole days in the customer's own calendar (README, Date-based journeys).

Date-based journeys (a trial ending in 3 days, a birthday, a renewal) test a day, not an instant: a bare
``YYYY-MM-DD`` trait is that calendar day in every zone, an instant is the day the customer's clock shows, and
"today" is the customer's today, in the zone the engine times them in (``ctx["zone"]``, as ``wait_until``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cjo_stream.journeys.expressions import ZONE, ExpressionError, compile_expression


def at(now: str, zone: str, **traits: Any) -> dict[str, Any]:
    """A condition's context at ``now`` (RFC 3339) for a customer timed in ``zone`` with ``traits``."""
    return {"now": datetime.fromisoformat(now).timestamp(), ZONE: ZoneInfo(zone),
            "profile": {"traits": traits, "last": {"order_completed": traits.get("ordered")}},
            "event": {"timestamp": traits.get("ts")}}


def until(x: Any, now: str, zone: str = "UTC") -> Any:
    return compile_expression("days_until(profile.traits.x)")(at(now, zone, x=x))


def anniversary(x: Any, now: str, zone: str = "UTC") -> Any:
    return compile_expression("days_until_anniversary(profile.traits.x)")(at(now, zone, x=x))


@pytest.mark.parametrize(("x", "now", "zone", "days"), [
    ("2026-03-05", "2026-03-02T10:00:00Z", "UTC", 3),
    ("2026-03-02", "2026-03-02T23:59:59Z", "UTC", 0),
    ("2026-02-27", "2026-03-02T10:00:00Z", "UTC", -3),
    # a bare date is a calendar date: never UTC midnight, which is the day before in Los Angeles
    ("2026-03-05", "2026-03-02T20:00:00Z", "America/Los_Angeles", 3),
    ("2026-03-05", "2026-03-02T20:00:00Z", "Asia/Tokyo", 2),  # Tokyo's today is 3 March already
    # across a month boundary (February 2027 has 28 days) and a year boundary
    ("2027-03-02", "2027-02-27T17:00:00Z", "America/Los_Angeles", 3),
    ("2027-01-01", "2026-12-29T09:00:00Z", "Europe/Berlin", 3),
    # an instant is the day the customer's clock shows it: 03:00Z on 5 March is 4 March in Los Angeles
    ("2026-03-05T03:00:00Z", "2026-03-02T18:00:00Z", "America/Los_Angeles", 2),
    ("2026-03-05T03:00:00Z", "2026-03-02T18:00:00Z", "Asia/Tokyo", 2),
    ("2026-03-05T03:00:00Z", "2026-03-02T18:00:00Z", "UTC", 3),
    (1772679600, "2026-03-02T10:00:00Z", "UTC", 3),  # epoch seconds (2026-03-05T03:00:00Z)
    # whole calendar days across a daylight-saving change, not 24-hour periods (the spring-forward day is 23h)
    ("2027-03-17", "2027-03-14T16:00:00Z", "America/Los_Angeles", 3),
    ("2027-03-15T00:30:00-07:00", "2027-03-14T07:59:00Z", "America/Los_Angeles", 2),  # 13th 23:59 PST -> 15th
    ("2026-11-01T23:30:00-08:00", "2026-10-31T07:30:00Z", "America/Los_Angeles", 1),  # fall back in between
])
def test_days_until_counts_local_calendar_days(x: Any, now: str, zone: str, days: int) -> None:
    got = until(x, now, zone)
    assert got == days and type(got) is int


@pytest.mark.parametrize("x", [None, "", "tomorrow", "2026-02-30", "2026-3-5", "05/03/2026", True, [1], {"a": 1},
                               float("nan"), 1e300, "9" * 80])
def test_days_until_is_null_for_what_is_no_date(x: Any) -> None:
    assert until(x, "2026-03-02T10:00:00Z") is None
    assert anniversary(x, "2026-03-02T10:00:00Z") is None


def test_without_a_zone_in_the_context_the_day_is_utcs() -> None:
    ctx = {"now": datetime(2026, 3, 2, 23, tzinfo=UTC).timestamp(), "profile": {"traits": {"x": "2026-03-03"}}}
    assert compile_expression("days_until(profile.traits.x)")(ctx) == 1


@pytest.mark.parametrize(("x", "now", "zone", "days"), [
    ("1990-03-02", "2026-03-02T10:00:00Z", "UTC", 0),
    ("1990-03-05", "2026-03-02T10:00:00Z", "UTC", 3),
    ("1990-03-01", "2026-03-02T10:00:00Z", "UTC", 364),  # passed this year: next year's
    ("1990-01-01", "2026-12-31T10:00:00Z", "UTC", 1),  # across the year's end
    ("1990-03-02", "2026-03-02T06:00:00Z", "America/Los_Angeles", 1),  # still the 1st there
    ("1990-03-02", "2026-03-01T16:00:00Z", "Asia/Tokyo", 0),  # already the 2nd there
    # 29 February: on 28 February in a common year, on the 29th in a leap year
    ("2000-02-29", "2027-02-28T10:00:00Z", "UTC", 0),
    ("2000-02-29", "2027-02-27T10:00:00Z", "UTC", 1),
    ("2000-02-29", "2027-03-01T10:00:00Z", "UTC", 365),  # 2028-02-29
    ("2000-02-29", "2028-02-28T10:00:00Z", "UTC", 1),
    ("2000-02-29", "2028-02-29T10:00:00Z", "UTC", 0),
    ("1990-02-28", "2028-02-28T10:00:00Z", "UTC", 0),  # a 28 February birthday stays on the 28th
    ("2028-02-29", "2028-02-29T10:00:00Z", "UTC", 365),  # first one a year on: 2029-02-28
    # the first anniversary is a year after the date: a first order this morning is not its own anniversary
    ("2026-03-02T08:00:00Z", "2026-03-02T10:00:00Z", "UTC", 365),
    ("2025-03-02T08:00:00Z", "2026-03-02T10:00:00Z", "UTC", 0),
    ("2027-05-01", "2026-03-02T10:00:00Z", "UTC", 791),  # a date to come: its first anniversary, 2028-05-01
])
def test_days_until_anniversary(x: Any, now: str, zone: str, days: int) -> None:
    got = anniversary(x, now, zone)
    assert got == days and type(got) is int


def test_an_anniversary_is_every_year_once() -> None:
    """Over the days of 2026 to 2029, a birthday's `== 0` holds on exactly one day a year (29 February's too)."""
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()
    days = [datetime.fromtimestamp(noon + d * 86400, UTC) for d in range(1461)]  # up to 2029-12-31
    assert days[-1].date().isoformat() == "2029-12-31"
    for birthday in ("1990-03-02", "2000-02-29", "1999-12-31", "1980-01-01"):
        hits = [d.date().isoformat() for d in days if anniversary(birthday, d.isoformat()) == 0]
        assert [h[:4] for h in hits] == ["2026", "2027", "2028", "2029"], (birthday, hits)
        if birthday == "2000-02-29":
            assert hits == ["2026-02-28", "2027-02-28", "2028-02-29", "2029-02-28"]


def test_they_read_the_times_the_engine_keeps() -> None:
    ctx = at("2026-03-02T10:00:00Z", "UTC", ordered=1741168800, ts="2026-03-01T10:00:00.000Z")  # 2025-03-05
    assert compile_expression("days_until_anniversary(profile.last.order_completed)")(ctx) == 3
    assert compile_expression("days_until(event.timestamp)")(ctx) == -1
    assert compile_expression("days_until(now)")(ctx) == 0
    assert compile_expression("days_until(now + 86400 * 3)")(ctx) == 3
    assert compile_expression("days_until('2026-12-25')")(ctx) == 298


@pytest.mark.parametrize(("source", "says"), [
    ("days_until(profile.traits.a, 3)", "days_until() takes 1 argument, got 2"),
    ("days_until_anniversary()", "days_until_anniversary() takes 1 argument, got 0"),
    ("days_until('tomorrow') == 0", "days_until() takes a date or a time, not the text 'tomorrow'"),
    ("days_until(null)", "days_until() takes a date or a time, not the literal null"),
    ("days_until(true)", "days_until() takes a date or a time, not the literal true"),
    ("days_until_anniversary(profile.counters.order_completed) == 0",
     "days_until_anniversary() takes a date or a time, not profile.counters.order_completed (a count: "
     "profile.last.<event> is the time of the last one)"),
    ("days_until(profile.traits)", "days_until() takes a date or a time, not profile.traits (a mapping)"),
    ("days_until(journey.variant) > 1", "days_until() takes a date or a time, not journey.variant"),
    ("days_until(event.event) > 1", "days_until() takes a date or a time, not event.event"),
    ("days_until(profile.stage) > 1", "days_until() takes a date or a time, not profile.stage"),
])
def test_what_is_never_a_date_is_refused_at_compile_time(source: str, says: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert info.value.reason.split(";")[0] == says
    assert info.value.column == 1


@pytest.mark.parametrize("source", [
    "days_until(profile.traits.trial_ends_at)", "days_until(event.properties.renews_on)",
    "days_until(event.traits.x)", "days_until(event.previous.x)", "days_until(profile.first_seen)",
    "days_until(profile.stage_since)", "days_until(journey.entered_at)", "days_until(1772445600)",
    "days_until('2026-03-02T10:00:00Z')", "days_until(profile.traits['trial ends'])",
])
def test_times_and_data_are_taken(source: str) -> None:
    assert compile_expression(source).roots >= {"now", ZONE}


def test_a_test_of_one_day_is_recorded_as_written() -> None:
    e = compile_expression("days_until(profile.traits.t) == 3 or days_until_anniversary(profile.traits.b) == 0")
    assert e.day_tests == {"days_until(profile.traits.t) == 3", "days_until_anniversary(profile.traits.b) == 0"}
    assert compile_expression("days_until(profile.traits.t) <= 3").day_tests == frozenset()
    assert compile_expression("days_since(profile.traits.t) == 3").day_tests == frozenset()


def test_the_paths_read_as_dates_are_recorded() -> None:
    e = compile_expression("days_until(profile.traits.t) == 3 and days_until_anniversary(event.properties.b) == 0 "
                           "and days_since(profile.traits.s) > 1 and days_until(now) == 0")
    assert e.dated == {("profile", ("traits", "t")), ("event", ("properties", "b"))}
