"""``simulate --until`` bounds only the timers fired after the last event; a time before the last event
changed nothing and said nothing (a walkthrough took it for ``replay --until``, which stops reading)."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli_errors import run

LINES = (
    '{"type":"track","event":"page_viewed","userId":"u1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z"}\n'
    '{"type":"track","event":"page_viewed","userId":"u1","messageId":"m2","timestamp":"2026-03-09T10:00:00Z"}\n')


def test_an_until_before_the_last_event_is_told(tmp_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    events.write_text(LINES)
    early = run("simulate", "--events", str(events), "--until", "2026-03-05T00:00:00Z")
    assert early.returncode == 0, early.stderr
    notes = [ln for ln in early.stderr.splitlines() if "--until" in ln]
    assert notes == ["note: --until 2026-03-05T00:00:00.000Z is before the last event (2026-03-09T10:00:00.000Z): "
                     "simulate reads every event, and --until only bounds the timers fired after the last one; to "
                     "stop reading at a time, use `cjo-stream replay --events FILE --until TIME`"], early.stderr
    late = run("simulate", "--events", str(events), "--until", "2026-03-20T00:00:00Z")
    assert late.returncode == 0 and "--until" not in late.stderr, late.stderr


JOURNEY = """journey: nudge
entry: {event: signed_up}
steps:
  - id: later
    wait: 5d
  - id: mail
    send: {channel: in_app, content: {title: "Hi"}}
"""


def test_an_until_before_the_last_event_still_fires_the_timers_due_before_it(tmp_path: Path) -> None:
    """A file out of time order: u3 signs up (03-02) after u2's line of 03-09 was read, so its 5-day wait (due
    03-07) is set when virtual time is past it already. ``--until 03-05`` bounds only the timers after the last
    event (03-09), so it fires, as u1's did when u2's line came (it stayed pending: u3's send was missing)."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "nudge.yaml").write_text(JOURNEY)
    events = tmp_path / "ev.jsonl"
    events.write_text("".join(
        f'{{"type":"track","event":"signed_up","userId":"{uid}","messageId":"m-{uid}","timestamp":"{ts}"}}\n'
        for uid, ts in (("u1", "2026-03-01T10:00:00Z"), ("u2", "2026-03-09T10:00:00Z"),
                        ("u3", "2026-03-02T10:00:00Z"))))
    early = run("simulate", "--topologies", str(tmp_path), "--events", str(events), "--until", "2026-03-05T00:00:00Z")
    assert early.returncode == 0, early.stderr
    sent = sorted(line.split('"customer_id":"')[1].split('"')[0] for line in early.stdout.splitlines())
    assert sent == ["u1", "u3"], early.stdout + early.stderr
