"""Restoring local stores: changelog partitions read as raw record batches, from a start offset to their end.

Why not a consumer: a restore only needs each record's key and value, latest per key. aiokafka's
consumer builds a ``ConsumerRecord`` (and its headers) per record in Python: restoring 5 M identity
links through it ran at ~160,000 records/s, most of it in that step (profiled). Reading the fetched
record batches directly with aiokafka's own C batch reader (:mod:`cjo_stream.kafka.batches`) costs
about 1 µs a record including decompression. Partitions are read a few at a time, each fetch up to
``max_bytes``, and applied in chunks of at most about ``CHUNK`` records, so memory is bounded whatever the
changelog holds.

The end: a partition is read until the next offset reaches the high watermark the fetch reported (the
local Tansu broker reports it as "base offset of the last batch + 1", which the last batch's own end
always passes). A fetch that finds nothing below it is tried again (a busy local broker answered one
with nothing in the middle of a partition); only many in a row end the partition there, with a warning.

A batch that cannot be decoded stops its partition as a consumer's :class:`~cjo_stream.kafka.guard.FetchGuard`
would: logged with its offsets and codec, counted, and returned as :class:`~cjo_stream.kafka.guard.Stuck`
— unless an operator asked to skip exactly that batch (:mod:`cjo_stream.kafka.skips`), then it is
skipped, logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.kafka.batches import BatchReader, _batches, _codec
from cjo_stream.kafka.guard import Stuck
from cjo_stream.kafka.skips import SkipRequests

log = logging.getLogger("cjo_stream.kafka")

Apply = Callable[[TopicPartition, dict[bytes, bytes | None]], None]
Done = Callable[[TopicPartition], None]
#: Fetches in a row that may find nothing below the high watermark before a restore takes it as the end.
_EMPTY_FETCHES = 40
#: Records handed to ``apply`` at a time. Not a whole fetch: 4 MiB of well-compressed records are ~200,000
#: (sent ids: 20 B each, lz4), which as a dict of Python bytes, read 4 partitions at once, held ~150 MiB,
#: and as one RocksDB write batch made a memtable of twice the store's write buffer that nothing flushed
#: (a write batch is never split; make bench, "Adapter sent-record at scale").
CHUNK = 10_000
#: How long the broker may take to gather a fetch's answer. Not the hot path's few milliseconds
#: (``CJO_FETCH_MAX_WAIT_MS``): given 10 ms, the local broker — whose fetch lists every record batch of
#: the partition — answered a restore of a partition of 7,800 small batches (1 M sent ids as an adapter
#: writes them, 16 a batch) with ~20 KB or nothing, 1,844 fetches in 39 s, and gave up on two partitions
#: with 16,000 ids unread; with 100-500 ms it took 8 fetches and 2.4 s. A fetch with data waits for nothing
#: (Kafka answers as soon as it has some); one where nothing is left waits all of it.
MAX_WAIT_MS = 500


@dataclass
class Restored:
    records: int = 0
    batches: int = 0  # record batches read
    ends: dict[TopicPartition, int] = field(default_factory=dict)  # next offset after what was read
    highwater: dict[TopicPartition, int] = field(default_factory=dict)  # as the last fetch reported it
    stuck: dict[TopicPartition, Stuck] = field(default_factory=dict)


async def offsets(settings: Settings, tps: list[TopicPartition]) -> tuple[dict[TopicPartition, int],
                                                                         dict[TopicPartition, int]]:
    """The first and the next-to-write offsets of ``tps`` as the broker reports them (Tansu's end is short)."""
    c = AIOKafkaConsumer(**settings.kafka_kwargs(), enable_auto_commit=False)
    try:
        await c.start()  # inside: a start that failed (the broker gone) left 'Unclosed AIOKafkaConsumer'
        return await c.beginning_offsets(tps), await c.end_offsets(tps)
    finally:
        await c.stop()


async def read_ends(settings: Settings, tps: list[TopicPartition], tries: int = 5) -> dict[TopicPartition, int]:
    """The next-to-write offsets of ``tps``, read: the reported end, or past it the last record batch's end.

    The local Tansu broker reports "base offset of the last batch + 1", short of the end when that batch
    holds several records, so an offset a consumer reached can lie past the reported end of a topic that
    was never made again. One fetch from the last batch's base gives its records.
    """
    c = AIOKafkaConsumer(**settings.kafka_kwargs(), enable_auto_commit=False)
    try:
        await c.start()
        ends = await c.end_offsets(tps)
        out = {tp: int(ends[tp]) for tp in tps}
        todo = {tp for tp in tps if out[tp] > 0}
        if todo:
            c.assign(sorted(todo))
            for tp in todo:
                c.seek(tp, out[tp] - 1)
            for _ in range(tries):  # (a busy local broker may answer a fetch with nothing)
                for tp, recs in (await c.getmany(*todo, timeout_ms=1000)).items():
                    if recs:
                        out[tp] = max(out[tp], recs[-1].offset + 1)
                        todo.discard(tp)
                if not todo:
                    break
        return out
    finally:
        await c.stop()


def past_end(starts: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]) -> set[TopicPartition]:
    """Partitions whose checkpoint lies past the end the broker reports: the topic was deleted and made
    again since (checkpoints are taken at most at the reported end), so the local store is not its copy."""
    return {tp for tp, start in starts.items() if start > ends.get(tp, start)}


