"""State for a long replay: the most recently used entries in memory, the rest spilled to RocksDB on disk.

A month of history has millions of customers, deliveries and journey instances. As Python objects a
profile takes a few kilobytes and an analytics row a few hundred bytes; encoded, a few hundred and a few
dozen. A replay keeps ``budget`` entries of each live (least recently used order: most customers are
active in bursts) and writes the others, encoded, to a temporary RocksDB within the process's RocksDB
memory budget (``CJO_ROCKSDB_MEMORY_MB``), deleted when the replay ends. 5,000,000 events from ~800,000
customers took 2.5 GiB with profiles alone spilling, and the analytics rows and RocksDB's default
memtables unbounded (``make bench``, replay section).

Equivalent to a dict for its users: an entry is evicted only when a new key comes in and ``budget``
others were used since it was, so a caller never holds an evicted object (the analytics fold mutates
rows in place and writes them back within one call), and an evicted entry is encoded as it stands.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

from cjo_stream.analytics.state import decode_row, encode_row
from cjo_stream.kv import RocksKV
from cjo_stream.profile import Profile, decode_profile, encode_profile

V = TypeVar("V")


class Spilling(MutableMapping[str, V], Generic[V]):
    """A ``dict[str, V]`` that keeps at most ``budget`` values in memory and the rest on disk."""

    def __init__(self, budget: int, encode: Callable[[V], bytes], decode: Callable[[str, bytes], V],
                 directory: str | None = None) -> None:
        if budget < 1:
            raise ValueError("the in-memory budget must be at least one entry")
        self.budget = budget
        self._encode, self._decode = encode, decode
        # an OrderedDict, not a dict: evicting takes the first entry, and a dict popped from the front keeps
        # the holes, so ``next(iter(d))`` scans past them, ever longer (a third of a 5 M replay's time)
        self._live: OrderedDict[str, V] = OrderedDict()
        self._dir = tempfile.mkdtemp(prefix="cjo-replay-", dir=directory)
        self._disk = RocksKV(self._dir, counted=False, wal=False)  # scratch: never reopened
        self._on_disk = 0
        self.spilled = 0  # entries written to disk (evictions), for the report

    def __getitem__(self, key: str) -> V:
        live = self._live
        v = live.get(key)
        if v is not None:
            live.move_to_end(key)  # most recently used last
            return v
        v = self._load(key)
        if v is None:
            raise KeyError(key)
        self._make_room()
        live[key] = v
        return v

    def get(self, key: str, default: Any = None) -> Any:
        # called for every event and timer: a live value, or an unknown key while nothing has spilled,
        # is answered without the KeyError (or the disk lookup) of ``self[key]``
        live = self._live
        v = live.get(key)
        if v is not None:
            live.move_to_end(key)  # most recently used last
            return v
        if not self._on_disk:
            return default
        v = self._load(key)
        if v is None:
            return default
        self._make_room()
        live[key] = v
        return v

    def _load(self, key: str) -> V | None:
        """The spilled value of ``key``, taken off the disk (it is live from now on), or None."""
        k = key.encode()
        raw = self._disk.get(k)
        if raw is None:
            return None
        self._disk.delete(k)
        self._on_disk -= 1
        return self._decode(key, bytes(raw))

    def __setitem__(self, key: str, value: V) -> None:
        live = self._live
        if key in live:
            live.move_to_end(key)
        else:
            if self._on_disk and self._disk.get(key.encode()) is not None:
                self._disk.delete(key.encode())
                self._on_disk -= 1
            self._make_room()
        live[key] = value

    def __delitem__(self, key: str) -> None:
        if self._live.pop(key, None) is not None:
            return
        if not self._on_disk or self._disk.get(key.encode()) is None:
            raise KeyError(key)
        self._disk.delete(key.encode())
        self._on_disk -= 1

    def _make_room(self) -> None:
        live = self._live
        while len(live) >= self.budget:
            oldest, value = live.popitem(last=False)
            self._disk.put(oldest.encode(), self._encode(value))
            self._on_disk += 1
            self.spilled += 1

    def __iter__(self) -> Iterator[str]:
        yield from list(self._live)
        for k, _ in self._disk.items():
            yield k.decode()

    def __len__(self) -> int:
        return len(self._live) + self._on_disk

    def close(self) -> None:
        """Delete the on-disk part (a replay's state is scratch)."""
        self._disk.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def spilling_profiles(budget: int, directory: str | None = None) -> Spilling[Profile]:
    """Profiles, spilled as the workers store them."""
    return Spilling(budget, encode_profile, lambda _key, raw: decode_profile(raw), directory)


def spilling_rows(budget: int, directory: str | None = None) -> Spilling[Any]:
    """The analytics fold's per-instance, per-delivery and per-customer rows (typed by key prefix, as the
    analytics service stores them)."""
    return Spilling(budget, encode_row, decode_row, directory)
