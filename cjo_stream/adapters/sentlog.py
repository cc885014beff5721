"""The record of delivered ``delivery_id``s: topic ``cjo.adapter.<channel>.sent``, read into RocksDB.

Why a topic rather than a database: it lives on the same broker as the commands, so an adapter needs
no extra infrastructure and the record has the broker's durability and replication; it survives a
crash and a replay (a restarted adapter, a replica taking over partitions, a new consumer group
re-reading ``cjo.delivery.<channel>`` from offset 0 all see what was sent); an operator allows one
resend by producing a tombstone (null value) for an id.

Why it stays small, however long an adapter runs:

- **bounded by time.** A command past its expiry is never sent, so an id is only needed while its
  command could still be replayed and sent: the topic is ``cleanup.policy=compact,delete`` with
  ``retention.ms`` = the longest expiry of the channels the adapter consumes plus a margin
  (:func:`retention`, ``CJO_SENT_RETENTION`` overrides it), and the local copy drops ids after the
  same time. A command older than that (``decided_at`` + retention) cannot be checked any more; the
  runner skips it without a receipt (outcome ``stale``) rather than risk sending it twice;
- **partitioned like the commands.** The id of a command read from partition *p* of a delivery topic
  is written to partition *p* (modulo the sent topic's partitions). An adapter reads only the
  partitions of the commands it owns — more replicas, less each — and catches them up whenever the
  group assigns it partitions (ids the previous owner recorded are known before anything is sent);
- **on disk.** Membership is a RocksDB store per partition (:mod:`cjo_stream.kv`: the process's
  RAM budget, not a Python set of every id), with a checkpoint of the offset it reflects, so a
  restarted adapter with the same state directory reads only the tail.

Values are :class:`SentRecord` JSON: when, the provider's message id, and whose send it was (customer id,
channel, journey, step, subscription topic) — no addresses or content. A send the provider gave an id is recorded a second time, under
that id (:func:`provider_key`, the value its ``delivery_id``): a provider's engagement callback names its own id,
and ``/engagement`` finds the delivery by it (:meth:`SentLog.lookup`).
Measured in ``make bench`` ("Adapter sent-record at scale").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cjo_stream import metrics, scratch
from cjo_stream.adapters.callback_ids import bare_id
from cjo_stream.config import Settings
from cjo_stream.kafka.closing import STOP_WITHIN, stop_within
from cjo_stream.kafka.reading import partitions_of
from cjo_stream.kafka.restore import offsets, past_end, restore
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.kv import KV, StoreFactory, release_memory

log = logging.getLogger(__name__)

#: Added to the longest channel expiry: how long after it an id is still kept.
DEFAULT_MARGIN = 86400.0
_FOREVER = 2**31 - 1  # RocksDB's TTL is a 32-bit number of seconds
#: Partitions read at once. Reading is CPU-bound here (~2 µs an id); fewer at a time finish one by one, so
#: each store's closing compaction runs on the other core while the next is read.
_READ_PARALLEL = 2
#: Names the temporary directory of an adapter without ``CJO_ADAPTER_STATE_DIR`` (a dead one's: :mod:`cjo_stream.scratch`).
TEMP_PREFIX = "cjo-sent-"


class SentRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    at: str
    provider_message_id: str | None = None
    # whose send it was, for an engagement callback naming only an id (records written before: none)
    customer_id: str | None = None
    channel: str | None = None
    journey: str | None = None
    step: str | None = None
    # the send's subscription topic: a provider's unsubscribe naming only its message id withdraws that topic, not
    # the whole channel (records written before, and sends of no topic: none)
    topic: str | None = None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(SentRecord).decode

#: Begins the key of a provider's message id (a byte no delivery id has: ids are printable text).
_PROVIDER = b"\x00provider:"


def provider_key(provider_message_id: str) -> bytes:
    """The sent-record key under which a provider's message id names its ``delivery_id``."""
    return _PROVIDER + provider_message_id.encode()


