"""The restart drill's comparison (cjo_stream.bench.drill_compare): live commands against replay's, by delivery id."""

from __future__ import annotations

from typing import Any

from cjo_stream.bench.drill_compare import Written, compare, kinds, near, nearest


def cmd(did: str, step: str = "remind", by: str = "m1", customer: str = "u1") -> dict[str, Any]:
    return {"delivery_id": did, "journey": "abandoned_cart", "step": step, "triggered_by": by, "customer_id": customer}


def test_each_side_only_and_a_live_duplicate_are_told_apart() -> None:
    live = [cmd("a"), cmd("b", by="timer:u1/abandoned_cart/i1/2"), cmd("a"), cmd("c")]
    replay = [cmd("a"), cmd("c"), cmd("d", step="welcome_email")]
    d = compare(live, replay)
    assert (d.live, d.replay, d.matched) == (3, 3, 2)
    assert [c["delivery_id"] for c in d.live_only] == ["b"]
    assert [c["delivery_id"] for c in d.replay_only] == ["d"]
    assert d.duplicates == {"a": 2}
    assert d.unequal == []  # the copy is the same command: at-least-once
    assert kinds(d) == {("live only", "abandoned_cart/remind", "timer"): 1,
                        ("replay only", "abandoned_cart/welcome_email", "event"): 1}


def test_a_copy_that_is_not_the_same_command_is_told() -> None:
    d = compare([cmd("a"), {**cmd("a"), "step": "push_coupon"}, cmd("a")], [cmd("a")])
    assert (d.duplicates, d.unequal) == ({"a": 3}, ["a"])


def test_the_same_commands_differ_in_nothing() -> None:
    d = compare([cmd("a"), cmd("b")], [cmd("b"), cmd("a")])
    assert (d.live_only, d.replay_only, d.duplicates, d.matched) == ([], [], {}, 2)


def test_near_keeps_the_customers_events_around_the_decision_in_event_time_order() -> None:
    ev = [Written(1, 5, 105.0, 104.0, "checkout_started", ("u1",)),
          Written(0, 3, 90.0, 90.0, "cart_item_added", ("u1", "a1")),
          Written(0, 4, 100.0, 100.0, "checkout_started", ("u2",)),  # another customer
          Written(0, 1, 10.0, 10.0, "page", ("u1",))]  # long before
    assert [e.offset for e in near(cmd("x"), 100.0, ev)] == [3, 5]


def test_nearest_incident() -> None:
    assert nearest(50.0, {"worker 1 SIGKILL": 45.0, "worker 1 ready again": 60.0}) == ("worker 1 SIGKILL", 5.0)
    assert nearest(50.0, {}) is None
