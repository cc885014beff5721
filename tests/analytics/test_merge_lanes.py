"""An instance that moved to the known customer on an identity merge has its journey events on two partitions
of ``cjo.journey-events`` (keyed by the customer id at the time): the anonymous id's before the merge, the known
id's after. The analytics service may read the second lane first (a backlog; ``make demo`` showed it in its first
seconds: ``wait_cart`` waiting 16 while ``ab`` reached more than ``wait_cart`` continued, an edge from the entry
straight to ``ab``). The fold follows an instance's records in the order it gets them: folded so, a holdout
customer's conversion counts for treatment and its split arm, the instance stays waiting at its step before the
merge, and its row stays for ever. So the service folds its partitions merged in event-time order, across
fetches (:mod:`cjo_stream.analytics.lanes`): within one fetch, when the anonymous id's lane comes in a later
fetch (held back), and live, against the broker, with that partition lagging."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.records import JourneyEvent
from cjo_stream.analytics.records import encode as encode_journey_event
from tests.analytics.test_fold import msg_copy
from tests.conftest import T0, journey

J = """
journey: wb
entry: {event: product_viewed}
holdout: 20
goal: {event: order_completed}
steps:
  - id: wait_cart
    wait_for: {event: cart_item_added, timeout: 2h}
    on_timeout: end
  - id: ab
    split:
      - {variant: control, weight: 50, next: wait_order}
      - {variant: discount, weight: 50, next: wait_order}
  - {id: wait_order, wait: 3d}