def sent_topic(adapter: str) -> str:
    return f"cjo.adapter.{adapter}.sent"


def retention(longest_expiry: float | None, margin: float = DEFAULT_MARGIN) -> float | None:
    """Seconds an id is kept: the longest expiry plus ``margin``; ``None`` (forever) if a channel never expires."""
    return None if longest_expiry is None else longest_expiry + margin


def topic_config(keep: float | None) -> dict[str, str]:
    if keep is None:
        return {"cleanup.policy": "compact"}
    return {"cleanup.policy": "compact,delete", "retention.ms": str(int(keep * 1000))}


class SentLog:
    """Sent ids of the command partitions this adapter owns (``catch_up`` when they change)."""

    def __init__(self, settings: Settings, topic: str, producer: AIOKafkaProducer, *,
                 keep: float | None = None, state_dir: str | None = None) -> None:
        self.settings = settings
        self.topic = topic
        self.producer = producer
        self.keep = keep
        # without a state directory a temporary one, locked while this process lives (removed at a clean close, else
        # by the next adapter's start: scratch.sweep)
        self._temp = scratch.make(TEMP_PREFIX) if state_dir is None else None
        self.state_dir = self._temp.path if self._temp is not None else state_dir or ""
        self.stores = StoreFactory(settings.store, self.state_dir)
        if self.stores.memory is not None:  # the sent-record and the withheld table share it: shown as workers' is
            metrics.watch_rocksdb(self.stores.memory.usage)
        self._kv: dict[int, KV] = {}  # sent partition -> its ids
        self._pos: dict[int, int] = {}  # sent partition -> next offset to read
        self._hw: dict[int, int] = {}  # sent partition -> high watermark at the last read
        self._reader: AIOKafkaConsumer | None = None
        self._parts = 0
        self._used: frozenset[int] = frozenset()  # sent partitions the consumed delivery topics write to (none: not known yet)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await ensure_topics(self.settings, [self.topic], configs={self.topic: topic_config(self.keep)})
        self._reader = AIOKafkaConsumer(**self.settings.kafka_kwargs(), enable_auto_commit=False)  # metadata
        await self._reader.start()
        self._parts = len(await partitions_of(self._reader, self.topic))  # (a topic just made: waits for it)

    def partition_for(self, command_partition: int) -> int:
        """The sent-record partition of the commands of one delivery-topic partition."""
        return command_partition % self._parts if self._parts else 0

    async def catch_up(self, command_partitions: Iterable[int] | None = None) -> int:
        """Own the sent partitions of ``command_partitions`` (default: the current ones) and read them to
        their end (raw record batches, :mod:`cjo_stream.kafka.restore`); partitions no longer needed are
        closed with a checkpoint. Returns the records applied."""
        if self._reader is None:
            return 0
        async with self._lock:
            if command_partitions is None:
                needed = set(self._kv)
            else:
                needed = {self.partition_for(p) for p in command_partitions}
            gone = sorted(set(self._kv) - needed)
            ends = await self._ends(gone)
            for p in gone:
                self._close(p, ends.get(p))
            new = sorted(needed - set(self._kv))
            for p in new:
                self._kv[p], self._pos[p] = self.stores.open("sent", p, counted=False, ttl=self.keep or _FOREVER)
            if new:
                _, ends = await offsets(self.settings, [TopicPartition(self.topic, p) for p in new])
                for tp in past_end({TopicPartition(self.topic, p): self._pos[p] for p in new}, ends):
                    log.warning("the checkpoint of %s[%d] is past the topic's end (it was made again): reading it "
                                "anew", tp.topic, tp.partition)
                    self.stores.close("sent", tp.partition, self._kv[tp.partition], None)  # wiped at open
                    self._kv[tp.partition], self._pos[tp.partition] = self.stores.open(
                        "sent", tp.partition, counted=False, ttl=self.keep or _FOREVER)
            checkpointed = sum(1 for p in new if self._pos[p])
            t0 = time.perf_counter()
            loading = {p: self._kv[p] for p in new}
            for kv in loading.values():
                kv.begin_load()  # no compactions while reading: one at the end (kv.RocksKV.begin_load)
            settling: list[asyncio.Future[None]] = []

            def settle(p: int) -> None:
                # on disk and compacted before anything is sent (a memtable the read left in RAM kept the
                # process over its write-buffer budget, so each put of the first sends flushed one: 650 µs a
                # put with 5 M ids; a compaction after it took a core from them; make bench), in a thread
                # while the other partitions are still read
                kv = loading.pop(p, None)
                if kv is not None:
                    settling.append(asyncio.ensure_future(asyncio.to_thread(kv.end_load)))

            try:
                n, batches = await self._read(needed, lambda tp: settle(tp.partition))
            finally:
                t1 = time.perf_counter()
                for p in list(loading):
                    settle(p)  # stuck at an unreadable batch, or the read failed
                await asyncio.gather(*settling)
            if needed:
                log.info("sent-record: read %d ids of %d partition(s) in %.1f s (%d partition(s) from a checkpoint; "
                         "%d record batches; then %.1f s writing the last to disk)", n, len(needed),
                         time.perf_counter() - t0, checkpointed, batches, time.perf_counter() - t1)
            if n > 100_000:
                release_memory()
            return n

    async def _read(self, partitions: set[int], read_to_end: Callable[[TopicPartition], None]) -> tuple[int, int]:
        """Read ``partitions`` to their end: the records applied and the record batches they came in."""

        def apply(tp: TopicPartition, changes: dict[bytes, bytes | None]) -> None:
            changes.pop(None, None)  # type: ignore[call-overload]  # a record without a key says nothing
            if changes:
                self._kv[tp.partition].write_many(changes)  # None: a tombstone allows one resend

        done = await restore(self.settings, {TopicPartition(self.topic, p): self._pos[p] for p in partitions},
                             apply, name=f"sent-record {self.topic}", parallel=_READ_PARALLEL, done=read_to_end)
        for tp, end in done.ends.items():
            self._pos[tp.partition] = end
        for tp, hw in done.highwater.items():
            self._hw[tp.partition] = hw
        return done.records, done.batches

    async def _ends(self, parts: list[int]) -> dict[int, int]:
        """The ends the broker reports now for ``parts`` (empty if it cannot say: no checkpoint then)."""
        if not parts:
            return {}
        try:
            _, ends = await asyncio.wait_for(
                offsets(self.settings, [TopicPartition(self.topic, p) for p in parts]), STOP_WITHIN)
        except Exception as e:  # noqa: BLE001 - a broker gone at shutdown: the stores are read anew next time
            log.warning("sent-record: no checkpoint (the broker did not report its ends: %s)", type(e).__name__)
            return {}
        return {tp.partition: end for tp, end in ends.items()}

    def _close(self, p: int, end: int | None) -> None:
        # what the store holds up to (ids recorded here since are read again next time: harmless), but
        # never past the end the broker reports (ListOffsets), so that a checkpoint past it at the next
        # start means the topic was recreated. The local Tansu broker reports a partition's end short
        # (the base offset of its last record batch + 1): without this clamp every checkpoint after a
        # batched write looked "past the end" and a restart read every id again (5 M ids: 12 s).
        kv = self._kv.pop(p)
        pos = self._pos.pop(p, None)
        keep = None if pos is None or end is None else min(pos, self._hw.get(p, pos), end)
        self.stores.close("sent", p, kv, keep)

    def owns(self, command_partition: int) -> bool:
        """Whether the ids of that command partition are read (its commands may be checked)."""
        return self.partition_for(command_partition) in self._kv

    def contains(self, delivery_id: str, command_partition: int) -> bool:
        kv = self._kv.get(self.partition_for(command_partition))
        return kv is not None and kv.get(delivery_id.encode()) is not None

    def __len__(self) -> int:
        """Ids held (RocksDB's estimate: a restored store's count is not kept exactly)."""
        return sum(len(kv) for kv in self._kv.values())

    async def record(self, delivery_id: str, at: str, provider_message_id: str | None,
                     command_partition: int, *, customer_id: str | None = None, channel: str | None = None,
                     journey: str | None = None, step: str | None = None, topic: str | None = None,
                     other_ids: Iterable[str] = ()) -> asyncio.Future[Any]:
        """Mark ``delivery_id`` sent (locally now) and enqueue its record (and, with a provider's id, the
        record of that id, and of ``other_ids``: the same message's to other recipients); await the returned
        future for the broker's acknowledgement before committing the input offset."""
        p = self.partition_for(command_partition)
        value = _encode(SentRecord(at=at, provider_message_id=provider_message_id, customer_id=customer_id,
                                   channel=channel, journey=journey, step=step, topic=topic))
        records = [(delivery_id.encode(), value)]
        for pid in (provider_message_id, *other_ids) if provider_message_id else ():
            records.append((provider_key(pid), delivery_id.encode()))
        kv = self._kv.get(p)
        if kv is not None:
            for k, v in records:
                kv.put(k, v)
        sent = [await self.producer.send(self.topic, v, key=k, partition=p) for k, v in records]
        return sent[0] if len(sent) == 1 else asyncio.gather(*sent)

    @property
    def busy(self) -> bool:
        """Partitions are being read (an assignment changed): :meth:`lookup` cannot answer yet."""
        return self._lock.locked()

    def in_use(self, command_partitions: Iterable[int]) -> None:
        """Every partition of the delivery topics consumed, this replica's or not: their commands' ids are all a
        lookup can need. A delivery topic with fewer partitions than the sent-record (a worker made it with
        another ``CJO_PARTITIONS``) writes to only as many of its partitions, the others stay empty."""
        self._used = frozenset(self.partition_for(p) for p in command_partitions)

    def coverage(self) -> tuple[int, int]:
        """Partitions whose ids this adapter holds, of all those sends are written to: what :meth:`lookup`
        searches, of what it could need."""
        return len(self._kv), len(self._used) or self._parts

    def held(self) -> list[int]:
        """The sent-record partitions this replica holds (what :meth:`lookup` searches)."""
        return sorted(self._kv)

    def used(self) -> frozenset[int]:
        """The sent-record partitions sends are written to (every replica's: :meth:`in_use`)."""
        return self._used or frozenset(range(self._parts))

    def lookup(self, delivery_id: str | None = None,
               provider_message_id: str | None = None) -> tuple[str, SentRecord] | None:
        """The delivery id and record of a send by its ``delivery_id`` or the provider's id, among the
        partitions this adapter holds (a callback does not say which: each is asked, a lookup of a few µs). A
        ``Message-ID`` in angle brackets (SendGrid's ``smtp-id``) is the one the e-mail adapter recorded without."""
        pid = bare_id(provider_message_id)
        for kv in self._kv.values():
            did: bytes | None = delivery_id.encode() if delivery_id else None
            if did is None and pid:
                did = kv.get(provider_key(pid))
            value = kv.get(did) if did else None
            if did and value is not None:
                return did.decode(), _decode(value)
        return None

    async def close(self, checkpoint: bool = True) -> None:
        """Close the stores, each with a checkpoint of what it holds unless ``checkpoint`` is False (the
        topic is gone: asking for its ends named it, and the local broker made it again, 4 partitions)."""
        reader = self._reader
        try:
            async with self._lock:
                ends = await self._ends(sorted(self._kv)) if reader is not None and checkpoint else {}
                for p in sorted(self._kv):
                    self._close(p, ends.get(p))  # with a checkpoint of what each store holds
        finally:
            self._reader = None
            if reader is not None:
                await stop_within(reader, "the sent-record reader")
            if self._temp is not None:
                self._temp.remove()
