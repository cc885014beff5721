"""Both local stores answer the same questions the same way (the memory store indexes by customer)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from cjo_stream.kv import KV, MemoryKV, RocksKV


@pytest.fixture(params=["memory", "rocksdb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> KV:
    if request.param == "memory":
        return MemoryKV()
    return RocksKV(str(tmp_path / "db"))


def test_prefix_finds_exactly_one_customers_keys(kv: KV) -> None:
    rng = random.Random(7)
    expected: dict[str, dict[bytes, bytes]] = {}
    for i in range(300):
        cust = f"c{rng.randrange(20)}"
        key = f"{cust}\x1fj{i}".encode()
        kv.put(key, str(i).encode())
        expected.setdefault(cust, {})[key] = str(i).encode()
    kv.put(b"c1", b"no separator")  # a plain key must not show up in c1's group
    kv.put(b"c10\x1fx", b"other customer")  # c1 is a string prefix of c10, not the same customer
    expected.setdefault("c10", {})[b"c10\x1fx"] = b"other customer"
    for cust, keys in expected.items():
        assert dict(kv.prefix(f"{cust}\x1f".encode())) == keys
        assert [k for k, _ in kv.prefix(f"{cust}\x1f".encode())] == sorted(keys)


def test_prefix_forgets_deleted_keys(kv: KV) -> None:
    kv.write_many({b"a\x1f1": b"1", b"a\x1f2": b"2", b"b\x1f1": b"3"})
    kv.delete(b"a\x1f1")
    kv.write_many({b"a\x1f2": None, b"b\x1f2": b"4"})
    assert list(kv.prefix(b"a\x1f")) == []
    assert list(kv.prefix(b"b\x1f")) == [(b"b\x1f1", b"3"), (b"b\x1f2", b"4")]
    assert len(kv) == 2


def test_prefix_without_separator_still_scans(kv: KV) -> None:
    kv.write_many({b"ab\x1f1": b"1", b"abc\x1f1": b"2", b"b\x1f1": b"3"})
    assert [k for k, _ in kv.prefix(b"ab")] == [b"ab\x1f1", b"abc\x1f1"]


def test_page_reads_keys_in_order_from_a_start_resumable_across_writes(kv: KV) -> None:
    for k in (b"b", b"\x00mark", b"a", b"c", b"ab"):
        kv.put(k, k.upper())
    assert kv.page(b"\x01", 2) == [(b"a", b"A"), (b"ab", b"AB")]  # from the first customer key, 2 at a time
    kv.put(b"aa", b"AA")  # written between two pages, before where the scan stands: not read again
    kv.delete(b"c")
    assert kv.page(b"ab\x00", 2) == [(b"b", b"B")]  # a short page: the end
    assert kv.page(b"d", 5) == []


def test_a_checkpointed_store_keeps_its_writes_without_a_write_ahead_log(tmp_path: Path) -> None:
    """The factory's stores write no WAL: a clean close must still leave every write on disk for the
    checkpoint, and a store opened without one (after a crash) starts empty."""
    from cjo_stream.kv import StoreFactory

    stores = StoreFactory("rocksdb", str(tmp_path))
    kv, start = stores.open("profiles", 0)
    assert start == 0
    kv.write_many({b"a": b"1", b"b": b"2"}, added=2)
    kv.put(b"c", b"3")
    stores.close("profiles", 0, kv, 42)
    again, start = stores.open("profiles", 0)
    assert start == 42 and again.get(b"a") == b"1" and again.get(b"c") == b"3" and len(again) == 3
    again.put(b"d", b"4")
    again.close()  # as a crash leaves it: no checkpoint written
    wiped, start = stores.open("profiles", 0)
    assert start == 0 and wiped.get(b"a") is None and len(wiped) == 0
    wiped.close()


@pytest.mark.parametrize("damage", ["CURRENT", "checkpoint"])
def test_a_damaged_store_or_checkpoint_is_rebuilt_from_the_changelog(tmp_path: Path, damage: str) -> None:
    """A checkpointed store whose files are damaged (a disk fault, a volume copied while written) raised
    "Corruption: CURRENT file corrupted" in the rebalance listener, and the worker sat "starting" forever;
    a damaged checkpoint raised ValueError the same way. Both are now wiped and restored in full (offset 0)."""
    from cjo_stream.kv import StoreFactory

    stores = StoreFactory("rocksdb", str(tmp_path))
    kv, _ = stores.open("profiles", 3)
    kv.put(b"a", b"1")
    stores.close("profiles", 3, kv, 42)
    target = tmp_path / "profiles-3" / "CURRENT" if damage == "CURRENT" else tmp_path / "profiles-3.checkpoint"
    target.write_text("garbage\n")
    again, start = stores.open("profiles", 3)
    assert start == 0 and again.get(b"a") is None and len(again) == 0
    again.put(b"b", b"2")
    stores.close("profiles", 3, again, 7)
    healthy, start = stores.open("profiles", 3)  # and it works as any store after that
    assert start == 7 and healthy.get(b"b") == b"2"
    healthy.close()


def test_write_many_with_the_callers_count_keeps_len_exact(kv: KV) -> None:
    """``added`` spares the multi-get when the caller knows what its batch adds and removes."""
    kv.write_many({b"a": b"1", b"b": b"2"})
    kv.write_many({b"a": b"3", b"c": b"4", b"b": None}, added=0)
    assert len(kv) == 2 and kv.get(b"a") == b"3" and kv.get(b"b") is None


def test_a_bulk_load_ends_on_disk_in_one_compacted_run_and_reads_the_same(tmp_path: Path) -> None:
    """A restore between ``begin_load`` and ``end_load`` is not compacted while it runs; after it no
    memtable is left in RAM (the process's write-buffer budget is free for the work that follows) and
    the level-0 files it wrote are compacted once, before anyone reads."""
    from cjo_stream.kv import RocksMemory

    memory = RocksMemory(16 << 20)
    kv = RocksKV(str(tmp_path / "db"), memory, counted=False, wal=False)
    level0 = lambda: kv._db.property_int_value("rocksdb.num-files-at-level0")  # noqa: E731, SLF001
    kv.begin_load()
    value = b"v" * 60
    keys = [f"{(i * 2654435761) & 0xFFFFFFFF:08x}-{i}".encode() for i in range(100_000)]  # random order
    for i in range(0, len(keys), 20_000):
        kv.write_many({k: value for k in keys[i:i + 20_000]})
        kv._db.flush()  # noqa: SLF001 - one level-0 file per chunk, as the write-buffer budget makes them
    deadline = time.monotonic() + 1.0
    while level0() == 5 and time.monotonic() < deadline:  # 5 files start a compaction when they are on
        time.sleep(0.05)
    assert level0() == 5  # nothing merged them: compactions were off
    kv.write_many({keys[7]: None})  # a tombstone in the load
    kv.end_load()
    assert level0() == 0
    assert memory.usage()["memtables"] < 1 << 20
    assert kv.get(keys[0]) == value and kv.get(keys[-1]) == value and kv.get(keys[7]) is None
    assert kv.get(b"never-written") is None
    kv.close()
