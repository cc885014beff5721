"""Identity merges and event time: the same person's events, whatever id and order they arrive under."""

from __future__ import annotations

import orjson

from cjo_stream.commands import delivery_id
from cjo_stream.events import decode_event, format_ts, parse_ts
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

CART = """
journey: cart
version: 1
entry: {event: cart_item_added, when: event.properties.cart_value >= 20}
goal: {event: order_completed}
exit_on: [{event: cart_emptied}]
steps:
  - id: wait_checkout
    wait_for: {event: checkout_started, timeout: 4s}
    on_event: end
    on_timeout: remind
  - id: remind
    send: {channel: email, content: {subject: "You left {{ event.properties.product_name }} behind"}}
  - id: later
    wait: 1h
  - id: nudge
    send: {channel: email, content: {subject: "Still thinking?"}}
"""

ISSUE_LINES = [
    b'{"messageId":"p1","type":"page","anonymousId":"a1","timestamp":"2026-03-01T10:00:00Z"}',
    b'{"messageId":"c1","type":"track","event":"cart_item_added","anonymousId":"a1",'
    b'"timestamp":"2026-03-01T10:00:01Z","properties":{"cart_value":50,"product_name":"Lamp"}}',
    b'{"messageId":"i1","type":"identify","userId":"u1","anonymousId":"a1","timestamp":"2026-03-01T10:00:02Z",'
    b'"traits":{"email":"u1@example.com"}}',
]


def sim(*texts: str, lateness: float = 300.0) -> Simulator:
    e = engine(*texts)
    e.allowed_lateness = lateness
    return Simulator(e)


def test_anonymous_cart_is_reminded_to_the_customer_after_login() -> None:
    s = sim(CART)
    s.run_lines(ISSUE_LINES)
    s.finish(parse_ts("2026-03-01T10:30:00Z"))
    (cmd,) = s.commands
    assert (cmd.customer_id, cmd.to, cmd.step) == ("u1", "u1@example.com", "remind")
    assert cmd.content == {"subject": "You left Lamp behind"}
    assert cmd.decided_at == "2026-03-01T10:00:05.000Z"
    assert cmd.delivery_id == delivery_id("cart", 1, "u1", cmd.instance_id, "remind@1")
    assert "a1" not in s.profiles and s.profiles["u1"].aliases == ["a1"]
    # the timer moved with the instance: the next step fires an hour later, for u1
    s.finish()
    assert [c.step for c in s.commands] == ["remind", "nudge"] and s.commands[1].to == "u1@example.com"


def test_the_same_cart_under_the_user_id_from_the_start_gives_the_same_delivery_ids() -> None:
    anon = sim(CART)
    anon.run_lines(ISSUE_LINES)
    anon.finish()
    known = sim(CART)
    known.run_lines([line.replace(b'"anonymousId":"a1"', b'"userId":"u1"') for line in ISSUE_LINES])
    known.finish()
    assert [c.delivery_id for c in anon.commands] == [c.delivery_id for c in known.commands]
    assert len(anon.commands) == 2


def test_checkout_after_login_counts_for_the_cart_started_anonymously() -> None:
    s = sim(CART)
    s.run_lines([*ISSUE_LINES, orjson.dumps({"messageId": "k1", "type": "track", "event": "checkout_started",
                                             "userId": "u1", "timestamp": "2026-03-01T10:00:03Z"})])
    s.finish()
    assert s.commands == [] and s.funnel.journeys["cart"]["ended"] == 1


def test_when_both_ids_have_an_instance_the_earlier_entry_stays_and_the_other_ends_merged() -> None:
    s = sim(CART)
    s.handle(ev("cart_item_added", T0, user=None, anon="a1", props={"cart_value": 30, "product_name": "Anon"}))  # type: ignore[arg-type]
    s.handle(ev("cart_item_added", T0 + 1, user="u1", props={"cart_value": 30, "product_name": "Known"},
                traits={"email": "u@example.com"}))
    s.handle(ev("identify", T0 + 2, user="u1", anon="a1", type="identify", traits={"email": "u@example.com"}))
    s.finish(T0 + 60)
    (cmd,) = s.commands
    assert cmd.content == {"subject": "You left Anon behind"} and cmd.decided_at == format_ts(T0 + 4)
    assert s.funnel.journeys["cart"]["merged"] == 1 and s.funnel.journeys["cart"]["entered"] == 2
    assert s.pending_timers == 1  # the merged instance's timer is gone, the survivor's (nudge) waits


