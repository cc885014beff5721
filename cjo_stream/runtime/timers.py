"""Durable timers of one partition: a changelogged table plus an index of due times.

The table (key: customer, journey, instance, seq) is the durable record; the index of due times is
derived from it when the partition is opened. A due timer is handed to the customer's own stream as a
message (so the customer's partition stays the single writer of its state) and marked in flight until
that message is processed and the timer deleted. If the worker dies in between, the timer is still in
the table and fires again after recovery; the engine ignores a timer whose instance has moved on, so a
timer acts once.

**Where the index lives.** With the RocksDB store the index is kept in the same database, under keys
``\\x00 + due (ms, 8 bytes big-endian) + timer key`` that no customer's key can take (ids have no control
characters), so it is read in due order and costs no memory: pending timers are state, and state is on
disk. (An in-memory heap of every pending timer cost ~160 B each, and entries of cancelled timers stayed
until their due time, days later: ~70 KB/s of growth at 2,000 events/s with the example journeys.) The
index is not changelogged: it is rebuilt from the table on open, so it always matches the restored
timers. With the memory store everything is in memory anyway, and a heap serves (cancelled entries are
dropped when they outnumber the live ones).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

import msgspec

from cjo_stream.engine import Timer
from cjo_stream.kv import GROUP_SEP, KV

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Timer)

DUE = b"\x00"
"""Prefix of the due-index keys in an ordered store."""


def encode_timer(t: Timer) -> bytes:
    return _enc.encode(t)


def decode_timer(raw: bytes) -> Timer:
    return _dec.decode(raw)


def storage_key(t: Timer) -> bytes:
    """Key in the timer table: customer first (erasure deletes by prefix), unit-separator delimited so
    that no customer id can be a prefix of another's keys."""
    # customer_prefix(t.customer_id) + the rest, in one encode (a call and a concatenation less a timer)
    return f"{t.customer_id}\x1f{t.journey}\x1f{t.instance_id}\x1f{t.seq}".encode()


def customer_prefix(customer_id: str) -> bytes:
    """The key prefix shared by all timers of one customer (the group the stores index by)."""
    return customer_id.encode() + GROUP_SEP


def _ms(due: float) -> int:
    return max(0, math.ceil(due * 1000))


def due_key(due: float, key: bytes) -> bytes:
    return DUE + _ms(due).to_bytes(8, "big") + key


