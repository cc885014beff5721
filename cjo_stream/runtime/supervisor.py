"""``cjo-stream worker --concurrency N``: N worker processes on one machine, one per core.

A worker's hot path is one Python thread, so a process uses about one core; on a machine with more
cores, more processes in the same consumer groups share the partitions (exactly as separate
machines would). Process ``i`` serves its state API and metrics on ``web_port + i`` and keeps its
state under its own directory. A process that exits on its own (e.g. the exit-70 restart after a
failed batch) is started again after a pause, unless its exit code says a restart cannot help
(:data:`FINAL`: a setting, a file or a port the user must fix): then the others are stopped and the
supervisor exits with that code (it restarted such a process every 2 s for ever). SIGTERM/SIGINT stop them all cleanly,
one after the other (:func:`stop_in_turn`); the processes run in sessions of their own, so a terminal's Ctrl-C reaches
the supervisor only and they are stopped in turn then too. If the supervisor itself is killed (SIGKILL, OOM), the kernel
sends each process SIGTERM (:mod:`cjo_stream.lifetime`), so they stop cleanly too instead of running on unwatched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from cjo_stream.config import Settings
from cjo_stream.lifetime import popen
from cjo_stream.logs import say

RESTART_PAUSE = 2.0
#: Longest wait for one process to exit before the next is sent SIGTERM, and for all of them to exit (then SIGKILL)
STOP_GAP = 5.0
STOP_WITHIN = 30.0
#: Exit codes a restart cannot mend (README, "Exit codes"): journeys with errors, a bad setting (the partition
#: count of existing topics), a missing file, a port in use
FINAL = frozenset({1, 2, 3, 5})


class ConcurrencyError(ValueError):
    """A setting that cannot be shared by several processes."""


def child_env(settings: Settings, index: int) -> dict[str, str]:
    """The environment of worker process ``index``: everything resolved, its own port and id."""
    if settings.web_url:
        raise ConcurrencyError("CJO_WEB_URL names a single process; leave it unset with --concurrency, "
                               "or run one worker per container")
    env = dict(os.environ)
    env.update(CJO_BROKER=settings.bootstrap, CJO_TOPOLOGIES=settings.topologies, CJO_STORE=settings.store,
               CJO_DATA_DIR=settings.data_dir, CJO_PARTITIONS=str(settings.partitions),
               CJO_WEB_PORT=str(settings.web_port + index), CJO_CONCURRENCY="1")
    if settings.worker_id:
        env["CJO_WORKER_ID"] = f"{settings.worker_id}-{index}"
    return env


def run_workers(settings: Settings, n: int, loglevel: str) -> int:
    """Run and watch ``n`` worker processes until SIGTERM/SIGINT; returns the exit code."""
    envs = [child_env(settings, i) for i in range(n)]
    argv = [sys.executable, "-m", "cjo_stream.cli", "worker", "--loglevel", loglevel, "--supervised"]
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    def start(env: dict[str, str]) -> subprocess.Popen[Any]:
        # a session of its own (a terminal's Ctrl-C reaches the supervisor, which stops them in turn), SIGTERM if it dies
        return popen(argv, sig=signal.SIGTERM, new_session=True, env=env)

    procs = [start(env) for env in envs]
    say(f"cjo-stream worker: {n} processes, state API on ports {settings.web_port}-{settings.web_port + n - 1}")
    code = 0
    try:
        while not stopping:
            for i, p in enumerate(procs):
                if p.poll() is not None and not stopping and p.returncode in FINAL:
                    say(f"worker process {i} exited with {p.returncode}: a restart cannot fix that (its message "
                        "is above); stopping the others", "ERROR")
                    stopping, code = True, p.returncode
                    break
                if p.poll() is not None and not stopping:
                    say(f"worker process {i} exited with {p.returncode}; starting it again in "
                        f"{RESTART_PAUSE:.0f} s", "WARNING")
                    time.sleep(RESTART_PAUSE)
                    procs[i] = start(envs[i])
            time.sleep(0.2)
    finally:
        stop_in_turn(procs)
    return code


def stop_in_turn(procs: list[subprocess.Popen[Any]], gap: float = STOP_GAP, within: float = STOP_WITHIN) -> None:
    """SIGTERM each running process once the one before has exited (or ``gap`` seconds passed), SIGKILL those left
    after ``within``. All at once, two processes leaving their consumer groups at the same moment wedged a group
    on the local broker for good in 5 of 12 stops (README, "Quirks of the local broker"): every worker started
    next stayed ``starting``, and only a broker restart, which loses every topic, got past it."""
    deadline = time.monotonic() + within
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.0, min(gap, deadline - time.monotonic())))
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
