"""``make bench``: the whole topology vs. its peers (plain Faust, Quix Streams, Bytewax) vs. the raw aiokafka
ceiling, side by side.

One local broker, one generated input (pre-produced, so the producer does not compete for CPU while
consumers are measured), each contender in its own process (CPU and peak RSS are its own) reading the
same topic with its own group. Each throughput is measured from the first processed event to the
input being drained (the plain Faust peer: over at most ``--faust-window`` seconds, it is ~10x slower;
the peers: cjo_stream/bench/peers.py);
the figure shown is the median of ``--runs`` runs. Then: produce→command latency at a fixed rate,
state bytes per customer, restore time and timer lateness with many pending timers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream.bench.peers import PeerUnavailable, run_peer, watch
from cjo_stream.bench.procs import (
    Proc,
    by_label,
    cpu_seconds,
    histogram,
    peak_rss,
    quantile,
    scrape,
    spawn_worker,
    wait_health,
)
from cjo_stream.bench.replay import print_replay, replay_section
from cjo_stream.bench.sends import SEND_HEAVY, print_send_cost, send_cost_section
from cjo_stream.config import Settings
from cjo_stream.events import format_ts, parse_ts
from cjo_stream.generator import generate_events
from cjo_stream.kafka.batches import BatchReader
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.kafka.outbox import Outbox
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.reading import read_to_end
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.runtime.commands import _key_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INPUT = "bench.touchpoints"


@dataclass
class Run:
    events: int
    seconds: float
    cpu: float
    rss: int
    sends: int = 0  # delivery commands the run produced (the topology's ``cjo_sends_total``)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu / self.events * 1000 if self.events else 0.0


@dataclass
class Contender:
    name: str
    runs: list[Run] = field(default_factory=list)
    why_not: str = ""  # a peer that could not run: the reason, printed in its row

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs) if self.runs else 0.0


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- input
def make_input(events: int, customers: int, seed: int) -> tuple[list[bytes], int]:
    """Generated touchpoints (at least ``events``, from ``customers`` simulated customers)."""
    days = 5.0
    while True:
        lines = [orjson.dumps(e) for e in generate_events(customers=customers, seed=seed,
                                                          start=time.time() - 10 * 86400, duration=days * 86400)]
        if len(lines) >= events or days > 60:
            break
        days *= max(1.2, events / max(len(lines), 1) * 1.1)
    keys = {k for k in (_key_of(x) for x in lines) if k}
    return lines, len(keys)


def compress_timeline(lines: list[bytes], span: float) -> list[bytes]:
    """The same events, their timestamps mapped linearly (order kept) into the ``span`` seconds before now.

    Decisions are made at event time, so days of history drained in seconds would fire every wait
    (hours to days) as a replay does. Compressed into the last minute, the journeys' waits stay pending
    as in a live run, where events are processed moments after they happen.
    """
    stamps = [orjson.loads(x)["timestamp"] for x in lines]
    ts = [parse_ts(t) for t in stamps]
    lo, hi = min(ts), max(ts)
    end = time.time()
    scale = span / max(hi - lo, 1e-9)
    out = []
    for line, old, t in zip(lines, stamps, ts, strict=True):
        new = format_ts(end - span + (t - lo) * scale)
        out.append(line.replace(f'"timestamp":"{old}"'.encode(), f'"timestamp":"{new}"'.encode(), 1))
    return out


def state_per_customer(lines: list[bytes]) -> list[int]:
    """Stored profile size per customer after living through the input's real timeline.

    Simulated with the same engine as the workers (simulate = live), so the records are what a worker
    stores for these customers after those days; encoded as the worker stores them, key included.
    """
    from cjo_stream.engine import Engine
    from cjo_stream.journeys.loader import load_topology
    from cjo_stream.runtime.stored import encode_stored
    from cjo_stream.simulator import Simulator

    topo = load_topology(os.path.join(ROOT, "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    sim.run_lines(lines)
    return sorted(len(encode_stored(2**31, p, sim.recent_ids.get(cid, b""))) + len(cid.encode())
                  for cid, p in sim.profiles.items())


async def produce_all(settings: Settings, topic: str, lines: Iterable[bytes], partitions: int) -> int:
    """Produce keyed records as whole record batches (fast: this is set-up, not the measurement).

    The topic is created with Kafka's default ``retention.ms`` stated: a Kafka broker reports it for
    every topic, the local broker only when it was given, and Quix Streams needs it (bench/quix_peer.py).
    """
    await ensure_topics(settings, [topic], partitions={topic: partitions},
                        configs={topic: {"retention.ms": str(7 * 86400 * 1000)}})
    producer = make_producer(settings)
    await producer.start()
    n = 0
    try:
        out = Outbox(producer, Partitioner(partitions))
        for line in lines:
            out.add(topic, _key_of(line), line)
            n += 1
            if out.count >= 20_000:
                await out.flush()
        await out.flush()
    finally:
        await producer.stop()
    return n


# ---------------------------------------------------------------------------------------------- contenders
#: ``--set CJO_X=V``: settings for every worker the bench starts (A/B comparisons of a setting)
WORKER_SETTINGS: dict[str, str] = {}


def worker_env(bootstrap: str, app_id: str, data_dir: str, web_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(CJO_BROKER=bootstrap, CJO_APP_ID=app_id, CJO_INPUT_TOPIC=INPUT, CJO_RECEIPTS_TOPIC=f"{app_id}.receipts",
               CJO_PARTITIONS="8", CJO_STORE="rocksdb", CJO_DATA_DIR=data_dir, CJO_WEB_PORT=str(web_port),
               CJO_TOPOLOGIES=os.path.join(ROOT, "topologies"), CJO_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    env.update(WORKER_SETTINGS)
    env.update(extra)
    return env


def run_topology(bootstrap: str, app_id: str, expect: int, tmp: str, stall: float = 90.0, **env: str) -> Run:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_worker(worker_env(bootstrap, app_id, os.path.join(tmp, app_id), port, **env),
                        os.path.join(tmp, f"{app_id}.log"), ROOT)
    try:
        first: tuple[float, float, float] | None = None
        last_n, last_change = -1.0, time.monotonic()
        while True:
            if not proc.alive():
                raise RuntimeError(f"worker exited ({proc.proc.returncode}):\n{proc.tail()}")
            try:
                m = scrape(f"{url}/metrics")
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
                continue
            t, cpu = time.perf_counter(), cpu_seconds(proc.pid)
            n = m.get("cjo_events_consumed_total", 0.0) + m.get("cjo_events_duplicate_total", 0.0)
            if n > 0 and first is None:
                first = (n, t, cpu)
            if n >= expect and first is not None:
                return Run(int(n - first[0]), t - first[1], cpu - first[2], peak_rss(proc.pid),
                           int(m.get("cjo_sends_total", 0.0)))
            if n != last_n:
                last_n, last_change = n, time.monotonic()
            elif time.monotonic() - last_change > stall:
                raise RuntimeError(f"topology stalled at {n:.0f}/{expect} events:\n{proc.tail()}")
            time.sleep(_poll_interval(first, n, t, expect))
    finally:
        proc.stop()


def _poll_interval(first: tuple[float, float, float] | None, n: float, t: float, expect: float) -> float:
    """Seconds until the next scrape of the worker's /metrics: about half the time the events left need
    at the rate so far, between 0.05 s and 1 s. Each scrape costs the measured worker a /metrics page
    (every series rendered, ~2.6 ms); at a fixed 0.1 s that was 2.6 % of its main thread's samples
    (py-spy), a cost no deployment pays at Prometheus's 15 s. The end is still seen within 0.05 s."""
    if first is None or t <= first[1] or n <= first[0]:
        return 0.1
    rate = (n - first[0]) / (t - first[1])
    return min(1.0, max(0.05, (expect - n) / rate / 2))


