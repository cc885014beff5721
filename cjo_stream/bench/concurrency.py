"""``make bench``, scale-out section: the topology as ``cjo-stream worker --concurrency N`` on the same input.

A worker's hot path is one Python thread, so one process uses about one core; ``--concurrency N`` runs N
processes in the same consumer groups on one machine (:mod:`cjo_stream.runtime.supervisor`). This runs it
as a user would (one ``cjo-stream worker`` command with ``CJO_CONCURRENCY``) over the throughput input
and reports the aggregate events/s, each process's share, CPU per event over all processes and the sum
of their peak RSS, next to the single-process figure of the same run. On a 2-core machine that also
hosts the broker (and the bench) N = 2 cannot double the rate: the broker needs its share of the cores.
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cjo_stream.bench.procs import Proc, cpu_seconds, peak_rss, scrape, spawn_worker
from cjo_stream.bench.runner import Run
from cjo_stream.kafka.local_broker import free_port_block


@dataclass
class ConcurrentRun(Run):
    """A throughput run of several processes: ``cpu`` and ``rss`` are summed over the worker processes
    (the supervisor's own are not counted: it only waits)."""

    processes: int = 1
    per_process: list[int] = field(default_factory=list)  # events each process consumed in the window
    before: int = 0  # events consumed before the window opened (at the first poll that saw any)
    applied: int = 0  # internal records stage 2 applied by the end, all processes (each event is one)


def _children(pid: int) -> list[int]:
    """The supervisor's worker processes (its direct children)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _counts(url: str) -> tuple[float, float] | None:
    """Events stage 1 took in, internal records stage 2 applied (None: not up yet, or restarting)."""
    try:
        m = scrape(f"{url}/metrics")
    except Exception:  # noqa: BLE001
        return None
    return (m.get("cjo_events_consumed_total", 0.0) + m.get("cjo_events_duplicate_total", 0.0),
            m.get("cjo_internal_records_total", 0.0))


def run_concurrent(env: dict[str, str], processes: int, expect: int, tmp: str, app_id: str, cwd: str,
                   stall: float = 90.0, quiet: float = 1.5,
                   feed: Callable[[threading.Event], None] | None = None) -> ConcurrentRun:
    """Run ``cjo-stream worker`` with ``processes`` processes until they have processed ``expect`` events.

    The window starts at the first event any process consumed. It ends when stage 1 has consumed
    ``expect`` events *and* stage 2 has applied everything: with more than one process, stage 1 hands
    the other process's partitions their records through the broker, so it can finish well before
    they are applied; the end is the last time the processes' applied internal records grew before
    ``quiet`` seconds without growth. CPU (every worker process) is read at the same two moments; a
    process restarted meanwhile fails the run.

    ``feed`` (optional) produces the input once every process answers, in a thread beside the polls; it
    is handed an event set when the window opens, so it can hold back the rest of a small input until
    then: one produced beforehand can be consumed whole by the first process up before the last one
    answers (a loaded machine), and one produced while the group still joins can be consumed whole
    between two polls, which leaves no window to measure either.
    """
    fed: list[BaseException] = []  # what the feed raised, if it did
    opened = threading.Event()
    port = free_port_block(processes)
    env = {**env, "CJO_WEB_PORT": str(port), "CJO_CONCURRENCY": str(processes)}
    proc: Proc = spawn_worker(env, os.path.join(tmp, f"{app_id}.log"), cwd)
    urls = [f"http://127.0.0.1:{port + i}" for i in range(processes)]
    try:
        first: tuple[list[float], float, dict[int, float]] | None = None
        last: tuple[float, float, list[float], float] | None = None  # applied, when, consumed, cpu at the last growth
        last_total, last_change = -1.0, time.monotonic()
        while True:
            if not proc.alive():
                raise RuntimeError(f"worker --concurrency {processes} exited ({proc.proc.returncode}):\n{proc.tail()}")
            polled = [_counts(u) for u in urls]
            now = time.perf_counter()
            pids = _children(proc.pid)
            if any(c is None for c in polled) or len(pids) != processes:
                time.sleep(0.2)
                continue
            if feed is not None:  # produced beside the polls, so the window opens at its first events
                feeding = threading.Thread(target=_catching(functools.partial(feed, opened), fed), daemon=True)
                feeding.start()
                feed, last_change = None, time.monotonic()
                continue
            if fed:
                raise fed[0]
            consumed = [c[0] for c in polled if c is not None]
            applied = sum(c[1] for c in polled if c is not None)
            total = sum(consumed)
            if total > 0 and first is None:
                if total >= expect:  # the window would be empty: a rate of nothing over no time
                    raise RuntimeError(f"all {total:.0f} events were consumed before the first poll that saw any: "
                                       "give the run more input (or a feed that produces it over time)")
                first = (consumed, now, {p: cpu_seconds(p) for p in pids})
                opened.set()
            if first is not None:
                if set(pids) != set(first[2]):
                    raise RuntimeError("a worker process was restarted during the run:\n" + proc.tail())
                if last is None or applied > last[0]:
                    last = (applied, now, consumed, sum(cpu_seconds(p) for p in pids))
                elif total >= expect and now - last[1] >= quiet:
                    cpu = last[3] - sum(first[2].values())
                    return ConcurrentRun(int(sum(last[2]) - sum(first[0])), last[1] - first[1], cpu,
                                         sum(peak_rss(p) for p in pids), processes=processes,
                                         per_process=[int(a - b) for a, b in zip(last[2], first[0], strict=True)],
                                         before=int(sum(first[0])), applied=int(last[0]))
            if total + applied != last_total:
                last_total, last_change = total + applied, time.monotonic()
            elif time.monotonic() - last_change > stall:
                raise RuntimeError(f"--concurrency {processes} stalled at {total:.0f}/{expect} events:\n{proc.tail()}")
            time.sleep(0.1)
    finally:
        proc.stop()


def _catching(f: Callable[[], None], errors: list[BaseException]) -> Callable[[], None]:
    def run() -> None:
        try:
            f()
        except BaseException as e:  # noqa: BLE001 - handed to the polling thread, which raises it
            errors.append(e)

    return run


def print_concurrency(runs: list[ConcurrentRun], single_rate: float, single_cpu: float) -> None:
    if not runs:
        return
    runs = sorted(runs, key=lambda r: r.rate)
    mid = runs[len(runs) // 2]  # its shares, CPU and RSS are shown; the rate is the median of all runs
    rate = statistics.median(r.rate for r in runs)
    n = mid.processes
    shares = ", ".join(f"{c / max(mid.seconds, 1e-9):,.0f}" for c in mid.per_process)
    print(f"\nScale out on one machine: `cjo-stream worker --concurrency {n}` (one command, {n} processes in the same "
          f"groups, 8 partitions), the throughput input, median of {len(runs)} run(s):")
    print(f"  aggregate {rate:,.0f} events/s ({', '.join(f'{r.rate:,.0f}' for r in runs)}); per process "
          f"{shares} events/s; {mid.cpu_per_1k:.3f} CPU s/1k events over all processes; peak RSS summed "
          f"{mid.rss / 2**20:,.0f} MiB")
    if single_rate:
        print(f"  against one process in the same run ({single_rate:,.0f} events/s, {single_cpu:.3f} CPU s/1k): "
              f"{rate / single_rate:.2f}x the events/s with {n} processes on {os.cpu_count()} cores "
              f"(the broker and the bench share them)")
