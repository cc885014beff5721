"""A branch's edges on the journey map are labelled with their conditions, as written (they said "case 1",
"case 2": which edge was the push fallback could only be told from the YAML; a walkthrough)."""

from __future__ import annotations

from pathlib import Path

import orjson

from cjo_stream.analytics.graph import CONDITION_CHARS, edges
from cjo_stream.journeys.loader import load_journey_text
from tests.test_cli_errors import run

JOURNEY = """\
journey: fallback
entry: {event: cart_item_added}
steps:
  - id: pick
    branch:
      - when: event.properties.cart_value < 50
        next: small
      - when: profile.consent.email == false and profile.traits.push_token != null and profile.traits.vip == true
        next: push
      - else: end
  - id: small
    send: {channel: email, content: {subject: "s", body: "b"}}
    next: end
  - id: push
    send: {channel: push, content: {title: "t", body: "b"}}
"""


def test_branch_edges_carry_their_conditions_cut_to_a_length() -> None:
    labels = {dst: label for _, dst, label, _ in edges(load_journey_text(JOURNEY, "fallback.yaml"))}
    assert labels["small"] == "event.properties.cart_value < 50"
    assert len(labels["push"]) == CONDITION_CHARS and labels["push"].endswith("…")
    assert labels["push"].startswith("profile.consent.email == false and")


def test_the_page_shows_a_condition_escaped(tmp_path: Path) -> None:
    (tmp_path / "topo" / "journeys").mkdir(parents=True)
    (tmp_path / "topo" / "journeys" / "fallback.yaml").write_text(JOURNEY)
    events = tmp_path / "e.jsonl"
    events.write_bytes(orjson.dumps({"messageId": "m1", "type": "track", "event": "cart_item_added", "userId": "u1",
                                     "timestamp": "2026-03-02T10:00:00Z", "properties": {"cart_value": 20}}) + b"\n")
    page = tmp_path / "page.html"
    p = run("simulate", "--topologies", str(tmp_path / "topo"), "--events", str(events), "--html", str(page))
    assert p.returncode == 0, p.stderr
    html = page.read_text()
    assert "event.properties.cart_value &lt; 50" in html and "case 1" not in html
