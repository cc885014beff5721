"""A consumer's fetch that survives a record batch it cannot decode.

How aiokafka (0.14, ``consumer/fetcher.py``) fails: records are decoded lazily while ``getmany`` drains
the fetched data, and a batch that cannot be decoded — codec library missing, unknown codec, CRC
mismatch, corrupt compressed data — raises out of ``getmany``: ``UnsupportedCodecError``,
``CorruptRecordException("Invalid CRC - <partition>")`` or the codec library's own error (cramjam's
``DecompressionError``). None names the offset, only the CRC one names the partition. Worse, partitions
drained earlier in the same call were already moved past the records that call was returning (lost
with the exception), and the failing partition's records before the bad batch are never returned: the
next fetch starts at the same position and fails again. A loop that lets the error through crashes,
and after a restart crashes again on the same batch.

What :class:`FetchGuard` does instead: it remembers, per partition, the offset up to which it handed
records out. When ``getmany`` raises, it moves every partition back to that offset (nothing is lost),
reads each partition's batches straight from the broker (:mod:`cjo_stream.kafka.batches`) to find the
first one that cannot be decoded, hands out the readable records before it and pauses that partition
at the batch: one error log naming topic, partition and offsets, ``cjo_record_batches_unreadable_total``,
``cjo_partition_stuck`` and an entry in :attr:`FetchGuard.stuck` (the worker's ``/health``). Every
other partition keeps running. Nothing is skipped unless an operator asks for exactly that batch
(:mod:`cjo_stream.kafka.skips`); then the consumer resumes after it, the skip is logged and counted,
and :meth:`FetchGuard.take_skipped` gives the caller the offset to commit. An error the guard cannot
pin on a batch is raised as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError, IllegalStateError

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.kafka.batches import BatchReader, Unreadable
from cjo_stream.kafka.skips import SkipRequests
from cjo_stream.timefmt import format_ts

log = logging.getLogger("cjo_stream.kafka")

#: seconds a fetch waits for a newly assigned partition's position before going on without it
POSITION_WAIT = 1.0

_NOT_DECODING = (ConsumerStoppedError, IllegalStateError)  # the consumer's own state, not the data


@dataclass
class Stuck:
    """A partition paused at a record batch its consumer cannot decode."""

    topic: str
    partition: int
    offset: int  # first offset of the batch: the consumer's position
    next_offset: int  # where it resumes if the batch is skipped
    codec: str
    error: str
    consumer: str  # which consumer (ingest, customers, restore, ...)
    since: float

    def as_dict(self) -> dict[str, Any]:
        """What ``/health`` lists: ``since`` as an RFC 3339 time (epoch seconds, ``1796330315.67``, read as
        nothing to the person paged), and the ``skip`` command to copy."""
        return {**asdict(self), "since": format_ts(self.since),
                "skip": f"cjo-stream skip --topic {self.topic} --partition {self.partition} --offset {self.offset}"}


class FetchGuard:
    """Wraps one consumer's ``getmany``; see the module docstring for what it guards against."""

    def __init__(self, consumer: AIOKafkaConsumer, settings: Settings, name: str,
                 skips: SkipRequests | None = None, max_bytes: int = 4 * 1024 * 1024,
                 reset: str = "earliest") -> None:
        self.c = consumer
        self.settings = settings
        self.name = name
        self.reset = reset  # the consumer's auto_offset_reset: where a partition without a commit starts
        self.skips = skips
        self.max_bytes = max_bytes
        self.stuck: dict[TopicPartition, Stuck] = {}
        self._next: dict[TopicPartition, int] = {}  # records before this offset were handed out
        self._assigned: set[TopicPartition] = set()
        self._skipped: dict[TopicPartition, int] = {}

    # ------------------------------------------------------------------ the caller's side
    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        c = self.c
        assigned = c.assignment()
        if assigned != self._assigned:
            self._sync(assigned)
        if self.stuck:
            self._check_stuck()
        unknown = [tp for tp in assigned if tp not in self._next]
        if unknown:
            await self._positions(unknown)
        try:
            data = await c.getmany(*partitions, timeout_ms=timeout_ms, max_records=max_records)
        except _NOT_DECODING:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure; re-raised if not pinned on a batch
            return await self._recover(exc, partitions)
        nxt = self._next
        for tp, recs in data.items():
            nxt[tp] = recs[-1].offset + 1
        return data

    async def _positions(self, tps: list[TopicPartition]) -> None:
        """Where newly assigned partitions start, waiting :data:`POSITION_WAIT` at most for all of them.

        aiokafka's ``position`` waits for the group's committed offset as long as it takes: with the broker
        gone mid-rebalance, forever, and a stop waited with it. A partition whose position is not known yet
        is treated as assigned during the fetch (``_recover``) and asked again on the next call.
        """
        asks = {tp: asyncio.ensure_future(self.c.position(tp)) for tp in tps}
        done, pending = await asyncio.wait(asks.values(), timeout=POSITION_WAIT)
        for task in pending:
            task.cancel()
        for tp, task in asks.items():
            if task in done and task.exception() is None:
                self._next[tp] = task.result()

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Move ``tp`` (as ``consumer.seek``) and remember it: records before ``offset`` count as handed out."""
        self.c.seek(tp, offset)
        self._next[tp] = offset

    def next_offset(self, tp: TopicPartition) -> int | None:
        """The offset past the records of ``tp`` handed out (None: its position is not known yet)."""
        return self._next.get(tp)

    def is_stuck(self, tp: TopicPartition) -> bool:
        return tp in self.stuck

    def take_skipped(self) -> dict[TopicPartition, int]:
        """Offsets past batches skipped on request since the last call: the caller commits them."""
        out, self._skipped = self._skipped, {}
        return out

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Partitions revoked (or reassigned): their positions and stuck state no longer hold."""
        for tp in tps:
            self._next.pop(tp, None)
            self._unstick(tp)

    # ------------------------------------------------------------------ bookkeeping
    def _sync(self, assigned: set[TopicPartition]) -> None:
        self.forget([tp for tp in self._assigned if tp not in assigned])
        self._assigned = set(assigned)

    def _unstick(self, tp: TopicPartition) -> None:
        if self.stuck.pop(tp, None) is not None:
            with contextlib.suppress(KeyError):
                metrics.PARTITION_STUCK.remove(tp.topic, str(tp.partition))

    def _check_stuck(self) -> None:
        paused = self.c.paused()
        for tp, st in list(self.stuck.items()):
            if tp not in paused:
                self._unstick(tp)  # resumed by a reassignment: detected again if it still fails
                continue
            req = self.skips.get(tp.topic, tp.partition, st.offset) if self.skips is not None else None
            if req is not None:
                self._skip(tp, st, f"on request from {req.host or 'an operator'}"
                                   + (f" ({req.reason})" if req.reason else ""))

    def _skip(self, tp: TopicPartition, st: Stuck, why: str) -> None:
        log.warning("skipping unreadable record batch %s[%d] offsets %d-%d (%s) %s; consumer %s resumes at %d",
                    st.topic, st.partition, st.offset, st.next_offset - 1, st.codec, why, self.name,
                    st.next_offset, extra={"topic": st.topic, "partition": st.partition, "offset": st.offset})
        metrics.RECORD_BATCHES_SKIPPED.labels(st.topic).inc()
        self._unstick(tp)
        self.seek(tp, st.next_offset)
        with contextlib.suppress(IllegalStateError):
            self.c.resume(tp)
        self._skipped[tp] = st.next_offset

    # ------------------------------------------------------------------ recovery
    async def _recover(self, exc: Exception, partitions: tuple[TopicPartition, ...]) -> dict[TopicPartition, list[Any]]:
        c = self.c
        paused = c.paused()
        scope = [tp for tp in (partitions or c.assignment()) if tp not in paused]
        for tp in scope:
            if tp not in self._next:  # assigned while the failed call waited: it started where the group stood
                self._next[tp] = await self._start_of(tp)
        for tp in scope:  # undo what the failed call drained and dropped
            with contextlib.suppress(IllegalStateError):
                if await c.position(tp) != self._next[tp]:
                    c.seek(tp, self._next[tp])
        reader = BatchReader(self.settings, self.max_bytes)
        found: dict[TopicPartition, list[Any]] = {}
        try:
            for tp in scope:
                scan = await reader.scan(tp, self._next[tp])
                if scan.unreadable is not None:
                    found[tp] = scan.records
                    self._stick(tp, scan.unreadable)
        except Exception:  # noqa: BLE001 - the diagnosis failed: the original error is the one to report
            log.exception("could not read the record batches behind a fetch error of consumer %s", self.name)
        finally:
            await reader.close()
        if not found:
            raise exc
        for tp, recs in found.items():
            if recs:
                self._next[tp] = recs[-1].offset + 1
        return {tp: recs for tp, recs in found.items() if recs}

    async def _start_of(self, tp: TopicPartition) -> int:
        """Where a newly assigned partition's first fetch started: its committed offset, else the reset policy."""
        c = self.c
        committed = None
        with contextlib.suppress(Exception):
            committed = await c.committed(tp)
        if committed is not None:
            return int(committed)
        if self.reset == "latest":
            return int(await c.position(tp))  # records drained in the failed call are lost: cannot know them
        return int((await c.beginning_offsets([tp]))[tp])

    def _stick(self, tp: TopicPartition, bad: Unreadable) -> None:
        c = self.c
        st = Stuck(tp.topic, tp.partition, bad.base_offset, bad.next_offset, bad.codec, bad.problem, self.name,
                   time.time())
        self.seek(tp, bad.base_offset)
        metrics.RECORD_BATCHES_UNREADABLE.labels(tp.topic).inc()
        req = self.skips.get(tp.topic, tp.partition, bad.base_offset) if self.skips is not None else None
        if req is not None:
            self._skip(tp, st, "on a standing request")
            return
        c.pause(tp)
        self.stuck[tp] = st
        metrics.PARTITION_STUCK.labels(tp.topic, str(tp.partition)).set(1)
        log.error("cannot decode record batch %s[%d] offsets %d-%d (%s): %s; consumer %s stopped reading this "
                  "partition (others continue). Fix the consumer (e.g. a missing codec) and restart, or skip the "
                  "batch deliberately: cjo-stream skip --topic %s --partition %d --offset %d",
                  tp.topic, tp.partition, bad.base_offset, bad.next_offset - 1, bad.codec, bad.problem, self.name,
                  tp.topic, tp.partition, bad.base_offset,
                  extra={"topic": tp.topic, "partition": tp.partition, "offset": bad.base_offset})
