"""Local key-value stores backing changelogged tables (RocksDB via rocksdict, or memory), with checkpoints.

The changelog topic is the source of truth; the local store is a cache of it. A store that was closed
cleanly records the changelog offset it reflects (a checkpoint, as Kafka Streams does), so a restart
only replays the changelog tail; without a checkpoint (a crash) the partition is wiped and rebuilt
from the changelog, which can never double-apply a write.

Memory is bounded per process, not per store (Kafka Streams' "bounded memory" RocksDB config): every
RocksDB store of the process shares one block cache, and memtables are charged to that cache by one
write buffer manager, so a process holding millions of keys on disk keeps a fixed budget in RAM
(``CJO_ROCKSDB_MEMORY_MB``; measured in ``make bench``, "Identity at scale"). Shared by the worker's
profile, timer and alias stores and the adapters' sent-record.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import shutil
from collections.abc import Iterator
from typing import Any, Final, Protocol

from cjo_stream.libc import load as load_libc

#: Default RAM budget (MiB) of all RocksDB stores of one process: block cache incl. memtables.
#: Reads beyond it come from the OS page cache (not counted in the process's RSS). Settings.rocksdb_memory_mb.
DEFAULT_MEMORY_MB: Final = 64

log = logging.getLogger("cjo_stream.kv")


def _remove(path: str) -> None:
    """Delete a store's directory (or whatever else sits at its path)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


