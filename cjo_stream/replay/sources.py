"""Where a replay's events come from: Kafka topics, as raw records (files: :meth:`Replay.feed_lines
<cjo_stream.replay.run.Replay.feed_lines>` over :func:`~cjo_stream.jsonl.jsonl_lines`, in their order).

Each record comes with its origin (``topic:partition:offset``) so a bad one is reported where it is.
Topics are merged across partitions in event-time order (ties by partition and offset), each partition
in its own order, reading a bounded number of records ahead: that is an order the workers could have
seen, and the one closest to how the events happened.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from cjo_stream.config import Settings
from cjo_stream.events import Event, InvalidEvent, decode_event
from cjo_stream.receipts import receipt_record_event


class Raw(msgspec.Struct, frozen=True, gc=False):
    """One record of the history and where it is. A struct (a frozen dataclass's ``__init__`` costs several
    times as much)."""

    origin: str  # topic:partition:offset
    value: bytes | None  # None: a record the source could not turn into an event (``error`` says why)
    error: InvalidEvent | None = None
    event: Event | None = None  # decoded by the source (to merge by event time)


class Unreadable(RuntimeError):
    """A record batch of the history cannot be decoded: the replay would be incomplete."""


class NoSuchTopic(LookupError):
    """A topic the user named is not on the cluster (a typo replayed nothing and said nothing of it)."""


async def topic_records(settings: Settings, topics: list[str], start: float, end: float,
                        read_ahead: int = 20_000, required: bool = False) -> AsyncIterator[Raw]:
    """Records of ``topics`` written in ``[start, end + 60 s]`` (epoch seconds), merged in event-time order.

    Start offsets come from the broker's offsets-for-times, and records written before ``start`` are
    skipped as well (the local broker answers offsets-for-times with offset 0). A partition ends at its
    first record written more than a minute after ``end`` (an event is written a moment after it
    happened; the caller filters by event time) or when a fetch finds nothing more. Receipts become
    ``message_<status>`` events as in the worker's ingest stage.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from cjo_stream.kafka.guard import FetchGuard
    from cjo_stream.kafka.skips import load_skips

    # batches an operator skipped for the workers (cjo-stream skip) are skipped here too, as the workers did: a
    # replay over such history stopped at the batch with an error, however it was dealt with live
    skips = await load_skips(settings)
    start_ms, end_ms = int(start * 1000), int(min(end + 60.0, 4e12) * 1000)
    c = AIOKafkaConsumer(**settings.kafka_kwargs(), enable_auto_commit=False, group_id=None,
                         auto_offset_reset="earliest", max_poll_records=5000,
                         fetch_max_wait_ms=settings.fetch_max_wait_ms,
                         isolation_level=settings.input_isolation)  # what the worker read (replay = live)
    await c.start()
    try:
        tps: list[Any] = []
        for t in topics:
            parts = c.partitions_for_topic(t)
            if not parts:
                await c.topics()  # refresh metadata
                parts = c.partitions_for_topic(t) or set()
            if not parts and required:  # named by the user (the default topics may not exist yet)
                raise NoSuchTopic(f"topic {t!r} does not exist on {settings.bootstrap}")
            tps += [TopicPartition(t, p) for p in sorted(parts)]
        if not tps:
            return
        c.assign(tps)
        found = await c.offsets_for_times({tp: start_ms for tp in tps})
        ends = await c.end_offsets(tps)
        guard = FetchGuard(c, settings, "replay", skips)
        for tp in tps:
            at = found.get(tp)
            guard.seek(tp, at.offset if at is not None and at.timestamp >= 0 else 0)
        buffers: dict[Any, deque[tuple[float, Raw]]] = {tp: deque() for tp in tps}
        open_ = set(tps)  # partitions that may still have records in range
        per_partition = max(read_ahead // len(tps), 100)
        heads: list[tuple[float, int, Any]] = []
        in_heads: set[Any] = set()
        rank = {tp: i for i, tp in enumerate(tps)}
        last = {tp: 0.0 for tp in tps}  # merge time of the latest record buffered per partition
        want = list(tps)
        while True:
            # the merge may only move on once every open partition has a record buffered
            want = [tp for tp in want if tp in open_ and not buffers[tp]]
            if want:
                while want:
                    for tp in tps:
                        if tp in open_ and len(buffers[tp]) < per_partition:
                            c.resume(tp)
                        else:
                            c.pause(tp)
                    data = await guard.getmany(timeout_ms=300)
                    if guard.stuck:
                        st = next(iter(guard.stuck.values()))
                        raise Unreadable(f"cannot decode the record batch at {st.topic}:{st.partition}:"
                                         f"{st.offset} ({st.codec}: {st.error}); the replay would be incomplete "
                                         "(a batch skipped with `cjo-stream skip` is skipped here too)")
                    for tp, recs in data.items():
                        buf = buffers[tp]
                        for r in recs:
                            if r.timestamp > end_ms:
                                open_.discard(tp)
                                break
                            if r.timestamp >= start_ms:
                                # a record that is no event keeps its place after the one before it
                                buf.append(_decoded(r, settings.receipts_topic, buf[-1][0] if buf else last[tp]))
                                last[tp] = buf[-1][0]
                    for tp in want:
                        if tp in open_ and tp not in data and await c.position(tp) >= ends[tp]:
                            open_.discard(tp)  # read to its end (an empty fetch: the end offset can be short)
                    want = [tp for tp in open_ if not buffers[tp]]
                for tp in tps:
                    if tp not in in_heads and buffers[tp]:
                        heapq.heappush(heads, (buffers[tp][0][0], rank[tp], tp))
                        in_heads.add(tp)
            if not heads:
                return
            _, _, tp = heapq.heappop(heads)
            in_heads.discard(tp)
            buf = buffers[tp]
            _, raw = buf.popleft()
            if buf:
                heapq.heappush(heads, (buf[0][0], rank[tp], tp))
                in_heads.add(tp)
            elif tp in open_:
                want = [tp]
            yield raw
    finally:
        await c.stop()


def _decoded(r: Any, receipts_topic: str, before: float) -> tuple[float, Raw]:
    """A fetched record as (merge time, Raw): its event's time, or ``before`` for one that is not an event."""
    origin = f"{r.topic}:{r.partition}:{r.offset}"
    try:
        if r.value is None:
            raise InvalidEvent("missing_field", "record has no value (tombstone)")
        value = receipt_record_event(r.value) if r.topic == receipts_topic else r.value
        ev = decode_event(value)
    except InvalidEvent as e:
        return before, Raw(origin, None, e)
    return ev.ts, Raw(origin, value, None, ev)
