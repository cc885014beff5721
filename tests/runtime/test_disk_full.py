"""A worker whose data directory's volume is full stops with one line naming it and exit 3 (README, "Exit codes").

Found by running a worker on a full volume (a 64 MiB tmpfs filled with ``dd``): at its partition assignment
RocksDB could not write a store's OPTIONS file, and the worker logged a 30-line traceback and exited 70, the
code the README keeps for bugs in cjo-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from cjo_stream import diskfull
from cjo_stream.errors import ExitCode
from cjo_stream.events import format_ts
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.runtime.worker import _Rebalance
from tests.runtime.conftest import event_line, produce, until

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("cjo-stream"))
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
    assert record.getMessage().startswith("worker: no space left on the volume of the data directory /data;")


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


@contextlib.contextmanager
def small_volume(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (needs root, as mounting does; skipped otherwise)."""
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(volume: Path) -> None:
    with contextlib.suppress(OSError), open(volume / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 65536)


@pytest.fixture
def full_volume(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs filled to the last byte."""
    with small_volume(tmp_path / "full", "4m") as mnt:
        fill(mnt)
        yield mnt


@pytest.mark.parametrize("verb", [["analytics", "--data-dir", "{dir}"], ["adapter", "--channel", "console"]])
def test_a_service_started_on_a_full_volume_says_so_in_one_line(verb: list[str], full_volume: Path) -> None:
    """As typed: analytics exited 1 and the adapter 70, each after a traceback of RocksDB's IO error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    with LocalBroker() as b:
        env.update(CJO_BROKER=b.bootstrap, CJO_WEB_PORT=str(free_port()), CJO_ADAPTER_STATE_DIR=str(full_volume),
                   CJO_ADAPTER_WEB_PORT=str(free_port()), CJO_ANALYTICS_WEB_PORT=str(free_port()),
                   CJO_TOPOLOGIES=str(ROOT / "topologies"))
        p = subprocess.run([CLI, *[a.format(dir=full_volume) for a in verb]], env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == ExitCode.NO_FILE, p.stderr
    assert re.search(r"^error: (analytics|adapter console): no space left on the volume of the data directory "
                     f"{re.escape(str(full_volume))}", p.stderr, re.M), p.stderr


def _profiles(prefix: str, n: int) -> list[tuple[bytes | None, bytes]]:
    return [(f"{prefix}-{i}".encode(), event_line(messageId=f"{prefix}-m{i}", type="identify", userId=f"{prefix}-{i}",
                                                  timestamp=format_ts(time.time()), traits={"note": "x" * 2000}))
            for i in range(n)]


@pytest.mark.broker
async def test_a_volume_that_fills_under_a_running_worker_is_told_at_its_stop(
        spawn: Any, worker_env: dict[str, str], tmp_path: Path) -> None:
    """Found by an operator's drill: a worker whose volume filled while it ran (its stores write no log ahead:
    writes wait in memory for a flush) was stopped, could not save its stores, and exited 0 without a word.
    Nothing is lost (the stores had no checkpoint written, so the next start restores them), but the full
    volume must be told, as at a start on it."""
    with small_volume(tmp_path / "vol", "24m") as vol:
        w = spawn(CJO_DATA_DIR=str(vol / "data"))
        w.wait_ready()
        await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", _profiles("before", 500))
        await until(lambda: _known(w, "before-499"), "the worker took the first profiles")
        fill(vol)
        await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", _profiles("after", 500))
        await until(lambda: _known(w, "after-499"), "the worker took profiles on the full volume")
        await asyncio.to_thread(w.stop)
        assert w.proc is not None and w.proc.returncode == ExitCode.NO_FILE, w.log()
        assert "Traceback" not in w.log()
        assert re.search(r"worker: no space left on the volume of the data directory .*its stores were not saved "
                         r"at the stop; the next start restores them from the changelogs", w.log()), w.log()
        os.remove(vol / "filler")
        w.start().wait_ready()  # space freed: the profiles written on the full volume come back from the changelog
        assert _known(w, "after-499") and _known(w, "before-0")


def _known(w: Any, customer: str) -> bool:
    r = httpx.get(f"{w.url}/customers/{customer}", timeout=5.0)
    return r.status_code == 200
