"""``make bench`` section ``analytics``: how fast the analytics service folds, how fast its page answers.

1. **Fold throughput**: the journey events the workers would write for the bench input (the simulator
   runs the same engine over it; source positions as a worker sets them) are produced to a fresh broker,
   then one ``cjo-stream analytics`` process folds them (decode, fold, RocksDB write batches, changelog):
   journey events/s from its first folded record to the last, and its CPU.
2. **Page load**: a journey of 50 steps with 30 days of hourly buckets (every counter of every step set
   in each hour); the page and the API answer over HTTP on loopback, p50/p99 of 30 loads after one
   warm-up (the first load also lays the map out with Graphviz: reported apart).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import httpx
import orjson

from cjo_stream.analytics import records
from cjo_stream.analytics.fold import Analytics, Counters
from cjo_stream.analytics.offline import definitions
from cjo_stream.bench.procs import Proc, cpu_seconds, peak_rss, scrape
from cjo_stream.config import Settings
from cjo_stream.engine import Engine, Result
from cjo_stream.events import InvalidEvent, decode_event
from cjo_stream.identity import canonical
from cjo_stream.journeys.loader import load_journey_text, load_topology
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.simulator import Simulator


def journey_events_of(lines: Iterable[bytes], root: str, partitions: int = 8) -> list[bytes]:
    """The encoded journey events of the input, as workers write them: each decision's transitions and stage
    moves, and each receipt's event, in the order a worker writes them, each at a source position of the
    customer's internal partition (``partitions``, the journey-events topic's too), increasing per partition.
    (Until 2026-12-04 every record had a position of one partition 0: folded in another order than written,
    most counted as duplicates, which the fold drops at a fraction of a fold's cost.)"""
    topo = load_topology(os.path.join(root, "topologies"))
    out: list[bytes] = []
    part = Partitioner(partitions)
    pos = [0] * partitions

    def capture(e: records.JourneyEvent) -> None:
        p = part(e.customer_id.encode())
        pos[p] += 1
        e.src = (p, pos[p], 0)
        out.append(records.encode(e))

    def written(result: Result) -> None:
        cid = result.profile.customer_id
        for e in [*records.journey_events(result, cid, zone), *records.stage_events(result, cid)]:
            capture(e)

    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages), on_result=written, analyse=False)
    zone = sim.analytics.default_zone
    for raw in lines:
        try:
            ev = decode_event(raw.strip())
        except InvalidEvent:
            continue
        cid = canonical(sim.links, ev.user_id or ev.anonymous_id or "")  # the simulator's customer for it
        dropped = sim.duplicates
        sim.handle(ev)
        if sim.duplicates == dropped and ev.name.startswith(records.RECEIPT_PREFIX):  # as the simulator folds it
            r = records.receipt_event(ev, cid)
            if r is not None:
                capture(r)
    sim.finish()
    return out


async def _produce(settings: Settings, values: list[bytes]) -> None:
    await ensure_topics(settings, [settings.journey_events_topic])
    p = make_producer(settings, linger_ms=20)
    await p.start()
    try:
        futs = [await p.send(settings.journey_events_topic, v, key=orjson.loads(v)["customer_id"].encode())
                for v in values]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


def fold_throughput(values: list[bytes], tmp: str, root: str) -> dict[str, float]:
    with LocalBroker() as broker:
        s = Settings(bootstrap=broker.bootstrap, partitions=8)
        asyncio.run(_produce(s, values))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
        env.update(CJO_BROKER=broker.bootstrap, CJO_DATA_DIR=os.path.join(tmp, "analytics"), CJO_PARTITIONS="8",
                   CJO_TOPOLOGIES=os.path.join(root, "topologies"), PYTHONUNBUFFERED="1", CJO_LOG_LEVEL="WARNING")
        import sys

        proc = Proc([sys.executable, "-m", "cjo_stream.cli", "analytics", "--web-port", str(port)], env,
                    os.path.join(tmp, "analytics.log"), cwd=root)
        try:
            first: tuple[float, float, float] | None = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                if not proc.alive():
                    raise RuntimeError(f"analytics exited:\n{proc.tail()}")
                try:
                    m = scrape(f"http://127.0.0.1:{port}/metrics")
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.2)
                    continue
                n = m.get("cjo_analytics_journey_events_total", 0.0) + m.get("cjo_analytics_duplicates_total", 0.0)
                t, cpu = time.perf_counter(), cpu_seconds(proc.pid)
                if n > 0 and first is None:
                    first = (n, t, cpu)
                if first is not None and n >= len(values):
                    secs = t - first[1]
                    return {"events": n - first[0], "seconds": secs, "rate": (n - first[0]) / secs,
                            "duplicates": m.get("cjo_analytics_duplicates_total", 0.0),
                            "cpu_per_1k": (cpu - first[2]) / (n - first[0]) * 1000, "rss": peak_rss(proc.pid)}
                time.sleep(0.05)
            raise RuntimeError(f"analytics did not fold everything:\n{proc.tail()}")
        finally:
            proc.stop()