def run_plain_faust(bootstrap: str, app_id: str, expect: int, tmp: str, window: float) -> Run:
    progress = os.path.join(tmp, f"{app_id}.progress")
    env = {**os.environ, "BENCH_BROKER": bootstrap, "BENCH_TOPIC": INPUT, "BENCH_APP_ID": app_id,
           "BENCH_DATA_DIR": os.path.join(tmp, app_id), "BENCH_PROGRESS": progress, "PYTHONUNBUFFERED": "1"}
    proc = Proc([sys.executable, "-m", "cjo_stream.bench.plain_faust"], env, os.path.join(tmp, f"{app_id}.log"),
                cwd=ROOT)
    try:
        m = watch(proc, progress, expect, window, "plain Faust")
        return Run(m.events, m.seconds, m.cpu, m.rss)
    finally:
        proc.stop()


def measure_peer(c: Contender, kind: str, bootstrap: str, expect: int, tmp: str, window: float, i: int) -> None:
    """One run of a peer (Quix Streams or Bytewax); one that cannot run says why and is not run again."""
    if c.why_not:
        return
    try:
        m = run_peer(kind, bootstrap, INPUT, f"bench-{kind}{i}", expect, tmp, window, ROOT)
    except PeerUnavailable as e:
        c.why_not = str(e)
    except Exception as e:  # noqa: BLE001 - whatever stops a peer, the bench goes on without it
        c.why_not = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    else:
        c.runs.append(Run(m.events, m.seconds, m.cpu, m.rss))
        log(f"{c.name} run {i + 1}: {c.runs[-1].rate:,.0f} events/s")
        return
    log(f"{c.name}: did not run: {c.why_not}")


def run_ceiling(bootstrap: str, expect: int, tmp: str) -> Run:
    env = {**os.environ, "BENCH_BROKER": bootstrap, "BENCH_TOPIC": INPUT, "BENCH_EXPECT": str(expect)}
    proc = Proc([sys.executable, "-m", "cjo_stream.bench.ceiling"], env, os.path.join(tmp, "ceiling.log"),
                cwd=ROOT, capture=True)
    out, _ = proc.proc.communicate(timeout=300)
    proc.stop()
    res = orjson.loads(out.strip().splitlines()[-1])
    return Run(int(res["n"]), res["seconds"], res["cpu"], int(res["rss_bytes"]))


# ---------------------------------------------------------------------------------------------- extra figures
async def read_last_values(bootstrap: str, topic: str) -> dict[bytes, int]:
    """Sizes of the latest value per key of a changelog (a compacted topic's meaning)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                         max_partition_fetch_bytes=8 * 1024 * 1024)
    await c.start()
    sizes: dict[bytes, int] = {}
    try:
        await c.topics()
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        c.assign(tps)
        await c.seek_to_beginning(*tps)

        def apply(recs: list[Any]) -> None:
            for r in recs:
                if r.value is None:
                    sizes.pop(r.key, None)
                else:
                    sizes[r.key] = len(r.key) + len(r.value)

        await read_to_end(c, tps, apply)
    finally:
        await c.stop()
    return sizes


async def consumer_at_end(bootstrap: str, topics: list[str], fetch_max_wait_ms: int) -> AIOKafkaConsumer:
    """A group-less consumer of every partition of ``topics``, positioned at their current ends."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                         fetch_max_wait_ms=fetch_max_wait_ms)
    await c.start()
    await c.topics()
    tps = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())]
    c.assign(tps)
    await c.seek_to_end(*tps)
    for tp in tps:
        await c.position(tp)  # resolve the end offsets now, before anything is produced
    return c


