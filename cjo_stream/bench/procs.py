"""Process helpers for the benchmark: spawn workers, read /proc, scrape Prometheus text."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

import httpx

from cjo_stream import promtext
from cjo_stream.lifetime import popen
from cjo_stream.promtext import quantile

__all__ = ["Proc", "by_label", "cpu_seconds", "histogram", "open_fds", "peak_rss", "quantile", "rss", "scrape",
           "spawn_worker", "threads", "wait_health"]


def rss(pid: int) -> int:
    """Current resident set size (VmRSS) of a live process, in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss(pid: int) -> int:
    """Peak resident set size (VmHWM) of a live process, in bytes (0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def threads(pid: int) -> int:
    """Threads of a live process, native ones included (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_fds(pid: int) -> int:
    """Open file descriptors of a live process (sockets, RocksDB's files; 0 if it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_probe(path: str) -> tuple[float, float]:
    """(live asyncio tasks, gc objects) from a process's ``CJO_PROBE_FILE`` (cjo_stream/probe.py); nan until it
    has written one, and nan tasks where its Python keeps them out of reach (3.14)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        tasks, objs = d.get("tasks"), d["gc_objects"]
        return (math.nan if tasks is None else float(tasks)), float(objs)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return math.nan, math.nan


def scrape(url: str) -> dict[str, float]:
    """Sum every sample of each metric family over its labels (``name`` → total)."""
    return promtext.sums(httpx.get(url, timeout=5.0).text)


def by_label(url: str, name: str) -> dict[str, float]:
    """Samples of a counter or gauge with a single label, by that label's value (``scrape`` sums them)."""
    return promtext.by_label(httpx.get(url, timeout=5.0).text, name)


def histogram(url: str, name: str) -> list[tuple[float, float]]:
    """Cumulative ``(le, count)`` buckets of an unlabelled histogram."""
    return promtext.buckets(httpx.get(url, timeout=5.0).text, name)


class Proc:
    """A child process in its own session (so the whole group can be killed), SIGTERMed if we die."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: str, cwd: str | None = None,
                 capture: bool = False) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the child
        # dies with the bench even when the bench is killed hard (a long soak stopped with SIGKILL)
        self.proc = popen(args, sig=signal.SIGTERM, env=dict(env), cwd=cwd,
                          stdout=subprocess.PIPE if capture else self._log, stderr=self._log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]

    def stop(self, grace: float = 15.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def kill(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def spawn_worker(env: Mapping[str, str], log_path: str, cwd: str) -> Proc:
    return Proc([sys.executable, "-m", "cjo_stream.cli", "worker"], env, log_path, cwd=cwd)


def wait_health(proc: Proc, url: str, timeout: float = 300.0) -> float:
    """Wait until the worker answers /health with partitions assigned; returns the wall time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"worker exited ({proc.proc.returncode}):\n{proc.tail()}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            r = httpx.get(f"{url}/health", timeout=2.0)
            if r.status_code == 200 and r.json().get("partitions"):
                return time.time()
        time.sleep(0.1)
    raise RuntimeError(f"worker not ready after {timeout:.0f}s:\n{proc.tail()}")