def long_journey(steps: int = 50) -> str:
    """A journey of ``steps`` steps: waits, sends on three channels, branches and a 3-arm split."""
    out = ["journey: long", "version: 1", "entry: {event: signed_up}", "holdout: 5", "goal: {event: order_completed}",
           "exit_on: [{event: unsubscribed}]", "steps:"]
    for i in range(steps):
        sid = f"s{i:02d}"
        nxt = f"s{i + 1:02d}" if i + 1 < steps else "end"
        if i == 10:
            out.append(f"  - {{id: {sid}, split: [{{variant: a, weight: 34, next: {nxt}}}, {{variant: b, weight: 33, "
                       f"next: {nxt}}}, {{variant: control, weight: 33, next: {nxt}}}]}}")
        elif i % 7 == 3 and i + 2 < steps:
            out.append(f"  - {{id: {sid}, branch: [{{when: profile.traits.vip == true, next: s{i + 2:02d}}}, "
                       f"{{else: {nxt}}}]}}")
        elif i % 3 == 1:
            ch = ("email", "push", "sms")[i % 3 - 1 + (i // 3) % 2]
            out.append(f"  - {{id: {sid}, send: {{channel: {ch}, content: {{body: hi}}}}, next: {nxt}}}")
        else:
            out.append(f"  - {{id: {sid}, wait: 1h, next: {nxt}}}")
    return "\n".join(out) + "\n"


def month_of_buckets(steps: int = 50, hours: int = 30 * 24) -> tuple[Any, Analytics]:
    """Hourly buckets for 30 days where every step's every counter is set (a busy journey)."""
    j = load_journey_text(long_journey(steps), "long.yaml")
    h0 = int(time.time() // 3600) - hours
    template: Counters = {"entered": 1000, "holdout": 50, "converted": 90, "h|converted": 3, "ended": 700,
                          "exited": 80, "expired": 30}
    prev = ""
    for sid, st in j.steps.items():
        template.update({f"s|{sid}|reached": 900, f"s|{sid}|continued": 850, f"s|{sid}|end|ended": 20,
                         f"s|{sid}|end|converted": 2, f"s|{sid}|end|exited": 2, f"e|{prev}|{sid}": 850,
                         f"e|{sid}|!converted": 2, f"e|{sid}|!exited": 2})
        if st.kind == "send":
            ch = st.send.channel if st.send is not None else "email"
            template.update({f"s|{sid}|sent": 800, f"s|{sid}|skip|frequency_cap": 40, f"s|{sid}|rcpt|opened": 200,
                             f"c|{ch}|sent": 800, f"c|{ch}|rcpt|delivered": 780, f"c|{ch}|rcpt|opened": 200})
        prev = sid
    for v in ("a", "b", "control"):
        template.update({f"a|s10|{v}": 300, f"v|{v}|entered": 300, f"v|{v}|converted": 27})
    for i in range(24):
        template.update({f"lh|email|{i}|sent": 30, f"lh|email|{i}|opened": 8})
    for i in range(1, 11):
        template.update({f"fq|email|{i}|sent": 60, f"fq|email|{i}|opened": 15})
    for i in range(24):
        template[f"ttc|{i}"] = 4
    buckets = {("long", 1, h0 + h): dict(template) for h in range(hours)}
    return j, Analytics(buckets=buckets)  # as the service loads them: totals summed once


async def _page_loads(app: Any, paths: list[str], n: int) -> dict[str, Any]:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    out: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for path in paths:
                t0 = time.perf_counter()
                r = await c.get(path)
                r.raise_for_status()
                cold = time.perf_counter() - t0
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = await c.get(path)
                    r.raise_for_status()
                    times.append(time.perf_counter() - t0)
                times.sort()
                out[path] = {"cold": cold, "p50": statistics.median(times), "p99": times[int(len(times) * 0.99) - 1],
                             "bytes": len(r.content)}
    finally:
        await runner.cleanup()
    return out


def page_load(n: int = 30) -> dict[str, Any]:
    from cjo_stream.analytics.web import build_app

    j, a = month_of_buckets()
    buckets = a.buckets
    svc = SimpleNamespace(buckets=buckets, totals=a.totals, defs=definitions([j]), s=Settings(),
                          health=lambda: {"status": "ok"}, stages=(), restored=True)
    res = asyncio.run(_page_loads(build_app(svc), ["/journeys/long", "/analytics/journeys/long", "/"], n))  # type: ignore[arg-type]
    res["buckets"] = len(buckets)
    res["counters"] = sum(len(b) for b in buckets.values())
    return res


def report(values: list[bytes], inputs: int, tmp: str, root: str) -> None:
    """Print the section; ``values``: :func:`journey_events_of` the bench input (``inputs`` events)."""
    print(f"\nAnalytics (the journey events workers write for the bench input: {len(values):,}, "
          f"{len(values) / max(1, inputs):.2f} per input event)")
    r = fold_throughput(values, tmp, root)
    print(f"  fold (one `cjo-stream analytics` process: decode, fold, RocksDB, changelog): "
          f"{r['rate']:,.0f} journey events/s, {r['cpu_per_1k']:.3f} CPU s / 1k, peak RSS {r['rss'] / 2**20:.0f} MiB "
          f"(target >= 25,000/s; {r['duplicates']:,.0f} dropped as duplicates)")
    p = page_load()
    print(f"  page load, 50-step journey, {p['buckets']} hourly buckets (30 days, {p['counters']:,} counters):")
    for path in ("/journeys/long", "/analytics/journeys/long", "/"):
        x = p[path]
        first = "first, incl. the Graphviz layout" if path.startswith("/journeys/") else "first"
        print(f"    GET {path:<28} p50 {x['p50'] * 1000:6.1f} ms  p99 {x['p99'] * 1000:6.1f} ms  "
              f"({first}: {x['cold'] * 1000:.0f} ms; {x['bytes'] / 1024:.0f} KiB)  (target <= 200 ms)")
    print(f"bench: analytics_journey_events_per_s={r['rate']:.0f} "
          f"analytics_page_p99_ms={p['/journeys/long']['p99'] * 1000:.1f}")