"""


def _ev(kind: str, cid: str, at: float, **kw: Any) -> JourneyEvent:
    return JourneyEvent(journey="wb", version=1, kind=kind, instance="i1", customer_id=cid, at=at, **kw)  # type: ignore[arg-type]


BEFORE = [_ev("entered", "anon-1", T0), _ev("holdout", "anon-1", T0), _ev("step", "anon-1", T0, step="wait_cart")]
AFTER = [_ev("step", "u1", T0 + 60, step="ab"), _ev("variant", "u1", T0 + 60, step="ab", variant="control"),
         _ev("step", "u1", T0 + 60, step="wait_order", variant="control"),
         _ev("converted", "u1", T0 + 120, step="wait_order", variant="control")]


def _report(events: list[JourneyEvent]) -> tuple[dict[str, Any], int]:
    a = Analytics()
    a.apply_all(events)
    j = journey(J)
    return report.journey_report(a.buckets, {(j.id, j.version): j}, "wb"), len(a.rows)


def test_in_order_the_holdout_customer_converts_in_the_holdout() -> None:
    rep, rows = _report(BEFORE + AFTER)
    assert (rep["holdout"]["holdout"]["converted"], rep["holdout"]["treatment"]["entered"]) == (1, 0)
    assert rows == 0 and rep["steps"][0]["waiting"] == 0


def test_the_fold_alone_counts_the_lane_after_the_merge_read_first_otherwise() -> None:
    """Why the service orders the lanes: the fold does not (an instance's records are its order)."""
    rep, rows = _report(AFTER + BEFORE)
    assert (rep["holdout"]["holdout"]["converted"], rows) != (1, 0)


class _Rec:
    """A fetched record as the service reads it: its value and offset."""

    def __init__(self, e: JourneyEvent, offset: int) -> None:
        self.value = encode_journey_event(e)
        self.offset = offset


def _service() -> Any:
    """An analytics service as started, without a broker (a memory store)."""
    from cjo_stream.analytics import state
    from cjo_stream.analytics.service import AnalyticsService
    from cjo_stream.config import Settings
    from cjo_stream.journeys.loader import Topology
    from cjo_stream.kv import MemoryKV

    svc = AnalyticsService(Settings(store="memory"), Topology([journey(J)]))
    kv = MemoryKV()
    svc._kv, svc._rows = kv, state.RowCache(kv)
    svc.fold = svc.new_fold(svc._rows)
    return svc


def _lanes(topic: str) -> tuple[list[_Rec], list[_Rec]]:
    """The known id's lane (partition 1, offsets 10-13) and the anonymous id's (partition 0, offsets 5-7)."""
    return ([_Rec(msg_copy(e, src=(1, 10, i)), 10 + i) for i, e in enumerate(AFTER)],
            [_Rec(msg_copy(e, src=(0, 5, i)), 5 + i) for i, e in enumerate(BEFORE)])


def _service_report(svc: Any) -> dict[str, Any]:
    j = journey(J)
    return report.journey_report(svc.fold.buckets, {(j.id, j.version): j}, "wb")  # type: ignore[no-any-return]


def _diff(got: dict[str, Any]) -> dict[str, Any]:
    want = _report(BEFORE + AFTER)[0]
    return {k: got[k] for k in got if got[k] != want[k]}


def test_the_service_folds_the_two_lanes_of_one_fetch_in_event_time_order() -> None:
    """One fetch holding both lanes (a backlog: the service started or rebuilt on history, as in ``make demo``'s
    first seconds) is folded across its partitions in event-time order, each partition in its own order."""
    from aiokafka import TopicPartition

    svc = _service()
    t = svc.topic
    user, anon = _lanes(t)
    svc.apply({TopicPartition(t, 1): user, TopicPartition(t, 0): anon})  # the known id's partition first
    assert _diff(_service_report(svc)) == {}
    assert svc.offsets == {(t, 0): 8, (t, 1): 14}


def test_a_lane_fetched_later_is_waited_for_while_its_partition_is_behind() -> None:
    """The known id's lane in one fetch while the anonymous id's partition is behind (not read to its end): held,
    its offset not stored past the held records (a restart reads them again); the next fetch brings the other
    lane, and the two fold as if fetched together."""
    from aiokafka import TopicPartition

    svc = _service()
    t = svc.topic
    p0, p1 = TopicPartition(t, 0), TopicPartition(t, 1)
    user, anon = _lanes(t)
    assert svc.apply({p1: user}, behind={p0}) == 0
    assert (svc.fold.applied, svc.lanes.holding(), svc.offsets) == (0, [p1], {(t, 1): 10})
    assert svc.apply({p0: anon}, behind=set()) == len(AFTER) + len(BEFORE)
    assert _diff(_service_report(svc)) == {}
    assert (svc.lanes.holding(), svc.offsets) == ([], {(t, 0): 8, (t, 1): 14})


def test_without_waiting_the_lane_fetched_first_counts_otherwise() -> None:
    """The same two fetches with no partition behind (each read to its end: live, nothing lags): folded as they
    come, which is what the wait above prevents."""
    from aiokafka import TopicPartition

    svc = _service()
    t = svc.topic
    user, anon = _lanes(t)
    svc.apply({TopicPartition(t, 1): user})
    svc.apply({TopicPartition(t, 0): anon})
    assert _diff(_service_report(svc)) != {}


def test_the_merge_stops_where_a_partition_behind_runs_out_of_records() -> None:
    from cjo_stream.analytics.lanes import Lanes

    lanes: Lanes[int] = Lanes()
    at = [_ev("step", "c", T0 + s, step=f"s{s}") for s in range(4)]
    lanes.add(0, [(at[1], 100)], 101)
    lanes.add(1, [(at[0], 7), (at[2], 8), (at[3], 9)], 10)
    assert [e.step for e in lanes.take({0}, 0.0)] == ["s0", "s1"]  # partition 0 has more to come: s2 waits
    assert (lanes.holding(), lanes.offsets()) == ([1], {0: 101, 1: 8})
    assert list(lanes.take({0}, 1.0)) == []
    lanes.add(0, [], 101)  # a fetch that found partition 0 at its end
    assert [e.step for e in lanes.take(set(), 2.0)] == ["s2", "s3"]
    assert lanes.offsets() == {0: 101, 1: 10}


def test_a_partition_behind_that_brings_nothing_is_waited_for_a_bounded_time() -> None:
    """A partition whose leader does not answer must not stop the service: after MAX_HOLD seconds of holding, the
    others' records fold as fetched (counted in ``released``; the service logs it)."""
    from cjo_stream.analytics.lanes import MAX_HOLD, Lanes

    lanes: Lanes[int] = Lanes()
    lanes.add(1, [(AFTER[0], 10)], 11)
    assert list(lanes.take({0}, 100.0)) == []
    assert list(lanes.take({0}, 100.0 + MAX_HOLD / 2)) == []
    assert list(lanes.take({0}, 100.0 + MAX_HOLD)) == [AFTER[0]]
    assert lanes.released == 1
    lanes.add(1, [(AFTER[1], 11)], 12)
    assert list(lanes.take({0}, 200.0)) == []  # a new wait: its own bound
    lanes.drop([1])  # revoked: its records are read again by its new owner
    assert (lanes.holding(), lanes.offsets()) == ([], {})


class _Consumer:
    """What the service asks its consumer about the partitions: each one's highwater and position."""

    def __init__(self, ends: dict[Any, tuple[int, int]]) -> None:
        self.ends = ends  # partition -> (highwater, position)

    def assignment(self) -> set[Any]:
        return set(self.ends)

    def highwater(self, tp: Any) -> int:
        return self.ends[tp][0]

    async def position(self, tp: Any) -> int:
        return self.ends[tp][1]

    def seek(self, tp: Any, offset: int) -> None:
        pass


def _service_reading(ends: dict[Any, tuple[int, int]], handed_out: dict[Any, int]) -> Any:
    """:func:`_service` with a consumer at ``ends`` whose fetch guard handed out the records before ``handed_out``."""
    from cjo_stream.kafka.guard import FetchGuard

    svc = _service()
    svc.consumer = _Consumer(ends)
    svc.guard = FetchGuard(svc.consumer, svc.s, "analytics")
    for tp, off in handed_out.items():
        svc.guard.seek(tp, off)
    return svc


def test_a_partition_ending_in_what_holds_no_record_is_read_to_its_end() -> None:
    """Partition 0's last offset is a transaction's commit marker (or a record compacted away): the consumer steps
    over it (its position is the highwater), but no record is handed out for it. Judged by the records handed out
    it was behind for good: every fetch of the others' records was held 10 s, with a warning each time."""
    import asyncio

    from aiokafka import TopicPartition

    t = _service().topic
    p0, p1 = TopicPartition(t, 0), TopicPartition(t, 1)
    svc = _service_reading({p0: (9, 9), p1: (14, 14)}, {p0: 8, p1: 14})
    assert svc.guard.next_offset(p0) == 8  # handed out: short of the highwater
    assert asyncio.run(svc.behind()) == set()
    user, _ = _lanes(t)
    assert svc.apply({p1: user}, behind=asyncio.run(svc.behind())) == len(AFTER)  # not held
    assert svc.lanes.holding() == []
    # a partition whose position is short of its highwater is behind, as before
    lagging = _service_reading({p0: (9, 8), p1: (14, 14)}, {p0: 8, p1: 14})
    assert asyncio.run(lagging.behind()) == {p0}
    assert lagging.apply({p1: user}, behind={p0}) == 0 and lagging.lanes.holding() == [p1]


def test_a_partition_not_waited_for_any_longer_is_counted() -> None:
    """Once a partition behind has brought nothing for MAX_HOLD seconds the others fold without it: logged, and
    counted in ``cjo_analytics_lanes_unwaited_total`` (it was in the log only)."""
    from aiokafka import TopicPartition

    from cjo_stream.analytics.lanes import MAX_HOLD
    from cjo_stream.metrics import REGISTRY

    def unwaited() -> float:
        return REGISTRY.get_sample_value("cjo_analytics_lanes_unwaited_total") or 0.0

    svc = _service()
    t = svc.topic
    p0, p1 = TopicPartition(t, 0), TopicPartition(t, 1)
    user, _ = _lanes(t)
    before = unwaited()
    assert svc.apply({p1: user}, behind={p0}) == 0
    assert svc.apply({}, behind={p0}) == 0 and unwaited() == before  # still waiting
    svc.lanes._blocked_since -= MAX_HOLD  # as if MAX_HOLD seconds had passed
    assert svc.apply({}, behind={p0}) == len(AFTER)
    assert unwaited() == before + 1


@pytest.mark.broker
def test_live_a_lagging_partition_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the broker: the anonymous id's partition lags (paused from the assignment on, as a slow leader
    would have it), so the service's fetches bring the known id's lane alone. It holds it, pauses its partition,
    folds nothing; once the lagging partition's records come, the report is the in-order one."""
    import asyncio

    from aiokafka import AIOKafkaProducer, TopicPartition

    from cjo_stream.analytics import service as service_mod
    from cjo_stream.analytics.service import AnalyticsService
    from cjo_stream.config import Settings
    from cjo_stream.journeys.loader import Topology
    from cjo_stream.kafka.local_broker import LocalBroker
    from cjo_stream.kafka.topics import ensure_topics

    async def scenario(bootstrap: str) -> dict[str, Any]:
        s = Settings(bootstrap=bootstrap, store="memory")
        t = s.journey_events_topic
        p0, p1 = TopicPartition(t, 0), TopicPartition(t, 1)
        await ensure_topics(s, [t])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for e in AFTER:
                await producer.send_and_wait(t, encode_journey_event(e), partition=1)
            for e in BEFORE:
                await producer.send_and_wait(t, encode_journey_event(e), partition=0)
        finally:
            await producer.stop()
        assigned = service_mod._Assigned.on_partitions_assigned

        async def lagging(self: Any, tps: list[TopicPartition]) -> None:
            await assigned(self, tps)
            self.svc.consumer.pause(p0)

        monkeypatch.setattr(service_mod._Assigned, "on_partitions_assigned", lagging)
        svc = AnalyticsService(s, Topology([journey(J)]))
        svc.hold_max = 1  # pause a partition holding more than one record (by default a few fetches)
        await svc.start()
        consumer = svc.consumer
        assert consumer is not None
        run = asyncio.create_task(svc.run())
        try:
            deadline = time.monotonic() + 30
            while svc.lanes.holding() != [p1] or p1 not in consumer.paused():
                assert time.monotonic() < deadline, "the known id's lane was not held"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # fetches go on: nothing folds while partition 0 lags
            assert svc.fold.applied == 0
            consumer.resume(p0)
            while svc.fold.applied < len(AFTER) + len(BEFORE):
                assert time.monotonic() < deadline, f"folded {svc.fold.applied}"
                await asyncio.sleep(0.05)
            assert p1 not in consumer.paused()
            return _service_report(svc)
        finally:
            svc.stop()
            await run
            await svc.close()

    with LocalBroker() as b:
        got = asyncio.run(scenario(b.bootstrap))
    assert _diff(got) == {}
