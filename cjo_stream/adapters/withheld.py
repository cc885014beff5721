"""Commands held back at delivery: the customer withdrew the channel's consent, or was erased, after the
command was decided.

The engine checks consent when it decides a send, so a command is only ever written with consent. But an
adapter reaches it later: by its lag, after an outage by hours (up to the command's expiry). A customer who
unsubscribed meanwhile was still messaged. Workers now write every consent change and erasure to
``cjo.consent-changes`` (:class:`~cjo_stream.commands.ConsentChange`); each adapter reads the whole topic
at start and follows it, and before delivering a command asks :meth:`Withheld.why`:

- the customer's latest change lists the command's channel in ``withdrawn``: held back, whenever the
  command was decided (one decided after a consent given back carries a later change that lists it no
  more; while that change is still on its way, milliseconds, the command is held back: the safe side);
- the customer was erased and the command's record was written no later than the erasure's record (Kafka
  timestamps: the worker writes a batch's changes after its commands): held back. Commands for a new
  profile under the same id, written after the erasure, are delivered.

Entries older than what the adapter's sent-record keeps are dropped: a command decided before them is
stale by then and not sent anyway. A withdrawal is kept only for the channels the adapter delivers: the ``crm``
and ``slack`` adapters (internal channels, never withdrawn) kept every customer's unsubscribe from e-mail or SMS
for days, two objects each, and grew by hundreds of objects a minute under the bench's load for nothing.

**On disk.** The table is a store of :mod:`cjo_stream.kv` (RocksDB under the process's shared memory budget,
as the sent-record; ``CJO_STORE=memory``: a dict), not Python dicts: with millions of unsubscribes within the
e-mail adapter's 4 days, the customer-facing adapters held every one of them in RAM. One key per customer
(``c<id>``: the erasure's time, the withdrawal's time and channels), so :meth:`Withheld.why` is one get; and a
time index (``t<ms, 8 bytes big-endian><id>``) that :meth:`Withheld.prune` walks from its start to the
cut-off, so pruning reads only what it drops, never the whole table. Pruning runs as before, from
:meth:`Withheld.apply` at most once a minute; a record already older than the cut-off when it is folded in is
applied as the prune would leave it (it drops the customer's withdrawal and stores nothing), so that reading
8 days of the topic at start never writes the half a prune deletes next.

**A fresh store each start**, rebuilt from the topic as the dicts were (under the adapter's state directory,
``CJO_ADAPTER_STATE_DIR``, wiped at open; else a temporary directory; removed at :meth:`Withheld.close`). A
checkpoint across restarts (as the sent-record's) would save re-reading the topic, but the adapter read all of
it at every start anyway, and the store adds little to that read (``make bench``-free measure in
docs/benchmarks.md): not worth the offsets to keep and check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import struct
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream.commands import ConsentChange, DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.kafka.closing import stop_within
from cjo_stream.kafka.reading import partitions_of, read_to_end
from cjo_stream.kafka.topics import consent_changes_config, ensure_topics
from cjo_stream.kv import KV, StoreFactory, release_memory

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder(ConsentChange).decode

#: :meth:`Withheld.why`'s answers (the skip record's ``detail``)
WITHDRAWN = "consent withdrawn after the send was decided"
ERASED = "customer erased after the send was decided"

_ENTRY = b"c"  # + customer id -> _TIMES (erased at, withdrawn at; NaN: none) + the withdrawn channels
_AT = b"t"  # + _MS (the record's time) + customer id -> b"": what prune() walks
_TIMES = struct.Struct("<dd")
_MS = struct.Struct(">Q")
_SEP = "\n"  # between channel names (none has one)
_NONE = math.nan
_TABLE = "withheld"

#: one customer's entry: (erased at | None, withdrawn channels | None, withdrawn at) (seconds)
Entry = tuple[float | None, frozenset[str] | None, float]


class Withheld:
    """The latest consent change and erasure of each customer, as ``cjo.consent-changes`` says."""

    def __init__(self, settings: Settings, keep: float | None = None, clock: Callable[[], float] = time.time,
                 channels: Iterable[str] | None = None, state_dir: str | None = None) -> None:
        self.settings = settings
        self.topic = settings.consent_changes_topic
        self.keep = keep  # seconds an entry matters (the sent-record's retention); None: for good
        self.clock = clock
        # the channels of the commands asked about (those of the adapter's topics); None: every channel
        self.channels = None if channels is None else frozenset(channels)
        self._sets: dict[frozenset[str], frozenset[str]] = {}  # one shared copy of each set of channels kept
        self._named: dict[bytes, frozenset[str]] = {}  # a stored set of channels -> its shared copy
        self._names: dict[frozenset[str], bytes] = {}  # and back
        self.state_dir = state_dir
        self._kv: KV | None = None  # opened at first use (a runner made and never started opens nothing)
        self._closing: weakref.finalize | None = None
        self._withdrawn_n = 0  # customers with a channel withdrawn here
        self._erased_n = 0  # customers erased
        self.folded = 0  # records applied since the store was opened
        self.unreadable = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._pruned = 0.0

    # ------------------------------------------------------------------ the store
    def _store(self) -> KV:
        if self._kv is None:
            if self.state_dir is None:
                where, made = tempfile.mkdtemp(prefix="cjo-withheld-"), True
            else:
                where, made = self.state_dir, False
            stores = StoreFactory(self.settings.store, where)
            kv, _ = stores.open(_TABLE, 0, counted=False)  # no checkpoint is ever written: always a fresh one
            self._kv, self._withdrawn_n, self._erased_n, self.folded = kv, 0, 0, 0
            path = where if made else os.path.join(where, f"{_TABLE}-0")
            # closed and removed even if close() is never called (a table only applied to, in a test)
            self._closing = weakref.finalize(self, _drop, kv, path)
        return self._kv

    def _entry(self, cid: str) -> Entry | None:
        if self._kv is None:
            return None
        v = self._kv.get(_ENTRY + cid.encode())
        return None if v is None else self._unpack(v)

    def _unpack(self, v: bytes) -> Entry:
        erased, at = _TIMES.unpack_from(v)
        names = v[_TIMES.size:]
        chans = (self._named.get(names) or self._share(frozenset(names.decode().split(_SEP)))) if names else None
        return (None if math.isnan(erased) else erased), chans, (at if chans is not None else 0.0)

    def _pack(self, erased: float | None, chans: frozenset[str] | None, at: float) -> bytes:
        names = b""
        if chans is not None:
            names = self._names.get(chans) or _SEP.join(sorted(chans)).encode()
            self._names.setdefault(chans, names)
        return _TIMES.pack(_NONE if erased is None else erased, at if chans is not None else _NONE) + names

    def _share(self, chans: frozenset[str]) -> frozenset[str]:
        shared = self._sets.setdefault(chans, chans)
        self._named.setdefault(_SEP.join(sorted(shared)).encode(), shared)
        return shared

    @property
    def withdrawn(self) -> Mapping[str, tuple[frozenset[str], float]]:
        """id -> (channels withdrawn, record time, s): a read-only view of the store."""
        return _Withdrawn(self)

    @property
    def erased(self) -> Mapping[str, float]:
        """id -> the time of its latest erasure record (s): a read-only view of the store."""
        return _Erased(self)

    def _entries(self) -> Iterator[tuple[str, Entry]]:
        if self._kv is not None:
            for k, v in self._kv.prefix(_ENTRY):
                yield k[len(_ENTRY):].decode(), self._unpack(v)

    # ------------------------------------------------------------------ the table
    def apply(self, records: list[Any]) -> None:
        """Fold records of the topic in (in offset order per partition)."""
        kv = self._store()
        now = self.clock()
        cutoff = -math.inf if self.keep is None else now - self.keep
        entries: dict[str, Entry | None] = {}  # this batch's customers: their entries as folded so far
        was: dict[str, Entry | None] = {}  # and as stored before it
        writes: dict[bytes, bytes | None] = {}
        for rec in records:
            try:
                change = _decode(rec.value or b"")
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.unreadable += 1  # (a record no worker writes: nothing to hold back by)
                continue
            self.folded += 1
            at = rec.timestamp / 1000.0
            cid = change.customer_id
            if cid in entries:
                entry = entries[cid]
            else:
                entry = was[cid] = entries[cid] = self._entry(cid)
            erased = entry[0] if entry is not None else None
            chans, w_at = (entry[1], entry[2]) if entry is not None else (None, 0.0)
            indexed = at >= cutoff  # (older: what the prune would leave is stored, and nothing at its time)
            if change.erased:
                if indexed and (erased is None or at > erased):
                    erased = at
                chans = None  # a profile made again under the id starts with no withdrawal
            elif indexed and (kept := self._kept(change.withdrawn)) is not None:
                chans, w_at = kept, at
            else:
                chans = None  # every consent given back, or none of this adapter's channels withdrawn
            entries[cid] = None if erased is None and chans is None else (erased, chans, w_at if chans else 0.0)
            if indexed:
                writes[_AT + _MS.pack(max(0, rec.timestamp)) + cid.encode()] = b""
        for cid, entry in entries.items():
            if entry != was[cid]:
                self._count(was[cid], entry)
                writes[_ENTRY + cid.encode()] = None if entry is None else self._pack(*entry)
        if writes:
            kv.write_many(writes)
        if self.keep is not None and now - self._pruned > 60.0:
            self._pruned = now
            self.prune(now - self.keep)

    def _count(self, old: Entry | None, new: Entry | None) -> None:
        self._withdrawn_n += (new is not None and new[1] is not None) - (old is not None and old[1] is not None)
        self._erased_n += (new is not None and new[0] is not None) - (old is not None and old[0] is not None)

    def _kept(self, withdrawn: list[str]) -> frozenset[str] | None:
        """The withdrawn channels that matter here (one shared frozenset per distinct set), None if none."""
        if not withdrawn:
            return None
        chans = frozenset(withdrawn) if self.channels is None else self.channels.intersection(withdrawn)
        return self._share(chans) if chans else None

    def prune(self, before: float) -> None:
        """Forget entries written before ``before`` (epoch seconds): walks the time index up to it."""
        if self._kv is None:
            return
        kv = self._kv
        ats: list[bytes] = []
        for k, _ in kv.prefix(_AT):  # oldest first
            if _MS.unpack_from(k, len(_AT))[0] / 1000.0 >= before:  # (as the entries' times are computed)
                break
            ats.append(k)
        writes: dict[bytes, bytes | None] = dict.fromkeys(ats)
        for cid in {k[len(_AT) + _MS.size:].decode() for k in ats}:
            old = self._entry(cid)
            if old is None:
                continue
            erased, chans, at = old
            if erased is not None and erased < before:
                erased = None
            if chans is not None and at < before:
                chans, at = None, 0.0
            new = None if erased is None and chans is None else (erased, chans, at)
            if new != old:
                self._count(old, new)
                writes[_ENTRY + cid.encode()] = None if new is None else self._pack(*new)
        if writes:
            kv.write_many(writes)

    def why(self, cmd: DeliveryCommand, written_ms: int) -> str | None:
        """Why ``cmd`` (its record written at ``written_ms``) must not be delivered, or None."""
        kv = self._kv
        v = kv.get(_ENTRY + cmd.customer_id.encode()) if kv is not None else None
        if v is None:
            return None
        erased, _ = _TIMES.unpack_from(v)
        if written_ms / 1000.0 <= erased:  # (False for NaN: never erased)
            return ERASED
        names = v[_TIMES.size:]
        if names and cmd.channel in (self._named.get(names) or self._unpack(v)[1] or ()):
            return WITHDRAWN
        return None

    # ------------------------------------------------------------------ reading the topic
    async def start(self) -> None:
        """Read the whole topic (made if missing) into a fresh store, then follow it in the background."""
        s = self.settings
        kv = self._store()
        await ensure_topics(s, [self.topic], configs={self.topic: consent_changes_config()})
        consumer = self._consumer = AIOKafkaConsumer(**s.kafka_kwargs(), enable_auto_commit=False,
                                                     auto_offset_reset="earliest")
        await consumer.start()
        tps = [TopicPartition(self.topic, p) for p in await partitions_of(consumer, self.topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        t0 = time.perf_counter()
        kv.begin_load()  # no compactions while reading: one at the end (kv.RocksKV.begin_load)
        try:
            await read_to_end(consumer, tps, self.apply)
        finally:
            await asyncio.to_thread(kv.end_load)
        log.info("consent changes: %d customers with a channel withdrawn, %d erased (%d records read in %.1f s)",
                 self._withdrawn_n, self._erased_n, self.folded, time.perf_counter() - t0)
        if self.folded > 100_000:
            release_memory()
        self._task = asyncio.create_task(self._follow(consumer))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                data = await consumer.getmany(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the broker away: aiokafka reconnects; keep following
                log.warning("consent changes: reading failed (%s); retrying", type(e).__name__)
                await asyncio.sleep(1.0)
                continue
            for recs in data.values():
                self.apply(recs)

    async def close(self) -> None:
        """Stop following the topic; close the store and remove it (the next start reads the topic anew)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        try:
            if consumer is not None:
                await stop_within(consumer, "the consent-changes reader")
        finally:
            closing, self._closing, self._kv = self._closing, None, None
            if closing is not None:
                closing()


