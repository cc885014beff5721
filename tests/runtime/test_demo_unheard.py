"""``cjo-stream demo --topologies DIR`` tells, before it starts, each event a journey of DIR waits for that the
demo's traffic never has: a walkthrough ran three journeys migrated from Braze (``Signed Up``, ``Cart Updated``)
in the demo, which showed 0 delivery commands in a minute and said nothing of why; its banner promised the demo
journeys' reminders "after 10 s" too. No broker here: what the demo would say, from its functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.generator import event_names
from cjo_stream.journeys.loader import load_topology
from cjo_stream.runtime.demo import DEMO_TOPOLOGIES, _own_topologies, unheard
from tests.journeys.test_language2 import write

ROOT = Path(__file__).resolve().parents[2]

MIGRATED = """\
journey: cart_abandon
entry: {event: Cart Updated}
goal: {event: Order Completed}
steps:
  - id: wait_open
    wait_for: {event: message_opened, timeout: 1h}
  - id: remind
    send: {channel: email, content: {subject: "Your cart"}}
"""


def test_a_journey_the_demo_traffic_never_starts_is_told(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, {"cart_abandon": MIGRATED}))
    assert unheard(topo.journeys) == [
        "journey cart_abandon: no event named 'Cart Updated' in the demo's traffic (its entry)",
        "journey cart_abandon: no event named 'Order Completed' in the demo's traffic (its goal; did you mean "
        "'order_completed'?)",
    ]  # the opens the demo plays as receipts are heard


def test_the_demo_and_example_journeys_hear_everything_they_wait_for() -> None:
    for topologies in (ROOT / DEMO_TOPOLOGIES, ROOT / "topologies"):
        assert unheard(load_topology(str(topologies)).journeys) == [], topologies


def test_the_generator_names_are_the_engines() -> None:
    names = event_names()
    assert {"page_viewed", "identify", "signed_up", "order_completed", "cart_item_added"} <= names
    assert "page" not in names and "track" not in names


def test_only_the_demo_topologies_get_its_delays_in_the_banner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert _own_topologies(DEMO_TOPOLOGIES) and _own_topologies(str(ROOT / DEMO_TOPOLOGIES))
    assert not _own_topologies(str(write(tmp_path, {"cart_abandon": MIGRATED})))
    assert not _own_topologies("no/such/dir")
