"""``wait_until: {at: "09:00", until: "17:00", days: weekdays}``: Customer.io's Time Window. Inside the window, in the
customer's zone, the step goes on at once; outside it, it waits for the window's next opening. Before ``until`` a
sign-up on Tuesday at 11:00 waited for Wednesday's 09:00 (a migrator's onboarding mail a day late)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cjo_stream.engine.clock import in_time_window
from cjo_stream.journeys.loader import JourneyLoadError
from tests.conftest import journey
from tests.test_cli_errors import run

ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")]

WELCOME = """
journey: welcome
entry: {event: signed_up}
steps:
  - id: office_hours
    wait_until: WAIT
  - id: hello
    send: {channel: email, content: {subject: "Welcome", body: "Hi"}}
"""


@settings(max_examples=400, deadline=None)
@given(now=st.integers(1_700_000_000, 1_900_000_000), zone=st.sampled_from(ZONES), start=st.integers(0, 1438),
       length=st.integers(1, 1439), days=st.integers(0, 0x7F))
def test_inside_the_window_is_the_local_clock_and_day(now: int, zone: ZoneInfo, start: int, length: int,
                                                       days: int) -> None:
    end = min(start + length, 1439)
    local = datetime.fromtimestamp(now, zone)
    minutes = local.hour * 60 + local.minute
    on_day = days in (0, 0x7F) or bool(days >> local.weekday() & 1)
    assert in_time_window(float(now), zone, start, end, days) == (start <= minutes < end and on_day)


def _simulate(tmp_path: Path, wait: str, *signups: tuple[str, str, str]) -> dict[str, str]:
    """Each (customer, zone, sign-up time) through ``cjo-stream simulate``: customer -> the mail's decided_at."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "welcome.yaml").write_text(WELCOME.replace("WAIT", wait))
    lines = []
    for i, (who, zone, at) in enumerate(signups):
        lines.append({"messageId": f"i{i}", "type": "identify", "userId": who, "timestamp": "2026-03-01T00:00:00Z",
                      "traits": {"email": f"{who}@example.com", "timezone": zone}})
        lines.append({"messageId": f"s{i}", "type": "track", "event": "signed_up", "userId": who, "timestamp": at})
    lines.sort(key=lambda e: str(e["timestamp"]))
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    return {c["customer_id"]: c["decided_at"] for c in map(orjson.loads, p.stdout.splitlines())}


def test_simulate_sends_inside_the_window_at_once_and_holds_the_rest_to_its_opening(tmp_path: Path) -> None:
    sent = _simulate(tmp_path, '{at: "09:00", until: "17:00", days: weekdays}',
                     ("tue_11", "Europe/Berlin", "2026-03-10T10:00:00Z"),      # Tuesday 11:00 CET: at once
                     ("tue_18", "Europe/Berlin", "2026-03-10T17:00:00Z"),      # Tuesday 18:00 CET: Wednesday 09:00
                     ("tue_1659", "Europe/Berlin", "2026-03-10T15:59:00Z"),    # 16:59: still inside
                     ("tue_1700", "Europe/Berlin", "2026-03-10T16:00:00Z"),    # 17:00: closed (until is excluded)
                     ("tue_0859", "Europe/Berlin", "2026-03-10T07:59:00Z"),    # 08:59: the same day's 09:00
                     ("sat_11", "Europe/Berlin", "2026-03-14T10:00:00Z"),      # Saturday 11:00: Monday 09:00
                     ("fri_ny", "America/New_York", "2026-03-06T20:01:00Z"),   # Friday 15:01 EST: at once
                     ("sun_ny", "America/New_York", "2026-03-08T15:00:00Z"))   # Sunday, DST began: Monday 09:00 EDT
    assert sent == {
        "tue_11": "2026-03-10T10:00:00.000Z", "tue_18": "2026-03-11T08:00:00.000Z",
        "tue_1659": "2026-03-10T15:59:00.000Z", "tue_1700": "2026-03-11T08:00:00.000Z",
        "tue_0859": "2026-03-10T08:00:00.000Z", "sat_11": "2026-03-16T08:00:00.000Z",
        "fri_ny": "2026-03-06T20:01:00.000Z", "sun_ny": "2026-03-09T13:00:00.000Z",
    }


def test_without_until_the_same_step_waits_for_the_next_opening(tmp_path: Path) -> None:
    sent = _simulate(tmp_path, '{at: "09:00", days: weekdays}', ("tue_11", "Europe/Berlin", "2026-03-10T10:00:00Z"))
    assert sent == {"tue_11": "2026-03-11T08:00:00.000Z"}


@pytest.mark.parametrize(("wait", "reason"), [
    ('{at: "17:00", until: "09:00"}', "until: '09:00' is not after at: 17:00"),
    ('{at: "09:00", until: "09:00"}', "until: '09:00' is not after at: 09:00"),
    ('{at: "09:00", until: "5pm"}', "bad time of day '5pm'"),
    # a window to the end of the day (a new user's walkthrough: refused with the forms only)
    ('{at: "09:00", until: "24:00"}', 'a window to the end of the day: until: "23:59"'),
    ('{best_time: email, default: "10:00", until: "17:00"}', "until: goes with at:"),
])
def test_a_bad_window_is_refused_at_its_line(wait: str, reason: str) -> None:
    with pytest.raises(JourneyLoadError) as e:
        journey(WELCOME.replace("WAIT", wait), "welcome.yaml")
    (problem,) = e.value.problems
    assert (problem.file, problem.line) == ("welcome.yaml", 6), str(problem)
    assert reason in problem.reason, problem.reason


def test_a_loop_through_a_window_alone_is_refused() -> None:
    """Inside the window the step goes on at once, so it waits nothing a round: a send looping through it would
    send without end while the window is open (a plain wait_until waits a day a round)."""
    loop = WELCOME.replace("journey: welcome", "journey: poll") + "    next: office_hours\n"
    journey(loop.replace("WAIT", '{at: "09:00", days: weekdays}'))  # waits until the next 09:00 a round
    with pytest.raises(JourneyLoadError) as e:
        journey(loop.replace("WAIT", '{at: "09:00", until: "17:00", days: weekdays}'))
    assert any("loop" in p.reason for p in e.value.problems), e.value.problems
