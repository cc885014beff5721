"""What the README says of an event the customer never had: its count is null, not 0, so "never ordered" is
`not (profile.counters.order_completed >= 1)` and `== 0` holds for nobody (a walkthrough wrote `== 0` for a
welcome series and entered no one, silently)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.test_cli_errors import ROOT, run

JOURNEY = """\
journey: first_order
entry:
  event: signed_up
  when: WHEN
steps:
  - id: hi
    send: {channel: email, content: {subject: "Hi", body: "Hi"}}
"""


@pytest.mark.parametrize(("when", "entered"), [("not (profile.counters.order_completed >= 1)", True),
                                                ("profile.counters.order_completed == 0", False)])
def test_a_count_never_had_is_null(tmp_path: Path, when: str, entered: bool) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "first_order.yaml").write_text(JOURNEY.replace("WHEN", when))
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in (
        {"messageId": "1", "type": "identify", "userId": "u", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"email": "u@example.com"}},
        {"messageId": "2", "type": "track", "event": "signed_up", "userId": "u", "timestamp": "2026-03-02T10:01:00Z"},
    )) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(events))
    assert p.returncode == 0, p.stderr
    assert bool(p.stdout.strip()) is entered, p.stdout
    if entered:  # the README's example is this one
        assert f"when: {when}" in (ROOT / "README.md").read_text()
