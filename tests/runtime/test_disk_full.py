"""A worker whose data directory's volume is full stops with one line naming it and exit 3 (README, "Exit codes").

Found by running a worker on a full volume (a 64 MiB tmpfs filled with ``dd``): at its partition assignment
RocksDB could not write a store's OPTIONS file, and the worker logged a 30-line traceback and exited 70, the
code the README keeps for bugs in cjo-stream.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from cjo_stream.errors import ExitCode
from cjo_stream.runtime import diskfull
from cjo_stream.runtime.worker import _Rebalance

# what rocksdict raised (kv.py adds the store's path), word for word up to the path
ROCKSDB_FULL = ("IO error: DB::Open() failed --- Unable to persist Options file: IO error: Unable to persist "
                "options.: IO error: No space left on device: While appending to file: /data/cjo/worker-6066/"
                "aliases-3/OPTIONS-000006.dbtmp: No space left on device (the RocksDB store at /data/cjo/"
                "worker-6066/aliases-3)")


class Exited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exit(code: int) -> None:
    raise Exited(code)


def _worker(error: Exception) -> Any:
    async def acquire(_partitions: list[int]) -> list[int]:
        raise error

    return SimpleNamespace(acquire=acquire, s=SimpleNamespace(data_dir="/data"), customers=None,
                           customers_group="cjo-customers", memberships=SimpleNamespace(remember=lambda *_: None))


def _assign(error: Exception, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("os._exit", _exit)
    with pytest.raises(Exited) as e:
        asyncio.run(_Rebalance(_worker(error)).on_partitions_assigned([TopicPartition("cjo.customer-events", 3)]))
    return e.value.code


def test_a_full_volume_at_a_partition_assignment_is_one_line_and_exit_3(monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        code = _assign(Exception(ROCKSDB_FULL), monkeypatch)
    assert code == ExitCode.NO_FILE
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is None, "a full disk is no bug: no traceback"
    assert record.getMessage().startswith("worker: no space left on the volume of the data directory /data")


def test_any_other_failure_to_take_partitions_still_restarts_with_its_traceback(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        code = _assign(Exception("Corruption: bad block (the RocksDB store at /data/cjo/worker-6066/profiles-3)"),
                       monkeypatch)
    assert code == ExitCode.INTERNAL
    assert any(r.exc_info for r in caplog.records)


def test_disk_full_is_told_by_errno_or_by_rocksdbs_text_through_the_chain() -> None:
    assert diskfull.disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert diskfull.disk_full(Exception(ROCKSDB_FULL))
    try:
        try:
            raise OSError(errno.ENOSPC, "disk")
        except OSError as inner:
            raise RuntimeError("checkpoint failed") from inner
    except RuntimeError as outer:
        assert diskfull.disk_full(outer)
    assert not diskfull.disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not diskfull.disk_full(Exception("IO error: While open a file for appending: Too many open files"))
