"""``make bench`` sections for issue 17: state that must not grow a process, and start-up.

- **identity**: worker RSS and time to ready with 0, 1 M and 5 M identity links on ``<app>.aliases``
  (first start with an empty data directory, and a restart after SIGTERM), and topology throughput with
  5 M links side by side with none;
- **sent**: adapter RSS and time to ready with 0, 1 M and 5 M ids on its sent-record (with a temporary
  state directory, and a restart keeping ``CJO_ADAPTER_STATE_DIR``), and its throughput with 5 M ids;
- **startup**: time to ready of a worker started fresh, after SIGTERM and after SIGKILL;
- **rolling**: a rolling restart of two workers under load: event -> command latency and duplicates.

Each case runs on a fresh broker (Tansu keeps everything in memory and its fetch cost grows with what it
holds). Topics are seeded directly with batched produce (:mod:`cjo_stream.bench.seed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import signal
import statistics
import sys
import time
from collections import Counter
from typing import Any

import httpx
import msgspec
import orjson

from cjo_stream.bench.procs import Proc, cpu_seconds, peak_rss, spawn_worker, wait_health
from cjo_stream.bench.seed import links, produce_fast, sent_ids
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.generator import generate_events
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.runtime.commands import _key_of

MIB = 1024 * 1024


def rss(pid: int) -> int:
    """Resident set size now (VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _start_worker(env: dict[str, str], tmp: str, name: str) -> tuple[Proc, float, int, int]:
    """Start a worker; returns it with its seconds to ``/health`` 200, RSS then and peak RSS."""
    url = f"http://127.0.0.1:{env['CJO_WEB_PORT']}"
    t0 = time.time()
    proc = spawn_worker(env, os.path.join(tmp, f"{name}.log"), _root())
    ready = wait_health(proc, url, 900.0)
    return proc, ready - t0, rss(proc.pid), peak_rss(proc.pid)


def _root() -> str:
    from cjo_stream.bench.runner import ROOT

    return ROOT


def _env(bootstrap: str, app_id: str, data_dir: str, port: int, **extra: str) -> dict[str, str]:
    from cjo_stream.bench.runner import worker_env

    return worker_env(bootstrap, app_id, data_dir, port, **{"CJO_LOG_LEVEL": "INFO", **extra})


_RESTORED = re.compile(r"restored (\d+) changelog records of \d+ store\(s\) in ([0-9.]+) s")
_SENT_READ = re.compile(r"sent-record: read (\d+) ids of \d+ partition\(s\) in ([0-9.]+) s")
_SENT_BATCHES = re.compile(r"sent-record: read \d+ ids .*?; (\d+) record batches;")


def _restored(proc: Proc, pattern: re.Pattern[str] = _RESTORED) -> tuple[int, float]:
    """Records and seconds of the restores the process logged."""
    found = pattern.findall(proc.tail(1_000_000))
    return sum(int(n) for n, _ in found), sum(float(t) for _, t in found)


def _kill(proc: Proc) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.proc.wait(10)


# ---------------------------------------------------------------------------------------------- identity
def identity_section(tmp: str, counts: list[int], lines: list[bytes] | None) -> dict[str, Any]:
    """Worker start and RSS per number of links; throughput with the most links vs none (same broker)."""
    from cjo_stream.bench.runner import INPUT, produce_all, run_topology

    rows = []
    throughput: dict[str, list[float]] = {}
    for n in counts:
        with LocalBroker() as broker:
            app_id = f"bench-ids{n}"
            s = Settings(bootstrap=broker.bootstrap, app_id=app_id, partitions=8)
            asyncio.run(ensure_topics(s, [s.aliases_topic], compacted=[s.aliases_topic]))
            t = time.perf_counter()
            produce_fast(broker.bootstrap, s.aliases_topic, links(n))
            _log(f"identity: seeded {n:,} links in {time.perf_counter() - t:.0f}s")
            port = free_port()
            env = _env(broker.bootstrap, app_id, os.path.join(tmp, app_id), port)
            proc, fresh, fresh_rss, fresh_peak = _start_worker(env, tmp, f"{app_id}-fresh")
            fresh_restore = _restored(proc)
            proc.stop()
            proc, again, again_rss, again_peak = _start_worker(env, tmp, f"{app_id}-again")
            again_restore = _restored(proc)
            proc.stop()
            rows.append({"links": n, "fresh_s": fresh, "fresh_rss": fresh_rss, "fresh_peak": fresh_peak,
                         "restart_s": again, "restart_rss": again_rss, "restart_peak": again_peak,
                         "fresh_restore": fresh_restore, "again_restore": again_restore})
            _log(f"identity: {n:,} links: fresh {fresh:.1f}s {fresh_rss / MIB:.0f} MiB, "
                 f"restart {again:.1f}s {again_rss / MIB:.0f} MiB")
            if lines and n == max(counts) and n:
                # side by side on this broker and input: the app holding the links (restarted with its
                # checkpoint), then a new app without any; single runs each
                expect = asyncio.run(produce_all(Settings(bootstrap=broker.bootstrap, partitions=8,
                                                          compression="none"), INPUT, lines, 8))
                for label, app in ((f"{n:,} links", app_id), ("no links", "bench-ids-none")):
                    r = run_topology(broker.bootstrap, app, expect, tmp, stall=600.0)
                    throughput[label] = [r.rate]
                    _log(f"identity: throughput with {label}: {r.rate:,.0f} events/s")
    return {"rows": rows, "throughput": throughput}


def print_identity(res: dict[str, Any]) -> None:
    rows = res["rows"]
    print("\nIdentity at scale: one worker (8 partitions), links seeded on <app>.aliases; ready = /health 200 "
          "from process start; RSS when ready (peak in brackets):")
    print(f"  {'links':>10} {'fresh start':>12} {'RSS':>16} {'restored':>24} {'restart (SIGTERM)':>18} {'RSS':>16} "
          f"{'restored':>20}")
    for r in rows:
        (fn, ft), (an, at) = r["fresh_restore"], r["again_restore"]
        print(f"  {r['links']:>10,} {r['fresh_s']:>11.1f}s {r['fresh_rss'] / MIB:>6.0f} ({r['fresh_peak'] / MIB:>4.0f}) MiB "
              f"{fn:>12,} in {ft:>5.1f} s {r['restart_s']:>17.1f}s {r['restart_rss'] / MIB:>6.0f} "
              f"({r['restart_peak'] / MIB:>4.0f}) MiB {an:>8,} in {at:>5.1f} s")
    if len(rows) > 1 and rows[-1]["links"] > rows[0]["links"]:
        m = (rows[-1]["links"] - rows[0]["links"]) / 1e6
        per = {k: (rows[-1][k] - rows[0][k]) / m for k in ("fresh_s", "restart_s", "fresh_rss", "restart_rss",
                                                             "fresh_peak")}
        print(f"  per million links: fresh start +{per['fresh_s']:.2f} s, restart +{per['restart_s']:.2f} s; RSS "
              f"+{per['fresh_rss'] / MIB:.1f} MiB (fresh), +{per['restart_rss'] / MIB:.1f} MiB (restart), peak "
              f"+{per['fresh_peak'] / MIB:.1f} MiB  (goal: <= 10 MiB and <= 2 s)")
    for label, rates in res["throughput"].items():
        print(f"  topology throughput with {label}: {statistics.median(rates):,.0f} events/s "
              f"(runs: {', '.join(f'{x:,.0f}' for x in rates)})")


# ---------------------------------------------------------------------------------------------- sent-record
def _start_adapter(bootstrap: str, tmp: str, name: str, **extra: str) -> tuple[Proc, float, int, int, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update({"CJO_BROKER": bootstrap, "CJO_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **extra})
    t0 = time.time()
    proc = Proc([sys.executable, "-m", "cjo_stream.cli", "adapter", "--channel", "console", "--web-port", str(port)],
                env, os.path.join(tmp, f"{name}.log"), cwd=_root())
    deadline = time.monotonic() + 900
    while True:
        if not proc.alive():
            raise RuntimeError(f"adapter exited ({proc.proc.returncode}):\n{proc.tail()}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0)
            if r.status_code == 200:
                ids = int(r.json().get("sent_ids", 0))
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"adapter not ready:\n{proc.tail()}")
        time.sleep(0.1)
    return proc, time.time() - t0, rss(proc.pid), peak_rss(proc.pid), ids


#: Sent ids a record batch holds in the control row: as a live adapter writes them (~16 at 1,200 commands/s).
LIVE_BATCH = 16


def _sent_case(broker: LocalBroker, tmp: str, n: int, name: str, batch_records: int | None = None) -> dict[str, Any]:
    """Seed ``n`` ids on the console adapter's sent topic; start the adapter fresh, then again with its
    state directory. The broker's CPU while the fresh adapter started is the control for what it costs."""
    s = Settings(bootstrap=broker.bootstrap, partitions=8)
    topic = "cjo.adapter.console.sent"
    asyncio.run(ensure_topics(s, [topic], compacted=[topic]))
    t = time.perf_counter()
    produce_fast(broker.bootstrap, topic, sent_ids(n, 8), batch_records=batch_records)
    _log(f"sent: seeded {n:,} ids in {time.perf_counter() - t:.0f}s")
    state = os.path.join(tmp, f"sent-state-{name}")
    broker_pid = broker.proc.pid if broker.proc is not None else None
    before = cpu_seconds(broker_pid) if broker_pid else 0.0
    proc, fresh, fresh_rss, fresh_peak, ids = _start_adapter(broker.bootstrap, tmp, f"adapter-{name}-fresh",
                                                             CJO_ADAPTER_STATE_DIR=state)
    broker_cpu = cpu_seconds(broker_pid) - before if broker_pid else float("nan")
    fresh_read = _restored(proc, _SENT_READ)
    batches = sum(int(b) for b in _SENT_BATCHES.findall(proc.tail(1_000_000)))
    proc.stop()
    proc, again, again_rss, again_peak, _ = _start_adapter(broker.bootstrap, tmp, f"adapter-{name}-again",
                                                           CJO_ADAPTER_STATE_DIR=state)
    again_read = _restored(proc, _SENT_READ)
    proc.stop()
    _log(f"sent: {n:,} ids ({batches:,} record batches): fresh {fresh:.1f}s {fresh_rss / MIB:.0f} MiB, broker CPU "
         f"{broker_cpu:.1f}s; restart {again:.1f}s {again_rss / MIB:.0f} MiB")
    return {"ids": n, "held": ids, "fresh_s": fresh, "fresh_rss": fresh_rss, "fresh_peak": fresh_peak,
            "restart_s": again, "restart_rss": again_rss, "restart_peak": again_peak, "fresh_read": fresh_read,
            "again_read": again_read, "batches": batches, "broker_cpu": broker_cpu, "live_batches": bool(batch_records)}


def sent_section(tmp: str, counts: list[int]) -> dict[str, Any]:
    """Console adapter (all channels, 8 partitions each) start and RSS per number of sent ids; the webhook
    adapter's throughput with the most ids on its sent-record vs none; and a control: up to 1 M ids in
    record batches as small as a live adapter writes them (the local broker's fetch lists every batch)."""
    from cjo_stream.bench.adapter import adapter_throughput

    rows = []
    throughput: dict[str, dict[str, float]] = {}
    for n in counts:
        with LocalBroker() as broker:
            rows.append(_sent_case(broker, tmp, n, str(n)))
            if n == max(counts):
                pid = broker.proc.pid if broker.proc is not None else 0
                for label, seed in ((f"{n:,} ids", n), ("no ids", 0)):
                    r = asyncio.run(adapter_throughput(broker.bootstrap, 5000, seed_ids=seed,
                                                       broker_cpu=functools.partial(cpu_seconds, pid)))
                    throughput[label] = r
                    _log(f"sent: adapter throughput with {label}: {r['commands_per_s']:,.0f} commands/s")
    control = min(max(counts, default=0), 1_000_000)
    if control:
        with LocalBroker() as broker:
            rows.append(_sent_case(broker, tmp, control, f"{control}-live", batch_records=LIVE_BATCH))
    return {"rows": rows, "throughput": throughput}


def print_sent(res: dict[str, Any]) -> None:
    rows = res["rows"]
    print("\nAdapter sent-record at scale: console adapter (7 delivery topics x 8 partitions), ids seeded on "
          "its sent topic; ready = /health 200 from process start; RSS when ready (peak):")
    print(f"  {'sent ids':>10} {'fresh start':>12} {'RSS':>16} {'read':>24} {'restart (state dir)':>20} {'RSS':>16} "
          f"{'read':>20} {'record batches':>15} {'broker CPU (fresh)':>19}")
    for r in rows:
        (fn, ft), (an, at) = r["fresh_read"], r["again_read"]
        print(f"  {r['ids']:>10,} {r['fresh_s']:>11.1f}s {r['fresh_rss'] / MIB:>6.0f} ({r['fresh_peak'] / MIB:>4.0f}) MiB "
              f"{fn:>12,} in {ft:>5.1f} s {r['restart_s']:>19.1f}s {r['restart_rss'] / MIB:>6.0f} "
              f"({r['restart_peak'] / MIB:>4.0f}) MiB {an:>8,} in {at:>5.1f} s {r.get('batches', 0):>15,} "
              f"{r.get('broker_cpu', float('nan')):>17.1f} s" + (f"  <- control: {LIVE_BATCH} ids a record batch, as a "
                                                                  "live adapter writes them" if r.get("live_batches") else ""))
    main = [r for r in rows if not r.get("live_batches")]
    if len(main) > 1 and main[-1]["ids"] > main[0]["ids"]:
        m = (main[-1]["ids"] - main[0]["ids"]) / 1e6
        per = {k: (main[-1][k] - main[0][k]) / m for k in ("fresh_s", "restart_s", "fresh_rss", "restart_rss",
                                                             "fresh_peak")}
        print(f"  per million ids: fresh start +{per['fresh_s']:.2f} s, restart +{per['restart_s']:.2f} s; RSS "
              f"+{per['fresh_rss'] / MIB:.1f} MiB (fresh), +{per['restart_rss'] / MIB:.1f} MiB (restart), peak "
              f"+{per['fresh_peak'] / MIB:.1f} MiB  (goal: <= 10 MiB and <= 2 s)")
    for label, r in res["throughput"].items():
        print(f"  webhook adapter throughput with {label} on its sent-record: {r['commands_per_s']:,.0f} commands/s "
              f"(CPU a command: bench process with the adapter {r['cpu_per_command'] * 1e6:,.0f} µs, broker "
              f"{r['broker_cpu_per_command'] * 1e6:,.0f} µs)")


# ---------------------------------------------------------------------------------------------- start-up
_JOINED = re.compile(r"stage groups joined ([0-9.]+) s after the worker started")


def startup_section(tmp: str, runs: int) -> dict[str, list[tuple[float, float]]]:
    """Seconds from process start to /health 200 — fresh (new app), after SIGTERM, after SIGKILL — and of
    those, how long the worker waited for its stage groups (from its log)."""
    out: dict[str, list[tuple[float, float]]] = {"fresh": [], "after SIGTERM": [], "after SIGKILL": []}
    with LocalBroker() as broker:
        for i in range(max(1, runs)):
            app_id = f"bench-start{i}"
            env = _env(broker.bootstrap, app_id, os.path.join(tmp, app_id), free_port(), CJO_LOG_LEVEL="INFO")
            for case, name in (("fresh", "1"), ("after SIGTERM", "2"), ("after SIGKILL", "3")):
                proc, t, _, _ = _start_worker(env, tmp, f"{app_id}-{name}")
                joined = [float(x) for x in _JOINED.findall(proc.tail(100_000))]
                out[case].append((t, joined[-1] if joined else float("nan")))
                if case == "after SIGTERM":
                    time.sleep(1.0)
                    _kill(proc)  # the next start is after a crash
                else:
                    proc.stop()
            _log(f"startup run {i + 1}: " + ", ".join(f"{k} {v[-1][0]:.1f}s" for k, v in out.items()))
    return out


def print_startup(res: dict[str, list[tuple[float, float]]]) -> None:
    session = Settings().session_timeout_ms / 1000
    print(f"\nStart-up: one worker, example journeys, 8 partitions, process start -> /health 200 (session timeout "
          f"{session:.0f} s; goal: <= 5 s fresh and after SIGTERM, <= {session + 5:.0f} s after SIGKILL); of it, "
          f"waiting for the stage groups (joined concurrently, while Faust loads):")
    for k, v in res.items():
        print(f"  {k:<15} median {statistics.median(t for t, _ in v):5.1f} s, groups "
              f"{statistics.median(j for _, j in v):4.1f} s   runs: {', '.join(f'{t:.1f}' for t, _ in v)}")


# ---------------------------------------------------------------------------------------------- rolling restart
async def _rolling(bootstrap: str, tmp: str, rate: float, seconds: float) -> dict[str, Any]:
    from cjo_stream.bench.runner import INPUT_LAT, consumer_at_end

    app_id = "bench-rolling"
    envs = [_env(bootstrap, app_id, os.path.join(tmp, f"{app_id}-{i}"), free_port(), CJO_INPUT_TOPIC=INPUT_LAT)
            for i in range(2)]
    procs = [await asyncio.to_thread(lambda e=e, i=i: _start_worker(e, tmp, f"{app_id}-{i}")[0])  # type: ignore[misc]
             for i, e in enumerate(envs)]
    settings = Settings(bootstrap=bootstrap, compression="none")
    outputs = [settings.delivery_topic(c) for c in ("email", "sms", "push", "in_app", "webhook", "slack", "crm")]
    c = await consumer_at_end(bootstrap, outputs, fetch_max_wait_ms=250)
    sent_at: dict[str, float] = {}
    samples: list[tuple[float, float]] = []
    ids: Counter[str] = Counter()
    start = time.time()
    gen = list(generate_events(customers=20_000, seed=7, start=start + 1.0, duration=seconds, rate=rate))
    keys = [_key_of(orjson.dumps(e)) for e in gen]
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    dec = msgspec.json.Decoder()

    async def consume() -> None:
        while True:
            for recs in (await c.getmany(timeout_ms=500)).values():
                for r in recs:
                    cmd = dec.decode(r.value)
                    ids[cmd.get("delivery_id", "")] += 1
                    t = sent_at.get(cmd.get("triggered_by", ""))
                    if t is not None:
                        samples.append((t, r.timestamp / 1000.0 - t))

    marks: dict[str, float] = {}

    async def restart() -> None:
        await asyncio.sleep(seconds * 0.25)
        marks["first stop"] = time.time()
        for i in range(2):
            await asyncio.to_thread(procs[i].stop)
            marks[f"worker {i} stopped"] = time.time()
            procs[i] = (await asyncio.to_thread(_start_worker, envs[i], tmp, f"{app_id}-{i}-again"))[0]
            marks[f"worker {i} ready again"] = time.time()
            await asyncio.sleep(2.0)

    consumer_task = asyncio.create_task(consume())
    restarter = asyncio.create_task(restart())
    t0 = time.monotonic() + 1.0
    n = 0
    try:
        while n < len(gen):
            due = int((time.monotonic() - t0) * rate)
            now = time.time()
            stamp = format_ts(now)
            while n < min(due, len(gen)):
                e = gen[n]
                e["timestamp"] = stamp
                sent_at[e["messageId"]] = now
                await producer.send(INPUT_LAT, orjson.dumps(e), key=keys[n])
                n += 1
            await asyncio.sleep(0.005)
        await restarter
        await asyncio.sleep(5.0)
        marks_end = time.time()  # the teardown's stops and rebalances below are not the rolling restart's
    finally:
        consumer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer_task
        await producer.stop()
        await c.stop()
        for p in procs:
            p.stop()
    lat = sorted(x for _, x in samples)
    stop_at = marks.get("first stop", start)
    window = sorted(x for t, x in samples if stop_at - 1 <= t <= max(marks.values(), default=stop_at) + 3)
    return {"events": n, "commands": len(samples), "p50": lat[len(lat) // 2] if lat else None,
            "p99": lat[int(len(lat) * 0.99)] if lat else None, "max": lat[-1] if lat else None,
            "window_p99": window[int(len(window) * 0.99)] if window else None, "window_n": len(window),
            "duplicates": sum(v - 1 for v in ids.values() if v > 1),
            "restart_seconds": max(marks.values(), default=stop_at) - stop_at, "seconds": seconds,
            "timeline": _timeline(samples, start, marks),
            "phases": _phases([os.path.join(tmp, f"{app_id}-{i}{again}.log") for i in range(2) for again in ("", "-again")],
                              marks_end)}


_LOGGED_AT = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")
_STOPPED = re.compile(r"stopped in ([0-9.]+) s: loops ended after [0-9.]+ s, groups left after ([0-9.]+) s")
_GAVE_UP = re.compile(r"stage 2: gave up \d+ partition\(s\) for a rebalance in ([0-9.]+) s")
_ASSIGNED = re.compile(r"stage 2: assigned partitions \S+ \(restored in ([0-9.]+) s, ([0-9.]+) s after the rebalance began\)")


def _phases(logs: list[str], until: float = float("inf")) -> dict[str, list[float]]:
    """The hand-over's phases as the workers logged them before ``until`` (epoch seconds): a stopping
    worker's time until it left its groups, the others' revoke (finish the batch, read the changelog ends),
    revoke -> assignment (the broker's rebalance), restore."""
    text = ""
    for path in logs:
        with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = _LOGGED_AT.match(line)
                if m and time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S")) + int(m[2]) / 1000 < until:
                    text += line
    return {"left": [float(m[1]) for m in _STOPPED.findall(text)],
            "revoke": [float(m) for m in _GAVE_UP.findall(text)],
            "rebalance": [float(m[1]) for m in _ASSIGNED.findall(text)],
            "restore": [float(m[0]) for m in _ASSIGNED.findall(text)]}


def _timeline(samples: list[tuple[float, float]], start: float, marks: dict[str, float],
              width: float = 2.0) -> list[tuple[float, int, float, list[str]]]:
    """Per ``width`` seconds of event time: (offset, commands, p99 latency, restart marks in it), to see
    which phase of a rolling restart (a stop, a rebalance, a restore, a start) delays events."""
    rows: dict[int, list[float]] = {}
    for t, lat in samples:
        rows.setdefault(int((t - start) // width), []).append(lat)
    for at in marks.values():  # a restart after the last event still gets its row
        rows.setdefault(int((at - start) // width), [])
    out = []
    for k in sorted(rows):
        lats = sorted(rows[k])
        names = [m for m, at in marks.items() if k * width <= at - start < (k + 1) * width]
        out.append((k * width, len(lats), lats[min(len(lats) - 1, int(len(lats) * 0.99))] if lats else 0.0, names))
    return out


def rolling_section(tmp: str, rate: float, seconds: float) -> dict[str, Any]:
    with LocalBroker() as broker:
        return asyncio.run(_rolling(broker.bootstrap, tmp, rate, seconds))


def print_rolling(r: dict[str, Any], rate: float) -> None:
    def ms(x: float | None) -> str:
        return f"{x * 1000:,.0f} ms" if x is not None else "n/a"

    print(f"\nRolling restart of 2 workers under load ({rate:,.0f} events/s for {r['seconds']:.0f} s, 8 partitions; "
          f"each worker SIGTERMed and started again in turn, {r['restart_seconds']:.0f} s from the first stop until "
          f"the second worker was ready): event produced -> command produced over the whole run p50 "
          f"{ms(r['p50'])}, p99 {ms(r['p99'])}, max {ms(r['max'])}; during the restarts p99 {ms(r['window_p99'])} "
          f"({r['window_n']:,} commands); {r['commands']:,} commands, {r['duplicates']} duplicate delivery ids "
          f"(goal: p99 <= 2 s)")
    print("  event time -> commands, p99 latency per 2 s (and what happened then):")
    for at, n, p99, names in r.get("timeline", []):
        print(f"    {at:5.0f} s {n:6,} {p99 * 1000:8,.0f} ms  {', '.join(names)}")
    ph = r.get("phases") or {}

    def spread(xs: list[float]) -> str:
        return f"{min(xs):.1f}-{max(xs):.1f} s ({len(xs)})" if xs else "n/a"

    print(f"  hand-over phases from the workers' logs: SIGTERM -> groups left {spread(ph.get('left', []))}; "
          f"revoke (last batch, checkpoint) {spread(ph.get('revoke', []))}; revoke -> assigned (the broker's "
          f"rebalance) {spread(ph.get('rebalance', []))}; restore {spread(ph.get('restore', []))}")
