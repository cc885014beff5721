"""An event property a condition compares with a number, carried as text by the input's events, is told after a
simulation or replay: ``"revenue": "30"`` never holds for ``event.properties.revenue >= 10``, and a walkthrough's
customer who ordered so entered nothing while ``simulate`` said nothing of why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.text_numbers import numbers_compared
from tests.journeys.test_language2 import write

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("cjo-stream"))

REVIEW = """\
journey: review
entry: {event: order_completed, when: "event.properties.revenue >= 10 and event.properties.currency == 'GBP'"}
goal: {event: review_submitted, when: "4 <= event.properties.rating"}
steps:
  - {id: mail, send: {channel: email, content: {subject: hi, body: hi}}}
  - id: w
    wait_for: {event: review_submitted, timeout: 1d}
"""


def _events(path: Path, revenue: object, rating: object) -> Path:
    lines = []
    for i in range(3):
        lines.append({"messageId": f"o{i}", "type": "track", "event": "order_completed", "userId": f"u{i}",
                      "timestamp": f"2026-03-02T10:0{i}:00Z",
                      "properties": {"revenue": revenue if i < 2 else 30, "currency": "GBP"}})
        lines.append({"messageId": f"r{i}", "type": "track", "event": "review_submitted", "userId": f"u{i}",
                      "timestamp": f"2026-03-02T11:0{i}:00Z", "properties": {"rating": rating}})
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def test_the_keys_compared_with_a_number_either_way_round(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, {"review": REVIEW}))
    assert numbers_compared(topo.journeys) == {"order_completed": frozenset({"revenue"}),
                                               "review_submitted": frozenset({"rating"})}


def test_a_number_list_and_arithmetic_are_comparisons_with_a_number(tmp_path: Path) -> None:
    """``in [...]`` and arithmetic never hold for text either; ``!=`` always does, so it is not told."""
    journey = REVIEW.replace("event.properties.revenue >= 10", "event.properties.qty * 2 > 10 and "
                             "event.properties.tier in [1, 2] and event.properties.code != 3")
    topo = load_topology(write(tmp_path, {"review": journey}))
    assert numbers_compared(topo.journeys)["order_completed"] == frozenset({"qty", "tier"})


def test_simulate_and_replay_tell_a_number_sent_as_text(tmp_path: Path) -> None:
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"review": REVIEW})
    events = _events(tmp_path / "events.jsonl", "30", "5")
    for p in (_cli("simulate", "--events", str(events), "--topologies", str(topologies)),
              _cli("replay", "--events", str(events), "--topologies", str(topologies))):
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        notes = [ln for ln in p.stderr.splitlines() if "as text" in ln]
        assert notes == [
            "note: journey review: 2 'order_completed' event(s) in the input carried the property 'revenue' as text "
            "(\"30\", not 30), which its entry's when compares with a number: that never holds for text (README, "
            "Expressions); send the number unquoted",
            "note: journey review: 3 'review_submitted' event(s) in the input carried the property 'rating' as text "
            "(\"30\", not 30), which its goal's when compares with a number: that never holds for text (README, "
            "Expressions); send the number unquoted"], p.stderr


def test_numbers_sent_as_numbers_are_not_told(tmp_path: Path) -> None:
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"review": REVIEW})
    p = _cli("simulate", "--events", str(_events(tmp_path / "events.jsonl", 30, 5)), "--topologies", str(topologies))
    assert p.returncode == 0 and "as text" not in p.stderr, p.stderr
