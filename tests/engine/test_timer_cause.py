"""A send a timer makes names the timer as its cause, however the timer came to fire.

A worker that is behind (a backlog, history produced at once) does not fire a customer's timers from its
timer store before their next event: :meth:`Engine.process` fires every timer due by the event's time
first. Those sends named the event as ``triggered_by`` (a walkthrough: a browse-abandonment e-mail
"triggered by" the customer's later ``Order Completed``), while the simulator and ``replay``, which fire
timers from their queue, named ``timer:<key>``; the same delivery must carry the same command.
"""

from __future__ import annotations

from cjo_stream.engine.types import Timer
from cjo_stream.profile import new_profile
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

BROWSE = """
journey: browse
entry: {event: Product Viewed}
steps:
  - id: wait_add
    wait_for: {event: Product Added, timeout: 4h}
    on_event: end
  - id: remind
    send: {channel: email, to: a@example.com, content: {subject: "{{ event.properties.name }}"}}
  - id: later
    wait: 1d
  - id: again
    send: {channel: email, to: a@example.com, content: {subject: "again"}}
"""


def _commands(timers_first: bool) -> list[dict[str, object]]:
    """Both sends, with the later event applied after the timers fired (as the simulator does) or
    with the timers left to the event (as a worker behind its input does)."""
    eng = engine(BROWSE)
    p = new_profile("u1")
    res = eng.process(p, ev("Product Viewed", T0, props={"name": "Lamp"}, mid="view-1"), T0)
    timers: list[Timer] = list(res.timers)
    out = []
    later = T0 + 3 * 86400
    if timers_first:
        while timers:
            t = min(timers, key=lambda x: x.due)
            timers.remove(t)
            r = eng.fire(p, t, t.due)
            timers.extend(r.timers)
            out.extend(r.commands)
    out.extend(eng.process(p, ev("Order Completed", later, mid="order-1"), later).commands)
    return [{"step": c.step, "triggered_by": c.triggered_by, "delivery_id": c.delivery_id} for c in out]


def test_timer_sends_name_the_timer_when_a_later_event_fires_them() -> None:
    fired_by_event = _commands(timers_first=False)
    assert [c["step"] for c in fired_by_event] == ["remind", "again"]
    assert all(str(c["triggered_by"]).startswith("timer:u1/browse/") for c in fired_by_event), fired_by_event
    assert fired_by_event == _commands(timers_first=True)


def test_the_simulator_and_a_backlogged_engine_write_the_same_commands() -> None:
    sim = Simulator(engine(BROWSE))
    sim.handle(ev("Product Viewed", T0, props={"name": "Lamp"}, mid="view-1"))
    sim.handle(ev("Order Completed", T0 + 3 * 86400, mid="order-1"))
    sim.finish()
    assert [(c.step, c.triggered_by) for c in sim.commands] == [
        (c["step"], c["triggered_by"]) for c in _commands(timers_first=False)]