def test_checkout_that_arrives_before_the_cart_it_follows_ends_the_wait() -> None:
    s = sim(CART)
    s.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com"}))
    s.handle(ev("checkout_started", T0 + 2))
    s.handle(ev("cart_item_added", T0 + 1, props={"cart_value": 30}))  # happened first, arrives last
    s.finish()
    assert s.commands == [] and s.late == 1 and s.funnel.journeys["cart"] == {"entered": 1, "ended": 1}


def test_an_entry_that_meets_its_wait_already_over_leaves_no_timer() -> None:
    """The wait the late entry parked in and left within the same call: no timer stays pending for the ended
    instance (the callers apply cancelled timers before new ones; a walkthrough saw it in the state API)."""
    s = sim(CART)
    s.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com"}))
    s.handle(ev("checkout_started", T0 + 2))
    s.handle(ev("cart_item_added", T0 + 1, props={"cart_value": 30}))  # happened first, arrives last
    assert s.funnel.journeys["cart"] == {"entered": 1, "ended": 1} and s.pending_timers == 0
    # across ids: the checkout under the user id, the cart under the anonymous one, then the link
    s2 = sim(CART)
    s2.handle(ev("checkout_started", T0 + 3, user="u2"))
    s2.handle(ev("cart_item_added", T0 + 1, user=None, anon="a2", props={"cart_value": 30}))  # type: ignore[arg-type]
    assert s2.pending_timers == 1  # a2's wait: its checkout is not known to be the same person's yet
    s2.handle(ev("identify", T0 + 2, user="u2", anon="a2", type="identify", traits={"email": "u2@example.com"}))
    assert s2.funnel.journeys["cart"] == {"entered": 1, "ended": 1} and s2.pending_timers == 0
    s2.finish()
    assert s2.commands == []


def test_a_late_goal_converts_the_instance_it_falls_inside() -> None:
    s = sim(CART)
    s.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com"}))
    s.handle(ev("cart_item_added", T0 + 1, props={"cart_value": 30}))
    s.handle(ev("page_viewed", T0 + 3))
    s.handle(ev("order_completed", T0 + 2))  # late, inside the instance
    s.handle(ev("order_completed", T0 - 5))  # late, from before the instance: not its business
    s.finish()
    assert s.commands == [] and s.funnel.journeys["cart"]["converted"] == 1
    assert s.profiles["u1"].counters["order_completed"] == 2
    assert s.profiles["u1"].last["order_completed"] == int(T0 + 2)  # the latest time, not the last to arrive


def test_an_entry_later_than_the_allowed_lateness_starts_nothing_but_updates_the_profile() -> None:
    s = sim(CART, lateness=60)
    s.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com"}))
    s.handle(ev("page_viewed", T0 + 600))
    s.handle(ev("cart_item_added", T0 + 500, props={"cart_value": 30}))  # 100 s late: within 60 s? no
    s.handle(ev("cart_item_added", T0 + 570, props={"cart_value": 30}))  # 30 s late: enters at its own time
    s.finish(T0 + 570 + 4)
    assert s.too_late == 1 and s.late == 2
    assert s.profiles["u1"].counters["cart_item_added"] == 2
    (cmd,) = s.commands
    assert cmd.decided_at == format_ts(T0 + 574)


def test_an_earlier_cart_arriving_late_replaces_the_later_undecided_one() -> None:
    s = sim(CART)
    s.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com"}))
    s.handle(ev("cart_item_added", T0 + 2, props={"cart_value": 30, "product_name": "Second"}))
    s.handle(ev("cart_item_added", T0 + 1, props={"cart_value": 30, "product_name": "First"}))
    s.finish(T0 + 10)
    (cmd,) = s.commands
    assert cmd.content == {"subject": "You left First behind"} and cmd.decided_at == format_ts(T0 + 5)


