"""``make soak``: one worker at a fixed event rate for N minutes; is memory flat, is latency flat?

Everything else in ``make bench`` is a sprint of seconds. This runs what an operator would leave running:
a fresh local broker, one worker with the example journeys, and ``cjo-stream generate`` at ``--rate``
events/s (customers keep arriving, as in production) for ``--minutes``. Every ``--interval`` seconds it
prints one row: worker and broker resident memory and CPU, the generator's CPU, events/s the worker
applied, its consumer lag, the p99 of ``cjo_decision_latency_seconds`` over that window (interpolated
within the histogram's buckets, like Prometheus' ``histogram_quantile``) and the machine's load average
(this machine may be shared: a load above its core count means the figures are disturbed).

Each row also shows the worker's RSS less its RocksDB memory (``rss-rocks``: RocksDB fills up to its budget,
``CJO_ROCKSDB_MEMORY_MB``, so what must level off is the rest) and, from its ``CJO_PROBE_FILE``
(cjo_stream/probe.py), its live asyncio tasks and the objects its collector tracks.

The last line is ``soak: worker_rss_growth_pct=... p99_last_window_ms=... minutes=...``: the worker's
RSS growth from the end of the warm-up (``--warmup`` minutes, when the working set has filled) to the end.

``--stop-p99-ms`` ends the run early once a window's p99 passes that bound: that is how the README's
"limits of the local broker" were measured (minutes and events until p99 passes 1 s).

``--no-broker`` runs the worker's own stages in this one process instead (stage 1, queues standing for the
internal topic, stage 2 on its RocksDB stores; :mod:`cjo_stream.bench.soak_stages`): no Kafka client and no
broker, so everything else a worker holds in memory can be watched for as long as one likes. Its rows
show this process's RSS, RocksDB memory, events/s applied, pending timers and profiles stored; its last
line is ``soak: worker_rss_growth_pct=... minutes=... (no broker)``.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx

from cjo_stream import promtext
from cjo_stream.argtypes import (
    customer_count,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from cjo_stream.bench.procs import Proc, cpu_seconds, read_probe, rss, spawn_worker, wait_health
from cjo_stream.bench.runner import ROOT, worker_env
from cjo_stream.kafka.local_broker import LocalBroker, free_port

INPUT = "soak.touchpoints"


class ChildExited(Exception):
    """The worker or the generator ended before the soak did, e.g. the worker refused a ``--set`` value:
    said in one line (its log's last line, which is its own one-line error), not a traceback."""

    def __init__(self, name: str, child: Proc) -> None:
        last = next((ln for ln in reversed(child.tail().splitlines()) if ln.strip()), "(its log is empty)")
        why = last.strip().removeprefix("error: ")
        super().__init__(f"the {name} exited ({child.proc.returncode}): {why} (log: {child.log_path})")


@dataclass
class Row:
    t: float
    worker_rss: int
    rocksdb: float  # the worker's RocksDB memory (memtables included), bytes
    broker_rss: int
    broker_cpu: float  # percent of one core over the window
    worker_cpu: float
    generator_cpu: float
    events_per_s: float
    lag: float
    p99: float | None  # seconds
    load: float
    events: float  # applied since the start
    tasks: float = math.nan  # the worker's live asyncio tasks (its CJO_PROBE_FILE); nan until it wrote one
    gc_objects: float = math.nan  # objects its collector tracks

    @property
    def rest(self) -> int:
        """The worker's RSS less its RocksDB memory: what its own Python objects and buffers take, which is
        what must level off (RocksDB is bounded by CJO_ROCKSDB_MEMORY_MB and fills up to it)."""
        return self.worker_rss - int(self.rocksdb)

    def line(self) -> str:
        p99 = f"{self.p99 * 1000:>9.0f}" if self.p99 is not None else f"{'—':>9}"
        tasks = f"{self.tasks:>6.0f}" if not math.isnan(self.tasks) else f"{'—':>6}"
        objs = f"{self.gc_objects / 1000:>7.0f}k" if not math.isnan(self.gc_objects) else f"{'—':>8}"
        return (f"{self.t:>6.0f} {self.worker_rss / 2**20:>8.0f} MiB {self.rocksdb / 2**20:>5.0f} MiB "
                f"{self.rest / 2**20:>6.0f} MiB {tasks} {objs} "
                f"{self.broker_rss / 2**20:>8.0f} MiB "
                f"{self.broker_cpu:>7.0f} {self.worker_cpu:>7.0f} {self.generator_cpu:>7.0f} "
                f"{self.events_per_s:>9,.0f} {self.lag:>8,.0f} {p99} {self.load:>6.2f}")


HEADER = (f"{'t s':>6} {'worker_rss':>12} {'rocksdb':>9} {'rss-rocks':>10} {'tasks':>6} {'gc objs':>8} "
          f"{'broker_rss':>12} {'brk cpu%':>7} {'wrk cpu%':>7} {'gen cpu%':>7} "
          f"{'events/s':>9} {'lag':>8} {'p99 ms':>9} {'load1':>6}")


def metrics(url: str) -> tuple[dict[str, float], list[tuple[float, float]], float]:
    """One scrape: every metric family summed over its labels, the decision-latency buckets and the
    worker's RocksDB memory (its block cache, which the memtables are charged to).

    Retried for a minute: a worker busy with a large batch (or a machine shared with others) may answer
    a scrape late, which must not end a soak of hours.
    """
    for attempt in range(12):
        try:
            text = httpx.get(f"{url}/metrics", timeout=10.0).text
            break
        except httpx.HTTPError:
            if attempt == 11:
                raise
            time.sleep(5.0)
    return (promtext.sums(text), promtext.buckets(text, "cjo_decision_latency_seconds"),
            promtext.by_label(text, "cjo_rocksdb_memory_bytes").get("block_cache", 0.0))


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def soak(minutes: float, rate: float, customers: int, interval: float, warmup: float, partitions: int,
         stop_p99_ms: float | None, env: dict[str, str], tmp: str) -> list[Row]:
    rows: list[Row] = []
    with LocalBroker() as broker:
        assert broker.proc is not None
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        wenv = worker_env(broker.bootstrap, "soak", os.path.join(tmp, "data"), port, CJO_INPUT_TOPIC=INPUT,
                          CJO_PARTITIONS=str(partitions), **env)
        probe_path = os.path.join(tmp, "worker.probe.json")  # the worker's only: the generator shares wenv
        worker = spawn_worker({**wenv, "CJO_PROBE_FILE": probe_path,
                               "CJO_PROBE_SECONDS": f"{max(1.0, min(10.0, interval / 3)):g}"},
                              os.path.join(tmp, "worker.log"), ROOT)
        generator: Proc | None = None
        try:
            try:
                wait_health(worker, url)
            except RuntimeError:
                if worker.alive():
                    raise
                raise ChildExited("worker", worker) from None
            generator = Proc([sys.executable, "-m", "cjo_stream.cli", "generate", "--customers", str(customers),
                              "--rate", str(rate), "--duration", str(minutes * 60)],
                             {**wenv, "PYTHONUNBUFFERED": "1"}, os.path.join(tmp, "generator.log"), cwd=ROOT)
            pids = {"broker": broker.proc.pid, "worker": worker.pid, "generator": generator.pid}
            t0 = time.monotonic()
            prev_t = t0
            prev_cpu = {k: _cpu(p) for k, p in pids.items()}
            prev_hist = metrics(url)[1]
            prev_n = 0.0
            print(f"soak: {rate:,.0f} events/s for {minutes:g} min, {customers:,} customers per 30 simulated days, "
                  f"{partitions} partitions, fresh local broker; settings {env or 'default'}; work dir {tmp}",
                  flush=True)
            print(HEADER, flush=True)
            while True:
                end = t0 + minutes * 60
                time.sleep(max(0.0, min(prev_t + interval, end + 1) - time.monotonic()))
                if not worker.alive():
                    raise ChildExited("worker", worker)
                now = time.monotonic()
                m, hist, rocks = metrics(url)
                tasks, objs = read_probe(probe_path)
                cpu = {k: _cpu(p) for k, p in pids.items()}
                dt = now - prev_t
                n = m.get("cjo_events_consumed_total", 0.0) + m.get("cjo_events_duplicate_total", 0.0)
                lag = m.get("cjo_consumer_lag_records", 0.0)
                pct = {k: 100 * (cpu[k] - prev_cpu[k]) / dt for k in pids}
                row = Row(t=now - t0, worker_rss=rss(worker.pid), rocksdb=rocks,
                          broker_rss=rss(broker.proc.pid),
                          broker_cpu=pct["broker"], worker_cpu=pct["worker"], generator_cpu=pct["generator"],
                          events_per_s=(n - prev_n) / dt, lag=lag, p99=promtext.quantile(0.99, prev_hist, hist),
                          load=os.getloadavg()[0], events=n, tasks=tasks, gc_objects=objs)
                rows.append(row)
                print(row.line(), flush=True)
                prev_t, prev_cpu, prev_hist, prev_n = now, cpu, hist, n
                if now >= end or (stop_p99_ms is not None and row.p99 is not None and row.p99 * 1000 > stop_p99_ms):
                    break
                if not generator.alive() and generator.proc.returncode not in (0, None):
                    raise ChildExited("generator", generator)
        finally:
            if generator is not None:
                generator.stop(5)
            worker.stop()
    return rows


def summary(rows: list[Row], warmup: float, rate: float) -> str:
    """The one-line result: RSS growth after warm-up, the last window's p99, and how long it ran."""
    if not rows:
        return "soak: no samples"
    base = next((r for r in rows if r.t >= warmup * 60), rows[-1])
    last = rows[-1]
    growth = (last.worker_rss - base.worker_rss) / base.worker_rss * 100 if base.worker_rss else float("nan")
    p99 = f"{last.p99 * 1000:.0f}" if last.p99 is not None else "nan"
    return (f"soak: worker_rss_growth_pct={growth:.1f} p99_last_window_ms={p99} minutes={last.t / 60:.1f} "
            f"rate={rate:.0f} events={last.events:.0f} worker_rss_mib={base.worker_rss / 2**20:.0f}->"
            f"{last.worker_rss / 2**20:.0f} worker_rss_less_rocksdb_mib={base.rest / 2**20:.0f}->"
            f"{last.rest / 2**20:.0f} broker_rss_mib={last.broker_rss / 2**20:.0f} "
            f"load1_max={max(r.load for r in rows):.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cjo_stream.bench.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=positive_float, default=30.0, help="how long the generator runs (default 30)")
    ap.add_argument("--rate", type=positive_float, default=2000.0, help="events per second (default 2000)")
    ap.add_argument("--customers", type=customer_count, default=20_000, help="new customers per 30 simulated days")
    ap.add_argument("--interval", type=positive_float, default=30.0, help="seconds per row (default 30)")
    ap.add_argument("--warmup", type=non_negative_float, default=5.0,
                    help="minutes before the RSS baseline (default 5)")
    ap.add_argument("--partitions", type=positive_int, default=8)
    ap.add_argument("--stop-p99-ms", type=positive_float, default=None, help="stop once a window's p99 passes this")
    ap.add_argument("--set", action="append", default=[], metavar="CJO_X=V",
                    help="a setting for the worker and the generator (repeat)")
    ap.add_argument("--no-broker", action="store_true",
                    help="the worker's stages in this process, no Kafka client, no broker (see above)")
    ap.add_argument("--receipts", action="store_true",
                    help="with --no-broker: feed a 'sent' receipt of every command back through stage 1")
    ap.add_argument("--tracemalloc", type=non_negative_int, default=0, metavar="FRAMES",
                    help="with --no-broker: print where Python memory grew after the warm-up (slow)")
    args = ap.parse_args(argv)
    if not args.no_broker and (args.receipts or args.tracemalloc):
        ap.error("--receipts and --tracemalloc go with --no-broker")
    if args.tracemalloc > 65535:
        ap.error("--tracemalloc: at most 65535 frames")
    if args.no_broker and args.stop_p99_ms is not None:
        ap.error("--stop-p99-ms measures the broker; it does not go with --no-broker")
    env: dict[str, str] = {}
    for item in args.set:
        k, sep, v = item.partition("=")
        if not sep or not k.startswith("CJO_"):
            ap.error(f"--set {item!r}: use CJO_NAME=value")
        env[k] = v
    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the run like Ctrl-C: through `finally`, which stops the children

    signal.signal(signal.SIGTERM, stop)
    warmup = min(args.warmup, args.minutes / 2)
    if args.no_broker:
        return _no_broker(args, env, warmup, ap)
    tmp = tempfile.mkdtemp(prefix="cjo-soak-")
    try:
        rows = soak(args.minutes, args.rate, args.customers, args.interval, warmup, args.partitions,
                    args.stop_p99_ms, env, tmp)
    except ChildExited as e:
        print(f"{ap.prog}: error: {e}", file=sys.stderr, flush=True)
        return 1
    print(summary(rows, warmup, args.rate), flush=True)
    return 0


def _no_broker(args: argparse.Namespace, env: dict[str, str], warmup: float, ap: argparse.ArgumentParser) -> int:
    from cjo_stream.bench import soak_stages
    from cjo_stream.config import Settings

    os.environ.update(env)  # the settings of this process's stages (and the generator's child)
    try:
        settings = Settings.from_env(partitions=args.partitions)
    except ValueError as e:
        ap.error(str(e))
    tmp = tempfile.mkdtemp(prefix="cjo-soak-")
    outcome = soak_stages.soak(args.minutes, args.rate, args.customers, args.interval, warmup, settings, tmp,
                               receipts=args.receipts, trace_frames=args.tracemalloc)
    print("outputs counted and dropped: " + ", ".join(f"{t} {n:,}" for t, n in sorted(outcome.outputs.items())),
          flush=True)
    print(soak_stages.summary(outcome, warmup, args.rate), flush=True)
    if outcome.growth:
        print(outcome.growth, flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: the children are stopped by the finally blocks above; no traceback
        print("python -m cjo_stream.bench.soak: interrupted", file=sys.stderr)
        sys.exit(130)
