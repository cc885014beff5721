"""Property-based tests: random event sequences never crash the engine or duplicate a send."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjo_stream.engine import Engine
from cjo_stream.events import Event
from cjo_stream.journeys.loader import load_topology
from cjo_stream.simulator import Simulator
from tests.conftest import T0

TOPO = load_topology(os.path.join(os.path.dirname(__file__), "..", "..", "topologies"))
NAMES = sorted({j.entry.event for j in TOPO.journeys}
               | {m.event for j in TOPO.journeys for m in ([j.goal] if j.goal else []) + list(j.exit_on)}
               | {m.event for j in TOPO.journeys for s in j.steps.values() for m, _ in s.ways}
               | {"page_viewed", "subscribed", "unsubscribed"})

values = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.text(max_size=5),
                   st.sampled_from(["email", "sms", "push", "UTC", "Europe/Berlin", "Not/AZone"]))
bags = st.dictionaries(st.sampled_from(["cart_value", "channel", "product_name", "lead_score", "revenue"]), values,
                       max_size=3)
traits = st.dictionaries(st.sampled_from(["email", "phone", "push_token", "vip", "timezone", "lead_score",
                                          "consent.email", "first_name", "lead_stage"]), values, max_size=4)
steps = st.lists(st.tuples(st.sampled_from(NAMES + ["identify"]), st.integers(0, 5), st.floats(0, 4 * 86400),
                           bags, traits), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_sequences_no_crash_no_duplicate_sends_and_instances_wait_or_end(seq: list) -> None:  # type: ignore[type-arg]
    sim = Simulator(Engine(TOPO.journeys, TOPO.policies))
    t = T0
    for n, (name, who, gap, props, tr) in enumerate(seq):
        t += gap
        typ = "identify" if name == "identify" else "track"
        sim.handle(Event(message_id=f"p{n}", type=typ, name=name, ts=t, user_id=f"c{who}",  # type: ignore[arg-type]
                         properties=props, traits=tr if typ == "identify" else {}))
    # every active instance is parked on a timer that is still pending
    pending = {(tm.customer_id, tm.journey, tm.instance_id, tm.seq) for tm in sim._timers}
    for p in sim.profiles.values():
        for inst in p.instances.values():
            assert inst.waiting is not None and inst.due is not None
            assert (p.customer_id, inst.journey, inst.instance_id, inst.seq) in pending
    sim.finish()
    ids = [c.delivery_id for c in sim.commands] + [s.delivery_id for s in sim.skips]
    assert len(ids) == len(set(ids))
    assert all(not p.instances for p in sim.profiles.values())  # after all timers: every instance ended
