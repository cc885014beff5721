"""``simulate`` tells the customers whose data names a time zone that is none (they are timed in the policies'
``default_timezone``, silently: ``America/NewYork`` moved their quiet hours and ``wait_until`` by hours; a
walkthrough migrating Braze profiles), with the zone each name likely means; valid names say nothing."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.test_cli_errors import run

JOURNEY = """\
journey: hello
entry: {event: signed_up}
steps:
  - id: morning
    wait_until: "09:00"
  - id: hi
    send: {channel: email, content: {subject: "Hi", body: "Hi"}}
"""


def _topology(tmp: Path) -> Path:
    (tmp / "topo" / "journeys").mkdir(parents=True)
    (tmp / "topo" / "journeys" / "hello.yaml").write_text(JOURNEY)
    (tmp / "topo" / "policies.yaml").write_text("default_timezone: Europe/Berlin\n")
    return tmp / "topo"


def _events(tmp: Path, zones: list[str]) -> Path:
    lines = []
    for i, tz in enumerate(zones):
        lines.append({"messageId": f"i{i}", "type": "identify", "userId": f"u{i}", "timestamp": "2026-03-02T02:00:00Z",
                      "traits": {"email": f"u{i}@example.com", "timezone": tz}})
        lines.append({"messageId": f"s{i}", "type": "track", "event": "signed_up", "userId": f"u{i}",
                      "timestamp": "2026-03-02T02:01:00Z"})
    path = tmp / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    return path


def test_customers_naming_no_zone_are_told_with_the_zone_meant(tmp_path: Path) -> None:
    events = _events(tmp_path, ["America/NewYork", "america/new_york", "America/NewYork", "Asia/Tokyo"])
    p = run("simulate", "--topologies", str(_topology(tmp_path)), "--events", str(events))
    assert p.returncode == 0, p.stderr
    notes = [ln for ln in p.stderr.splitlines() if "time zone" in ln]
    assert notes == ["note: 3 customer(s) name a time zone the tz database does not have: 'America/NewYork' (2, "
                     "did you mean 'America/New_York'?), 'america/new_york' (1, did you mean 'America/New_York'?); "
                     "they are timed in default_timezone Europe/Berlin (quiet hours, wait_until, schedules): write "
                     "IANA names such as America/New_York in the `timezone` trait"], p.stderr
    sent = {c["customer_id"]: c["decided_at"] for c in map(orjson.loads, p.stdout.splitlines())}
    # 09:00 in Berlin for the names that are none (what the note says); 09:00 in Tokyo the next day for u3
    assert sent["u0"] == sent["u1"] == "2026-03-02T08:00:00.000Z" and sent["u3"] == "2026-03-03T00:00:00.000Z", sent


def test_valid_zones_say_nothing(tmp_path: Path) -> None:
    events = _events(tmp_path, ["America/New_York", "EST", "Etc/GMT-2"])
    p = run("simulate", "--topologies", str(_topology(tmp_path)), "--events", str(events))
    assert p.returncode == 0 and "time zone" not in p.stderr, p.stderr


def test_replay_tells_them_too_while_its_profiles_fit_in_memory(tmp_path: Path) -> None:
    events = _events(tmp_path, ["America/NewYork", "Asia/Tokyo", "Asia/Tokyo"])
    topo = str(_topology(tmp_path))
    p = run("replay", "--topologies", topo, "--events", str(events))
    assert p.returncode == 0, p.stderr
    assert "note: 1 customer(s) name a time zone the tz database does not have: 'America/NewYork' (1, did you mean " \
           "'America/New_York'?); they are timed in default_timezone Europe/Berlin" in p.stderr, p.stderr
    # spilled to disk, the profiles are not read back for a note
    spilled = run("replay", "--topologies", topo, "--events", str(events), "--profiles-in-memory", "1")
    assert spilled.returncode == 0 and "time zone" not in spilled.stderr, spilled.stderr
