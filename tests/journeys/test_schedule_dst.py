"""Cron schedules across daylight-saving transitions, in the customer's zone.

Found by simulating a `cron: "0 9 * * *"` journey for a customer in Europe/Berlin over the
spring-forward weekend: croniter given an aware start entered them twice on the Saturday (09:00 and
10:00 local) and a `30 1 * * *` in New York ran at 02:30 local the day after fall-back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cjo_stream.events import format_ts, parse_ts
from cjo_stream.journeys.schedule import Schedule

CLI = str(Path(sys.executable).with_name("cjo-stream"))


def occurrences(cron: str | Schedule, zone: str, start: str, end: str) -> list[str]:
    """Every occurrence in ``(start, end]``, as local wall times with their UTC instants."""
    s, tz = Schedule(cron=cron) if isinstance(cron, str) else cron, ZoneInfo(zone)
    t, stop, out = parse_ts(start), parse_ts(end), []
    while (t := s.next_after(t, tz)) <= stop:
        assert s.latest(t - 1, t, tz) == t  # `latest` finds the same occurrences
        out.append(f"{datetime.fromtimestamp(t, tz):%m-%d %H:%M} {format_ts(t)[11:16]}Z")
    return out


@pytest.mark.parametrize(("cron", "zone", "start", "end", "expected"), [
    # spring forward in Berlin (2026-03-29 02:00 -> 03:00): once a day at 09:00 local
    ("0 9 * * *", "Europe/Berlin", "2026-03-27T00:00:00Z", "2026-03-30T12:00:00Z",
     ["03-27 09:00 08:00Z", "03-28 09:00 08:00Z", "03-29 09:00 07:00Z", "03-30 09:00 07:00Z"]),
    # fall back in New York (2026-11-01 02:00 -> 01:00): 09:00 local is 14:00 UTC afterwards
    ("0 9 * * *", "America/New_York", "2026-10-30T00:00:00Z", "2026-11-02T15:00:00Z",
     ["10-30 09:00 13:00Z", "10-31 09:00 13:00Z", "11-01 09:00 14:00Z", "11-02 09:00 14:00Z"]),
    # a time the fall-back night shows twice comes round once, at its first instant, and then daily
    ("30 1 * * *", "America/New_York", "2026-10-31T00:00:00Z", "2026-11-02T12:00:00Z",
     ["10-31 01:30 05:30Z", "11-01 01:30 05:30Z", "11-02 01:30 06:30Z"]),
    ("30 2 * * *", "Europe/Berlin", "2026-10-24T00:00:00Z", "2026-10-26T12:00:00Z",
     ["10-24 02:30 00:30Z", "10-25 02:30 00:30Z", "10-26 02:30 01:30Z"]),
    # a time in the spring-forward gap comes round when the clock jumps past it, as cron runs it (and
    # `every`/`at`, quiet hours' ends and `wait_until`: journeys/wallclock.py)
    ("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z",
     ["03-28 02:30 01:30Z", "03-29 03:00 01:00Z", "03-30 02:30 00:30Z"]),
    # several times in the gap come round once, at its end, and the hour after it as usual
    ("*/30 2-3 * * *", "America/New_York", "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z",
     ["03-08 03:00 07:00Z", "03-08 03:30 07:30Z"]),
    ("0 9 * * MON", "Europe/Berlin", "2026-03-02T12:00:00Z", "2026-03-31T00:00:00Z",
     ["03-09 09:00 08:00Z", "03-16 09:00 08:00Z", "03-23 09:00 08:00Z", "03-30 09:00 07:00Z"]),
])
def test_cron_comes_round_at_its_local_time_across_dst(cron: str, zone: str, start: str, end: str,
                                                       expected: list[str]) -> None:
    assert occurrences(cron, zone, start, end) == expected


def test_every_day_at_a_time_the_spring_forward_night_skips_comes_round_at_the_gap_end() -> None:
    """`{every: 1d, at: "02:30"}` as cron `30 2 * * *`: 03:00 on that day (was 03:30, the zone rule's)."""
    assert occurrences(Schedule(every=86400.0, at=(2, 30)), "Europe/Berlin", "2026-03-28T00:00:00Z",
                       "2026-03-30T12:00:00Z") == ["03-28 02:30 01:30Z", "03-29 03:00 01:00Z", "03-30 02:30 00:30Z"]


def test_simulate_enters_a_daily_cron_journey_once_a_day_at_nine_local(tmp_path: Path) -> None:
    """The user's view: `simulate` over the spring-forward weekend sends one 09:00 email a day."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "morning.yaml").write_text(textwrap.dedent("""\
        journey: morning
        entry:
          schedule: {cron: "0 9 * * *"}
        re_entry: always
        steps:
          - id: hello
            send: {channel: email, content: {subject: "Good morning"}}
        """))
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"messageId": "i1", "type": "identify", "userId": "ber",
                                  "timestamp": "2026-03-27T12:00:00Z",
                                  "traits": {"email": "b@example.com", "timezone": "Europe/Berlin"}}) + "\n")
    p = subprocess.run([CLI, "simulate", "--topologies", str(tmp_path), "--events", str(events),
                        "--until", "2026-03-31T00:00:00Z"], capture_output=True, text=True, timeout=120, check=True)
    sent = [json.loads(line)["decided_at"] for line in p.stdout.splitlines()]
    assert sent == ["2026-03-28T08:00:00.000Z", "2026-03-29T07:00:00.000Z", "2026-03-30T07:00:00.000Z"]
    assert {datetime.fromisoformat(s).astimezone(ZoneInfo("Europe/Berlin")).hour for s in sent} == {9}
    assert all(datetime.fromisoformat(s).tzinfo == UTC for s in sent)
