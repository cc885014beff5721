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
