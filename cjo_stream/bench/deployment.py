"""``python -m cjo_stream.bench.deployment``: the whole deployment for N minutes; does any process grow?

``make soak`` watches one worker. This runs what an operator deploys, each process started with the command
the README gives: a fresh local broker, two ``cjo-stream worker`` (8 partitions, so each watches the other's
for stalls), ``cjo-stream analytics --web-port P``, the ``email``, ``crm`` and ``slack`` adapters
(``cjo-stream adapter --channel C --web-port P``) against local SMTP and HTTP stand-ins that answer at once
(``CJO_RATE_*=off``), and ``cjo-stream generate --rate R``; with the batching settings ``make demo`` uses
(``--set`` wins, for every process). Every ``--sample`` seconds one row: per process its RSS (MiB), CPU (% of
a core), open descriptors, threads and, in the Python ones, live asyncio tasks and ``gc`` objects (thousands;
``CJO_PROBE_FILE``, cjo_stream/probe.py); the input events/s the workers applied and their consumer lag, the
journey events/s the analytics service folded, the rows it keeps in memory (``cjo_analytics_cached_rows``) and
its RocksDB memory in MiB (``cjo_rocksdb_memory_bytes``),
the commands/s the adapters sent, and the machine's load.

The last line is ``deployment: minutes=... rate=... <process>_rss_growth_pct=...``: each process's RSS growth
from the end of the warm-up (``--warmup`` minutes) to the end, as ``make soak`` measures it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from cjo_stream import promtext
from cjo_stream.argtypes import customer_count, non_negative_float, positive_float, positive_int
from cjo_stream.bench.procs import Proc, cpu_seconds, open_fds, read_probe, rss, threads
from cjo_stream.bench.runner import ROOT, worker_env
from cjo_stream.bench.soak import ChildExited
from cjo_stream.bench.standins import StandIns
from cjo_stream.kafka.local_broker import LocalBroker, free_port

#: make demo's batching settings (README "The local broker's limits"): without them this broker stalls in minutes
BATCHING = {"CJO_INGEST_INTERVAL_MS": "200", "CJO_COMMIT_INTERVAL_MS": "1000", "CJO_LINGER_MS": "50"}
CHANNELS = ("email", "crm", "slack")


@dataclass
class Look:
    """One process at one sample."""

    rss: int
    cpu: float  # % of one core over the window
    fds: int
    threads: int
    tasks: float  # nan: not a Python process, or its probe has not written yet
    gc: float

    def cell(self) -> str:
        py = "" if math.isnan(self.tasks) else f"/{self.tasks:.0f}/{self.gc / 1000:.0f}k"
        return f"{self.rss / 2**20:.0f}/{self.cpu:.0f}/{self.fds}/{self.threads}{py}"


@dataclass
class Row:
    t: float
    load: float
    events_per_s: float  # input events the workers applied (duplicates included, as make soak counts)
    lag: float  # the workers' consumer lag, records
    folded_per_s: float  # journey events the analytics service folded
    sent_per_s: float  # commands the adapters sent
    rows: float  # rows the analytics service keeps in memory (cjo_analytics_cached_rows)
    rocks: float  # its RocksDB memory, bytes (cjo_rocksdb_memory_bytes{kind="block_cache"}, memtables included)
    looks: dict[str, Look]
    events: float
    sent: float

    def line(self) -> str:
        cells = " ".join(f"{self.looks[n].cell():>22}" for n in self.looks)
        return (f"{self.t:>5.0f} {self.load:>5.2f} {_n(self.events_per_s):>8} {_n(self.lag):>7} "
                f"{_n(self.folded_per_s):>8} {_n(self.sent_per_s):>6} {_n(self.rows):>8} {_n(self.rocks / 2**20):>8} {cells}")


def _n(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:,.0f}"


def header(names: list[str]) -> str:
    return (f"{'t s':>5} {'load1':>5} {'events/s':>8} {'lag':>7} {'folded/s':>8} {'sent/s':>6} {'an rows':>8} {'an rocks':>8} "
            + " ".join(f"{n:>22}" for n in names))


class Rate:
    """A counter's increase per second between two good scrapes (nan for a window whose scrape failed)."""

    def __init__(self) -> None:
        self.last: tuple[float, float] | None = None
        self.value = 0.0

    def update(self, value: float | None, now: float) -> float:
        if value is None:
            return math.nan
        self.value = value
        last, self.last = self.last, (value, now)
        return math.nan if last is None or now <= last[1] else (value - last[0]) / (now - last[1])


