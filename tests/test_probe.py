"""``CJO_PROBE_FILE`` (cjo_stream/probe.py): counts a process's tasks and objects from a thread of its own
without breaking the process it measures.

Its first version held ``gc.get_objects()``'s list while it counted tasks in it: a worker under the deployment
harness ended within seconds with ``SystemError: bad argument to internal function`` from ``tuple(genexpr)`` in
typing, the tuple it was building found referenced twice when it grew.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cjo_stream import probe


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Threads take turns every microsecond, so a window between two bytecodes is hit at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def tuples_broken_while(look: Callable[[], object], seconds: float) -> int:
    """SystemErrors from building tuples out of generators while another thread runs ``look`` over and over."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            look()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    errors = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                tuple(x for x in range(50))
            except SystemError:
                errors += 1
    finally:
        stop.set()
        t.join()
    return errors


def _holding() -> int:
    objs = gc.get_objects()  # the first version's way: the list held across bytecodes
    return sum(isinstance(o, asyncio.Task) for o in objs)


def test_a_look_never_breaks_a_tuple_being_built(switch_often: None) -> None:
    assert tuples_broken_while(_holding, 3.0) > 0  # the failure this guards against shows here at all
    assert tuples_broken_while(probe.counts, 3.0) == 0


async def test_counts_tasks_not_done_and_tracked_objects_frozen_ones_included() -> None:
    before = probe.counts()
    tasks = [asyncio.create_task(asyncio.sleep(30)) for _ in range(7)]
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    try:
        now = probe.counts()
        assert before["tasks"] is not None  # (Python 3.11-3.13 keep a registry of tasks)
        assert now["tasks"] == before["tasks"] + 7  # (the finished one not counted)
        gc.freeze()  # as the worker does after start-up (gc_tuning.py): still counted
        try:
            assert abs((probe.counts()["gc_objects"] or 0) - (now["gc_objects"] or 0)) < 1000
        finally:
            gc.unfreeze()
    finally:
        for t in tasks:
            t.cancel()


def test_the_file_is_written_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(probe.FILE, raising=False)
    assert probe.start_from_env() is False
    path = tmp_path / "probe.json"
    monkeypatch.setenv(probe.FILE, str(path))
    monkeypatch.setenv(probe.SECONDS, "3600")  # one write, then asleep (a daemon)
    assert probe.start_from_env() is True
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    d = json.loads(path.read_text())
    assert set(d) == {"at", "tasks", "gc_objects"} and d["gc_objects"] > 1000
