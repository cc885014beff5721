"""The analytics service's durable state: one RocksDB store, its changelog, and the fold's row cache.

**Why exact.** Every processed batch is written to RocksDB as one write batch holding the changed rows,
the changed buckets *and* the input offsets they reflect (``o:<topic>:<partition>``), so after a crash
the store and its offsets agree and the consumer resumes where the store stands: nothing is lost or
counted twice. The changelog (``<app>.analytics-changelog``, one partition, compacted) is written the
same way, each flush as **one record batch** (a broker appends a batch whole), changed keys plus the
offsets last: a store rebuilt from it (a new volume) is also a consistent state with its offsets.
A clean stop leaves a checkpoint (the changelog offset the store reflects), so a restart replays only
the changelog's tail; without one the store is rebuilt from the changelog.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import msgspec

from cjo_stream.analytics.fold import BucketKey, Counters
from cjo_stream.analytics.rows import ROW_TYPES
from cjo_stream.kv import KV

_enc = msgspec.msgpack.Encoder()
_dec = {p: msgspec.msgpack.Decoder(t) for p, t in ROW_TYPES.items()}
_counters = msgspec.msgpack.Decoder(dict[str, int])
_SEP = "\x1f"


def bucket_key(k: BucketKey) -> bytes:
    return f"b:{k[0]}{_SEP}{k[1]}{_SEP}{k[2]}".encode()


def parse_bucket_key(raw: bytes) -> BucketKey:
    j, v, h = raw.decode()[2:].split(_SEP)
    return j, int(v), int(h)


def offset_key(topic: str, partition: int) -> bytes:
    return f"o:{topic}:{partition}".encode()


class RowCache(MutableMapping[str, Any]):
    """The fold's rows over a KV store: read once, kept while used, written back by :meth:`changes`.

    Rows of active instances stay cached (they are read again soon); the cache is trimmed to
    ``max_rows`` after each batch, oldest first.
    """

    def __init__(self, kv: KV, max_rows: int = 500_000) -> None:
        self.kv = kv
        self.max_rows = max_rows
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if key in self._cache:
            v = self._cache[key]
            if v is None:
                raise KeyError(key)
            return v
        raw = self.kv.get(key.encode())
        v = None if raw is None else _dec[key[0]].decode(raw)
        self._cache[key] = v
        if v is None:
            raise KeyError(key)
        return v

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        self._cache[key] = None
        self._dirty.add(key)

    def pop(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        v = self.get(key)
        if v is None:
            return default
        del self[key]
        return v

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, v in self._cache.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for v in self._cache.values() if v is not None)

    @property
    def size(self) -> int:
        """Entries held, rows and keys known to be absent alike: what ``max_rows`` bounds."""
        return len(self._cache)

    def changes(self) -> dict[bytes, bytes | None]:
        """Encoded rows changed since the last call (None: deleted); trims the cache."""
        out: dict[bytes, bytes | None] = {}
        for k in self._dirty:
            v = self._cache.get(k)
            out[k.encode()] = None if v is None else _enc.encode(v)
        self._dirty.clear()
        if len(self._cache) > self.max_rows:
            for k in list(self._cache)[: len(self._cache) - self.max_rows // 2]:
                del self._cache[k]
        return out


def decode_row(key: str, raw: bytes) -> Any:
    return _dec[key[0]].decode(raw)


def encode_row(row: Any) -> bytes:
    return _enc.encode(row)


def encode_counters(b: Counters) -> bytes:
    return _enc.encode(b)


def load(kv: KV) -> tuple[dict[BucketKey, Counters], dict[tuple[str, int], int]]:
    """Buckets (kept in memory) and input offsets from a store."""
    buckets = {parse_bucket_key(k): _counters.decode(v) for k, v in kv.prefix(b"b:")}
    offsets: dict[tuple[str, int], int] = {}
    for k, v in kv.prefix(b"o:"):
        topic, _, part = k.decode()[2:].rpartition(":")
        offsets[(topic, int(part))] = int(v)
    return buckets, offsets
