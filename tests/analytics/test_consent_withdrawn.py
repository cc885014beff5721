"""A journey's ``update: {consent: ...}`` step (a sunset flow) withdraws consent: its ``step`` journey event says which
channels and topics it withdrew (``withdrawn``: names, no values), and the journey analytics count them per step, so
an analyst sees how many customers a sunset suppressed; before, the step looked as any other step reached."""

from __future__ import annotations

import textwrap
from zoneinfo import ZoneInfo

import msgspec

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import definitions
from cjo_stream.analytics.page import _steps_table
from cjo_stream.analytics.records import journey_events
from cjo_stream.analytics.text import render
from cjo_stream.engine import Engine
from cjo_stream.engine.result import Result
from cjo_stream.journeys.loader import load_journey_text
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, policies

POLICY = "topics: {newsletter: opt_out}\n"
SUNSET = """
journey: sunset
entry: {event: sunset_due}
steps:
  - id: suppress
    update: {consent: {email: false, newsletter: false}, traits: {sunset: true}}
"""


def test_the_update_steps_journey_event_names_what_it_withdrew_and_the_report_counts_it() -> None:
    pol = policies(POLICY)
    j = load_journey_text(textwrap.dedent(SUNSET), "sunset.yaml", pol)
    sim = Simulator(Engine([j], pol))
    results: list[Result] = []
    sim.on_result = results.append
    for cid in ("a", "b", "c"):
        sim.handle(ev("identify", T0, cid, type="identify", traits={"email": f"{cid}@example.com"}))
    sim.handle(ev("unsubscribed", T0 + 1, "b", props={"channel": "email"}))  # b had left e-mail already
    for cid in ("a", "b", "c"):
        sim.handle(ev("sunset_due", T0 + 60, cid))
    sim.finish()
    events = [e for r in results for e in journey_events(r, r.profile.customer_id, ZoneInfo("UTC"))]
    steps = [(e.customer_id, e.withdrawn) for e in events if e.kind == "step"]
    assert steps == [("a", ("email", "newsletter")), ("b", ("newsletter",)), ("c", ("email", "newsletter"))]
    line = msgspec.json.decode(msgspec.json.encode(events[1]))
    assert line["kind"] == "step" and line["withdrawn"] == ["email", "newsletter"]
    # the workers' path (journey events folded by the analytics service) and the replay's (transitions) agree
    served = Analytics()
    served.apply_all(events)
    for buckets in (sim.analytics.buckets, served.buckets):
        rep = report.journey_report(buckets, definitions([j]), "sunset")
        (step,) = rep["steps"]
        assert step["withdrew"] == {"email": 2, "newsletter": 3}
    assert "withdrew:email=2, withdrew:newsletter=3" in render([], {"sunset": rep})
    assert "update (withdrew email 2, newsletter 3)" in _steps_table(rep)


def test_a_holdouts_update_step_withdraws_nothing_and_says_so() -> None:
    pol = policies(POLICY)
    j = load_journey_text(textwrap.dedent(SUNSET.replace("steps:", "holdout: 50\nsteps:")), "sunset.yaml", pol)
    sim = Simulator(Engine([j], pol))
    results: list[Result] = []
    sim.on_result = results.append
    for n in range(20):
        sim.handle(ev("sunset_due", T0 + 60, f"c{n}"))
    events = [e for r in results for e in journey_events(r, r.profile.customer_id, ZoneInfo("UTC"))]
    held = {e.instance for e in events if e.kind == "holdout"}
    said = {e.instance: e.withdrawn for e in events if e.kind == "step"}
    assert 0 < len(held) < len(said)
    assert {i: w for i, w in said.items() if i in held} == dict.fromkeys(held)  # nothing withdrawn
    assert set(said.values()) == {None, ("email", "newsletter")}
    step = next(e for e in events if e.kind == "step" and e.instance in held)
    assert "withdrawn" not in msgspec.json.encode(step).decode()