def scrape(url: str) -> str | None:
    """A process's /metrics, None if it does not answer in time (a busy process: the row says —)."""
    try:
        return httpx.get(f"{url}/metrics", timeout=10.0).text
    except httpx.HTTPError:
        return None


def sent(text: str) -> float:
    """``cjo_delivery_outcomes_total{status="sent"}`` over the adapter's channels."""
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith("cjo_delivery_outcomes_total{") and 'status="sent"' in line)


def cli() -> list[str]:
    """``cjo-stream`` as installed beside this interpreter (the README's commands), else its module."""
    exe = shutil.which("cjo-stream", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "cjo_stream.cli"]


class Deployment:
    """The processes of one run, started with the README's commands and stopped, all of them, on the way out."""

    def __init__(self, bootstrap: str, standins: StandIns, tmp: str, settings: Mapping[str, str], workers: int,
                 partitions: int, probe_every: float) -> None:
        self.tmp = tmp
        self.procs: dict[str, Proc] = {}
        self.urls: dict[str, str] = {}
        self.probes: dict[str, str] = {}
        self.base = worker_env(bootstrap, "deploy", os.path.join(tmp, "data"), 0, CJO_PARTITIONS=str(partitions),
                               CJO_PROBE_SECONDS=f"{probe_every:g}", **{**BATCHING, **settings})
        del self.base["CJO_WEB_PORT"]  # each worker's own below (the others check it although they serve elsewhere)
        self.adapter_env = {
            "CJO_SMTP_HOST": "127.0.0.1", "CJO_SMTP_PORT": str(standins.smtp_port), "CJO_SMTP_SECURITY": "none",
            "CJO_EMAIL_FROM": "Shop <news@shop.example>", "CJO_CRM_URL": f"{standins.http_url}/crm/{{customer_id}}",
            "CJO_SLACK_WEBHOOK_URL": f"{standins.http_url}/slack", **{f"CJO_RATE_{c.upper()}": "off" for c in CHANNELS},
            **settings}  # (--set wins here too: CJO_RATE_EMAIL=100 measures the rate limiter)
        self.workers = workers

    def _start(self, name: str, args: list[str], env: Mapping[str, str], port: int) -> None:
        self.probes[name] = os.path.join(self.tmp, f"{name}.probe.json")
        self.urls[name] = f"http://127.0.0.1:{port}"
        self.procs[name] = Proc([*cli(), *args], {**self.base, **env, "CJO_PROBE_FILE": self.probes[name]},
                                os.path.join(self.tmp, f"{name}.log"), cwd=ROOT)

    def _launch(self, name: str) -> None:
        """Start service ``name`` on a port free now (:meth:`start` names them)."""
        port = free_port()
        if name.startswith("worker"):
            self._start(name, ["worker"], {"CJO_WEB_PORT": str(port), "CJO_DATA_DIR": os.path.join(self.tmp, name)},
                        port)
        elif name == "analytics":
            self._start(name, ["analytics", "--web-port", str(port)],
                        {"CJO_DATA_DIR": os.path.join(self.tmp, "analytics")}, port)
        else:
            self._start(name, ["adapter", "--channel", name, "--web-port", str(port)], self.adapter_env, port)

    def _port_taken(self, name: str) -> bool:
        """Whether service ``name`` ended because its web port was bound by another process meanwhile: a port is
        free when chosen, and another program (a test beside this run) may take it before the service binds it."""
        proc = self.procs[name]
        return not proc.alive() and "is already in use" in proc.tail()

    def start(self, timeout: float = 300.0) -> None:
        """Every service at once, then wait until each answers (workers: with partitions assigned); one whose port was
        taken before it bound it starts again on another (at most 3 times)."""
        for name in [*(f"worker{i}" for i in range(self.workers)), "analytics", *CHANNELS]:
            self._launch(name)
        deadline = time.monotonic() + timeout
        waiting = set(self.procs)
        again = dict.fromkeys(waiting, 3)
        while waiting:
            for name in [n for n in waiting if again[n] and self._port_taken(n)]:
                again[name] -= 1
                self._launch(name)
            self.check()  # one that ended (a setting it refused): said at once, not after the others are up
            waiting = {n for n in waiting if not self._answers(n)}
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"not up after {timeout:.0f} s: {', '.join(sorted(waiting))} (logs in {self.tmp})")
            time.sleep(0.2)

    def _answers(self, name: str) -> bool:
        """A worker: /health with partitions assigned (as make soak waits); the others: any answer (an adapter
        says 503 until it holds partitions)."""
        try:
            r = httpx.get(f"{self.urls[name]}/health", timeout=2.0)
            return not name.startswith("worker") or (r.status_code == 200 and bool(r.json().get("partitions")))
        except (httpx.HTTPError, ValueError):
            return False

    def generate(self, customers: int, rate: float, seconds: float) -> None:
        self._start("generator", ["generate", "--customers", str(customers), "--rate", f"{rate:g}",
                                  "--duration", f"{seconds:g}"], {}, 0)

    def check(self) -> None:
        """ChildExited for a service that ended, or a generator that failed."""
        for name, proc in self.procs.items():
            if not proc.alive() and (name != "generator" or proc.proc.returncode != 0):
                raise ChildExited(name, proc)

    def stop(self, grace: float = 30.0) -> None:
        """The generator first, then every service at once: SIGTERM, ``grace`` seconds, then SIGKILL."""
        gen = self.procs.get("generator")
        if gen is not None:
            gen.stop(5.0)
        rest = [p for n, p in self.procs.items() if n != "generator"]
        for p in rest:
            if p.alive():
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for p in rest:
            while p.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            p.kill()  # (nothing if it stopped)
            p.stop()  # closes its log


