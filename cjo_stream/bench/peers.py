"""Run the peers a user would pick instead of cjo-stream, each in its own process, measured alike.

Every peer (plain Faust, Quix Streams, Bytewax) appends ``{"n", "t", "cpu"}`` progress lines to a file;
its throughput is taken from the first processed event to the input being drained (or the end of
``window`` seconds). A peer that is not installed or does not run raises :class:`PeerUnavailable`
with the reason, which the bench prints in its row instead of a figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import orjson

from cjo_stream.bench.procs import Proc, peak_rss
from cjo_stream.config import Settings
from cjo_stream.kafka.topics import ensure_topics


class PeerUnavailable(RuntimeError):
    """The peer could not be measured here; the message says why (one line)."""


@dataclass(frozen=True)
class Measured:
    events: int
    seconds: float
    cpu: float
    rss: int


def watch(proc: Proc, progress: str, expect: int, window: float, name: str, start_timeout: float = 180.0) -> Measured:
    """Follow a peer's progress file until it handled ``expect`` events or ran ``window`` seconds."""
    deadline = time.monotonic() + start_timeout + window
    while time.monotonic() < deadline:
        if not proc.alive():
            raise PeerUnavailable(f"{name} exited ({proc.proc.returncode}): {last_line(proc.tail())} "
                                  f"(log: {proc.log_path})")
        lines: list[dict[str, float]] = []
        with contextlib.suppress(FileNotFoundError), open(progress, "rb") as f:
            lines = [orjson.loads(x) for x in f.read().splitlines() if x.strip()]
        started = [x for x in lines if x["n"] > 0]
        if started and (started[-1]["n"] >= expect or started[-1]["t"] - started[0]["t"] >= window):
            a, b = started[0], started[-1]
            return Measured(int(b["n"] - a["n"]), b["t"] - a["t"], b["cpu"] - a["cpu"], peak_rss(proc.pid))
        time.sleep(0.3)
    raise PeerUnavailable(f"{name} made no progress in {start_timeout + window:.0f} s: {last_line(proc.tail())} "
                          f"(log: {proc.log_path})")


def last_line(log: str) -> str:
    lines = [x.strip() for x in log.splitlines() if x.strip()]
    return lines[-1][:300] if lines else "no output"


def missing(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        why = " (no wheels for Python 3.13+)" if package == "bytewax" and sys.version_info >= (3, 13) else ""
        raise PeerUnavailable(f"{package} is not installed{why}: pip install -e '.[bench]'")


def peer_env(bootstrap: str, topic: str, app_id: str, tmp: str, expect: int) -> dict[str, str]:
    return {**os.environ, "BENCH_BROKER": bootstrap, "BENCH_TOPIC": topic, "BENCH_APP_ID": app_id,
            "BENCH_DATA_DIR": os.path.join(tmp, app_id), "BENCH_PROGRESS": os.path.join(tmp, f"{app_id}.progress"),
            "BENCH_EXPECT": str(expect), "PYTHONUNBUFFERED": "1"}


def start_quix(bootstrap: str, topic: str, app_id: str, tmp: str, expect: int, root: str) -> Proc:
    """Quix Streams (cjo_stream/bench/quix_peer.py); the input must have been created with ``retention.ms``."""
    missing("quixstreams", "quixstreams")
    env = peer_env(bootstrap, topic, app_id, tmp, expect)
    return Proc([sys.executable, "-m", "cjo_stream.bench.quix_peer"], env, os.path.join(tmp, f"{app_id}.log"), cwd=root)


def start_bytewax(bootstrap: str, topic: str, app_id: str, tmp: str, expect: int, root: str) -> Proc:
    """Bytewax (cjo_stream/bench/bytewax_peer.py) with recovery on: state snapshots every 5 s (Quix's default
    commit interval) in a fresh recovery directory, so its state is durable like the others'."""
    missing("bytewax", "bytewax")
    env = peer_env(bootstrap, topic, app_id, tmp, expect)
    asyncio.run(ensure_topics(Settings(bootstrap=bootstrap), [f"{app_id}.email"]))  # created up front, as for any sink
    recovery = os.path.join(tmp, f"{app_id}.recovery")
    shutil.rmtree(recovery, ignore_errors=True)
    os.makedirs(recovery)
    init = subprocess.run([sys.executable, "-m", "bytewax.recovery", recovery, "1"], capture_output=True, text=True)
    if init.returncode:
        raise PeerUnavailable(f"bytewax.recovery failed: {last_line(init.stderr)}")
    args = ["-m", "bytewax.run", "cjo_stream.bench.bytewax_peer:flow", "-r", recovery, "-s", "5", "-b", "0"]
    return Proc([sys.executable, *args], env, os.path.join(tmp, f"{app_id}.log"), cwd=root)


START = {"quix": (start_quix, "Quix Streams"), "bytewax": (start_bytewax, "Bytewax")}


def run_peer(kind: str, bootstrap: str, topic: str, app_id: str, expect: int, tmp: str, window: float,
             root: str) -> Measured:
    """Start peer ``kind`` (``quix`` or ``bytewax``) on ``topic`` and measure it until it drained ``expect`` events."""
    start, name = START[kind]
    proc = start(bootstrap, topic, app_id, tmp, expect, root)
    try:
        return watch(proc, os.path.join(tmp, f"{app_id}.progress"), expect, window, name)
    finally:
        proc.stop()
