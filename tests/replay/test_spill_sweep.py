"""Spill stores that a killed replay left behind are deleted by the next replay, and nothing else is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson

from cjo_stream.events import format_ts
from cjo_stream.replay.spill import PREFIX, Spilling, sweep
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]


def _stores(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name.startswith(PREFIX))


def _wait_for(check: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _spilling(directory: Path) -> Spilling[int]:
    s: Spilling[int] = Spilling(1, lambda v: str(v).encode(), lambda _k, raw: int(raw), str(directory))
    s["a"], s["b"] = 1, 2  # the second evicts the first: the store on disk is made
    return s


def test_only_stores_no_process_holds_are_deleted(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from cjo_stream.replay.spill import Spilling
        s = Spilling(1, lambda v: str(v).encode(), lambda _k, raw: int(raw), {str(tmp_path)!r})
        s["a"], s["b"] = 1, 2
        print("ready", flush=True)
        time.sleep(600)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    mine = _spilling(tmp_path)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        (tmp_path / f"{PREFIX}making").mkdir()  # a store being made: no LOCK file yet
        (tmp_path / "other").mkdir()
        before = _stores(tmp_path)
        assert len(before) == 3
        assert sweep(str(tmp_path)) == (0, 0)  # one open in a running process, one this process's own
        assert _stores(tmp_path) == before
        holder.send_signal(signal.SIGKILL)  # as the kernel's out-of-memory killer would
        holder.wait(timeout=30)
        removed, freed = sweep(str(tmp_path))
        assert removed == 1 and freed > 0
        left = [p.name for p in _stores(tmp_path)]
        assert len(left) == 2 and f"{PREFIX}making" in left
        assert any(name.startswith(f"{PREFIX}{os.getpid()}-") for name in left)  # this process's is kept...
        assert mine.get("a") == 1 and mine.get("b") == 2  # ... and still works
        assert (tmp_path / "other").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        mine.close()
    assert [p.name for p in _stores(tmp_path)] == [f"{PREFIX}making"]


def _identify(i: int) -> bytes:
    return orjson.dumps({"messageId": f"m-{i}", "type": "identify", "userId": f"u-{i}",
                         "timestamp": format_ts(T0 + i), "traits": {"email": f"u-{i}@example.com"}}) + b"\n"


def test_the_next_replay_deletes_what_a_replay_killed_with_sigkill_left(tmp_path: Path) -> None:
    """`kill -9` (or the out-of-memory killer) gives a replay no chance to delete its stores on disk; the
    next replay on the machine does, and says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")} | {"TMPDIR": str(tmp_path)}
    argv = [sys.executable, "-m", "cjo_stream.cli", "replay", "--profiles-in-memory", "5", "--events"]
    killed = subprocess.Popen([*argv, "/dev/stdin"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert killed.stdin is not None
        for i in range(50):  # more customers than fit in memory: the rest spill; then it waits for more input
            killed.stdin.write(_identify(i))
        killed.stdin.flush()
        _wait_for(lambda: any((p / "LOCK").exists() for p in _stores(tmp_path)), "the replay to spill")
        stores = _stores(tmp_path)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        killed.kill()
        killed.wait(timeout=30)
    assert _stores(tmp_path) == stores  # left behind

    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(_identify(i) for i in range(3)))
    again = subprocess.run([*argv, str(events)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    n = len(stores)
    assert f"removed {n} spill store{'s' if n > 1 else ''} (" in again.stderr
    assert f"that killed replays left in {tmp_path}" in again.stderr
    assert _stores(tmp_path) == []