async def latency_run(bootstrap: str, tmp: str, rate: float, seconds: float, linger_ms: int = 5,
                      partitions: int = 8, **env: str) -> dict[str, Any]:
    """Produce at a fixed rate into a running worker; time from an event's send to its delivery command.

    The command's time is its record timestamp (CreateTime, set by the worker's producer when it
    sends the command), so the figure is "event produced -> command produced". The reading consumer
    uses a long fetch wait on purpose: polling 56 output partitions every 10 ms costs the local
    broker a fifth of a core and would slow down the very worker being measured.
    """
    app_id = "bench-latency"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_worker(worker_env(bootstrap, app_id, os.path.join(tmp, app_id), port, CJO_INPUT_TOPIC=INPUT_LAT,
                                   CJO_PARTITIONS=str(partitions), **env),
                        os.path.join(tmp, f"{app_id}.log"), ROOT)
    settings = Settings(bootstrap=bootstrap, partitions=partitions, compression="none")  # upstream producer
    try:
        await asyncio.to_thread(wait_health, proc, url)
        outputs = [settings.delivery_topic(c) for c in ("email", "sms", "push", "in_app", "webhook", "slack", "crm")]
        c = await consumer_at_end(bootstrap, outputs, fetch_max_wait_ms=250)
        sent_at: dict[str, float] = {}
        samples: list[tuple[float, float]] = []  # (sent at, latency)
        start = time.time()
        gen = list(generate_events(customers=20_000, seed=99, start=start + 1.0, duration=seconds, rate=rate))
        keys = [_key_of(orjson.dumps(e)) for e in gen]
        producer = make_producer(settings, linger_ms=linger_ms)
        await producer.start()

        async def consume() -> None:
            dec = msgspec.json.Decoder()
            while True:
                data = await c.getmany(timeout_ms=500)
                for recs in data.values():
                    for r in recs:
                        cmd = dec.decode(r.value)
                        t = sent_at.get(cmd.get("triggered_by", ""))
                        if t is not None:
                            samples.append((t, r.timestamp / 1000.0 - t))

        consumer_task = asyncio.create_task(consume())
        before = histogram(f"{url}/metrics", "cjo_decision_latency_seconds")
        t0 = time.monotonic() + 1.0
        n = 0
        while n < len(gen):
            due = int((time.monotonic() - t0) * rate)
            now = time.time()
            stamp = format_ts(now)  # event time = send time, so the worker's decision latency is meaningful
            while n < min(due, len(gen)):
                e = gen[n]
                e["timestamp"] = stamp
                sent_at[e["messageId"]] = now
                await producer.send(INPUT_LAT, orjson.dumps(e), key=keys[n])  # acknowledged in the background
                n += 1
            await asyncio.sleep(0.005)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(3.0)  # let the last commands arrive
        consumer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer_task
        await producer.stop()
        await c.stop()
        after = histogram(f"{url}/metrics", "cjo_decision_latency_seconds")
        paths = by_label(f"{url}/metrics", "cjo_internal_records_total")
        return {"loopback_records": paths.get("loopback", 0.0), "fetched_records": paths.get("fetched", 0.0),
                "events": n, "rate": n / elapsed if elapsed > 0 else 0.0, "commands": len(samples),
                **percentiles(samples), "windows": windows(samples),
                "decision_p50": quantile(0.5, before, after), "decision_p99": quantile(0.99, before, after)}
    finally:
        proc.stop()


INPUT_LAT = "bench.latency.touchpoints"
WARMUP = 2.0  # seconds at the start of a latency run left out of the steady-state figures (metadata, joins)


