"""Right of access (a privacy walkthrough): the state API's answer shows everything a profile holds about
the customer. What an instance keeps of its entry event for later steps (a product name a reminder
renders) and the recent events kept for late arrivals (with the fields conditions read) were stored,
changelogged and not shown."""

from __future__ import annotations

from cjo_stream.profile import new_profile, profile_to_dict
from tests.conftest import T0, engine, ev

CART = """
journey: cart
entry: {event: cart_item_added}
goal: {event: order_completed, when: "event.properties.total > 10"}
steps:
  - id: wait
    wait: 1h
  - id: remind
    send: {channel: email, content: {subject: "You left {{ event.properties.product_name }}", body: "x"}}
"""


def test_the_state_api_shows_what_instances_and_recent_events_keep() -> None:
    e = engine(CART)
    p = new_profile("u1")
    e.process(p, ev("cart_item_added", T0, props={"product_name": "Secret Lamp", "sku": "L-1"}), T0)
    e.process(p, ev("order_completed", T0 + 1, props={"total": 5, "card_last4": "4242"}), T0 + 1)
    # (the profile does hold them: what the answer must show)
    assert p.instances["cart"].entry_event and p.recent
    shown = profile_to_dict(p)
    assert shown["journeys"]["cart"]["entry_event"] == p.instances["cart"].entry_event
    assert "Secret Lamp" in repr(shown["journeys"]["cart"]["entry_event"])
    assert shown["recent_events"] == [{"event": "order_completed", "at": "2026-03-02T10:00:01.000Z",
                                       "data": {"properties": {"total": 5}}}]


def test_recent_times_without_data_are_shown_too() -> None:
    p = new_profile("u1")
    p.events["checkout_started"] = [2, int(T0 + 5), T0 + 3.5, T0 + 5.25]
    assert profile_to_dict(p)["recent_events"] == [
        {"event": "checkout_started", "at": "2026-03-02T10:00:03.500Z"},
        {"event": "checkout_started", "at": "2026-03-02T10:00:05.250Z"}]


def test_an_instance_of_a_removed_journey_shows_why_it_will_end() -> None:
    """A journey's file removed: its customers' instances end at their next event or timer, and until then
    the state API says so (``ending``) instead of showing them as running."""
    p = new_profile("u1")
    engine(CART).process(p, ev("cart_item_added", T0), T0)
    assert profile_to_dict(p)["journeys"]["cart"]["ending"] is None  # (no engine asked)
    assert profile_to_dict(p, ending=engine(CART).ending)["journeys"]["cart"]["ending"] is None
    other = engine(CART.replace("journey: cart", "journey: other"))
    assert profile_to_dict(p, ending=other.ending)["journeys"]["cart"]["ending"] == "version_unavailable"