def look(pid: int, cpu_pct: float, probe_path: str | None) -> Look:
    tasks, gc = read_probe(probe_path) if probe_path else (math.nan, math.nan)
    return Look(rss(pid), cpu_pct, open_fds(pid), threads(pid), tasks, gc)


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def run(minutes: float, rate: float, customers: int, sample: float, workers: int, partitions: int,
        settings: Mapping[str, str], tmp: str) -> tuple[list[Row], dict[str, int]]:
    """The run's rows, and what the stand-ins accepted (``smtp``, ``http``)."""
    rows: list[Row] = []
    with LocalBroker() as broker, StandIns() as standins:
        assert broker.proc is not None
        dep = Deployment(broker.bootstrap, standins, tmp, settings, workers, partitions,
                         probe_every=max(1.0, min(10.0, sample / 3)))
        try:
            dep.start()
            dep.generate(customers, rate, minutes * 60 + sample)
            pids = {"broker": broker.proc.pid, **{n: p.pid for n, p in dep.procs.items()}}
            print(f"deployment: {rate:,.0f} events/s for {minutes:g} min, {customers:,} customers per 30 simulated "
                  f"days, {workers} workers, {partitions} partitions, fresh local broker; settings "
                  f"{ {**BATCHING, **settings} }; work dir {tmp}", flush=True)
            print("processes: " + ", ".join(f"{n} {p}" for n, p in pids.items()), flush=True)
            print("per process: RSS MiB/CPU %/open fds/threads[/asyncio tasks/gc objects]", flush=True)
            print(header(list(pids)), flush=True)
            worker_urls = [u for n, u in dep.urls.items() if n.startswith("worker")]
            adapter_urls = [dep.urls[c] for c in CHANNELS]
            events, folded, delivered = Rate(), Rate(), Rate()
            t0 = prev_t = time.monotonic()
            prev_cpu = {n: _cpu(p) for n, p in pids.items()}
            for r in (events, folded, delivered):
                r.update(0.0, t0)
            end = t0 + minutes * 60
            while True:
                time.sleep(max(0.0, min(prev_t + sample, end) - time.monotonic()))
                dep.check()
                now = time.monotonic()
                texts = [scrape(u) for u in worker_urls]
                sums = [promtext.sums(t) for t in texts if t is not None]
                n_events = (sum(m.get("cjo_events_consumed_total", 0.0) + m.get("cjo_events_duplicate_total", 0.0)
                                for m in sums) if len(sums) == len(texts) else None)
                lag = sum(m.get("cjo_consumer_lag_records", 0.0) for m in sums) if sums else math.nan
                an = scrape(dep.urls["analytics"])
                m_an = promtext.sums(an) if an else {}
                n_folded = m_an.get("cjo_analytics_journey_events_total", 0.0) if an else None
                ad = [scrape(u) for u in adapter_urls]
                n_sent = sum(sent(t) for t in ad if t is not None) if all(t is not None for t in ad) else None
                cpu = {n: _cpu(p) for n, p in pids.items()}
                dt = now - prev_t
                looks = {n: look(p, 100 * (cpu[n] - prev_cpu[n]) / dt, dep.probes.get(n)) for n, p in pids.items()}
                row = Row(now - t0, os.getloadavg()[0], events.update(n_events, now), lag,
                          folded.update(n_folded, now), delivered.update(n_sent, now),
                          m_an.get("cjo_analytics_cached_rows", math.nan),
                          promtext.by_label(an, "cjo_rocksdb_memory_bytes").get("block_cache", math.nan) if an else math.nan,
                          looks, events.value,
                          delivered.value)
                rows.append(row)
                print(row.line(), flush=True)
                prev_t, prev_cpu = now, cpu
                if now >= end:
                    break
        finally:
            dep.stop()
        return rows, dict(standins.counts.by)


