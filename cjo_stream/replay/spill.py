"""State for a long replay: the most recently used entries in memory, the rest spilled to RocksDB on disk.

A month of history has millions of customers, deliveries and journey instances. As Python objects a
profile takes a few kilobytes and an analytics row a few hundred bytes; encoded, a few hundred and a few
dozen. A replay keeps ``budget`` entries of each live (least recently used order: most customers are
active in bursts) and writes the others, encoded, to a temporary RocksDB within the process's RocksDB
memory budget (``CJO_ROCKSDB_MEMORY_MB``), deleted when the replay ends. 5,000,000 events from ~800,000
customers took 2.5 GiB with profiles alone spilling, and the analytics rows and RocksDB's default
memtables unbounded (``make bench``, replay section).

Equivalent to a dict for its users: an entry is evicted only when a new key comes in, so a caller that
mutates a value it just read and writes it back (the analytics fold) or makes no other new key meanwhile
(the simulator's profiles) never loses a change, and an evicted entry is encoded as it stands.

Until the budget is first reached (a replay whose customers fit in memory: the common case) nothing is
ordered: the values sit in a plain ``dict`` and :meth:`get` is that dict's own, with no Python call per
lookup nor recency bookkeeping (4 lookups and 2 writes an event; ~6 % of a replay's instructions with the
``OrderedDict``). When the budget is reached, the entries go into the least-recently-used order by first
insertion, and are ordered by use from then on.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

from cjo_stream.analytics.state import decode_row, encode_row
from cjo_stream.kv import RocksKV
from cjo_stream.profile import Profile, decode_profile, encode_profile

V = TypeVar("V")
_MISSING: Any = object()
#: The name of a spill store's directory starts with this and the process id: ``cjo-replay-<pid>-...``.
PREFIX = "cjo-replay-"


def _own_prefix() -> str:
    return f"{PREFIX}{os.getpid()}-"


class Spilling(MutableMapping[str, V], Generic[V]):
    """A ``dict[str, V]`` that keeps at most ``budget`` values in memory and the rest on disk."""

    def __init__(self, budget: int, encode: Callable[[V], bytes], decode: Callable[[str, bytes], V],
                 directory: str | None = None) -> None:
        if budget < 1:
            raise ValueError("the in-memory budget must be at least one entry")
        self.budget = budget
        self._encode, self._decode = encode, decode
        # an OrderedDict once full, not a dict: evicting takes the first entry, and a dict popped from the
        # front keeps the holes, so ``next(iter(d))`` scans past them, ever longer (a third of a 5 M
        # replay's time). Until then a plain dict, whose ``get`` answers for this object's (see above).
        self._live: dict[str, V] = {}
        self._ordered = False
        self.get = self._live.get  # type: ignore[method-assign,assignment]
        # the store on disk is made at the first eviction: a replay whose customers fit in memory (the common
        # case) opened two RocksDB stores per topology for nothing, and an unclosed one (tests build replays
        # without closing them) left its directory in the temporary directory
        self._directory = directory
        self._dir: str | None = None
        self._disk: RocksKV | None = None
        self._on_disk = 0
        self.spilled = 0  # entries written to disk (evictions), for the report

    def __getitem__(self, key: str) -> V:
        live = self._live
        v = live.get(key)
        if v is not None:
            if self._ordered:
                live.move_to_end(key)  # type: ignore[attr-defined]  # most recently used last
            return v
        v = self._load(key)
        if v is None:
            raise KeyError(key)
        self._make_room()
        live[key] = v
        return v

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        # (once ordered; before, the plain dict's own ``get`` is this object's) called for every event and
        # timer: a live value, or an unknown key while nothing has spilled, is answered without the
        # KeyError (or the disk lookup) of ``self[key]``
        live = self._live
        v = live.get(key)
        if v is not None:
            live.move_to_end(key)  # type: ignore[attr-defined]  # most recently used last
            return v
        if not self._on_disk:
            return default
        v = self._load(key)
        if v is None:
            return default
        self._make_room()
        live[key] = v
        return v

    def _store(self) -> RocksKV:
        """The store on disk, made at the first call."""
        disk = self._disk
        if disk is None:
            self._dir = tempfile.mkdtemp(prefix=_own_prefix(), dir=self._directory)
            disk = self._disk = RocksKV(self._dir, counted=False, wal=False)  # scratch: never reopened
        return disk

    def _load(self, key: str) -> V | None:
        """The spilled value of ``key``, taken off the disk (it is live from now on), or None."""
        k = key.encode()
        disk = self._store()
        raw = disk.get(k)
        if raw is None:
            return None
        disk.delete(k)
        self._on_disk -= 1
        return self._decode(key, bytes(raw))

    def __setitem__(self, key: str, value: V) -> None:
        live = self._live
        if not self._ordered:
            if len(live) < self.budget or key in live:
                live[key] = value  # nothing spilled yet, and there is room: a dict
                return
            self._order()
            live = self._live
        if key in live:
            live.move_to_end(key)  # type: ignore[attr-defined]
        else:
            if self._on_disk and self._store().get(key.encode()) is not None:
                self._store().delete(key.encode())
                self._on_disk -= 1
            self._make_room()
        live[key] = value

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        """As a dict's (``MutableMapping.pop`` looked on disk for every key that is not live)."""
        v = self._live.pop(key, None)
        if v is not None:
            return v
        if self._on_disk:
            v = self._load(key)
            if v is not None:
                return v
        if default is _MISSING:
            raise KeyError(key)
        return default

    def __delitem__(self, key: str) -> None:
        if self._live.pop(key, None) is not None:
            return
        if not self._on_disk or self._store().get(key.encode()) is None:
            raise KeyError(key)
        self._store().delete(key.encode())
        self._on_disk -= 1

    def _order(self) -> None:
        """The budget is reached: from now on the entries are kept in least-recently-used order."""
        self._live = OrderedDict(self._live)
        self._ordered = True
        del self.get  # the ordered lookup (the class's method) from now on

    def _make_room(self) -> None:
        live = self._live
        if len(live) < self.budget:
            return
        disk = self._store()
        while len(live) >= self.budget:
            oldest, value = live.popitem(last=False)  # type: ignore[call-arg]
            disk.put(oldest.encode(), self._encode(value))
            self._on_disk += 1
            self.spilled += 1

    def __iter__(self) -> Iterator[str]:
        yield from list(self._live)
        if self._disk is not None:
            for k, _ in self._disk.items():
                yield k.decode()

    def __len__(self) -> int:
        return len(self._live) + self._on_disk

    def close(self) -> None:
        """Delete the on-disk part (a replay's state is scratch), if one was made."""
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def spilling_profiles(budget: int, directory: str | None = None) -> Spilling[Profile]:
    """Profiles, spilled as the workers store them."""
    return Spilling(budget, encode_profile, lambda _key, raw: decode_profile(raw), directory)


