"""``status: closed``: a journey drained before it is retired (AJO's "close to new entrances", Braze's and
Customer.io's "stop entries"): nobody enters it (by event, schedule or hand-over), and the customers in it go on
to its end with every send made as when live, where ``paused`` would hold them."""

from __future__ import annotations

from cjo_stream.engine import Engine
from tests.conftest import T0, ev, journey
from tests.engine.test_paused_journey import handed_over, sim_of

CART = """
journey: cart
status: {status}
entry: {{event: added}}
steps:
  - id: wait_a_bit
    wait: 1h
  - id: mail
    send: {{channel: email, content: {{subject: hi}}}}
  - id: later
    wait: 1d
  - id: again
    send: {{channel: email, content: {{subject: again}}}}
"""

MAIL = {"email": "a@example.com"}


def test_nobody_enters_a_closed_journey_by_its_event() -> None:
    for status, entered in (("closed", []), ("live", ["entered"])):
        sim, seen = sim_of(CART.format(status=status))
        sim.handle(ev("identify", T0, type="identify", traits=MAIL))
        sim.handle(ev("added", T0 + 1))
        sim.finish()
        assert [t.kind for t in seen if t.kind == "entered"] == entered, status


def test_those_in_it_when_it_closes_go_on_and_get_every_send() -> None:
    sim, seen = sim_of(CART.format(status="live"))
    sim.handle(ev("identify", T0, type="identify", traits=MAIL))
    sim.handle(ev("added", T0 + 1))
    sim.handle(ev("identify", T0 + 2, "u2", type="identify", traits=MAIL))
    sim.engine = Engine([journey(CART.format(status="closed"))])  # a rolling restart on the closed file
    sim.handle(ev("added", T0 + 60, "u2"))  # after the closing: not entered
    sim.finish()
    assert [(c.customer_id, c.step) for c in sim.commands] == [("u1", "mail"), ("u1", "again")]
    assert not [t for t in seen if t.kind == "deferred"]  # nothing held, as paused would
    assert [t.kind for t in seen if t.kind in ("entered", "ended")] == ["entered", "ended"]  # u1's, to its end
    assert sim.profiles["u2"].instances == {} and "cart" not in sim.profiles["u2"].entered


def test_a_closed_scheduled_journey_and_a_hand_over_into_a_closed_one_enter_nobody() -> None:
    scheduled = """
    journey: weekly
    status: {status}
    entry: {{schedule: {{every: 1d}}}}
    steps:
      - {{id: s, send: {{channel: in_app, content: {{body: hi}}}}}}
    """
    for status, any_entered in (("closed", False), ("live", True)):
        sim, seen = sim_of(scheduled.format(status=status))
        sim.handle(ev("seen", T0))
        sim.advance(T0 + 3 * 86400)
        assert bool([t for t in seen if t.kind == "entered"]) is any_entered, status
    assert handed_over("closed") == [] and handed_over("live") == ["second"]


def test_replay_closes_it_from_since_on() -> None:
    """The warm-up is history from before the closing: customers entered then are in it when it closes."""
    text = CART.format(status="closed")
    for paused_from, entered in ((T0 + 3600, ["entered"]), (T0, [])):
        sim, seen = sim_of()
        sim.engine = Engine([journey(text)], paused_from=paused_from)
        sim.handle(ev("identify", T0, type="identify", traits=MAIL))
        sim.handle(ev("added", T0 + 1))
        sim.finish()
        assert [t.kind for t in seen if t.kind == "entered"] == entered
        assert len(sim.commands) == (2 if entered else 0)
