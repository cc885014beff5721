"""Events that reach a customer after a timer they happened before had fired (``cjo_stream/runtime/overtaken.py``):
counted by journey with how late they came, only for events the timer's journey listens to, bounded, logged once a
journey. The live worker is tested in test_timer_grace.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.engine import Engine
from cjo_stream.engine.overtaken import FiredTimers, Watch, instance_names
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kv import MemoryKV
from cjo_stream.runtime import overtaken
from cjo_stream.runtime.aliases import Links
from cjo_stream.runtime.customers import KIND_EVENT, CustomerPartition
from tests.runtime.fakes import Commands, Rec

T = 1_780_000_000.0

JOURNEYS = {
    "quick_cart.yaml": """\
journey: quick_cart
entry: {event: cart_item_added}
goal: {event: order_completed}
steps:
  - id: wait_checkout
    wait_for: {event: checkout_started, timeout: 60s}
    on_event: thanks
    on_timeout: remind
  - {id: remind, send: {channel: in_app, content: {body: "You left something behind"}}, next: end}
  - {id: thanks, send: {channel: in_app, content: {body: "Thanks for checking out"}}}
""",
    # a mobile app's: the install waits for the app to be opened again
    "onboarding.yaml": """\
journey: onboarding
entry: {event: app_installed}
steps:
  - id: wait_open
    wait_for: {event: app_opened, timeout: 30s}
    on_event: end
    on_timeout: welcome
  - {id: welcome, send: {channel: in_app, content: {body: "See what's new"}}}
""",
    # listens to no event once entered: nothing can come too late for its timers
    "nudge.yaml": """\
journey: nudge
entry: {event: cart_item_added}
steps:
  - {id: pause, wait: 30s}
  - {id: nudge, send: {channel: in_app, content: {body: "Still there?"}}}
""",
}


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(overtaken, "_told", set())
    yield


class Outputs(Commands):
    """Delivery commands as :class:`Commands` keeps them, and the internal topic's records (due timers)."""

    def __init__(self) -> None:
        super().__init__()
        self.internal: list[Rec] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
            headers: Any = ()) -> None:
        super().add(topic, key, value, partition=partition, headers=headers)
        if topic == Settings().internal_topic:
            self.internal.append(Rec(key, value, 0, list(headers)))


class Partition:
    """One stage-2 partition fed records in order, with wall-clock times chosen by the test."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "journeys").mkdir()
        for name, text in JOURNEYS.items():
            (tmp / "journeys" / name).write_text(text)
        topo = load_topology(str(tmp))
        s = Settings()
        self.part = CustomerPartition(0, Engine(topo.journeys, topo.policies), s, MemoryKV(), MemoryKV(),
                                      Links(MemoryKV(), s.aliases_topic, 0))
        self.part.behind = False  # keeping up: timers fire by the wall clock the test gives
        self.out = Outputs()
        self.offset = 0
        self.counts = metrics.BatchCounts()

    def feed(self, recs: list[Rec], wall: float) -> None:
        for r in recs:
            r.offset, self.offset = self.offset, self.offset + 1
        self.part.process(recs, wall, self.out, self.counts)  # type: ignore[arg-type]

    def event(self, name: str, ts: float, wall: float, uid: str = "u-1") -> None:
        value = orjson.dumps({"messageId": f"{name}-{ts}", "type": "track", "event": name, "userId": uid,
                              "timestamp": format_ts(ts)})
        self.feed([Rec(uid.encode(), value, 0, [("k", KIND_EVENT)])], wall)

    def timers_due(self, wall: float) -> None:
        self.out.internal.clear()
        self.part.due_timers(wall, self.out)  # type: ignore[arg-type]
        self.feed(list(self.out.internal), wall)

    def sent(self) -> list[str]:
        return [c["step"] for c in self.out.commands]


def test_an_event_from_before_a_fired_timer_is_counted_with_how_late_it_came(tmp_path: Path) -> None:
    p = Partition(tmp_path)
    p.event("cart_item_added", T, wall=T + 0.1)
    p.timers_due(T + 60.5)  # both journeys' timers are due by now: the reminder goes out, the nudge after 30 s
    assert sorted(p.sent()) == ["nudge", "remind"]
    p.event("page_viewed", T + 10, wall=T + 61)  # before the due time, but the journey does not listen to it
    p.event("checkout_started", T + 59.5, wall=T + 64)  # the checkout that came 4 s after the due time
    assert p.counts.overtaken == [("quick_cart", pytest.approx(4.0))]
    assert sorted(p.sent()) == ["nudge", "remind"]  # the limit itself is unchanged: the reminder stays sent


def test_an_event_after_the_due_time_ends_the_watch(tmp_path: Path) -> None:
    p = Partition(tmp_path)
    p.event("cart_item_added", T, wall=T + 0.1)
    p.timers_due(T + 61)
    p.event("order_completed", T + 62, wall=T + 62.1)  # the customer is past the timer: not overtaken
    assert p.counts.overtaken == [] and "u-1" not in p.part.fired.latest
    p.event("checkout_started", T + 59, wall=T + 63)  # forgotten: a missed count, never a false one
    assert p.counts.overtaken == []


def test_other_customers_and_unfired_timers_count_nothing(tmp_path: Path) -> None:
    p = Partition(tmp_path)
    p.event("cart_item_added", T, wall=T + 0.1)
    p.event("cart_item_added", T, wall=T + 0.1, uid="u-2")
    p.event("checkout_started", T + 5, wall=T + 6, uid="u-2")  # in time: the wait_for takes it
    p.timers_due(T + 61)
    p.event("checkout_started", T + 59, wall=T + 62, uid="u-3")  # never entered: nothing fired for it
    assert p.counts.overtaken == []
    assert sorted(p.sent()) == ["nudge", "nudge", "remind", "thanks"]


def test_the_events_that_end_an_instance_from_any_step(tmp_path: Path) -> None:
    p = Partition(tmp_path)
    assert instance_names(p.part.engine.versions.values()) == {
        ("quick_cart", 1): {"order_completed"}, ("onboarding", 1): frozenset(), ("nudge", 1): frozenset()}


def test_each_journey_of_a_customer_is_watched(tmp_path: Path) -> None:
    """A new install with a cart: two journeys' timers fire close together; the app_opened of the offline batch
    is counted for the onboarding, though the cart's timer fired after it."""
    p = Partition(tmp_path)
    p.event("app_installed", T, wall=T + 0.1)
    p.event("cart_item_added", T + 5, wall=T + 5.1)
    p.timers_due(T + 30.5)  # the onboarding's timeout
    p.timers_due(T + 65.5)  # the cart's timeout (and the nudge)
    assert sorted(p.sent()) == ["nudge", "remind", "welcome"]
    p.event("app_opened", T + 20, wall=T + 90)  # the batch the app sent when next opened
    assert p.counts.overtaken == [("onboarding", pytest.approx(60.0))]