def spilling_rows(budget: int, directory: str | None = None) -> Spilling[Any]:
    """The analytics fold's per-instance, per-delivery and per-customer rows (typed by key prefix, as the
    analytics service stores them)."""
    return Spilling(budget, encode_row, decode_row, directory)


def sweep(directory: str | None = None) -> tuple[int, int]:
    """Delete the spill stores of replays that died without deleting them; returns (stores, bytes) freed.

    A replay deletes its stores when it ends, even on Ctrl-C or an error; SIGKILL (the kernel's out-of-memory
    killer, ``kill -9``) leaves them, and a long replay's are gigabytes. A store is left over when no process
    holds its RocksDB ``LOCK`` file: RocksDB holds an fcntl lock on it while the store is open, and the kernel
    drops the lock with the process, in any container on the same machine. This process's own stores (its
    pid in the name: taking their lock here would drop RocksDB's own, locks being per process) are kept, and
    so is a directory without a ``LOCK`` file (a store being made: RocksDB locks the file as it creates it).
    """
    root = directory or tempfile.gettempdir()
    mine = _own_prefix()
    try:
        names = os.listdir(root)
    except OSError:
        return 0, 0
    removed = freed = 0
    for name in names:
        if name.startswith(PREFIX) and not name.startswith(mine):
            size = _remove_if_left(os.path.join(root, name))
            if size >= 0:
                removed += 1
                freed += size
    return removed, freed


def _remove_if_left(path: str) -> int:
    """Delete the store at ``path`` if no process holds it; its size in bytes, or -1 if it was kept."""
    try:
        fd = os.open(os.path.join(path, "LOCK"), os.O_RDWR)
    except OSError:
        return -1  # not a store (or not yet one), or not ours to open
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return -1  # open: a replay is running
        size = _size(path)
        shutil.rmtree(path, ignore_errors=True)
        return -1 if os.path.exists(path) else size
    finally:
        os.close(fd)


def _size(path: str) -> int:
    total = 0
    for top, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(top, f)).st_size
            except OSError:
                pass
    return total
