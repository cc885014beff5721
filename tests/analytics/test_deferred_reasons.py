"""A step's deferred sends by why: a paused journey's holds (customers waiting for it to be live again) were one
number with a quiet night's deferrals (which go out in the morning), so an analyst could not read how many sends
a pause held at a step (an analyst's walkthrough)."""

from __future__ import annotations

from cjo_stream.analytics import report
from cjo_stream.analytics.offline import definitions
from cjo_stream.analytics.page import _steps_table
from cjo_stream.analytics.text import render
from cjo_stream.engine import Engine
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, journey, policies

CART = """
journey: cart
status: {status}
entry: {{event: added}}
steps:
  - id: wait_a_bit
    wait: 1h
  - id: nudge
    send: {{channel: push, content: {{title: hi, body: hi}}}}
"""
QUIET = "quiet_hours:\n  - {channels: [push], start: '21:00', end: '08:00'}\n"
TOKEN = {"push_token": "tok"}


def test_a_pauses_holds_are_told_apart_from_quiet_hours_deferrals() -> None:
    live, paused = journey(CART.format(status="live")), journey(CART.format(status="paused"))
    sim = Simulator(Engine([live], policies(QUIET)))
    sim.handle(ev("identify", T0, "a", type="identify", traits=TOKEN))
    sim.handle(ev("added", T0 + 11 * 3600, "a"))  # T0 is 10:00 UTC: a's push comes round at 22:00, in quiet hours
    sim.advance(T0 + 13 * 3600)
    sim.engine = Engine([paused], policies(QUIET))  # paused overnight (a rolling restart on the edited file)
    sim.advance(T0 + 30 * 3600)  # at 08:00 the quiet hours end, and the send is held by the pause
    sim.finish()
    rep = report.journey_report(sim.analytics.buckets, definitions([paused]), "cart")
    (step,) = [s for s in rep["steps"] if s["id"] == "nudge"]
    assert (step["deferred"], step["deferred_by"], step["sent"]) == (2, {"journey_paused": 1, "quiet_hours": 1}, 0)
    assert "deferred:journey_paused=1, deferred:quiet_hours=1" in render([], {"cart": rep})
    assert '<td data-k="steps.nudge.deferred" data-v="2">2 (journey_paused 1, quiet_hours 1)</td>' in _steps_table(rep)
