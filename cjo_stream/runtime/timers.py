"""Durable timers of one partition: a changelogged table plus an in-memory heap of due times.

The table (key: customer, journey, instance, seq) is the durable record; the heap is rebuilt from it
after a restore. A due timer is handed to the customer's own stream as a message (so the customer's
partition stays the single writer of its state) and marked in flight until that message is processed
and the timer deleted. If the worker dies in between, the timer is still in the table and fires again
after recovery; the engine ignores a timer whose instance has moved on, so a timer acts once.
"""

from __future__ import annotations

import heapq

import msgspec

from cjo_stream.engine import Timer
from cjo_stream.runtime.store import GROUP_SEP, KV

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Timer)


def encode_timer(t: Timer) -> bytes:
    return _enc.encode(t)


def decode_timer(raw: bytes) -> Timer:
    return _dec.decode(raw)


def storage_key(t: Timer) -> bytes:
    """Key in the timer table: customer first (erasure deletes by prefix), unit-separator delimited so
    that no customer id can be a prefix of another's keys."""
    return customer_prefix(t.customer_id) + f"{t.journey}\x1f{t.instance_id}\x1f{t.seq}".encode()


def customer_prefix(customer_id: str) -> bytes:
    """The key prefix shared by all timers of one customer (the group the stores index by)."""
    return customer_id.encode() + GROUP_SEP


class TimerIndex:
    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self._heap: list[tuple[float, bytes]] = []
        self._inflight: set[bytes] = set()
        for key, raw in kv.items():
            self._heap.append((decode_timer(raw).due, bytes(key)))
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self.kv)

    def add(self, t: Timer) -> bytes:
        """Store a timer; returns the encoded value for the changelog."""
        raw = encode_timer(t)
        key = storage_key(t)
        self.kv.put(key, raw)
        heapq.heappush(self._heap, (t.due, key))
        return raw

    def remove(self, key: bytes) -> bool:
        """Forget a timer (fired or erased). Returns whether it existed."""
        self._inflight.discard(key)
        existed = self.kv.get(key) is not None
        if existed:
            self.kv.delete(key)
        return existed

    def remove_customer(self, customer_id: str) -> list[bytes]:
        """Delete every timer of a customer (erasure, merge). Returns the deleted keys."""
        keys = [bytes(k) for k, _ in self.kv.prefix(customer_prefix(customer_id))]
        for k in keys:
            self.remove(k)
        return keys

    def of_customer(self, customer_id: str) -> list[Timer]:
        """Every pending timer of one customer (state API)."""
        return [decode_timer(v) for _, v in self.kv.prefix(customer_prefix(customer_id))]

    def due(self, now: float, limit: int = 10_000) -> list[Timer]:
        """Timers due at or before ``now`` that are not already in flight (each returned once)."""
        out: list[Timer] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(out) < limit:
            _, key = heapq.heappop(heap)
            if key in self._inflight:
                continue
            raw = self.kv.get(key)
            if raw is None:
                continue  # already fired or erased
            self._inflight.add(key)
            out.append(decode_timer(raw))
        return out

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None
