"""``wait_until: {time: ...}`` in a real worker, across a SIGKILL: the wait parks until a moment a trait names, an
identify that moves the trait re-parks it (the old timer cancelled in the store and the timers changelog), and a
worker killed while the instance waits, started again on its disk or on a new one (restored from the changelogs),
sends once, at the moved time, the command ``simulate`` writes for the same events (README, "Steps"). An identify
timed before the booking but arriving after it (another source's) moves the wait too."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cjo_stream.engine import Engine
from cjo_stream.events import decode_event, format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.runtime.customers import command_json
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import collect, event_line, keyed, produce, until

pytestmark = pytest.mark.broker

JOURNEY = """journey: slot
entry: {event: booked}
steps:
  - id: before_slot
    wait_until: {time: profile.traits.slot_at, before: 1d}
  - id: remind
    send: {channel: email, content: {subject: "your slot is at {{ profile.traits.slot_at }}", body: see you}}
"""
DAY = 86400


def _customer(url: str) -> dict[str, Any] | None:
    try:
        r = httpx.get(f"{url}/customers/ann", timeout=2.0)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None  # type: ignore[no-any-return]


def _waits_until(url: str, due: float) -> bool:
    """The state API shows ann's instance waiting at the step until ``due``, with that one timer pending."""
    c = _customer(url)
    if c is None or "slot" not in c["profile"]["journeys"]:
        return False
    inst = c["profile"]["journeys"]["slot"]
    return bool(inst["step"] == "before_slot" and inst["waiting"] == "wait" and inst["due"] == format_ts(due)
                and [(t["journey"], t["due"], t["kind"]) for t in c["pending_timers"]] == [("slot", format_ts(due), "wait")])


def _simulated(topo: Path, lines: list[bytes]) -> list[dict[str, Any]]:
    t = load_topology(str(topo))
    sim = Simulator(Engine(t.journeys, t.policies))
    for line in lines:
        sim.handle(decode_event(line))
    sim.finish()
    return [orjson.loads(command_json(c)) for c in sim.commands]


@pytest.mark.parametrize(("disk", "move_at"), [("kept", "now"), ("new", "now"), ("kept", "before the booking")])
async def test_a_moved_slot_is_reminded_once_at_its_new_time_across_a_kill(
        spawn: Any, worker_env: dict[str, str], tmp_path: Path, disk: str, move_at: str) -> None:
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "journeys" / "slot.yaml").write_text(JOURNEY)
    w = spawn(CJO_TOPOLOGIES=str(topo))
    w.wait_ready()
    broker = worker_env["CJO_BROKER"]
    t0 = math.ceil(time.time())
    first, moved = t0 + 20, t0 + 30  # the reminder's time (a day before the slot), before and after the move
    booked = [event_line(messageId="i-1", type="identify", userId="ann", timestamp=format_ts(t0),
                         traits={"email": "ann@example.com", "slot_at": format_ts(first + DAY)}),
              event_line(messageId="b-1", type="track", event="booked", userId="ann", timestamp=format_ts(t0 + 0.5))]
    await produce(broker, "cjo.touchpoints", keyed(booked))
    await until(lambda: _waits_until(w.url, first), f"ann not waiting until {format_ts(first)}:\n{w.log()}", 15)

    at = max(time.time(), t0 + 1) if move_at == "now" else t0 + 0.25  # another source's, timed before the booking
    move = [event_line(messageId="i-2", type="identify", userId="ann", timestamp=format_ts(at),
                       traits={"slot_at": format_ts(moved + DAY)})]
    await produce(broker, "cjo.touchpoints", keyed(move))
    await until(lambda: _waits_until(w.url, moved), f"ann not re-parked to {format_ts(moved)}:\n{w.log()}", 15)

    w.kill()  # SIGKILL while the instance waits
    if disk == "new":  # nothing local: the profile and its one timer come back from the changelogs
        w.env = {**w.env, "CJO_DATA_DIR": str(tmp_path / "data-2")}
    w.start()
    w.wait_ready()
    assert time.time() < first, "the restart took past the old time: the test proves less than it says"
    assert _waits_until(w.url, moved), (_customer(w.url), w.log())

    recs = await collect(broker, ["cjo.delivery.email"], lambda rs: False, timeout=max(0.0, moved - time.time()) + 5)
    got = [orjson.loads(r.value) for r in recs]
    assert [(c["customer_id"], c["step"], c["decided_at"]) for c in got] == [("ann", "remind", format_ts(moved))], w.log()
    assert got == _simulated(topo, booked + move)  # content, decided_at, delivery_id: as simulate writes them
    await until(lambda: (c := _customer(w.url)) is not None and not c["pending_timers"]
                and "slot" not in c["profile"]["journeys"], "the instance did not end after its send", 5)
