"""``simulate`` and ``replay`` as a journey author runs them, where a condition compares with a number a trait
that some customers hold as text: a lone ``{{ event.properties.total }}`` of a producer's quoted ``"250"``, or
an identify's own ``"score": "50"``. The branch took its other way for them and nothing said so (a walkthrough)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.test_cli_errors import run

VIP = """journey: vip_flag
entry: {event: order_completed}
re_entry: always
steps:
  - id: record
    update:
      traits:
        last_total: "{{ event.properties.total }}"
  - id: check
    branch:
      - when: profile.traits.last_total >= 100
        next: make_vip
      - else: end
  - id: make_vip
    update:
      traits: {vip: true}
"""

SCORE = """journey: hot_lead
entry:
  event: page_viewed
  when: profile.traits.score in [50, 60] or profile.traits.vip == true
steps:
  - id: tell
    send: {channel: slack, to: "#sales", content: {text: "hot lead"}}
"""

EVENTS: list[dict[str, Any]] = [
    {"type": "identify", "userId": "u1", "traits": {"score": "50"}},
    {"type": "identify", "userId": "u2", "traits": {"score": 50, "vip": "true"}},
    {"type": "track", "event": "order_completed", "userId": "u1", "properties": {"total": 150}},
    {"type": "track", "event": "order_completed", "userId": "u2", "properties": {"total": "250"}},
    {"type": "track", "event": "order_completed", "userId": "u3", "properties": {"total": "300"}},
    {"type": "page", "userId": "u1"},
]


def _input(tmp_path: Path, journeys: dict[str, str], events: list[dict[str, Any]] = EVENTS) -> tuple[str, str]:
    (tmp_path / "topo" / "journeys").mkdir(parents=True)
    for name, text in journeys.items():
        (tmp_path / "topo" / "journeys" / f"{name}.yaml").write_text(text)
    lines = [orjson.dumps({**e, "messageId": f"m{i}", "timestamp": f"2026-03-01T10:{i:02d}:00Z"})
             for i, e in enumerate(events)]
    (tmp_path / "ev.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return str(tmp_path / "topo"), str(tmp_path / "ev.jsonl")


def _notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note:")]


def test_simulate_tells_a_trait_a_lone_output_stored_as_text(tmp_path: Path) -> None:
    topo, events = _input(tmp_path, {"vip": VIP})
    p = run("simulate", "--topologies", topo, "--events", events, "--profiles", str(tmp_path / "p.jsonl"))
    assert p.returncode == 0, p.stderr
    traits = {x["customer_id"]: x["traits"] for x in map(orjson.loads, (tmp_path / "p.jsonl").read_bytes().split())}
    assert traits["u3"]["last_total"] == "300" and "vip" not in traits["u3"]  # what the note is about
    assert traits["u1"]["vip"] is True
    assert _notes(p.stderr) == [
        "note: journey vip_flag: 2 customer(s) of the input hold the trait 'last_total' as text at the end "
        "(\"150\", not 150), which step check's branch compares with a number: that never holds for text (README, "
        "Expressions); step record of journey vip_flag stores what its lone {{ }} gives, text where the data gave "
        "text: send the number unquoted, or write {{ ... | plus: 0 }} there"], p.stderr


def test_replay_tells_it_too(tmp_path: Path) -> None:
    topo, events = _input(tmp_path, {"vip": VIP})
    p = run("replay", "--topologies", topo, "--events", events)
    assert p.returncode == 0, p.stderr
    (note,) = _notes(p.stderr)
    assert note.startswith("note: journey vip_flag: 2 customer(s) of the input hold the trait 'last_total' as text")


def test_a_customers_own_trait_sent_as_text_is_told_with_its_fix(tmp_path: Path) -> None:
    topo, events = _input(tmp_path, {"lead": SCORE})
    p = run("simulate", "--topologies", topo, "--events", events)
    assert p.returncode == 0, p.stderr
    assert _notes(p.stderr) == [
        "note: journey hot_lead: 1 customer(s) of the input hold the trait 'score' as text at the end (\"150\", "
        "not 150), which its entry's when compares with a number: that never holds for text (README, Expressions); "
        "a trait keeps the type the customer's events sent: send the number unquoted",
        "note: journey hot_lead: 1 customer(s) of the input hold the trait 'vip' as text at the end (\"true\", "
        "not true), which its entry's when compares with true: that never holds for text (README, Expressions); "
        "a trait keeps the type the customer's events sent: send true/false unquoted"], p.stderr


def test_numbers_and_text_templates_are_not_told_here(tmp_path: Path) -> None:
    """Customers holding numbers are no mistake; a template rendering text is warned about at load, at the line."""
    numbers = [e for e in EVENTS if e.get("properties", {}).get("total") != "250" and e.get("userId") != "u3"]
    topo, events = _input(tmp_path, {"vip": VIP}, numbers)
    p = run("simulate", "--topologies", topo, "--events", events)
    assert p.returncode == 0 and not _notes(p.stderr), p.stderr
    labelled = VIP.replace('"{{ event.properties.total }}"', '"{{ event.properties.total }} EUR"')
    topo, events = _input(tmp_path / "b", {"vip": labelled})
    p = run("simulate", "--topologies", topo, "--events", events)
    assert p.returncode == 0 and not _notes(p.stderr), p.stderr
    assert "vip.yaml:11: warning: `profile.traits.last_total >= 100` compares trait 'last_total'" in p.stderr


def test_a_stage_comparing_a_text_trait_is_told(tmp_path: Path) -> None:
    topo, events = _input(tmp_path, {"vip": VIP})
    (Path(topo) / "stages.yaml").write_text(
        "stages:\n  - {stage: new, when: 'true'}\n  - {stage: big, when: profile.traits.last_total >= 200}\n")
    p = run("simulate", "--topologies", topo, "--events", events)
    assert p.returncode == 0, p.stderr
    assert "note: stages.yaml: 2 customer(s) of the input hold the trait 'last_total' as text at the end " \
           "(\"150\", not 150), which stage big's when compares with a number" in p.stderr, p.stderr