def test_an_event_from_before_the_instance_or_its_wait_is_not_counted(tmp_path: Path) -> None:
    """Replay decides the same without an event that happened before the instance entered: not overtaken."""
    p = Partition(tmp_path)
    p.event("cart_item_added", T, wall=T + 0.1)
    p.timers_due(T + 60.5)
    p.event("order_completed", T - 3600, wall=T + 62)  # yesterday's order, from another device's old batch
    p.event("checkout_started", T - 10, wall=T + 63)  # before the wait began
    assert p.counts.overtaken == []
    p.event("checkout_started", T + 10, wall=T + 64)
    assert p.counts.overtaken == [("quick_cart", pytest.approx(4.0))]


def test_a_batch_sent_when_the_app_is_next_opened_hours_later_is_counted(tmp_path: Path) -> None:
    p = Partition(tmp_path)
    p.event("cart_item_added", T, wall=T + 0.1)
    p.timers_due(T + 60.5)
    p.event("cart_item_added", T + 7000, wall=T + 7000, uid="u-2")  # other customers' timers fire meanwhile
    p.timers_due(T + 7060.5)
    p.event("checkout_started", T + 30, wall=T + 3 * 3600)
    assert p.counts.overtaken == [("quick_cart", pytest.approx(3 * 3600 - 60))]


def test_a_timer_set_overdue_counts_the_grace_it_needed_not_the_clock_error(tmp_path: Path) -> None:
    """A device clock a day behind: the install's timeout is due a day ago, so it fires at once; the app_opened
    sent 10 s later needed a grace of those 10 s (plus the grace), not a day's."""
    p = Partition(tmp_path)
    p.event("app_installed", T - 86_400, wall=T)
    p.timers_due(T + 0.5)
    assert p.sent() == ["welcome"]
    p.event("app_opened", T - 86_390, wall=T + 10.5)
    assert p.counts.overtaken == [("onboarding", pytest.approx(10.5))]


def test_entries_are_bounded_by_count_and_by_age() -> None:
    def w(at: float) -> Watch:
        return Watch(at, at, at, at - 60, frozenset({"e"}), at - 60, frozenset())

    fired = FiredTimers(kept=3, horizon=100.0)
    for i in range(5):
        fired.fired(f"c{i}", "j", w(T + i))
    assert list(fired.latest) == ["c2", "c3", "c4"]
    fired.fired("c2", "k", w(T + 10))  # another journey's timer: the most recent now, both kept
    assert list(fired.latest) == ["c3", "c4", "c2"] and set(fired.latest["c2"]) == {"j", "k"}
    fired.fired("c5", "j", w(T + 200))  # the others fired over 100 s ago
    assert list(fired.latest) == ["c5"]


def test_each_journey_is_logged_once_without_customer_data(caplog: pytest.LogCaptureFixture) -> None:
    def total() -> float:
        return metrics.REGISTRY.get_sample_value("cjo_events_overtaken_total", {"journey": "quick_cart"}) or 0.0

    def late_total() -> float:
        return metrics.REGISTRY.get_sample_value("cjo_events_overtaken_seconds_count") or 0.0

    before, before_late = total(), late_total()
    with caplog.at_level(logging.WARNING, logger="cjo_stream.runtime.overtaken"):
        overtaken.publish([("quick_cart", 4.0), ("quick_cart", 1.5)], 500)
        overtaken.publish([("quick_cart", 90.0)], 500)
    assert total() - before == 3 and late_total() - before_late == 3
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 1 and "journey quick_cart" in told[0] and "4.0 s" in told[0] and "500 ms" in told[0]