def percentiles(samples: list[tuple[float, float]], skip: float = WARMUP) -> dict[str, float | None]:
    """p50/p99 of (sent at, latency) samples after the first ``skip`` seconds, and over the whole run."""
    out: dict[str, float | None] = {}
    if not samples:
        return {"p50": None, "p99": None, "all_p99": None, "max": None}
    t0 = min(t for t, _ in samples)
    steady = sorted(lat for t, lat in samples if t - t0 >= skip)
    every = sorted(lat for _, lat in samples)
    out["p50"] = steady[len(steady) // 2] if steady else None
    out["p99"] = steady[int(len(steady) * 0.99)] if steady else None
    out["all_p99"] = every[int(len(every) * 0.99)]
    out["max"] = every[-1]
    return out


def windows(samples: list[tuple[float, float]], width: float = 5.0) -> list[tuple[float, float]]:
    """p99 per ``width``-second window of the run: shows whether latency drifts as the broker fills."""
    if not samples:
        return []
    t0 = min(t for t, _ in samples)
    buckets: dict[int, list[float]] = {}
    for t, lat in samples:
        buckets.setdefault(int((t - t0) // width), []).append(lat)
    return [(i * width, sorted(v)[int(len(v) * 0.99)]) for i, v in sorted(buckets.items())]


async def hop_baseline(bootstrap: str, rate: float, seconds: float, linger_ms: int = 5,
                       partitions: int = 8) -> dict[str, Any]:
    """The broker's floor: one produce -> consume hop at the same rate, producer and fetch settings.

    The topology makes two such hops (input -> internal topic -> outputs), so its latency cannot be
    below about twice this on the same broker.
    """
    topic = "bench.latency.hop"
    settings = Settings(bootstrap=bootstrap, partitions=partitions, compression="none")
    await ensure_topics(settings, [topic])
    producer = make_producer(settings, linger_ms=linger_ms)
    await producer.start()
    c = await consumer_at_end(bootstrap, [topic], fetch_max_wait_ms=settings.fetch_max_wait_ms)
    samples: list[tuple[float, float]] = []
    payload = b" " * 160

    async def consume() -> None:
        while True:
            data = await c.getmany(timeout_ms=100)
            now = time.time()
            for recs in data.values():
                for r in recs:
                    t = float(r.key)
                    samples.append((t, now - t))

    task = asyncio.create_task(consume())
    t0, n, total = time.monotonic(), 0, int(rate * seconds)
    while n < total:
        due = min(total, int((time.monotonic() - t0) * rate))
        while n < due:
            await producer.send(topic, payload, key=repr(time.time()).encode(), partition=n % partitions)
            n += 1
        await asyncio.sleep(0.005)
    await asyncio.sleep(2.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await producer.stop()
    await c.stop()
    return {"records": len(samples), **percentiles(samples), "windows": windows(samples)}


async def restore_and_timers(bootstrap: str, tmp: str, customers: int, window: float,
                             measure: float) -> dict[str, Any]:
    """Seed ``customers`` profiles + pending timers into changelogs; start a worker; measure restore
    time and the lateness of the timers falling due in ``measure`` seconds after it is ready."""
    from cjo_stream.bench.seed import waiting_customers
    from cjo_stream.journeys.loader import load_topology

    app_id = "bench-restore"
    s = Settings(bootstrap=bootstrap, partitions=8, app_id=app_id)
    await ensure_topics(s, [s.profiles_changelog, s.timers_changelog], compacted=[s.profiles_changelog,
                                                                                  s.timers_changelog])
    topology = load_topology(os.path.join(ROOT, "topologies"))
    producer = make_producer(s)
    await producer.start()
    part = Partitioner(8)
    seeded_at = time.time()
    # timers fall due from 60 s after seeding (past the expected restore) and keep falling due for `window` s
    # (the rest of the million stays pending far in the future: that is the load the timer index carries)
    due_from = seeded_at + 60.0 + customers * 25e-6 * 1.5

    def due(i: int) -> float:
        return due_from + (i % 97) / 97 * window if i % 10 == 0 else seeded_at + 6 * 3600 + i % 3600

    t_seed = time.perf_counter()
    try:
        out = Outbox(producer, part)
        for key, prof, tkey, timer in waiting_customers(topology, customers, due):
            p = part(key)
            out.add(s.profiles_changelog, key, prof, partition=p)
            out.add(s.timers_changelog, tkey, timer, partition=p)
            if out.count >= 40_000:
                await out.flush()
        await out.flush()
    finally:
        await producer.stop()
    log(f"seeded {customers:,} profiles and timers in {time.perf_counter() - t_seed:.0f}s")
    sizes = await read_last_values(bootstrap, s.profiles_changelog)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    proc = spawn_worker(worker_env(bootstrap, app_id, os.path.join(tmp, app_id), port),
                        os.path.join(tmp, f"{app_id}.log"), ROOT)
    try:
        ready = await asyncio.to_thread(wait_health, proc, url, 900.0)
        m = scrape(f"{url}/metrics")
        restore = m.get("cjo_state_restore_seconds_sum", 0.0)
        pending = m.get("cjo_timers_pending", 0.0)
        wait = max(0.0, due_from - time.time())
        if wait:
            await asyncio.sleep(wait)
        before = histogram(f"{url}/metrics", "cjo_timer_lateness_seconds")
        fired0 = m.get("cjo_timer_lateness_seconds_count", 0.0)
        await asyncio.sleep(measure)
        after = histogram(f"{url}/metrics", "cjo_timer_lateness_seconds")
        fired = (after[-1][1] if after else 0.0) - (before[-1][1] if before else 0.0)
        return {"customers": customers, "profiles_restored": int(m.get("cjo_profiles", 0.0)),
                "restore_seconds": restore, "start_to_ready_seconds": ready - t0, "pending_timers": int(pending),
                "fired": int(fired), "fired_before_ready": int(fired0),
                "p50": quantile(0.5, before, after), "p99": quantile(0.99, before, after),
                "profile_bytes_mean": statistics.fmean(sizes.values()) if sizes else 0.0}
    finally:
        proc.stop()


def expression_micro() -> list[tuple[str, float]]:
    """µs per evaluation of a 3-clause condition: our compiled expressions vs a Python lambda."""
    import timeit

    from cjo_stream.journeys.expressions import compile_expression

    src = "event.properties.cart_value >= 20 and profile.traits.vip == true and event.context.channel != 'pos'"
    fn = compile_expression(src)
    ctx = {"event": {"properties": {"cart_value": 45.0}, "context": {"channel": "web"}},
           "profile": {"traits": {"vip": True}}, "journey": {}}

    def lam(c: dict[str, Any]) -> bool:
        return bool(c["event"]["properties"]["cart_value"] >= 20 and c["profile"]["traits"]["vip"] is True
                    and c["event"]["context"]["channel"] != "pos")

    out = []
    for name, f in (("python lambda (baseline)", lam), ("cjo expression", fn)):
        n = 200_000
        best = min(timeit.repeat(lambda f=f: f(ctx), number=n, repeat=3))  # type: ignore[misc]
        out.append((name, best / n * 1e6))
    return out


async def written_bytes(bootstrap: str, app_id: str) -> dict[str, int]:
    """Bytes the broker holds in the topics a topology run wrote, by kind (as stored: compressed)."""
    s = Settings(bootstrap=bootstrap, app_id=app_id)
    kinds = {"internal": [s.internal_topic], "changelogs": [s.profiles_changelog, s.timers_changelog],
             "outputs": [s.delivery_topic(c) for c in ("email", "sms", "push", "in_app", "webhook", "slack", "crm")]
             + [s.skipped_topic, s.aliases_topic]}
    reader = BatchReader(s, max_bytes=16 * 1024 * 1024)
    try:
        return {kind: sum([await reader.topic_bytes(t) for t in topics]) for kind, topics in kinds.items()}
    finally:
        await reader.close()


def compression_section(tmp: str, lines: list[bytes], runs: int) -> list[tuple[str, list[Run], dict[str, int]]]:
    """The topology with each ``CJO_COMPRESSION`` codec: events/s, worker CPU, and the bytes the broker holds.

    Each run on a fresh broker with the same uncompressed input (Tansu's fetch cost grows with what a
    partition holds, and byte counts must not mix runs); codecs interleaved when ``runs`` > 1.
    """
    from cjo_stream.config import COMPRESSION

    results: dict[str, tuple[list[Run], dict[str, int]]] = {c: ([], {}) for c in COMPRESSION}
    for i in range(max(1, runs)):
        for codec in COMPRESSION:
            with LocalBroker() as fresh:
                n = asyncio.run(produce_all(Settings(bootstrap=fresh.bootstrap, partitions=8, compression="none"),
                                            INPUT, lines, 8))
                app_id = f"bench-z{codec}{i}"
                r = run_topology(fresh.bootstrap, app_id, n, tmp, CJO_COMPRESSION=codec)
                results[codec][0].append(r)
                if i == 0:
                    results[codec][1].update(asyncio.run(written_bytes(fresh.bootstrap, app_id)))
            log(f"compression {codec} run {i + 1}: {r.rate:,.0f} events/s")
    return [(c, rs, b) for c, (rs, b) in results.items()]


def codec_micro(lines: list[bytes], batch: int = 500, sample: int = 40_000) -> dict[str, tuple[float, float, float]]:
    """Per codec: µs per record to build a record batch, µs per record to read it back, bytes vs none.

    The same record batch classes the producer and consumer use (aiokafka's, at its codec levels), on
    batches of ``batch`` input events, in this process: the CPU a codec costs without the broker's noise.
    """
    import time as _t

    from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

    from cjo_stream.config import COMPRESSION

    chunks = [lines[i:i + batch] for i in range(0, min(len(lines), sample), batch)]
    n = sum(len(c) for c in chunks)
    out: dict[str, tuple[float, float, float]] = {}
    size_none = 0
    for chunk in chunks[:20]:  # warm-up, so the first codec measured does not pay for it
        b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                      producer_epoch=-1, base_sequence=-1, batch_size=1 << 24)
        for i, v in enumerate(chunk):
            b.append(i, timestamp=None, key=None, value=v, headers=[])
        for _ in DefaultRecordBatch(bytes(b.build())):
            pass
    for code, codec in enumerate(COMPRESSION):
        built: list[bytes] = []
        t0 = _t.perf_counter()
        for chunk in chunks:
            b = DefaultRecordBatchBuilder(magic=2, compression_type=code, is_transactional=False, producer_id=-1,
                                          producer_epoch=-1, base_sequence=-1, batch_size=1 << 24)
            for i, v in enumerate(chunk):
                b.append(i, timestamp=None, key=None, value=v, headers=[])
            built.append(bytes(b.build()))
        t1 = _t.perf_counter()
        for raw in built:
            for _ in DefaultRecordBatch(raw):
                pass
        t2 = _t.perf_counter()
        size = sum(len(x) for x in built)
        size_none = size_none or size
        out[codec] = ((t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6, size / size_none)
    return out


def print_compression(rows: list[tuple[str, list[Run], dict[str, int]]], events: int,
                      micro: dict[str, tuple[float, float, float]]) -> None:
    base = sum(rows[0][2].values()) or 1
    print(f"\nCompression of our producers (CJO_COMPRESSION), {events:,} events, each run on a fresh broker; bytes the "
          f"broker holds afterwards in the topics the worker wrote:")
    print(f"  {'codec':<7} {'events/s':>9} {'CPU s/1k':>9} {'internal':>9} {'changelogs':>11} {'outputs':>9} "
          f"{'total MiB':>10} {'vs none':>8}  runs (events/s)")
    for codec, rs, b in rows:
        rate = statistics.median(r.rate for r in rs)
        cpu = statistics.median(r.cpu_per_1k for r in rs)
        total = sum(b.values())
        print(f"  {codec:<7} {rate:>9,.0f} {cpu:>9.3f} {b['internal'] / 2**20:>9.1f} {b['changelogs'] / 2**20:>11.1f} "
              f"{b['outputs'] / 2**20:>9.1f} {total / 2**20:>10.1f} {total / base:>8.2f}  "
              f"{', '.join(f'{r.rate:,.0f}' for r in rs)}")
    print("  the codec alone (aiokafka's record batches of 500 input events, in-process): µs per record")
    print(f"  {'codec':<7} {'write':>7} {'read':>7} {'bytes vs none':>14}")
    for codec, (enc, dec, ratio) in micro.items():
        print(f"  {codec:<7} {enc:>7.2f} {dec:>7.2f} {ratio:>14.2f}")


# ---------------------------------------------------------------------------------------------- report
def latency_section(tmp: str, rate: float, seconds: float, partition_counts: list[int], runs: int) -> None:
    """Event -> command latency per partition count, each next to the broker's one-hop baseline.

    Every run gets a fresh broker: Tansu's memory storage lists every record batch of a partition on
    each fetch that finds new data, so a broker that already holds the throughput runs (or the previous
    latency run) would measure itself. The topology is run ``runs`` times per partition count and the
    run with the median p99 is shown; the first partition count is also run once with the loopback off
    (``CJO_LOOPBACK=0``: every event crosses the broker twice), side by side.
    """
    rows: list[tuple[str, int, dict[str, Any], list[float]]] = []
    for i, parts in enumerate(partition_counts):
        with LocalBroker() as fresh:
            hop = asyncio.run(hop_baseline(fresh.bootstrap, rate, seconds, partitions=parts))
        rows.append(("one produce -> consume hop (baseline)", parts, hop, []))
        topo: list[dict[str, Any]] = []
        for _ in range(max(1, runs)):
            with LocalBroker() as fresh:
                topo.append(asyncio.run(latency_run(fresh.bootstrap, tmp, rate, seconds, partitions=parts)))
        topo.sort(key=lambda r: r["p99"] if r["p99"] is not None else float("inf"))
        rows.append(("topology: event -> command", parts, topo[len(topo) // 2], [r["p99"] for r in topo]))
        if i == 0:
            with LocalBroker() as fresh:
                off = asyncio.run(latency_run(fresh.bootstrap, tmp, rate, seconds, partitions=parts,
                                              CJO_LOOPBACK="0"))
            rows.append(("topology, loopback off", parts, off, []))
    print(f"\nLatency at {rate:,.0f} events/s for {seconds:.0f} s, event produced -> delivery command produced "
          f"(producer linger 5 ms; steady state = after the first {WARMUP:.0f} s; each run on a fresh broker; "
          f"topology: the median-p99 run of {max(1, runs)}):")
    print(f"  {'path':<40} {'parts':>5} {'p50 ms':>7} {'p99 ms':>7} {'p99 all':>8} {'max':>7}  p99 per 5 s (ms)")
    for name, parts, r, _ in rows:
        win = ", ".join(f"{ms(p99):.0f}" for _, p99 in r["windows"])
        print(f"  {name:<40} {parts:>5} {ms(r['p50']):>7.1f} {ms(r['p99']):>7.1f} {ms(r['all_p99']):>8.1f} "
              f"{ms(r['max']):>7.1f}  {win}")
    for name, parts, r, p99s in rows:
        if "loopback_records" in r:
            total = r["loopback_records"] + r["fetched_records"]
            share = r["loopback_records"] / total if total else 0.0
            every = f"; p99 of each run: {', '.join(f'{ms(x):.0f}' for x in p99s)} ms" if len(p99s) > 1 else ""
            print(f"  {name} ({parts} partitions): in-worker event time -> decision p50 "
                  f"{ms(r['decision_p50']):.0f} ms, p99 {ms(r['decision_p99']):.0f} ms; {r['commands']:,} commands; "
                  f"internal records via loopback {share:.0%}{every}")


def ms(seconds: float | None) -> float:
    return seconds * 1000 if seconds is not None else float("nan")


def fmt_bytes(n: float) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB"


def scale_sections(tmp: str, args: argparse.Namespace, skip: set[str], lines: list[bytes] | None) -> None:
    """Issue 17's sections (cjo_stream.bench.scale): state that must not grow a process, start-up."""
    from cjo_stream.bench import scale

    counts = sorted({int(x) for x in args.scale_counts.split(",") if x.strip()})
    if "startup" not in skip:
        scale.print_startup(scale.startup_section(tmp, args.startup_runs))
    if "rolling" not in skip:
        scale.print_rolling(scale.rolling_section(tmp, args.rolling_rate, args.rolling_seconds), args.rolling_rate)
    if "identity" not in skip:
        scale.print_identity(scale.identity_section(tmp, counts, lines))
    if "sent" not in skip:
        scale.print_sent(scale.sent_section(tmp, counts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cjo_stream.bench", description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--faust-window", type=float, default=30.0, help="seconds the plain Faust peer is measured")
    ap.add_argument("--peer-window", type=float, default=120.0,
                    help="seconds at most the Quix Streams and Bytewax peers are measured")
    ap.add_argument("--latency-rate", type=float, default=5000.0)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--latency-partitions", default="8,4",
                    help="partition counts of the latency runs (input and internal topics), comma separated")
    ap.add_argument("--restore-customers", type=int, default=1_000_000)
    ap.add_argument("--scan-customers", type=int, default=1_000_000,
                    help="stored profiles the scheduled-entry scan section offers a journey's occurrence to")
    ap.add_argument("--compression-runs", type=int, default=1, help="runs per codec in the compression section")
    ap.add_argument("--replay-events", type=int, default=5_800_000,
                    help="events of the replay scale run (about 5.6 per customer: the default makes ~1,000,000 "
                         "customers; 0 skips it)")
    ap.add_argument("--scale-counts", default="0,1000000,5000000",
                    help="identity links / sent ids seeded in the identity and sent sections, comma separated")
    ap.add_argument("--startup-runs", type=int, default=3)
    ap.add_argument("--rolling-rate", type=float, default=2000.0)
    ap.add_argument("--rolling-seconds", type=float, default=40.0)
    ap.add_argument("--send-cost-events", type=int, default=60_000,
                    help="events of the in-process engine runs of the send cost section")
    ap.add_argument("--skip", default="", help="sections to skip, comma separated: faust, quix, bytewax, send_heavy, "
                                               "send_cost, latency, restore, adapter, compression, hostile, analytics, "
                                               "replay, identity, sent, startup, rolling, scan, concurrency, pure")
    ap.add_argument("--set", action="append", default=[], metavar="CJO_X=V",
                    help="a setting for every worker the bench starts (repeat), e.g. to compare two values")
    args = ap.parse_args(argv)
    for item in args.set:
        k, sep, v = item.partition("=")
        if not sep or not k.startswith("CJO_"):
            ap.error(f"--set {item!r}: use CJO_NAME=value")
        WORKER_SETTINGS[k] = v
    skip = set(filter(None, args.skip.split(",")))
    tmp = tempfile.mkdtemp(prefix="cjo-bench-")
    log(f"work dir {tmp}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        + (f"; worker settings {WORKER_SETTINGS}" if WORKER_SETTINGS else ""))
    with LocalBroker() as broker:
        settings = Settings(bootstrap=broker.bootstrap, partitions=8, compression="none")  # upstream: uncompressed
        lines, keys = make_input(args.events, args.customers, seed=2026)
        state = state_per_customer(lines)
        real = lines
        lines = compress_timeline(lines, 60.0)
        n = asyncio.run(produce_all(settings, INPUT, lines, 8))
        size = sum(len(x) for x in lines) / len(lines)
        log(f"input: {n:,} events ({size:.0f} B avg) from {args.customers:,} simulated customers "
            f"({keys:,} ids incl. anonymous) on 8 partitions")
        comp = compression_section(tmp, lines, args.compression_runs) if "compression" not in skip else []
        per_codec = codec_micro(lines) if comp else {}
        journey_events: list[bytes] = []
        if "analytics" not in skip:
            from cjo_stream.bench.analytics import journey_events_of

            journey_events = journey_events_of(lines, ROOT)  # what the workers write for this input
        replays = [] if "replay" in skip else replay_section(tmp, real, lines, args.replay_events, args.runs)
        send_cost = [] if "send_cost" in skip else send_cost_section(lines[:args.send_cost_events], args.runs)
        kept = lines if "identity" not in skip else None  # the identity section's throughput runs
        scan_lines = lines if "scan" not in skip else None  # events that flow while the scan section's scan runs
        del lines, real
        contenders = [Contender("cjo-stream topology (RocksDB)"), Contender("plain Faust agent + Table"),
                      Contender("raw aiokafka getmany+decode (ceiling)"), Contender("topology, send-heavy journeys"),
                      Contender("topology, pure Python (CJO_PURE_PYTHON=1)")]
        peers = {kind: Contender(name) for kind, name in (("quix", "Quix Streams stateful apply"),
                                                          ("bytewax", "Bytewax stateful_map"))}
        for kind in peers.keys() & skip:
            peers[kind].why_not = "skipped (--skip)"
        for i in range(args.runs):
            r = run_topology(broker.bootstrap, f"bench-t{i}", n, tmp)
            contenders[0].runs.append(r)
            log(f"topology run {i + 1}: {r.rate:,.0f} events/s")
            if "faust" not in skip:
                r = run_plain_faust(broker.bootstrap, f"bench-plain{i}", n, tmp, args.faust_window)
                contenders[1].runs.append(r)
                log(f"plain Faust run {i + 1}: {r.rate:,.0f} events/s")
            for kind, c in peers.items():
                measure_peer(c, kind, broker.bootstrap, n, tmp, args.peer_window, i)
            r = run_ceiling(broker.bootstrap, n, tmp)
            contenders[2].runs.append(r)
            log(f"ceiling run {i + 1}: {r.rate:,.0f} events/s")
            if "send_heavy" not in skip:  # the same input, journeys that send on a third of the events
                r = run_topology(broker.bootstrap, f"bench-s{i}", n, tmp, CJO_TOPOLOGIES=SEND_HEAVY)
                contenders[3].runs.append(r)
                log(f"send-heavy topology run {i + 1}: {r.rate:,.0f} events/s, {r.sends / max(r.events, 1):.0%} send")
            if "pure" not in skip:  # the same worker running the sources, not the compiled modules (native.py)
                r = run_topology(broker.bootstrap, f"bench-p{i}", n, tmp, CJO_PURE_PYTHON="1")
                contenders[4].runs.append(r)
                log(f"pure-Python topology run {i + 1}: {r.rate:,.0f} events/s")
        concurrent = []
        if "concurrency" not in skip:  # issue 20: the same input with `worker --concurrency 2`
            from cjo_stream.bench.concurrency import run_concurrent

            for i in range(args.runs):
                cr = run_concurrent(worker_env(broker.bootstrap, f"bench-c{i}", os.path.join(tmp, f"bench-c{i}"), 0),
                                    2, n, tmp, f"bench-c{i}", ROOT)
                concurrent.append(cr)
                log(f"topology --concurrency 2 run {i + 1}: {cr.rate:,.0f} events/s "
                    f"(per process {', '.join(f'{c / cr.seconds:,.0f}' for c in cr.per_process)})")
        timer_sizes: dict[bytes, int] = {}
        if args.runs:
            timer_sizes = asyncio.run(read_last_values(broker.bootstrap, "bench-t0.timers-changelog"))

        print()
        print(f"Throughput: {n:,} events, {args.customers:,} customers, example journeys, median of "
              f"{args.runs} run(s) (plain Faust measured over <= {args.faust_window:.0f} s)")
        print(f"{'contender':<40} {'events/s':>10} {'CPU s/1k ev':>12} {'peak RSS':>10} {'runs (events/s)':>28}")
        for c in [*contenders[:2], *peers.values(), *contenders[2:]]:
            if c.why_not and not c.runs:
                print(f"{c.name:<40} did not run: {c.why_not}")
                continue
            runs = ", ".join(f"{r.rate:,.0f}" for r in c.runs) or "skipped"
            print(f"{c.name:<40} {c.median('rate'):>10,.0f} {c.median('cpu_per_1k'):>12.3f} "
                  f"{fmt_bytes(c.median('rss')):>10} {runs:>28}")
            if c.why_not:
                print(f"  {c.name}: its later runs did not run: {c.why_not}")
        topo, faust_, ceil, heavy, pure = (c.median("rate") for c in contenders)
        quix, bytewax = (c.median("rate") for c in peers.values())
        print(f"ratio topology / plain Faust: {topo / faust_:.1f}x" if faust_ else "ratio topology / plain Faust: n/a")
        topo_cpu = contenders[0].median("cpu_per_1k")
        for c in peers.values():
            rate, cpu = c.median("rate"), c.median("cpu_per_1k")
            label = f"ratio topology / {c.name.split(' stateful')[0]}:"
            print(f"{label:<30} {topo / rate:.2f}x events/s, {topo_cpu / cpu:.1f}x CPU per event" if rate and cpu
                  else f"{label} n/a")
        print(f"ratio topology / ceiling:     {topo / ceil:.2f}" if ceil else "ratio topology / ceiling: n/a")
        pure_cpu = contenders[4].median("cpu_per_1k")
        if pure and pure_cpu:
            print(f"ratio compiled / pure Python: {topo / pure:.2f}x events/s, {pure_cpu / topo_cpu:.2f}x less CPU "
                  "per event (cjo_stream/native.py)")
        if heavy:
            share = statistics.median(r.sends / r.events for r in contenders[3].runs if r.events)
            print(f"send-heavy journeys (cjo_stream/bench/send_heavy, no caps): {share:.0%} of the events produced a "
                  f"rendered send (target >= 30 %); send-heavy / topology {heavy / topo:.2f}" if topo else "")

        if concurrent:
            from cjo_stream.bench.concurrency import print_concurrency

            print_concurrency(concurrent, topo, topo_cpu)

        vals = state
        tvals = list(timer_sizes.values())
        print(f"\nState per customer (stored profile record incl. key, after the input's real timeline): mean "
              f"{statistics.fmean(vals):.0f} B, median {vals[len(vals) // 2]} B, p90 {vals[int(len(vals) * 0.9)]} B "
              f"over {len(vals):,} customers; pending timers after the throughput run {len(tvals):,} x "
              f"{statistics.fmean(tvals) if tvals else 0:.0f} B")

        print("\nExpression evaluation (3-clause condition):")
        micro = expression_micro()
        base = micro[0][1]
        for name, us in micro:
            print(f"  {name:<28} {us:6.2f} µs  ({us / base:.1f}x baseline)")

        if send_cost:
            print_send_cost(send_cost)
        if comp:
            print_compression(comp, n, per_codec)
        if replays:
            print_replay(replays)
        if "hostile" not in skip:
            from cjo_stream.bench.hostile import report as hostile_report

            hostile_report()

        if "latency" not in skip:
            latency_section(tmp, args.latency_rate, args.latency_seconds,
                            [int(x) for x in args.latency_partitions.split(",") if x], args.runs)
        rest: dict[str, Any] = {}
        if "restore" not in skip:
            with LocalBroker() as fresh:
                rest = asyncio.run(restore_and_timers(fresh.bootstrap, tmp, args.restore_customers, 600.0, 30.0))
            print(f"\nRestore: {rest['profiles_restored']:,} profiles + {rest['pending_timers']:,} timers from changelogs "
                  f"in {rest['restore_seconds']:.1f} s (process start to ready {rest['start_to_ready_seconds']:.1f} s); "
                  f"seeded profile record {rest['profile_bytes_mean']:.0f} B")
            p50, p99 = rest["p50"], rest["p99"]
            print(f"Timer lateness with {rest['pending_timers']:,} pending: {rest['fired']:,} timers fired in 30 s, "
                  f"p50 {p50 * 1000 if p50 is not None else float('nan'):.0f} ms, "
                  f"p99 {p99 * 1000 if p99 is not None else float('nan'):.0f} ms (histogram-interpolated; "
                  f"incl. the {Settings().timer_grace_ms} ms CJO_TIMER_GRACE_MS a worker waits on purpose)")
        scan: dict[str, Any] = {}
        if scan_lines is not None:
            from cjo_stream.bench.schedule import print_scan, scan_section

            scan = scan_section(tmp, args.scan_customers, scan_lines, ROOT)
            print_scan(scan, topo)
            del scan_lines
        if "analytics" not in skip:
            from cjo_stream.bench.analytics import report as analytics_report

            analytics_report(journey_events, n, tmp, ROOT)
            if args.runs:  # what writing journey events costs the workers: the topology without them
                off = run_topology(broker.bootstrap, "bench-noje", n, tmp, CJO_JOURNEY_EVENTS="0")
                on = contenders[0]
                print(f"  worker cost of journey events: topology {on.median('rate'):,.0f} events/s "
                      f"({on.median('cpu_per_1k'):.3f} CPU s/1k) with them, {off.rate:,.0f} events/s "
                      f"({off.cpu_per_1k:.3f} CPU s/1k) without (CJO_JOURNEY_EVENTS=0, one run)")
        if "adapter" not in skip:
            from cjo_stream.bench.adapter import adapter_throughput

            ad = asyncio.run(adapter_throughput(broker.bootstrap, 5000))
            print(f"\nAdapter throughput (webhook -> local HTTP receiver): {ad['commands_per_s']:,.0f} commands/s")
        scale_sections(tmp, args, skip, kept)
        extra = f" replay_events_per_s={replays[0].rate:.0f}" if replays else ""
        extra += f" send_heavy_events_per_s={heavy:.0f}" if heavy else ""
        extra += f" pure_python_events_per_s={pure:.0f}" if pure else ""
        if concurrent:
            extra += f" concurrency2_events_per_s={statistics.median(r.rate for r in concurrent):.0f}"
        if scan:
            during = scan["events_per_s_during_scan"]
            extra += (f" scan_profiles_per_s={scan['scanned'] / max(scan['scan_seconds'], 1e-9):.0f}"
                      f" events_per_s_during_scan={during or 0:.0f}")
        print(f"\nbench: topology_events_per_s={topo:.0f} plain_faust_events_per_s={faust_:.0f} "
              f"ceiling_events_per_s={ceil:.0f}{extra} quix_events_per_s={quix:.0f} bytewax_events_per_s={bytewax:.0f}")
    return 0
