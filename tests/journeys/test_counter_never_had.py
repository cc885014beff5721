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


@pytest.mark.parametrize(("when", "warned"), [
    ("profile.counters.order_completed == 0", "profile.counters.order_completed == 0"),
    ("profile.counters['Order Completed'] < 3", "profile.counters['Order Completed'] < 3"),
    ("event.properties.x == 1 and profile.counters.order_completed != 0", "profile.counters.order_completed != 0"),
    ("not (profile.counters.order_completed >= 1)", None),
    ("profile.counters.order_completed == 0 or profile.counters.order_completed == null", None),
    ("profile.counters.order_completed > 0", None),
])
def test_a_count_compared_as_if_never_had_were_0_is_warned_at_its_line(tmp_path: Path, when: str,
                                                                         warned: str | None) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "first_order.yaml").write_text(JOURNEY.replace("WHEN", f'"{when}"'))
    p = run("validate", str(tmp_path))
    assert p.returncode == 0, p.stderr  # a warning refuses nothing
    lines = [ln for ln in p.stderr.splitlines() if "warning:" in ln]
    if warned is None:
        assert lines == [], lines
    else:
        assert lines == [f"{tmp_path}/journeys/first_order.yaml:4: warning: `{warned}` compares a count as if an "
                         "event never had counted 0, but its count is null then (== 0 and < n are false, != 0 "
                         "true): write not (profile.counters.<event> >= 1) for \"never had it\" (README, "
                         "Expressions)"], lines
