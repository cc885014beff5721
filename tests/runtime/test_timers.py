"""The timer index (runtime/timers.py): due order, in flight once, removal, and nothing kept in memory
for pending timers with the RocksDB store (the index is in the store and rebuilt from the table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.engine import Timer
from cjo_stream.kv import KV, MemoryKV, RocksKV, RocksMemory
from cjo_stream.runtime.timers import DUE, TimerIndex, storage_key


def timer(cid: str, due: float, seq: int = 1) -> Timer:
    return Timer(cid, "j", f"i-{cid}", seq, due, "wait")


@pytest.fixture(params=["memory", "rocksdb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> KV:
    if request.param == "memory":
        return MemoryKV()
    return RocksKV(str(tmp_path / "timers"), RocksMemory(16 << 20))


def test_due_timers_come_in_due_order_once_each(kv: KV) -> None:
    idx = TimerIndex(kv)
    for i, due in enumerate([30.0, 10.0, 20.0, 40.0]):
        idx.add(timer(f"c{i}", due))
    assert len(idx) == 4
    assert [t.due for t in idx.due(25.0)] == [10.0, 20.0]
    assert idx.due(25.0) == []  # in flight until removed
    assert [t.due for t in idx.due(100.0)] == [30.0, 40.0]
    for t in (timer("c1", 10.0), timer("c2", 20.0)):
        assert idx.remove(storage_key(t))
    assert len(idx) == 2 and not idx.remove(storage_key(timer("c1", 10.0)))


def test_a_batch_adds_and_removes_before_its_writes_are_flushed(kv: KV) -> None:
    """A partition's batch can add a timer and cancel it, or remove one and see it gone, before the
    batch's writes reach the store; the count stays exact."""
    idx = TimerIndex(kv)
    idx.add(timer("old", 10.0))
    idx.flush()
    idx.add(timer("brief", 20.0))
    assert idx.remove(storage_key(timer("brief", 20.0)))  # added and cancelled within the batch
    assert idx.remove(storage_key(timer("old", 10.0)))
    assert not idx.remove(storage_key(timer("old", 10.0)))
    idx.add(timer("kept", 30.0))
    assert len(idx) == 1
    assert [t.customer_id for t in idx.due(100.0)] == ["kept"]
    assert not [k for k, _ in kv.items() if b"old" in k or b"brief" in k]  # table rows and index entries


def test_a_removed_timer_never_fires_and_an_early_one_added_later_does(kv: KV) -> None:
    idx = TimerIndex(kv)
    idx.add(timer("a", 50.0))
    assert idx.due(10.0) == []
    idx.remove(storage_key(timer("a", 50.0)))
    idx.add(timer("b", 5.0))  # earlier than anything scanned before
    assert [t.customer_id for t in idx.due(60.0)] == ["b"]
    assert len(idx) == 1


def test_the_index_is_rebuilt_from_the_table_after_a_restore(tmp_path: Path) -> None:
    mem = RocksMemory(16 << 20)
    kv = RocksKV(str(tmp_path / "t"), mem)
    idx = TimerIndex(kv)
    idx.add(timer("gone", 1.0))
    idx.add(timer("kept", 2.0))
    idx.flush()  # what a partition does after each batch
    # what a changelog restore does: table rows written directly (no index), one deleted meanwhile
    from cjo_stream.runtime.timers import encode_timer

    kv.write_many({storage_key(timer("gone", 1.0)): None, storage_key(timer("new", 3.0)): encode_timer(timer("new", 3.0))})
    kv.close()
    again = TimerIndex(RocksKV(str(tmp_path / "t"), mem))
    assert len(again) == 2
    assert [t.customer_id for t in again.due(10.0)] == ["kept", "new"]
    assert len([k for k, _ in again.kv.prefix(DUE)]) == 2  # the stale entry of "gone" was dropped


def test_erasing_a_customer_removes_its_timers_and_their_index_entries(kv: KV) -> None:
    idx = TimerIndex(kv)
    idx.add(timer("x", 5.0, seq=1))
    idx.add(timer("x", 6.0, seq=2))
    idx.add(timer("y", 7.0))
    assert len(idx.remove_customer("x")) == 2
    assert [t.customer_id for t in idx.due(10.0)] == ["y"]
    if idx.ordered:
        assert len([k for k, _ in kv.prefix(DUE)]) == 1


def test_the_memory_heap_drops_cancelled_entries_once_they_dominate() -> None:
    idx = TimerIndex(MemoryKV())
    for i in range(3000):
        idx.add(timer(f"c{i}", 1e9 + i))
        idx.remove(storage_key(timer(f"c{i}", 1e9 + i)))  # cancelled long before it is due
    assert len(idx._heap) < 1100  # noqa: SLF001 - the bound is the point of this test
