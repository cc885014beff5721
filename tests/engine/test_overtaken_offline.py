"""``simulate`` reads its file's order as the order of arrival, as a live worker reads its input: a line that
happened before a timer of its customer was due, read after a line past that time, comes after the timer fired.
It says so, per journey, as a live worker counts ``cjo_events_overtaken_total`` (engine.overtaken); so does
``replay``, which reads its files in their order too. In time order none comes after a timer it happened before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cjo_stream.engine import Engine
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.simulator import Simulator

T = 1_780_000_000.0

JOURNEY = """\
journey: quick_cart
entry: {event: cart_item_added}
steps:
  - id: wait_checkout
    wait_for: {event: checkout_started, timeout: 1h}
    on_event: thanks
    on_timeout: remind
  - {id: remind, send: {channel: in_app, content: {body: "You left something behind"}}, next: end}
  - {id: thanks, send: {channel: in_app, content: {body: "Thanks for checking out"}}}
"""


def line(mid: str, name: str, uid: str, at: float) -> str:
    return json.dumps({"messageId": mid, "type": "track", "event": name, "userId": uid, "timestamp": format_ts(at)})


def arrival_order() -> list[str]:
    """u1's checkout happened 2 minutes before its wait's timeout and came after u2's later event (a phone's
    batch sent late); u3's came in time; u4's page view before its timeout, late too, is nothing the journey hears."""
    return [line("c1", "cart_item_added", "u1", T), line("c3", "cart_item_added", "u3", T),
            line("c4", "cart_item_added", "u4", T),
            line("k3", "checkout_started", "u3", T + 600),
            line("x2", "page_viewed", "u2", T + 3600 + 900),  # the file's time passes the timeouts
            line("k1", "checkout_started", "u1", T + 3600 - 120),
            line("p4", "page_viewed", "u4", T + 3600 - 60)]


def topology(tmp: Path) -> Path:
    (tmp / "topo" / "journeys").mkdir(parents=True)
    (tmp / "topo" / "journeys" / "quick_cart.yaml").write_text(JOURNEY)
    return tmp / "topo"


def test_simulate_counts_the_late_line_and_says_how_late(tmp_path: Path) -> None:
    topo = load_topology(str(topology(tmp_path)))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.run_lines([ln.encode() for ln in arrival_order()])
    sim.finish()
    assert sorted((c.customer_id, c.step) for c in sim.commands) == [("u1", "remind"), ("u3", "thanks"),
                                                                     ("u4", "remind")]
    assert sim.overtaken == {"quick_cart": 1} and sim.overtaken_after == {"quick_cart": 900.0}


def test_in_time_order_nothing_comes_after_a_timer(tmp_path: Path) -> None:
    topo = load_topology(str(topology(tmp_path)))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    lines = sorted(arrival_order(), key=lambda ln: json.loads(ln)["timestamp"])
    sim.run_lines([ln.encode() for ln in lines])
    sim.finish()
    assert ("u1", "thanks") in [(c.customer_id, c.step) for c in sim.commands]
    assert not sim.overtaken


def notes_of(verb: str, tmp: Path) -> list[str]:
    """The "came after a timer" notes of ``cjo-stream <verb> --events`` over :func:`arrival_order`, as typed."""
    topo = topology(tmp) if not (tmp / "topo").exists() else tmp / "topo"
    events = tmp / "events.jsonl"
    events.write_text("\n".join(arrival_order()) + "\n")
    got = subprocess.run([sys.executable, "-m", "cjo_stream.cli", verb, "--topologies", str(topo), "--events",
                          str(events)], capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    return [ln for ln in got.stderr.splitlines() if "came after a timer" in ln]


def test_simulate_as_typed_notes_it(tmp_path: Path) -> None:
    assert notes_of("simulate", tmp_path) == [
        "note: 1 event(s) of journey quick_cart came after a timer of their customer had fired, though they happened "
        "before it was due (read when the input's time was up to 900 s past the due time): the timer decided without "
        "them, as a live worker does for events that arrive later than CJO_TIMER_GRACE_MS "
        "(cjo_events_overtaken_total); in the order of their timestamps they would have come first"]


def test_replay_of_the_file_as_typed_notes_it_too(tmp_path: Path) -> None:
    """A replay reads its files in their order: the same events come after the timer, and it says so."""
    told = notes_of("replay", tmp_path)
    assert len(told) == 1 and told == notes_of("simulate", tmp_path)
