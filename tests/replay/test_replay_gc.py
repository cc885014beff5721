"""A replay over files runs with the cyclic collector off (gc_tuning.collector_paused): that is only safe
while its loop leaves no reference cycles behind, which these tests check on the generated traffic."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from cjo_stream.gc_tuning import collector_paused
from cjo_stream.generator import generate_events
from cjo_stream.journeys.loader import load_topology
from cjo_stream.replay.run import Replay

ROOT = Path(__file__).resolve().parents[2]
START = 1_790_000_000.0


def lines() -> list[bytes]:
    """Two days of 600 shoppers: logins (merges), carts, orders, e-mail receipts, and the waits' timers firing;
    with bad lines and duplicates among them (their errors are caught: a kept traceback would be a cycle)."""
    out = [orjson.dumps(e) for e in generate_events(customers=600, seed=7, start=START, duration=2 * 86400)]
    for i in range(100, len(out), 500):
        out[i:i] = [b'{"type": "track", "event": 3}', b"not json", out[i - 1]]
    return out


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("spill", [False, True], ids=["in-memory", "profiles-and-rows-spilled"])
@pytest.mark.usefixtures("collector_off")
def test_a_replay_and_its_final_timers_leave_no_cyclic_garbage(spill: bool, tmp_path: Path) -> None:
    topo = load_topology(str(ROOT / "topologies"))
    sent: list[object] = []
    r = Replay([("topologies", topo)], profiles_in_memory=50 if spill else 50_000, on_command=sent.append)
    events = lines()
    gc.collect()  # what loading the journeys and generating left (YAML, Liquid): not the replay's
    r.feed_lines("gen.jsonl", events[: len(events) // 2])
    assert gc.collect() == 0
    r.feed_lines("gen.jsonl", events[len(events) // 2:])
    r.finish()
    assert gc.collect() == 0
    assert len(r.bad) > 10 and r.sides[0].sim.duplicates > 5
    assert len(sent) > 50  # it did decide: journeys entered, timers fired, sends made
    r.close()


@pytest.mark.usefixtures("collector_off")
def test_a_comparison_leaves_no_cyclic_garbage() -> None:
    topo = load_topology(str(ROOT / "topologies"))
    r = Replay([("a", topo), ("b", topo)], analytics=False)
    events = lines()
    gc.collect()
    r.feed_lines("gen.jsonl", events)
    r.finish()
    assert gc.collect() == 0
    r.close()


def test_the_pause_restores_the_collector_and_freezes_what_the_loop_left() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        kept = [[i] for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(kept)
    gc.unfreeze()  # (the rest of the test session's objects back under the collector's watch)