def summary(rows: list[Row], warmup: float, rate: float, delivered: Mapping[str, int]) -> str:
    """The one machine-readable line: each process's RSS growth after the warm-up, and what flowed."""
    if not rows:
        return "deployment: no samples"
    base = next((r for r in rows if r.t >= warmup * 60), rows[-1])
    last = rows[-1]
    parts = [f"minutes={last.t / 60:.1f}", f"rate={rate:.0f}", f"events={last.events:.0f}",
             f"sent={last.sent:.0f}", f"delivered_smtp={delivered.get('smtp', 0)}",
             f"delivered_http={delivered.get('http', 0)}"]
    for name in last.looks:
        b, e = base.looks[name].rss, last.looks[name].rss
        growth = (e - b) / b * 100 if b else math.nan
        parts.append(f"{name}_rss_growth_pct={growth:.1f}")
    for name in last.looks:
        parts.append(f"{name}_rss_mib={base.looks[name].rss / 2**20:.0f}->{last.looks[name].rss / 2**20:.0f}")
    parts.append(f"warmup_min={base.t / 60:.1f} load1_max={max(r.load for r in rows):.2f}")
    return "deployment: " + " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    from cjo_stream.cli import _Parser  # a mistake told in one line, as the CLI's

    ap = _Parser(prog="python -m cjo_stream.bench.deployment", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=positive_float, default=8.0, help="how long it is sampled (default 8)")
    ap.add_argument("--rate", type=positive_float, default=1000.0, help="input events per second (default 1000)")
    ap.add_argument("--sample", type=positive_float, default=30.0, help="seconds per row (default 30)")
    ap.add_argument("--warmup", type=non_negative_float, default=2.0,
                    help="minutes before the RSS baseline (default 2; at most half the run)")
    ap.add_argument("--customers", type=customer_count, default=20_000, help="new customers per 30 simulated days")
    ap.add_argument("--workers", type=positive_int, default=2, help="worker processes (default 2)")
    ap.add_argument("--partitions", type=positive_int, default=8)
    ap.add_argument("--set", action="append", default=[], metavar="CJO_NAME=VALUE",
                    help="a setting for every process (repeat), e.g. CJO_ANALYTICS_CACHE_ROWS=50000")
    args = ap.parse_args(argv)
    settings: dict[str, str] = {}
    for item in args.set:
        if not re.fullmatch(r"CJO_[A-Z0-9_]+=.*", item):
            ap.error(f"--set {item!r}: use CJO_NAME=value")
        k, _, v = item.partition("=")
        settings[k] = v
    if args.workers > args.partitions:
        ap.error(f"--workers {args.workers}: at most --partitions ({args.partitions}); the others would hold none")

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the run like Ctrl-C: through `finally`, which stops every process

    signal.signal(signal.SIGTERM, stop)
    tmp = tempfile.mkdtemp(prefix="cjo-deployment-")
    try:
        rows, delivered = run(args.minutes, args.rate, args.customers, args.sample, args.workers, args.partitions,
                              settings, tmp)
    except (ChildExited, RuntimeError) as e:  # a process that ended, no broker binary or aiosmtpd: one line
        print(f"{ap.prog}: error: {e}", file=sys.stderr, flush=True)
        return 1
    print(summary(rows, min(args.warmup, args.minutes / 2), args.rate, delivered), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: every process was stopped by the finally blocks above; no traceback
        print("python -m cjo_stream.bench.deployment: interrupted", file=sys.stderr)
        sys.exit(130)
