"""The analytics service's rows over a store fold as the replay's in-memory rows do, evictions included."""

from __future__ import annotations

from typing import Any

from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.journey_event import JourneyEvent
from cjo_stream.analytics.state import RowCache
from cjo_stream.kv import MemoryKV


def _events() -> list[JourneyEvent]:
    """An instance that sends at 200, then a step decided at 150 arrives (out of order)."""
    base: dict[str, Any] = {"journey": "j", "version": 1, "instance": "i1", "customer_id": "c1"}
    return [JourneyEvent(kind="entered", at=100.0, **base),
            JourneyEvent(kind="step", step="a", at=100.0, **base),
            JourneyEvent(kind="sent", step="b", channel="email", delivery_id="d1", local_hour=9, at=200.0, **base),
            JourneyEvent(kind="step", step="c", at=150.0, **base)]


def test_a_send_moves_the_instance_time_in_the_store_too() -> None:
    """The send at 200 makes the step at 150 out of order: it counts as reached, not as a continuation
    from where the instance stood. The service writes rows back only when marked changed and evicts them
    between batches, so a send's time that stayed on the cached object only was lost when the row was
    read back from the store: the live counters then differed from a replay's."""
    whole = Analytics()
    for e in _events():
        whole.apply(e)
    kv = MemoryKV()
    live = Analytics()
    for e in _events():  # a batch each, the rows read from the store (as after an eviction or a restart)
        live.rows = cache = RowCache(kv)
        live.apply(e)
        kv.write_many(cache.changes())
    assert live.buckets == whole.buckets
    counters = next(iter(whole.buckets.values()))
    assert counters["s|c|reached"] == 1 and "e|a|c" not in counters and "s|a|continued" not in counters