class TimerIndex:
    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self._inflight: set[bytes] = set()
        self.ordered = bool(getattr(kv, "ordered", False))  # RocksDB: the index lives in the store
        self._heap: list[tuple[float, bytes]] = []
        self._stale = 0  # heap entries of timers removed before they were due
        self._count = 0
        self._next = 0.0  # no index entry is due before this (0: scan next time)
        # ordered store: writes of the batch in hand, applied by flush() as two write batches (one per
        # timer cost a RocksDB write batch and a multi-get each: 7 % of a worker's CPU in a profile)
        self._pending: dict[bytes, bytes | None] = {}
        self._added: dict[str, list[bytes]] = {}  # keys of the timers in _pending by customer (remove_customer)
        if self.ordered:
            self._rebuild_index()
        else:
            for key, raw in kv.items():
                self._heap.append((decode_timer(raw).due, bytes(key)))
            heapq.heapify(self._heap)

    def _rebuild_index(self) -> None:
        """Derive the due index from the timer table (restored from the changelog, which has no index)."""
        changes: dict[bytes, bytes | None] = {}
        n = 0
        for key, raw in self.kv.items():
            if key[:1] == DUE:
                changes.setdefault(key, None)  # from before the restore: maybe stale
                continue
            changes[due_key(decode_timer(raw).due, key)] = b""
            n += 1
            if len(changes) >= 50_000:
                self.kv.write_many(changes)
                changes = {}
        if changes:
            self.kv.write_many(changes)
        # entries scheduled for deletion above may have been re-added: count what is there now
        self._count = n

    def __len__(self) -> int:
        if self.ordered:
            self.flush()
            return self._count
        return len(self.kv)

    def flush(self) -> None:
        """Apply the pending writes of an ordered store: the timers, then their index entries.

        Two write batches, not one: the store's key count then gives the number of timers exactly. A
        crash between them loses nothing (the index is not durable; it is rebuilt from the table).
        """
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        self._added = {}
        table = {k: v for k, v in pending.items() if k[:1] != DUE}
        before = len(self.kv)
        self.kv.write_many(table)
        self._count += len(self.kv) - before
        if len(table) < len(pending):
            # added=0: no multi-get for the index entries; the store's own count is then off by them,
            # which nothing reads (this index counts the timers itself, above)
            self.kv.write_many({k: v for k, v in pending.items() if k[:1] == DUE}, added=0)

    def _stored(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        return self.kv.get(key)

    def add(self, t: Timer, key: bytes | None = None) -> bytes:
        """Store a timer (``key``: its :func:`storage_key`, if the caller has it); returns the encoded
        value for the changelog."""
        raw = _enc.encode(t)  # encode_timer, due_key and _ms inline: this runs for most events that park
        if key is None:
            key = storage_key(t)
        if self.ordered:
            # timer keys are unique (an instance's seq grows with each parking); were one stored again
            # with another due time, its old index entry is found and dropped by the next scan
            pending, due = self._pending, t.due
            pending[key] = raw
            pending[DUE + max(0, math.ceil(due * 1000)).to_bytes(8, "big") + key] = b""
            self._added.setdefault(t.customer_id, []).append(key)
            if due < self._next:
                self._next = due
        else:
            self.kv.put(key, raw)
            heapq.heappush(self._heap, (t.due, key))
        return raw

    def remove(self, key: bytes) -> bool:
        """Forget a timer (fired or erased). Returns whether it existed."""
        inflight = key in self._inflight
        self._inflight.discard(key)
        raw = self._stored(key) if self.ordered else self.kv.get(key)
        if raw is None:
            return False
        if self.ordered:
            self._pending[key] = None
            self._pending[due_key(decode_timer(raw).due, key)] = None
        else:
            self.kv.delete(key)
            if not inflight:  # its heap entry stays until due: drop such entries once they dominate
                self._stale += 1
                if self._stale > 1000 and self._stale > len(self.kv):
                    self._compact()
        return True

    def _compact(self) -> None:
        self._heap = [(d, k) for d, k in self._heap if self.kv.get(k) is not None]
        heapq.heapify(self._heap)
        self._stale = 0

    def remove_customer(self, customer_id: str) -> list[bytes]:
        """Delete every timer of a customer (erasure, merge). Returns the deleted keys, in key order.

        The batch's pending writes are overlaid on the stored keys rather than flushed first: a flush
        in the middle of a batch is a write batch and a multi-get of its own (each identity merge did one).
        """
        found = {k for k, _ in self.kv.prefix(customer_prefix(customer_id))}
        found.update(self._added.get(customer_id, ()))
        pending = self._pending
        keys = sorted(k for k in found if pending.get(k, b"") is not None)  # minus those deleted since
        for k in keys:
            self.remove(k)
        return keys

    def of_customer(self, customer_id: str) -> list[Timer]:
        """Every pending timer of one customer (state API)."""
        self.flush()
        return [decode_timer(v) for _, v in self.kv.prefix(customer_prefix(customer_id))]

    def due(self, now: float, limit: int = 10_000) -> list[Timer]:
        """Timers due at or before ``now`` that are not already in flight (each returned once)."""
        if self.ordered:
            self.flush()
            return self._due_ordered(now, limit) if now >= self._next else []
        out: list[Timer] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(out) < limit:
            _, key = heapq.heappop(heap)
            if key in self._inflight:
                continue
            raw = self.kv.get(key)
            if raw is None:
                self._stale = max(0, self._stale - 1)
                continue  # already fired or erased
            self._inflight.add(key)
            out.append(decode_timer(raw))
        return out

    def _due_ordered(self, now: float, limit: int) -> list[Timer]:
        out: list[Timer] = []
        now_ms = math.floor(now * 1000)
        orphans: dict[bytes, bytes | None] = {}
        nxt = math.inf
        entries: Iterator[tuple[bytes, bytes]] = self.kv.prefix(DUE)
        for ikey, _ in entries:
            due_ms = int.from_bytes(ikey[1:9], "big")
            if due_ms > now_ms or len(out) >= limit:
                nxt = due_ms / 1000
                break
            key = ikey[9:]
            if key in self._inflight:
                continue
            raw = self.kv.get(key)
            t = decode_timer(raw) if raw is not None else None
            if t is None or _ms(t.due) != due_ms:
                orphans[ikey] = None  # its timer is gone or was stored again with another due time
                continue
            self._inflight.add(key)
            out.append(t)
        if orphans:
            self.kv.write_many(orphans)
        self._next = nxt
        return out