class KV(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def write_many(self, changes: dict[bytes, bytes | None], *, added: int | None = None) -> None: ...
    def items(self) -> Iterator[tuple[bytes, bytes]]: ...
    def prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def page(self, start: bytes, limit: int) -> list[tuple[bytes, bytes]]: ...
    def __len__(self) -> int: ...
    def begin_load(self) -> None: ...
    def end_load(self) -> None: ...
    def close(self) -> None: ...


GROUP_SEP = b"\x1f"
"""Composite keys are ``<customer>\x1f<rest>``; stores can find one customer's keys without a scan."""


class MemoryKV:
    """A dict plus an index of keys by their group (the part before the first ``GROUP_SEP``).

    The index exists because erasure and identity merges look up all timers of one customer: a
    linear scan over every pending timer made that O(timers) per merge (1.9 s of a 20 s profile).
    """

    def __init__(self) -> None:
        self._d: dict[bytes, bytes] = {}
        self._groups: dict[bytes, set[bytes]] = {}

    def _index(self, key: bytes) -> None:
        i = key.find(GROUP_SEP)
        if i >= 0:
            self._groups.setdefault(key[:i], set()).add(key)

    def _unindex(self, key: bytes) -> None:
        i = key.find(GROUP_SEP)
        if i >= 0:
            group = self._groups.get(key[:i])
            if group is not None:
                group.discard(key)
                if not group:
                    del self._groups[key[:i]]

    def get(self, key: bytes) -> bytes | None:
        return self._d.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self._d:
            self._index(key)
        self._d[key] = value

    def delete(self, key: bytes) -> None:
        if self._d.pop(key, None) is not None:
            self._unindex(key)

    def write_many(self, changes: dict[bytes, bytes | None], *, added: int | None = None) -> None:
        """Apply puts (and deletes: ``None``); ``added`` is for :meth:`RocksKV.write_many`'s sake (the
        count here is the dict's, always exact)."""
        for k, v in changes.items():
            if v is None:
                self.delete(k)
            else:
                self.put(k, v)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._d.items()))

    def prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        i = prefix.find(GROUP_SEP)
        if i >= 0 and i == len(prefix) - 1:
            keys = sorted(self._groups.get(prefix[:i], ()))
            return iter([(k, self._d[k]) for k in keys])
        return iter(sorted((k, v) for k, v in self._d.items() if k.startswith(prefix)))

    def page(self, start: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` items with keys ``>= start``, in key order: a scan resumable across awaits
        (the store may be written, even closed, between pages). O(n) a page here: tests and the demo."""
        keys = heapq.nsmallest(limit, (k for k in self._d if k >= start))
        return [(k, self._d[k]) for k in keys]

    def __len__(self) -> int:
        return len(self._d)

    def begin_load(self) -> None:
        pass

    def end_load(self) -> None:
        pass

    def close(self) -> None:
        pass


class RocksMemory:
    """One memory budget for every RocksDB store of a process: a shared block cache that memtables are
    charged to (RocksDB's write buffer manager), as Kafka Streams' bounded-memory config does.

    Why: by default each store has its own 64 MiB memtables (two of them while one flushes) and its own
    block cache, so a worker with 16 stores (8 partitions x profiles, timers) grew towards a GiB of RSS
    as the memtables filled, and restoring 5 M aliases added 400 MiB; nothing bounded it by
    configuration. Half the budget may hold unflushed writes; the rest caches blocks (index and filter
    blocks included, so open files cost no extra). Reads beyond it go to the OS page cache, which is
    not the process's resident memory.
    """

    def __init__(self, budget: int) -> None:
        from rocksdict import Cache, WriteBufferManager

        self.budget = budget
        self.cache = Cache(budget)
        self.buffers = WriteBufferManager.new_write_buffer_manager_with_cache(budget // 2, False, self.cache)

    def usage(self) -> dict[str, int]:
        """Bytes in use: memtables (charged to the cache) and the whole cache including them."""
        return {"memtables": int(self.buffers.get_usage()), "block_cache": int(self.cache.get_usage())}


_budget: dict[str, RocksMemory] = {}
#: RocksDB's default number of level-0 files that starts a compaction (level0_file_num_compaction_trigger).
_L0_COMPACTION_TRIGGER: Final = 4


def memory_budget(budget: int | None = None) -> RocksMemory:
    """The process-wide budget, made on first use with ``budget`` bytes (else ``CJO_ROCKSDB_MEMORY_MB``,
    else ``DEFAULT_MEMORY_MB``); later callers share it, whatever they ask for."""
    if "process" not in _budget:
        mb = int(os.environ.get("CJO_ROCKSDB_MEMORY_MB") or DEFAULT_MEMORY_MB)
        _budget["process"] = RocksMemory(budget or mb << 20)
    return _budget["process"]


def release_memory() -> None:
    """Hand memory freed after a large restore back to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Restoring millions of records allocates fetch buffers and record objects that are freed afterwards,
    but the C allocator keeps the pages, so the process's RSS stayed at the restore's peak for good.
    """
    libc = load_libc()  # (found once: find_library may run a subprocess)
    with contextlib.suppress(AttributeError, TypeError):  # not glibc, or no libc at all
        libc.malloc_trim(0)


class RocksKV:
    """A rocksdict database in raw-bytes mode (no pickling), within the process's memory budget.

    ``counted``: keep an exact key count (a scan at open, a multi-get per write batch); without it
    ``len()`` is RocksDB's estimate, and opening a store of millions of keys costs nothing.
    ``ttl``: keys older than this many seconds (since written here) are dropped at compaction.
    ``memory``: the budget it counts against (default: the process's).
    ``wal``: write RocksDB's write-ahead log. :class:`StoreFactory` turns it off: its stores are wiped
    after a crash anyway (rebuilt from the changelog), so the log would only be written, never read,
    and writing it cost ~20 µs a write batch (half of one; measured with 12 profiles of 500 bytes).
    A clean :meth:`close` flushes the memtables to disk, which is all a checkpoint needs.
    """

    ordered = True  # prefix() reads keys in order without a scan (the timer index relies on it)

    def __init__(self, path: str, memory: RocksMemory | None = None, *, counted: bool = True,
                 ttl: float | None = None, wal: bool = True) -> None:
        from rocksdict import AccessType, BlockBasedIndexType, BlockBasedOptions, Options, Rdict, WriteOptions

        memory = memory or memory_budget()
        cache, wbm = memory.cache, memory.buffers
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(cache)
        table.set_cache_index_and_filter_blocks(True)  # index blocks count against the budget too
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        # a full bloom filter (10 bits a key, ~1 % false positives): most lookups are of keys that are not
        # there (a new customer, a link, a delivery id not sent yet), which otherwise read every L0 file
        # and level; with 5 M sent ids the webhook adapter ran 4x slower without it (make bench)
        table.set_bloom_filter(10, False)
        # index and filter in 4 KiB partitions under a small pinned top level (RocksDB's "partitioned
        # index/filters"): a store of 1.25 M keys compacted into one file has a 1.5 MiB filter and a ~1 MiB
        # index, more than one shard of the cache (64 shards), so they were never kept and every lookup read
        # and parsed them again: 150 µs a get instead of 2, the webhook adapter at half speed with 5 M sent
        # ids (make bench, "Adapter sent-record at scale")
        table.set_index_type(BlockBasedIndexType.two_level_index_search())
        table.set_partition_filters(True)
        table.set_metadata_block_size(4096)
        table.set_pin_top_level_index_and_filter(True)
        opts.set_block_based_table_factory(table)
        opts.set_write_buffer_manager(wbm)
        opts.set_write_buffer_size(8 * 1024 * 1024)
        opts.set_max_write_buffer_number(2)
        opts.set_keep_log_file_num(2)
        access = AccessType.with_ttl(int(ttl)) if ttl else AccessType.read_write()
        try:
            self._db = Rdict(path, options=opts, access_type=access)
        except Exception as e:  # rocksdict's own: "File exists (os error 17)", naming no store
            # the same type, its message first ("Corruption: ..." is how a damaged store is told apart)
            raise type(e)(f"{e} (the RocksDB store at {path})") from None
        if not wal:
            writes = WriteOptions()
            writes.disable_wal = True  # type: ignore[method-assign,assignment]  # a property (the stub says method)
            self._db.set_write_options(writes)
        self.counted = counted
        self._n = sum(1 for _ in self._db.keys()) if counted else 0

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)  # type: ignore[no-any-return]  # raw mode: bytes as stored

    def put(self, key: bytes, value: bytes) -> None:
        if self.counted and self._db.get(key) is None:
            self._n += 1
        self._db[key] = value

    def delete(self, key: bytes) -> None:
        if not self.counted:
            del self._db[key]
        elif self._db.get(key) is not None:
            self._n -= 1
            del self._db[key]

    def write_many(self, changes: dict[bytes, bytes | None], *, added: int | None = None) -> None:
        """Apply puts (and deletes: ``None``) as one RocksDB write batch (restore: ~2.5x faster than puts).

        ``added``: how many keys the changes add to the store (negative: remove), when the caller knows
        (the customers' batch step read every key it writes). A counted store otherwise finds out with
        a multi-get of every key, which copies each old value only to see whether it is there.
        """
        from rocksdict import WriteBatch

        wb = WriteBatch(raw_mode=True)
        if not self.counted or added is not None:
            for k, v in changes.items():
                if v is None:
                    wb.delete(k)
                else:
                    wb.put(k, v)
            self._db.write(wb)
            if self.counted and added is not None:
                self._n += added
            return
        keys = list(changes)
        existing: list[Any] = self._db[keys]  # type: ignore[assignment,index]  # one multi-get keeps the count exact
        for k, old in zip(keys, existing, strict=True):
            v = changes[k]
            if v is None:
                if old is not None:
                    wb.delete(k)
                    self._n -= 1
            else:
                wb.put(k, v)
                if old is None:
                    self._n += 1
        self._db.write(wb)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for k, v in self._db.items():
            yield bytes(k), bytes(v)  # type: ignore[arg-type]

    def prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for k, v in self._db.items(from_key=prefix):
            key = bytes(k)  # type: ignore[arg-type]
            if not key.startswith(prefix):
                break
            yield key, bytes(v)

    def page(self, start: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` items with keys ``>= start``, in key order (see :meth:`MemoryKV.page`)."""
        out: list[tuple[bytes, bytes]] = []
        for k, v in self._db.items(from_key=start):
            out.append((bytes(k), bytes(v)))  # type: ignore[arg-type]
            if len(out) >= limit:
                break
        return out

    def __len__(self) -> int:
        if self.counted:
            return self._n
        return int(self._db.property_int_value("rocksdb.estimate-num-keys") or 0)

    def begin_load(self) -> None:
        """A bulk load (a restore) follows: no compactions until :meth:`end_load` (RocksDB's bulk-load advice).

        Why: keys restored in random order (delivery ids, uuids) overlap every file, so each automatic
        compaction during a restore rewrote the whole store so far — on 2 cores competing with the read —
        and one more was still running after it, in the first seconds of work (5 M sent ids: 2-3 s of a
        core while the webhook adapter sent, at half its rate; make bench).
        """
        self._db.set_options({"disable_auto_compactions": "true"})

    def end_load(self) -> None:
        """After :meth:`begin_load`: memtables to disk (none left over the process's budget), one compaction
        if the load left enough files for one, compactions on again. Blocks for seconds after millions of
        keys (rocksdict releases the GIL: run it in a thread)."""
        try:
            self._db.flush()
            if (self._db.property_int_value("rocksdb.num-files-at-level0") or 0) >= _L0_COMPACTION_TRIGGER:
                self._db.compact_range(None, None)
        finally:
            self._db.set_options({"disable_auto_compactions": "false"})

    def close(self) -> None:
        self._db.flush()  # what a checkpoint promises is on disk, with or without the write-ahead log
        self._db.close()


class StoreFactory:
    """Opens one store per (table, partition) and manages checkpoints.

    ``memory_bytes``: the process's RocksDB budget, if this is the first to ask (:func:`memory_budget`).
    """

    def __init__(self, kind: str, data_dir: str, memory_bytes: int | None = None) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.memory = memory_budget(memory_bytes) if kind == "rocksdb" else None

    def _path(self, table: str, partition: int) -> str:
        return os.path.join(self.data_dir, f"{table}-{partition}")

    def open(self, table: str, partition: int, *, counted: bool = True,
             ttl: float | None = None) -> tuple[KV, int]:
        """Open the store and return it with the next changelog offset to replay from (0: all).

        ``counted`` and ``ttl``: see :class:`RocksKV` (the memory store is always counted, never expires).
        """
        if self.kind == "memory":
            return MemoryKV(), 0
        path = self._path(table, partition)
        ckpt = path + ".checkpoint"
        start = 0
        checkpointed = os.path.exists(ckpt)
        if checkpointed:
            with open(ckpt) as f:
                text = f.read().strip()
            os.remove(ckpt)  # a checkpoint is valid for exactly one open: a crash after this must rebuild
            if text.isdigit():
                start = int(text)
            else:  # a damaged checkpoint names no offset: rebuild as after a crash
                log.warning("store %s: its checkpoint is damaged (%r); rebuilding it from the changelog", path, text[:40])
                checkpointed = False
        if not checkpointed:
            _remove(path)
        os.makedirs(self.data_dir, exist_ok=True)
        # no write-ahead log: a store without a checkpoint was wiped above, so nothing ever replays one
        try:
            return RocksKV(path, self.memory, counted=counted, ttl=ttl, wal=False), start
        except Exception as e:  # rocksdict raises plain Exceptions, "Corruption: ..." for damaged files
            if not (checkpointed and str(e).startswith("Corruption")):
                raise
            # a damaged store (a disk fault, a volume copied while written): the changelog holds all of it
            log.warning("store %s is damaged (%s); rebuilding it from the changelog", path, e)
        _remove(path)
        return RocksKV(path, self.memory, counted=counted, ttl=ttl, wal=False), 0

    def close(self, table: str, partition: int, kv: KV, next_offset: int | None) -> None:
        kv.close()
        if self.kind != "memory" and next_offset is not None:
            with open(self._path(table, partition) + ".checkpoint", "w") as f:
                f.write(str(next_offset))