def _drop(kv: KV, path: str) -> None:
    """Close a store and remove its files."""
    with contextlib.suppress(Exception):  # (closed already, or a store that failed to open)
        kv.close()
    with contextlib.suppress(OSError):
        shutil.rmtree(path)


class _Withdrawn(Mapping[str, tuple[frozenset[str], float]]):
    """Customers with a channel withdrawn here -> (channels, record time): :attr:`Withheld.withdrawn`."""

    def __init__(self, table: Withheld) -> None:
        self._t = table

    def __getitem__(self, cid: str) -> tuple[frozenset[str], float]:
        e = self._t._entry(cid)
        if e is None or e[1] is None:
            raise KeyError(cid)
        return e[1], e[2]

    def __iter__(self) -> Iterator[str]:
        return (cid for cid, e in self._t._entries() if e[1] is not None)

    def __len__(self) -> int:
        return self._t._withdrawn_n


class _Erased(Mapping[str, float]):
    """Customers erased -> the time of the latest erasure record: :attr:`Withheld.erased`."""

    def __init__(self, table: Withheld) -> None:
        self._t = table

    def __getitem__(self, cid: str) -> float:
        e = self._t._entry(cid)
        if e is None or e[0] is None:
            raise KeyError(cid)
        return e[0]

    def __iter__(self) -> Iterator[str]:
        return (cid for cid, e in self._t._entries() if e[0] is not None)

    def __len__(self) -> int:
        return self._t._erased_n