def test_a_backlog_decides_as_in_real_time_timers_before_later_events() -> None:
    """Events processed long after they happened: the timer due in between fires at its own time first."""
    s = sim(CART)
    e = s.engine
    p = s.profiles.setdefault("u1", __import__("cjo_stream.profile", fromlist=["new_profile"]).new_profile("u1"))
    e.process(p, ev("identify", T0, type="identify", traits={"email": "u@example.com"}), T0)
    r1 = e.process(p, ev("cart_item_added", T0 + 1, props={"cart_value": 30}), T0 + 1)
    (timer,) = r1.timers
    r2 = e.process(p, ev("checkout_started", T0 + 10), T0 + 10)  # after the 4 s timeout
    assert [c.decided_at for c in r2.commands] == [format_ts(T0 + 5)]  # the reminder, at its due time
    assert timer.key in {t.key for t in r2.cancelled}  # the caller need not fire it again
    assert e.fire(p, timer, timer.due).commands == []  # and if it does, nothing happens twice


def test_simulator_reads_the_file_order_as_arrival_order() -> None:
    lines = [orjson.dumps({"messageId": "i", "type": "identify", "userId": "u1", "timestamp": format_ts(T0),
                           "traits": {"email": "x@example.com"}}),
             orjson.dumps({"messageId": "k", "type": "track", "event": "checkout_started", "userId": "u1",
                           "timestamp": format_ts(T0 + 2)}),
             orjson.dumps({"messageId": "c", "type": "track", "event": "cart_item_added", "userId": "u1",
                           "timestamp": format_ts(T0 + 1), "properties": {"cart_value": 30}})]
    s = sim(CART)
    s.run_lines(lines)
    s.finish()
    assert s.commands == [] and decode_event(lines[2]).ts == T0 + 1


TAKEOVER_LINES = [
    b'{"messageId":"a1","type":"identify","userId":"alice","timestamp":"2026-03-01T10:00:00Z",'
    b'"traits":{"email":"alice@example.com","phone":"+4915112345678"}}',
    # the attacker's browser sets its anonymousId to the victim's user id, then identifies as itself
    b'{"messageId":"m1","type":"identify","userId":"mallory","anonymousId":"alice","timestamp":"2026-03-01T10:00:01Z",'
    b'"traits":{"first_name":"Mallory"}}',
    b'{"messageId":"a2","type":"track","event":"cart_item_added","userId":"alice","timestamp":"2026-03-01T10:00:02Z",'
    b'"properties":{"cart_value":50,"product_name":"Lamp"}}',
]


def test_a_known_customer_is_never_merged_into_another_by_an_event() -> None:
    """One identify {userId: mallory, anonymousId: alice} merged alice's profile (address, phone, consent,
    journeys) into mallory's, and alice's later events went to mallory too (a security review)."""
    s = sim(CART)
    s.run_lines(TAKEOVER_LINES)
    s.finish(parse_ts("2026-03-01T10:30:00Z"))
    alice, mallory = s.profiles["alice"], s.profiles["mallory"]
    assert alice.known and alice.traits["email"] == "alice@example.com" and "alice" not in mallory.aliases
    assert "email" not in mallory.traits and s.links.get("alice") is None
    (cmd,) = s.commands  # alice's own cart, reminded to alice
    assert (cmd.customer_id, cmd.to) == ("alice", "alice@example.com")
    # an anonymous id is merged as before; receipts naming an anonymous customer do not make it known
    s2 = sim(CART)
    s2.run_lines([b'{"messageId":"r1","type":"track","event":"message_delivered","userId":"a9",'
                  b'"timestamp":"2026-03-01T09:00:00Z","properties":{"delivery_id":"d"}}', *ISSUE_LINES])
    assert not s2.profiles["a9"].known
    assert "a1" not in s2.profiles and s2.profiles["u1"].aliases == ["a1"] and s2.profiles["u1"].known


def test_an_instance_that_updated_the_profile_is_not_replaced_by_an_earlier_entry_arriving_late() -> None:
    """An ``update`` step is a decision as a send is: replacing its instance by an earlier entry that arrives late
    wrote the earlier event's values over the traits the customer's journey had already written (and any send
    between would have been decided twice)."""
    s = sim(CART.replace("steps:\n", "steps:\n  - id: remember\n    update: {traits: {cart_product: "
                         "\"{{ event.properties.product_name }}\"}}\n", 1))
    s.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com"}))
    s.handle(ev("cart_item_added", T0 + 2, props={"cart_value": 30, "product_name": "Second"}))
    s.handle(ev("cart_item_added", T0 + 1, props={"cart_value": 30, "product_name": "First"}))
    assert s.profiles["u1"].traits["cart_product"] == "Second"
    s.finish(T0 + 10)
    (cmd,) = s.commands
    assert cmd.content == {"subject": "You left Second behind"}
