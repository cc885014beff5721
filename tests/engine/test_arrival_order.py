"""Property: one person's events, produced under two ids, decide the same whatever order they arrive in.

A visitor browses anonymously (events keyed by the anonymous id), logs in (an identify carrying both
ids) and goes on under the user id, as Segment's Kafka destination keys them. The two keyed streams each keep their order, but may interleave arbitrarily on the way (different
partitions). Every interleaving must give the commands — and the delivery ids — of the events read in
timestamp order. The burst is shorter than the shortest timer, as when partitions reorder by
milliseconds to seconds (an event that arrives after its customer's timer fired cannot change what the
timer decided; see the README, "Event time and lateness").
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from cjo_stream.events import Event
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine

CART = """
journey: cart
version: 1
entry: {event: cart_item_added, when: event.properties.cart_value >= 20}
goal: {event: order_completed}
exit_on: [{event: cart_emptied}]
steps:
  - id: wait_checkout
    wait_for: {event: checkout_started, timeout: 10s}
    on_event: end
    on_timeout: remind
  - id: remind
    send: {channel: email, content: {subject: "{{ event.properties.product_name }}"}}
  - id: later
    wait: 1h
  - id: nudge
    send: {channel: email, content: {subject: "nudge"}}
"""

WELCOME = """
journey: welcome
version: 1
entry: {event: identify}
steps:
  - id: hello
    send: {channel: email, content: {subject: "hello"}}
  - id: wait_order
    wait_for: {event: order_completed, when: event.properties.total > 40, timeout: 12s}
    on_event: end
    on_timeout: follow_up
  - id: follow_up
    send: {channel: email, content: {subject: "follow up"}}
"""

BROWSE = """
journey: browse
version: 1
entry: {event: product_viewed}
re_entry: after 1h
exit_on: [{event: cart_item_added}]
steps:
  - id: pause
    wait: 15s
  - id: suggest
    send: {channel: email, content: {subject: "{{ event.properties.sku }}"}}
"""

KINDS = ["page_viewed", "product_viewed", "cart_item_added", "checkout_started", "order_completed", "cart_emptied"]


@st.composite
def person(draw: Any) -> tuple[list[Event], list[int]]:
    """Events in timestamp order, and an arrival order that keeps each keyed stream's own order."""
    n_anon = draw(st.integers(0, 8))
    n_after = draw(st.integers(0, 7))
    streams = ["a"] * n_anon + ["login"] + ["u"] * n_after
    events: list[Event] = []
    for i, s in enumerate(streams):
        ts = T0 + 0.5 * i  # a burst of at most 8 s; the shortest timer is 10 s
        if s == "login":
            events.append(Event(message_id=f"m{i}", type="identify", name="identify", ts=ts, user_id="u1",
                                anonymous_id="a1", traits={"email": "u1@example.com"}))
            continue
        name = draw(st.sampled_from(KINDS))
        props = {"cart_value": draw(st.sampled_from([10, 30])), "product_name": f"p{i}", "sku": f"s{i}",
                 "total": draw(st.sampled_from([20, 60]))}
        events.append(Event(message_id=f"m{i}", type="track", name=name, ts=ts, properties=props,
                            user_id="u1" if s == "u" else None, anonymous_id="a1" if s == "a" else None))
    key = ["a" if e.user_id is None else "u" for e in events]
    a_idx = [i for i, k in enumerate(key) if k == "a"]
    u_idx = [i for i, k in enumerate(key) if k == "u"]
    picks = draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    order: list[int] = []
    for take_a in picks:
        if a_idx and (take_a or not u_idx):
            order.append(a_idx.pop(0))
        elif u_idx:
            order.append(u_idx.pop(0))
    return events, order


def run(events: list[Event]) -> list[tuple[Any, ...]]:
    sim = Simulator(engine(CART, WELCOME, BROWSE))
    for e in events:
        sim.handle(e)
    sim.finish()
    return sorted((c.delivery_id, c.customer_id, c.journey, c.step, c.to, c.decided_at, tuple(c.content.items()))
                  for c in sim.commands)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person())
def test_any_interleaving_of_a_persons_keyed_streams_sends_what_timestamp_order_sends(
        data: tuple[list[Event], list[int]]) -> None:
    events, order = data
    expected = run(events)
    assert run([events[i] for i in order]) == expected
    assert all(c[1] == "u1" for c in expected if c[2] == "welcome")  # (the person did get mail)