async def restore(settings: Settings, starts: Mapping[TopicPartition, int], apply: Apply, *,
                  skips: SkipRequests | None = None, name: str = "restore", max_bytes: int = 4 * 1024 * 1024,
                  parallel: int = 4, chunk: int = CHUNK, done: Done | None = None) -> Restored:
    """Read every partition of ``starts`` from its start offset to its end; ``apply`` gets the records in
    chunks of about ``chunk`` (whole record batches) as ``{key: value or None}`` (latest per key within the
    chunk; chunks in offset order); ``done`` is told of each partition read to its end (not one stuck at an
    unreadable batch) while others may still be read."""
    out = Restored()
    if not starts:
        return out
    first, end = await offsets(settings, list(starts))
    starts = {tp: max(start, first.get(tp, 0)) for tp, start in starts.items()}  # retention deleted the rest
    reader = BatchReader(settings, max_bytes, max_wait_ms=MAX_WAIT_MS)
    gate = asyncio.Semaphore(parallel)

    async def one(tp: TopicPartition, offset: int) -> None:
        low, high = first.get(tp, 0), end.get(tp, offset + 1)
        if high > low:
            async with gate:
                # from the reported end on (a restart after a clean stop), ask for the last record: a fetch
                # where nothing is waits its whole max wait, and the local broker reports the end short
                # (the last batch's base offset + 1), so a checkpoint may lie inside its last batch
                await read(tp, offset, min(offset, high - 1))
        else:
            out.ends[tp] = offset  # empty: no fetch, which would wait its whole max wait for data
        if done is not None and tp not in out.stuck:
            done(tp)

    async def read(tp: TopicPartition, offset: int, at: int | None) -> None:
        empty = 0
        while True:
            data, highwater = await reader.fetch(tp, offset if at is None else at)  # records before offset: skipped
            at = None
            out.highwater[tp] = highwater
            changes: dict[bytes, bytes | None] = {}
            progressed = False
            for batch, _ in _batches(data):
                nxt = batch.next_offset
                if nxt <= offset:
                    continue  # brokers answer from the start of the batch holding the offset asked for
                progressed = True
                out.batches += 1
                problem = "" if batch.validate_crc() else "CRC mismatch (corrupt record batch)"
                if not problem and not batch.is_control_batch:
                    try:
                        for r in batch:
                            if r.offset >= offset:
                                changes[r.key] = r.value
                                out.records += 1
                    except Exception as e:  # noqa: BLE001 - any failure to decode: the batch is unreadable
                        problem = f"{type(e).__name__}: {e}"
                if problem:
                    base = max(getattr(batch, "base_offset", offset), offset)
                    apply(tp, changes)  # what came before it
                    changes = {}
                    if not _skipped(tp, base, nxt, _codec(batch), problem, skips, name):
                        out.stuck[tp] = _stuck(tp, base, nxt, _codec(batch), problem, name)
                        out.ends[tp] = base
                        return
                offset = nxt
                if len(changes) >= chunk:
                    apply(tp, changes)
                    changes = {}
                    await asyncio.sleep(0)  # a fetch is up to ~200,000 records: let heartbeats through
            if changes:
                apply(tp, changes)
            out.ends[tp] = offset
            if offset >= highwater:
                return
            if not progressed:
                # nothing new below the high watermark: the end only if it stays so. A busy local broker
                # answered a fetch in the middle of a partition with nothing, and the restore ended
                # there (49,000 of 1,000,000 profiles missing in make bench's scan section)
                empty += 1
                if empty >= _EMPTY_FETCHES:
                    log.warning("restore of %s[%d] ends at offset %d, below the high watermark %d: "
                                "%d fetches in a row returned nothing", tp.topic, tp.partition, offset,
                                highwater, empty)
                    return
                await asyncio.sleep(0.05)
                continue
            empty = 0

    try:
        await asyncio.gather(*(one(tp, off) for tp, off in starts.items()))
    finally:
        await reader.close()
    return out


def _skipped(tp: TopicPartition, base: int, nxt: int, codec: str, problem: str, skips: SkipRequests | None,
             name: str) -> bool:
    metrics.RECORD_BATCHES_UNREADABLE.labels(tp.topic).inc()
    req = skips.get(tp.topic, tp.partition, base) if skips is not None else None
    if req is None:
        return False
    log.warning("skipping unreadable record batch %s[%d] offsets %d-%d (%s: %s) on a standing request; %s resumes at %d",
                tp.topic, tp.partition, base, nxt - 1, codec, problem, name, nxt,
                extra={"topic": tp.topic, "partition": tp.partition, "offset": base})
    metrics.RECORD_BATCHES_SKIPPED.labels(tp.topic).inc()
    return True


def _stuck(tp: TopicPartition, base: int, nxt: int, codec: str, problem: str, name: str) -> Stuck:
    metrics.PARTITION_STUCK.labels(tp.topic, str(tp.partition)).set(1)
    log.error("cannot decode record batch %s[%d] offsets %d-%d (%s): %s; %s stopped reading this partition "
              "(others continue). Fix the consumer (e.g. a missing codec) and restart, or skip the batch "
              "deliberately: cjo-stream skip --topic %s --partition %d --offset %d",
              tp.topic, tp.partition, base, nxt - 1, codec, problem, name, tp.topic, tp.partition, base,
              extra={"topic": tp.topic, "partition": tp.partition, "offset": base})
    return Stuck(tp.topic, tp.partition, base, nxt, codec, problem, name, time.time())
