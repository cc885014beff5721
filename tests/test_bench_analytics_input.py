"""``make bench``'s analytics section makes its input with the simulator: the journey events workers write.

It patched the simulator's fold to catch them, which the compiled build (cjo_stream/native.py) refuses:
``make bench`` stopped there with an AttributeError while every test passed. This runs it as the bench
does, in the build the suite runs (compiled unless ``CJO_PURE_PYTHON=1``).
"""

from __future__ import annotations

from collections import Counter

import orjson

from cjo_stream.analytics import records
from cjo_stream.analytics.fold import Analytics
from cjo_stream.bench.analytics import journey_events_of
from cjo_stream.engine import Engine
from cjo_stream.generator import generate_events
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import ROOT


def test_the_journey_events_are_the_simulators_decisions_in_order_with_receipts() -> None:
    lines = [orjson.dumps(e) for e in generate_events(customers=300, seed=7, start=1_780_000_000.0,
                                                        duration=5 * 86400.0)]
    topo = load_topology(f"{ROOT}/topologies")
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    sim.run_lines(lines)
    sim.finish()
    sent = sim.commands[0]
    receipt = orjson.dumps({"messageId": "r-1", "type": "track", "event": "message_opened", "userId": sent.customer_id,
                            "timestamp": "2030-01-01T00:00:00Z",
                            "properties": {"delivery_id": sent.delivery_id, "journey": sent.journey,
                                           "step": sent.step, "channel": sent.channel}})

    out = [records.decode(v) for v in journey_events_of([*lines, receipt, receipt], ROOT)]

    # one position per event, counting up per internal partition, the customer's (as a worker writes them: a
    # single partition's positions made most records duplicates once folded in another order than written)
    part, pos = Partitioner(8), [0] * 8
    want = []
    for e in out:
        p = part(e.customer_id.encode())
        pos[p] += 1
        want.append((p, pos[p], 0))
    assert [e.src for e in out] == want and len({s[0] for s in want}) == 8
    fold = Analytics()
    fold.apply_all(sorted(out, key=lambda e: e.src[0] if e.src else 0))  # a partition at a time, as fetched
    assert fold.duplicates == 0 and fold.applied == len(out)  # (the repeated receipt was dropped before: below)
    entered = Counter(e.journey for e in out if e.kind == "entered")
    assert entered == Counter({j: c["entered"] for j, c in sim.funnel.journeys.items() if c["entered"]})
    assert sum(e.kind == "sent" for e in out) == len(sim.commands)
    moves = Counter((e.from_, e.to) for e in out if e.kind == "stage" and e.from_ and e.to)
    assert moves == sim.stage_transitions and moves
    got = [e for e in out if e.kind == "receipt"]  # the repeated receipt is a duplicate: dropped, as live
    generated = [orjson.loads(v) for v in lines if b'"event":"message_' in v]
    assert generated and len(got) == sum("delivery_id" in g["properties"] for g in generated) + 1
    assert (got[-1].delivery_id, got[-1].status, got[-1].customer_id) == (sent.delivery_id, "opened", sent.customer_id)


def test_the_page_load_section_serves_its_pages_from_the_service_the_app_is_built_for() -> None:
    """``make bench`` stopped at the page-load timing with a 500 (the app's start-up gate read
    ``svc.restored``, which the bench's stand-in service lacked) while every test passed: run it as the
    bench does, with two loads a page."""
    from cjo_stream.bench.analytics import page_load

    res = page_load(2)
    for path in ("/journeys/long", "/analytics/journeys/long", "/"):
        assert res[path]["bytes"] > 1000 and res[path]["p50"] > 0, (path, res[path])
    assert res["buckets"] > 0 and res["counters"] > 0
