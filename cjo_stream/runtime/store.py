"""Per-partition key-value stores backing the changelogged tables (RocksDB via rocksdict, or memory).

The changelog topic is the source of truth; the local store is a cache of it. A store that was closed
cleanly records the changelog offset it reflects (a checkpoint, as Kafka Streams does), so a restart
only replays the changelog tail; without a checkpoint (a crash) the partition is wiped and rebuilt
from the changelog, which can never double-apply a write.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any, Protocol


class KV(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def write_many(self, changes: dict[bytes, bytes | None]) -> None: ...
    def items(self) -> Iterator[tuple[bytes, bytes]]: ...
    def prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def __len__(self) -> int: ...
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

    def write_many(self, changes: dict[bytes, bytes | None]) -> None:
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

    def __len__(self) -> int:
        return len(self._d)

    def close(self) -> None:
        pass


class RocksMemory:
    """One memory budget for every RocksDB store of a process: a shared block cache that memtables are
    charged to (RocksDB's write buffer manager), as Kafka Streams' bounded-memory config does.

    Why: by default each store has its own 64 MiB memtables (two of them while one flushes) and its own
    block cache, so a worker with 16 stores (8 partitions x profiles, timers) grew towards a GiB of RSS
    as the memtables filled, and nothing bounded it by configuration. Half the budget may hold unflushed
    writes; the rest caches blocks (index and filter blocks included, so open files cost no extra).
    Reads beyond it go to the OS page cache, which is not the process's resident memory.
    """

    def __init__(self, budget: int) -> None:
        from rocksdict import Cache, WriteBufferManager

        self.budget = budget
        self.cache = Cache(budget)
        self.buffers = WriteBufferManager.new_write_buffer_manager_with_cache(budget // 2, False, self.cache)

    def options(self) -> Any:
        from rocksdict import BlockBasedOptions, Options

        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_write_buffer_manager(self.buffers)
        opts.set_write_buffer_size(max(1 << 20, min(8 << 20, self.budget // 8)))
        table = BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_bloom_filter(10, False)  # a new customer's profile read is a miss: answered by the filter
        opts.set_block_based_table_factory(table)
        return opts

    def usage(self) -> dict[str, int]:
        """Bytes in use: memtables (charged to the cache) and the whole cache including them."""
        return {"memtables": int(self.buffers.get_usage()), "block_cache": int(self.cache.get_usage())}


class RocksKV:
    """A rocksdict database in raw-bytes mode (no pickling)."""

    ordered = True  # prefix() reads keys in order without a scan (the timer index relies on it)

    def __init__(self, path: str, memory: RocksMemory | None = None) -> None:
        from rocksdict import Options, Rdict

        if memory is not None:
            opts = memory.options()
        else:
            opts = Options(raw_mode=True)
            opts.create_if_missing(True)
        self._db = Rdict(path, options=opts)
        self._n = sum(1 for _ in self._db.keys())

    def get(self, key: bytes) -> bytes | None:
        v = self._db.get(key)
        return v if v is None else bytes(v)

    def put(self, key: bytes, value: bytes) -> None:
        if self._db.get(key) is None:
            self._n += 1
        self._db[key] = value

    def delete(self, key: bytes) -> None:
        if self._db.get(key) is not None:
            self._n -= 1
            del self._db[key]

    def write_many(self, changes: dict[bytes, bytes | None]) -> None:
        """Apply puts (and deletes: ``None``) as one RocksDB write batch (restore: ~2.5x faster than puts)."""
        from rocksdict import WriteBatch

        keys = list(changes)
        existing: list[Any] = self._db[keys]  # type: ignore[assignment,index]  # one multi-get keeps the count exact
        wb = WriteBatch(raw_mode=True)
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

    def __len__(self) -> int:
        return self._n

    def close(self) -> None:
        self._db.close()


class StoreFactory:
    """Opens one store per (table, partition) and manages checkpoints.

    ``memory_bytes``: the RocksDB memory budget shared by every store it opens (:class:`RocksMemory`).
    """

    def __init__(self, kind: str, data_dir: str, memory_bytes: int = 64 << 20) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.memory = RocksMemory(memory_bytes) if kind == "rocksdb" else None

    def _path(self, table: str, partition: int) -> str:
        return os.path.join(self.data_dir, f"{table}-{partition}")

    def open(self, table: str, partition: int) -> tuple[KV, int]:
        """Open the store and return it with the next changelog offset to replay from (0: all)."""
        if self.kind == "memory":
            return MemoryKV(), 0
        path = self._path(table, partition)
        ckpt = path + ".checkpoint"
        start = 0
        if os.path.exists(ckpt):
            with open(ckpt) as f:
                start = int(f.read().strip() or 0)
            os.remove(ckpt)  # a checkpoint is valid for exactly one open: a crash after this must rebuild
        elif os.path.exists(path):
            shutil.rmtree(path)
        os.makedirs(self.data_dir, exist_ok=True)
        return RocksKV(path, self.memory), start

    def close(self, table: str, partition: int, kv: KV, next_offset: int | None) -> None:
        kv.close()
        if self.kind != "memory" and next_offset is not None:
            with open(self._path(table, partition) + ".checkpoint", "w") as f:
                f.write(str(next_offset))
