"""Commands held back at delivery: the customer withdrew the channel's consent, or was erased, after the
command was decided.

The engine checks consent when it decides a send, so a command is only ever written with consent. But an
adapter reaches it later: by its lag, after an outage by hours (up to the command's expiry). A customer who
unsubscribed meanwhile was still messaged. Workers now write every consent change and erasure to
``cjo.consent-changes`` (:class:`~cjo_stream.commands.ConsentChange`); each adapter reads the whole topic
at start and follows it, and before delivering a command asks :meth:`Withheld.why`:

- the customer's latest change lists the command's channel in ``withdrawn`` (or its subscription topic in
  ``topics``, which every adapter keeps): held back, whenever the
  command was decided (one decided after a consent given back carries a later change that lists it no
  more; while that change is still on its way, milliseconds, the command is held back: the safe side);
- the customer was erased and the command's record was written no later than the erasure's record (Kafka
  timestamps: the worker writes a batch's changes after its commands): held back. Commands for a new
  profile under the same id, written after the erasure, are delivered;
- the command's address is one the customer's latest change lists in ``bounced`` (a hard bounce remembered
  since it was decided: a backlog of a promotion to a dead mailbox would each bounce again, which is what
  providers count against the sender), a ``transactional`` one too: held back (a skip ``undeliverable``). A
  ``bounce_cleared`` event writes the list again without the address, and its commands go again.

Entries older than what the adapter's sent-record keeps are dropped: a command decided before them is
stale by then and not sent anyway. A withdrawal is kept only for the channels the adapter delivers: the ``crm``
and ``slack`` adapters (internal channels, never withdrawn) kept every customer's unsubscribe from e-mail or SMS
for days, two objects each, and grew by hundreds of objects a minute under the bench's load for nothing.

**On disk.** The table is a store of :mod:`cjo_stream.kv` (RocksDB under the process's shared memory budget,
as the sent-record; ``CJO_STORE=memory``: a dict), not Python dicts: with millions of unsubscribes within the
e-mail adapter's 4 days, the customer-facing adapters held every one of them in RAM. Keys: ``w<id>`` (the
withdrawal's time and channels), ``e<id>`` (the latest erasure's time) and a time index, ``t<oldest ms><n>`` ->
the (time, id) of each record one :meth:`Withheld.apply` stored. Folding records in is blind writes (one key a
customer would be a read-modify-write of every record); an erasure reads the customer's earlier one only if an
erasure read before has a later time (the latest is kept), which on a fresh store's misses was 22 µs a read.
:meth:`Withheld.why` is one get (two once any erasure was read). Pruning runs as before, from
:meth:`Withheld.apply` at most once a minute, and walks the time index up to the cut-off (what it finds still
recent is indexed again): it reads what it drops, not the whole table. A record already older than the
cut-off when it is folded in is applied as that prune would leave it (it drops the customer's withdrawal and
stores nothing), so reading 8 days of the topic at start never writes the half a prune deletes next.

**A fresh store each start**, rebuilt from the topic as the dicts were (in the adapter's state directory,
``CJO_ADAPTER_STATE_DIR``, wiped at open; else a temporary directory; removed at :meth:`Withheld.close`), rather
than one kept across restarts with a checkpoint (as the sent-record's): the adapter reads the whole topic at
every start anyway (without a state directory, always), reading it into the store took about as long as into
the dicts (1 M changes, 1 % erasures: ``start()`` 7.5-8.2 s with the dicts, 8.0-8.2 s now; a quarter erasures,
the worst case: 10.3-12.3 s, 12.8-14.4 s; ``python -m cjo_stream.bench.withheld``, docs/benchmarks.md), and a
checkpoint needs offsets per partition kept, checked against a recreated topic, and the tail re-applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import struct
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream import scratch
from cjo_stream.commands import ConsentChange, DeliveryCommand, address_digest
from cjo_stream.config import Settings
from cjo_stream.kafka.closing import stop_within
from cjo_stream.kafka.reading import partitions_of, read_to_end
from cjo_stream.kafka.topics import consent_changes_config, ensure_topics
from cjo_stream.kv import KV, StoreFactory, release_memory

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder(ConsentChange).decode
_encode_index = msgspec.msgpack.Encoder().encode
_decode_index = msgspec.msgpack.Decoder(list[tuple[int, bytes]]).decode

#: :meth:`Withheld.why`'s answers (the skip record's ``detail``)
WITHDRAWN = "consent withdrawn after the send was decided"
ERASED = "customer erased after the send was decided"
BOUNCED = "address hard-bounced after the send was decided"

_WITHDRAWN = b"w"  # + customer id -> _TIME (the record's, s) + the channels withdrawn here [+ _BOUNCED + addresses]
_ERASED = b"e"  # + customer id -> _TIME of its latest erasure record
_AT = b"t"  # + _MS (the oldest record's time) + _MS (a number) -> [(ms, customer id), ...]: the time index
_TIME = struct.Struct("<d")
_MS = struct.Struct(">Q")
_SEP = "\n"  # between channel names (none has one)
#: after the channels withdrawn, the addresses that hard-bounced (``<channel>:<digest>``, _SEP between them)
_BOUNCED = b"\0"
#: marks a subscription topic among the names withdrawn (``#newsletter``): kept by every adapter, whichever its channels
TOPIC_MARK = "#"
_TABLE = "withheld"
#: Names the temporary directory of an adapter without ``CJO_ADAPTER_STATE_DIR`` (a dead one's: :mod:`cjo_stream.scratch`).
TEMP_PREFIX = "cjo-withheld-"


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
        self._named: dict[bytes, frozenset[str]] = {}  # a set of channels as stored -> its shared copy
        self._names: dict[frozenset[str], bytes] = {}  # and back
        self._stored: dict[tuple[str, ...], bytes] = {}  # a record's withdrawn list -> what is stored (b"": none)
        self._seq = 0  # numbers the time index's keys
        self.state_dir = state_dir  # the store's directory is made in it (None: a temporary one)
        self._kv: KV | None = None  # opened at first use (a runner made and never started opens nothing)
        self._closing: weakref.finalize[[KV, str, scratch.Scratch | None], Withheld] | None = None
        self._erasures = 0  # erasure records read since the store was opened (none: why() skips their get)
        self._newest_erasure = -math.inf  # the latest time of those (s): one no earlier is stored without a read
        self.folded = 0  # records applied since the store was opened
        self.unreadable = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._loading: asyncio.Future[None] | None = None  # the store's compaction after the read at start
        self._pruned = 0.0

    # ------------------------------------------------------------------ the store
    def _store(self) -> KV:
        if self._kv is None:
            temp = scratch.make(TEMP_PREFIX) if self.state_dir is None else None  # (locked while this process lives)
            where = temp.path if temp is not None else self.state_dir or ""
            kv, _ = StoreFactory(self.settings.store, where).open(_TABLE, 0, counted=False)  # no checkpoint: wiped
            self._kv, self._erasures, self.folded, self._seq, self._newest_erasure = kv, 0, 0, 0, -math.inf
            path = where if temp is not None else os.path.join(where, f"{_TABLE}-0")
            # closed and removed even if close() is never called (a table only applied to, in a test)
            self._closing = weakref.finalize(self, _drop, kv, path, temp)
        return self._kv

    def _share(self, chans: frozenset[str]) -> frozenset[str]:
        shared = self._sets.setdefault(chans, chans)
        if shared not in self._names:
            names = _SEP.join(sorted(shared)).encode()
            self._names[shared], self._named[names] = names, shared
        return shared

    def _channels(self, names: bytes) -> frozenset[str]:
        """The shared set of channels stored as ``names``."""
        return self._named.get(names) or self._share(frozenset(names.decode().split(_SEP)))

    @property
    def withdrawn(self) -> Mapping[str, tuple[frozenset[str], float]]:
        """id -> (the channels withdrawn here, its record's time, s): a read-only view of the store."""
        return _Withdrawn(self)

    @property
    def erased(self) -> Mapping[str, float]:
        """id -> the time of its latest erasure record (s): a read-only view of the store."""
        return _Erased(self)

    def _get(self, prefix: bytes, cid: str) -> bytes | None:
        return None if self._kv is None else self._kv.get(prefix + cid.encode())

    def _scan(self, prefix: bytes) -> Iterator[tuple[str, bytes]]:
        if self._kv is not None:
            for k, v in self._kv.prefix(prefix):
                yield k[len(prefix):].decode(), v

    # ------------------------------------------------------------------ the table
    def apply(self, records: list[Any]) -> None:
        """Fold records of the topic in (in offset order per partition)."""
        kv = self._store()
        now = self.clock()
        cutoff = -math.inf if self.keep is None else now - self.keep
        writes: dict[bytes, bytes | None] = {}  # in order: a key's last value is the one applied
        index: list[tuple[int, bytes]] = []  # (record time, ms; customer) of what is stored
        pack, stored, folded, erasures, newest = _TIME.pack, self._stored, 0, 0, self._newest_erasure
        for rec in records:
            try:
                change = _decode(rec.value or b"")
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.unreadable += 1  # (a record no worker writes: nothing to hold back by)
                continue
            folded += 1
            ms = rec.timestamp
            at = ms / 1000.0
            cid = change.customer_id.encode()
            if change.erased:
                erasures += 1
            if at < cutoff:  # stored as the next prune would leave it: no withdrawal, nothing at its time
                writes[_WITHDRAWN + cid] = None
                continue
            index.append((ms, cid))
            if change.erased:
                writes[_WITHDRAWN + cid] = None  # a profile made again under the id starts with no withdrawal
                key = _ERASED + cid
                if at >= newest:  # no erasure read so far is later (nor one stored): no read for the latest
                    writes[key], newest = pack(at), at
                elif (old := writes[key] if key in writes else kv.get(key)) is None or at > _TIME.unpack(old)[0]:
                    writes[key] = pack(at)
            else:  # None: every consent given back, or none of this adapter's channels withdrawn
                withdrawn = tuple(change.withdrawn)
                if change.topics:
                    withdrawn += tuple(TOPIC_MARK + t for t in change.topics)
                names = stored.get(withdrawn)
                if names is None:
                    names = self._names_of(withdrawn)
                if change.bounced:  # (per customer: not among the shared sets of channels)
                    names += self._bounced_here(change.bounced)
                writes[_WITHDRAWN + cid] = pack(at) + names if names else None
        if index:
            writes[self._index_key(min(ms for ms, _ in index))] = _encode_index(index)
        if writes:
            kv.write_many(writes)
        self.folded += folded
        self._erasures += erasures
        self._newest_erasure = newest
        if self.keep is not None and now - self._pruned > 60.0:
            self._pruned = now
            self.prune(now - self.keep)

    def _index_key(self, oldest_ms: int) -> bytes:
        self._seq += 1
        return _AT + _MS.pack(max(0, oldest_ms)) + _MS.pack(self._seq)

    def _names_of(self, withdrawn: tuple[str, ...]) -> bytes:
        """The withdrawn channels that matter here, as stored (b"": none); remembered for each list."""
        chans = self._kept(withdrawn)
        names = self._stored[withdrawn] = b"" if chans is None else self._names[chans]
        return names

    def _bounced_here(self, bounced: Sequence[str]) -> bytes:
        """The hard-bounced addresses of this adapter's channels, as stored after the channels (b"": none)."""
        mine = self.channels
        kept = [b for b in bounced if mine is None or b.partition(":")[0] in mine]
        return _BOUNCED + _SEP.join(kept).encode() if kept else b""

    def _kept(self, withdrawn: Sequence[str]) -> frozenset[str] | None:
        """The withdrawn channels that matter here (one shared frozenset per distinct set), None if none."""
        if not withdrawn:
            return None
        chans = frozenset(withdrawn) if self.channels is None else self.channels.intersection(withdrawn)
        if self.channels is not None and withdrawn[-1].startswith(TOPIC_MARK):  # (topics come last)
            chans |= {n for n in withdrawn if n.startswith(TOPIC_MARK)}
        return self._share(chans) if chans else None

    def prune(self, before: float) -> None:
        """Forget entries written before ``before`` (epoch seconds): walks the time index up to it, oldest first
        (each of its keys: the records of one :meth:`apply`, under the oldest one's time)."""
        kv = self._kv
        if kv is None:
            return
        writes: dict[bytes, bytes | None] = {}
        old: set[bytes] = set()
        for k, v in kv.prefix(_AT):
            if _MS.unpack_from(k, len(_AT))[0] / 1000.0 >= before:  # (as the entries' times are computed)
                break
            writes[k] = None
            rest = []
            for ms, cid in _decode_index(v):
                if ms / 1000.0 < before:
                    old.add(cid)
                else:
                    rest.append((ms, cid))
            if rest:  # indexed again under the oldest left
                writes[self._index_key(min(ms for ms, _ in rest))] = _encode_index(rest)
        for cid in old:
            for key in (_WITHDRAWN + cid, _ERASED + cid):
                entry = kv.get(key)
                if entry is not None and _TIME.unpack_from(entry)[0] < before:
                    writes[key] = None
        if writes:
            kv.write_many(writes)

    def why(self, cmd: DeliveryCommand, written_ms: int) -> str | None:
        """Why ``cmd`` (its record written at ``written_ms``) must not be delivered, or None."""
        kv = self._kv
        if kv is None:
            return None
        cid = cmd.customer_id.encode()
        if self._erasures:
            v = kv.get(_ERASED + cid)
            if v is not None and written_ms / 1000.0 <= _TIME.unpack(v)[0]:
                return ERASED
        v = kv.get(_WITHDRAWN + cid)
        if v is None:
            return None
        names = v[_TIME.size:]
        cut = names.find(_BOUNCED)
        if cut >= 0:
            if cmd.to and f"{cmd.channel}:{address_digest(cmd.to)}".encode() in names[cut + 1:].split(b"\n"):
                return BOUNCED  # (a transactional one too: a dead mailbox refuses a password reset as well)
            names = names[:cut]
        if names and not cmd.transactional:  # (asked for: consent is not its test)
            chans = self._channels(names)
            if cmd.channel in chans or (cmd.topic is not None and TOPIC_MARK + cmd.topic in chans):
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
            t1 = time.perf_counter()
            # in a thread (seconds after millions of records); close() waits for it if start() is cancelled
            self._loading = asyncio.ensure_future(asyncio.to_thread(kv.end_load))
            await asyncio.shield(self._loading)
        log.info("consent changes: %d records read in %.1f s (%d erasures; then %.1f s writing them to disk)",
                 self.folded, t1 - t0, self._erasures, time.perf_counter() - t1)
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
            loading, self._loading = self._loading, None
            if loading is not None:
                with contextlib.suppress(Exception):  # (its failure was start()'s)
                    await loading  # not closed under it
            closing, self._closing, self._kv = self._closing, None, None
            if closing is not None:
                closing()


def _drop(kv: KV, path: str, temp: scratch.Scratch | None) -> None:
    """Close a store and remove its files (and its temporary directory's lock)."""
    with contextlib.suppress(Exception):  # (closed already, or a store that failed to open)
        kv.close()
    if temp is not None:
        temp.remove()
    else:
        with contextlib.suppress(OSError):
            shutil.rmtree(path)


class _Withdrawn(Mapping[str, tuple[frozenset[str], float]]):
    """:attr:`Withheld.withdrawn` (its length a scan: for tests and debugging)."""

    def __init__(self, table: Withheld) -> None:
        self._t = table

    def __getitem__(self, cid: str) -> tuple[frozenset[str], float]:
        v = self._t._get(_WITHDRAWN, cid)
        if v is None:
            raise KeyError(cid)
        names = v[_TIME.size:].partition(_BOUNCED)[0]
        return self._t._channels(names) if names else frozenset(), _TIME.unpack_from(v)[0]

    def __iter__(self) -> Iterator[str]:
        return (cid for cid, _ in self._t._scan(_WITHDRAWN))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Erased(Mapping[str, float]):
    """:attr:`Withheld.erased` (its length a scan: for tests and debugging)."""

    def __init__(self, table: Withheld) -> None:
        self._t = table

    def __getitem__(self, cid: str) -> float:
        v = self._t._get(_ERASED, cid)
        if v is None:
            raise KeyError(cid)
        return float(_TIME.unpack(v)[0])

    def __iter__(self) -> Iterator[str]:
        return (cid for cid, _ in self._t._scan(_ERASED))

    def __len__(self) -> int:
        return sum(1 for _ in self)
