"""``wait_until: {at: "09:00", days: [...]}``: the next such local time on one of the days (Braze's delay until a
day of the week): a welcome mail held to the next weekday's morning (with ``until:``, Customer.io's Time Window, which
goes on at once inside it: ``test_time_window.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cjo_stream.engine.clock import next_time_on_days
from cjo_stream.journeys.loader import JourneyLoadError
from cjo_stream.journeys.wallclock import exact_instant
from tests.conftest import journey
from tests.test_cli_errors import run

ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")]


def _reference(now: float, tz: ZoneInfo, hour: int, minute: int, days: int) -> float:
    """The earliest instant after ``now`` that is the first showing of hour:minute (or a gap's end) on a local day
    whose weekday is in ``days``, found day by day on the wall clock."""
    today = datetime.fromtimestamp(now, tz).replace(tzinfo=None).date()
    for d in range(-1, 16):
        day = today + timedelta(days=d)
        if not (days >> day.weekday()) & 1:
            continue
        wall = datetime(day.year, day.month, day.day, hour, minute)
        for t in (exact_instant(wall, tz), wall.replace(tzinfo=tz, fold=1).timestamp()):
            if t > now:
                return t
    raise AssertionError("no day in range")


@settings(max_examples=400, deadline=None)
@given(now=st.integers(1_700_000_000, 1_900_000_000), zone=st.sampled_from(ZONES), hour=st.integers(0, 23),
       minute=st.sampled_from([0, 1, 30, 59]), days=st.integers(1, 0x7E))
def test_the_next_time_on_the_days_is_the_first_after_now(now: int, zone: ZoneInfo, hour: int, minute: int,
                                                          days: int) -> None:
    t = next_time_on_days(float(now), zone, hour, minute, days)
    assert t == _reference(float(now), zone, hour, minute, days)
    assert (days >> datetime.fromtimestamp(t, zone).weekday()) & 1


def test_a_zone_that_skipped_a_day_still_gets_one_of_the_days() -> None:
    """Samoa went from Thursday 29 to Saturday 31 December 2011: seven tries of the next 09:00 (Thursday's, the
    skipped Friday's at the jump, Saturday's ...) ran out on Thursday 5 January, returned unchecked for a Friday."""
    apia = ZoneInfo("Pacific/Apia")
    now = datetime.fromisoformat("2011-12-29T12:00:00+00:00").timestamp()  # Thursday 02:00 in Apia
    t = next_time_on_days(now, apia, 9, 0, 1 << 4)  # fridays
    # (the local day the time falls on, as for a gap's end: the skipped Friday's 09:00 came at Saturday's 00:00)
    assert datetime.fromtimestamp(t, apia).isoformat() == "2012-01-06T09:00:00+14:00"


WELCOME = """
journey: welcome
entry: {event: signed_up}
steps:
  - id: next_weekday
    wait_until: WAIT
  - id: hello
    send: {channel: email, content: {subject: "Welcome", body: "Hi"}}
"""


@pytest.mark.parametrize(("wait", "days"), [
    ('{at: "09:00", days: [mon, Friday]}', 0b0010001),
    ('{at: "9:00", days: weekdays}', 0b0011111),
    ('{at: "09:00", days: WEEKEND}', 0b1100000),
    ('{at: "09:00", days: sun}', 0b1000000),
    ('{at: "09:00"}', 0),
    ('{at: "09:00", days: [weekend, mon]}', 0b1100001),  # a set inside a list: its days too
    ('{at: "09:00", days: [weekdays]}', 0b0011111),
])
def test_days_are_read_as_a_mask(wait: str, days: int) -> None:
    step = journey(WELCOME.replace("WAIT", wait)).steps["next_weekday"]
    assert (step.time_of_day, step.days) == ((9, 0), days)


@pytest.mark.parametrize(("wait", "line", "reason"), [
    ('{at: "09:00", days: [mon, fryday]}', 6, "days: 'fryday' is not a day (did you mean 'friday'?): write mon, tue"),
    ('{at: "09:00", days: []}', 6, "days: an empty list waits for no day"),
    ('{at: "09:00", days: weekday}', 6, "(did you mean 'weekdays'?)"),
    ('{at: "25:00", days: weekdays}', 6, "bad time of day"),
    ("{days: weekdays}", 6, 'wait_until needs at: "09:00"'),
    ('{at: "09:00", default: "10:00"}', 6, "default: goes with best_time:"),
    ('{at: "09:00", days: [mon], colour: red}', 6, "unknown field `colour`"),
    ('{at: "09:00", days: "mon, wed"}', 6, "days: 'mon, wed' is one text, not a list: write days: [mon, wed]"),
    ('{at: "09:00", days: "mon,thursday"}', 6, "is one text, not a list: write days: [mon, thursday]"),
    ('\n      at: "09:00"\n      days:\n        - mon\n        - fri day', 10, "days: 'fri day' is not a day"),
])
def test_a_bad_wait_until_is_refused_at_its_line(wait: str, line: int, reason: str) -> None:
    with pytest.raises(JourneyLoadError) as e:
        journey(WELCOME.replace("WAIT", wait), "welcome.yaml")
    (problem,) = e.value.problems
    assert (problem.file, problem.line) == ("welcome.yaml", line), str(problem)
    assert reason in problem.reason, problem.reason


def test_simulate_holds_a_friday_signup_to_mondays_morning_in_the_customers_zone(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "welcome.yaml").write_text(WELCOME.replace("WAIT", '{at: "09:00", days: weekdays}'))
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in (
        {"messageId": "1", "type": "identify", "userId": "u", "timestamp": "2026-03-06T10:00:00Z",
         "traits": {"email": "u@example.com", "timezone": "America/New_York"}},
        {"messageId": "2", "type": "track", "event": "signed_up", "userId": "u", "timestamp": "2026-03-06T20:01:00Z"},
        {"messageId": "3", "type": "identify", "userId": "v", "timestamp": "2026-03-10T17:00:00Z",
         "traits": {"email": "v@example.com"}},
        {"messageId": "4", "type": "track", "event": "signed_up", "userId": "v", "timestamp": "2026-03-10T18:00:00Z"},
    )) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(events))
    assert p.returncode == 0, p.stderr
    sent = {c["customer_id"]: c["decided_at"] for c in map(orjson.loads, p.stdout.splitlines())}
    # Friday 15:01 in New York -> Monday 09:00 EDT (DST began on Sunday the 8th); Tuesday 18:00 UTC -> Wednesday 09:00
    assert sent["u"] == "2026-03-09T13:00:00.000Z", p.stdout
    assert sent["v"] == "2026-03-11T09:00:00.000Z", p.stdout  # (no zone: default_timezone, UTC)
