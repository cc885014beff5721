"""The broker-less soak (``python -m cjo_stream.bench.soak --no-broker``): a worker's own stages in one
process at a fixed rate for N minutes. Does what a worker holds in memory, its Kafka client aside, stay flat?

Why: the local broker slows down with every record batch it holds (README, "The local broker's limits"),
so a worker fed through it falls behind within minutes and its memory over 30 minutes cannot be measured
with it. What can be measured for that long is everything else a worker keeps: its stages, run here in
process on their real RocksDB stores.

What runs, wired as :mod:`cjo_stream.runtime.worker` wires it: stage 1 (:class:`Ingest`, handing its decoded
events to stage 2 through :class:`Decoded`), per-partition queues standing for the internal topic (records
numbered per partition as the broker would, handed to stage 2 as the loopback hands them), stage 2
(:class:`CustomerPartition` per partition over the worker's stores: profiles, timers and aliases opened by
its :class:`StoreFactory` within one RocksDB memory budget), due timers handed back after every step
(``due_timers``) and applied from the queues, the metrics a worker's step observes and publishes, and the
worker's GC tuning. The events come from the project's generator in a child process
(:mod:`cjo_stream.bench.feed`: what ``cjo-stream generate`` sends, customers keep arriving), each taken
when its timestamp comes, so event time is now. With ``--receipts`` every delivery command comes back
through stage 1 as the ``sent`` receipt an adapter would write.

What does not run: the Kafka client (aiokafka's consumers and producer, their fetch and send buffers),
the broker, Faust and the web views, and the outbox's batching (record batches; changelog records kept
latest per key until a commit). Commands, changelog records, journey events and skips are counted and
dropped.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import msgspec

from cjo_stream import metrics
from cjo_stream.bench.procs import Proc, cpu_seconds, rss
from cjo_stream.commands import ALL_CHANNELS, DeliveryCommand, Receipt
from cjo_stream.config import Settings
from cjo_stream.engine import Engine
from cjo_stream.events import format_ts
from cjo_stream.gc_tuning import tune_gc
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.outbox import Outbox
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kafka.records import Header, Item
from cjo_stream.kv import KV, StoreFactory
from cjo_stream.libc import load as load_libc
from cjo_stream.runtime import lookalikes
from cjo_stream.runtime.aliases import Links
from cjo_stream.runtime.customers import CustomerPartition
from cjo_stream.runtime.decoded import Decoded
from cjo_stream.runtime.ingest import Ingest
from cjo_stream.runtime.loopback import LoopRecord

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_TABLES = ("profiles", "timers", "aliases")
_command = msgspec.json.Decoder(DeliveryCommand)
_json = msgspec.json.Encoder()


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]


def malloc_in_use() -> int:
    """Bytes the C allocator has handed out and not had back, all arenas (glibc's ``mallinfo2``; 0 elsewhere).

    RocksDB allocates through it (blocks, memtables, table readers); Python objects mostly do not (pymalloc).
    RSS above this plus Python's share is memory malloc keeps after it was freed.
    """
    libc = load_libc()
    try:
        libc.mallinfo2.restype = _MallInfo2
    except AttributeError:  # not glibc (or glibc before 2.33), or no libc
        return 0
    m = libc.mallinfo2()
    return int(m.uordblks + m.hblkhd)


class InputRecord:
    """A record as stage 1 reads it from the input or receipts topic (an aiokafka ``ConsumerRecord``'s fields)."""

    __slots__ = ("headers", "key", "offset", "partition", "topic", "value")

    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key: bytes | None = None
        self.value = value
        self.headers: Sequence[tuple[str, bytes]] = ()


class Sink(Outbox):
    """The outbox, minus Kafka: internal-topic records go to per-partition queues, numbered as the broker
    numbers them; everything else is counted by topic and dropped (delivery commands kept for receipts)."""

    def __init__(self, settings: Settings, partitioner: Partitioner, receipts: bool) -> None:
        super().__init__(cast(Any, None), partitioner)
        self.internal = settings.internal_topic
        self.queues: list[deque[LoopRecord]] = [deque() for _ in range(settings.partitions)]
        self.offsets = [0] * settings.partitions
        self.dropped: Counter[str] = Counter()
        self.receipts = receipts
        self.command_topics = frozenset(settings.delivery_topic(c) for c in ALL_CHANNELS)
        self.commands: list[bytes] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
            headers: Sequence[Header] = ()) -> None:
        if partition is None:
            partition = self.partitioner(key) if key is not None else 0
        if topic == self.internal:
            self.queues[partition].append(LoopRecord(key, value, self.offsets[partition], headers))
            self.offsets[partition] += 1
            return
        self.dropped[topic] += 1
        if self.receipts and value is not None and topic in self.command_topics:
            self.commands.append(value)

    def add_many(self, topic: str, partition: int, items: Sequence[Item]) -> None:
        if topic == self.internal or (self.receipts and topic in self.command_topics):
            for key, value, headers in items:
                self.add(topic, key, value, partition=partition, headers=headers)
            return
        if items:
            self.dropped[topic] += len(items)

    def waiting(self) -> int:
        return sum(len(q) for q in self.queues)


class Stages:
    """Stage 1 and stage 2 of one worker over its RocksDB stores, fed and drained in process."""

    def __init__(self, settings: Settings, data_dir: str, receipts: bool) -> None:
        self.s = settings
        topo = load_topology(os.path.join(ROOT, "topologies"))
        self.engine = Engine(topo.journeys, topo.policies, settings.allowed_lateness,
                             throttle_share=1 / max(settings.partitions, 1), stages=topo.stages)
        self.stores = StoreFactory("rocksdb", data_dir, settings.rocksdb_memory_mb << 20)
        self.parts: dict[int, CustomerPartition] = {}
        self.kv: dict[int, tuple[KV, KV, KV]] = {}
        self.decoded = Decoded(self.parts)
        self.ingest = Ingest(settings, self.decoded)
        self.sink = Sink(settings, Partitioner(settings.partitions), receipts)
        for p in range(settings.partitions):
            profiles, _ = self.stores.open("profiles", p)
            timers, _ = self.stores.open("timers", p)
            aliases, _ = self.stores.open("aliases", p, counted=False)
            self.kv[p] = (profiles, timers, aliases)
            self.parts[p] = CustomerPartition(p, self.engine, settings, profiles, timers,
                                              Links(aliases, settings.aliases_topic, p), self.decoded)
        self.events = 0  # events applied by stage 2
        self.latencies: list[float] = []  # event time -> command, since the last sample
        self._receipt_offset = 0

    def take(self, records: Sequence[InputRecord]) -> None:
        """Stage 1 over one fetch's worth of records."""
        self.ingest.process(records, self.sink)
        for reason, n in self.ingest.invalid.items():
            metrics.EVENTS_INVALID.labels(reason).inc(n)
        self.ingest.invalid.clear()

    def receipts(self) -> list[InputRecord]:
        """The ``sent`` receipt of every command decided since the last call, as records of the receipts topic."""
        out = []
        at = format_ts(time.time())
        for raw in self.sink.commands:
            cmd = _command.decode(raw)
            r = Receipt(delivery_id=cmd.delivery_id, customer_id=cmd.customer_id, channel=cmd.channel, status="sent",
                        at=at, journey=cmd.journey, step=cmd.step)
            out.append(InputRecord(self.s.receipts_topic, 0, self._receipt_offset, _json.encode(r)))
            self._receipt_offset += 1
        self.sink.commands.clear()
        return out

    def drain(self, ingest_behind: bool) -> None:
        """Stage 2 until the internal queues are empty: fired timers come back through them, as in the worker."""
        while True:
            self.step(ingest_behind)
            if not self.sink.waiting():
                return

    def step(self, ingest_behind: bool) -> None:
        """The worker's batch step (``StreamWorker._step``) minus Kafka: up to ``batch_max`` waiting records
        of each partition, then every partition's due timers, metrics and gauges."""
        t0 = time.perf_counter()
        now = time.time()
        counts = metrics.BatchCounts()
        n = 0
        for p, part in self.parts.items():
            q = self.sink.queues[p]
            if q:
                recs = [q.popleft() for _ in range(min(len(q), self.s.batch_max))]
                st = part.process(recs, now, self.sink, counts)
                n += st.records
                self.events += st.events
                st.observe()
                self.latencies.extend(st.decision_latency)
            part.behind = bool(q)
        for part in self.parts.values():
            part.due_timers(now, self.sink, ingest_behind=ingest_behind)
        counts.publish()
        if counts.lookalikes:
            lookalikes.publish(counts.lookalikes)
        for p, part in self.parts.items():
            metrics.TIMERS_PENDING.labels(str(p)).set(len(part.timers))
            metrics.PROFILES.labels(str(p)).set(part.customers())
        if n:
            metrics.BATCH_SIZE.observe(n)
            metrics.PROCESSING.observe((time.perf_counter() - t0) / n)

    def timers(self) -> int:
        return sum(len(part.timers) for part in self.parts.values())

    def profiles(self) -> int:
        return sum(part.customers() for part in self.parts.values())

    def rocksdb(self) -> dict[str, int]:
        assert self.stores.memory is not None
        return self.stores.memory.usage()

    def close(self) -> None:
        for p, kvs in self.kv.items():
            for table, kv in zip(_TABLES, kvs, strict=True):
                self.stores.close(table, p, kv, None)


@dataclass
class Row:
    t: float
    rss: int  # this process: the stages, their RocksDB stores and the harness
    rocksdb: int  # RocksDB block cache, memtables charged to it included, bytes
    memtables: int
    malloc: int  # the C allocator's bytes in use (malloc_in_use)
    py_blocks: int  # Python objects' memory blocks allocated (sys.getallocatedblocks)
    cpu: float  # percent of one core over the window, this process
    feed_cpu: float  # the generator's
    events_per_s: float  # applied by stage 2
    backlog: int  # events due but not yet read, plus internal records waiting
    timers: int
    profiles: int
    p99: float | None  # event time -> command, within this process, seconds
    load: float
    events: int  # applied since the start

    def line(self) -> str:
        p99 = f"{self.p99 * 1000:>7.0f}" if self.p99 is not None else f"{'—':>7}"
        return (f"{self.t:>6.0f} {self.rss / 2**20:>7.0f} MiB {self.rocksdb / 2**20:>5.0f} MiB "
                f"{self.memtables / 2**20:>5.0f} MiB {self.malloc / 2**20:>5.0f} MiB {self.py_blocks / 1000:>8,.0f}k {self.cpu:>6.0f} "
                f"{self.feed_cpu:>6.0f} {self.events_per_s:>9,.0f} {self.backlog:>8,} {self.timers:>9,} "
                f"{self.profiles:>9,} {p99} {self.load:>6.2f}")


HEADER = (f"{'t s':>6} {'rss':>11} {'rocksdb':>9} {'memtbl':>9} {'malloc':>9} {'py blocks':>9} {'cpu%':>6} {'feed%':>6} "
          f"{'events/s':>9} {'backlog':>8} {'timers':>9} {'profiles':>9} {'p99 ms':>7} {'load1':>6}")


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, int(0.99 * len(values)))]


@dataclass
class Outcome:
    rows: list[Row]
    outputs: dict[str, int]  # records dropped, by topic (commands, changelogs, journey events, skips)
    commands: int  # delivery commands among them
    growth: str  # with tracemalloc: where Python memory grew after the warm-up


def soak(minutes: float, rate: float, customers: int, interval: float, warmup: float, settings: Settings,
         tmp: str, receipts: bool = False, trace_frames: int = 0) -> Outcome:
    """Run the stages for ``minutes`` at ``rate`` events/s, printing a row every ``interval`` seconds.

    With ``trace_frames``, the outcome says where Python memory grew most between the end of the warm-up
    and the end (tracemalloc snapshots diffed; tracing slows the run severalfold).
    """
    if trace_frames:
        tracemalloc.start(trace_frames)
    data_dir = os.path.join(tmp, "stores")
    stages = Stages(settings, data_dir, receipts)
    tune_gc(settings.gc_threshold)  # as the worker does once its start-up objects exist
    total = int(minutes * 60 * rate)
    start = time.time() + 1.0
    feed = Proc([sys.executable, "-m", "cjo_stream.bench.feed", "--customers", str(customers), "--rate", str(rate),
                 "--start", repr(start), "--count", str(total)], os.environ, os.path.join(tmp, "feed.log"),
                cwd=ROOT, capture=True)
    lines = feed.proc.stdout
    assert lines is not None
    rows: list[Row] = []
    base_snapshot: tracemalloc.Snapshot | None = None
    growth = ""
    tick = settings.timer_interval  # the worker's customers loop wakes at least this often
    print(f"soak (no broker): {rate:,.0f} events/s for {minutes:g} min, {customers:,} customers per 30 simulated "
          f"days, {settings.partitions} partitions; stage 1 + stage 2 with RocksDB stores in this process, no "
          f"Kafka client, no broker{'; receipts fed back' if receipts else ''}; work dir {tmp}", flush=True)
    print(HEADER, flush=True)
    taken = 0
    input_topic = settings.input_topic
    prev_t, prev_events, prev_cpu, prev_feed = start, 0, cpu_seconds(os.getpid()), cpu_seconds(feed.pid)
    end = start + minutes * 60
    try:
        while True:
            t0 = time.time()
            due = min(total, int((t0 - start) * rate)) if t0 >= start else 0
            want = min(due - taken, settings.batch_max)  # one fetch holds at most batch_max records
            recs: list[InputRecord] = []
            for _ in range(want):
                line = lines.readline()
                if not line:
                    raise RuntimeError(f"the generator ended after {taken} events:\n{feed.tail()}")
                recs.append(InputRecord(input_topic, taken % settings.partitions, taken, line.rstrip(b"\n")))
                taken += 1
            if receipts:
                recs += stages.receipts()
            if recs:
                stages.take(recs)
            stages.drain(ingest_behind=due > taken)
            now = time.time()
            if now - prev_t >= interval or (taken >= total and now >= end):
                cpu, feed_cpu = cpu_seconds(os.getpid()), (cpu_seconds(feed.pid) if feed.alive() else prev_feed)
                dt = now - prev_t
                mem = stages.rocksdb()
                lat, stages.latencies = stages.latencies, []
                row = Row(t=now - start, rss=rss(os.getpid()), rocksdb=mem["block_cache"], memtables=mem["memtables"],
                          malloc=malloc_in_use(), py_blocks=sys.getallocatedblocks(), cpu=100 * (cpu - prev_cpu) / dt,
                          feed_cpu=100 * (feed_cpu - prev_feed) / dt, events_per_s=(stages.events - prev_events) / dt,
                          backlog=due - taken + stages.sink.waiting(), timers=stages.timers(),
                          profiles=stages.profiles(), p99=_p99(lat), load=os.getloadavg()[0], events=stages.events)
                rows.append(row)
                print(row.line(), flush=True)
                prev_t, prev_events, prev_cpu, prev_feed = now, stages.events, cpu, feed_cpu
                if trace_frames and base_snapshot is None and row.t >= warmup * 60:
                    base_snapshot = tracemalloc.take_snapshot()
            if taken >= total and now >= end:
                break
            if due <= taken:
                time.sleep(max(0.0, tick - (time.time() - t0)))
    except KeyboardInterrupt:
        print(f"soak: stopped after {(time.time() - start) / 60:.1f} minutes", flush=True)
    finally:
        feed.stop(5)
        if trace_frames and base_snapshot is not None:
            growth = _growth(base_snapshot, tracemalloc.take_snapshot(), trace_frames)
            tracemalloc.stop()
        stages.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    sink = stages.sink
    return Outcome(rows, dict(sink.dropped), sum(sink.dropped[t] for t in sink.command_topics), growth)


def _growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, frames: int, top: int = 15) -> str:
    """The allocation sites whose live memory grew most between two snapshots (Python objects only)."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "traceback" if frames > 1 else "lineno")
    out = [f"tracemalloc: Python memory {sum(s.size for s in after.statistics('filename')) / 2**20:.1f} MiB at the end, "
           f"growth since the warm-up by allocation site:"]
    for stat in diff[:top]:
        out.append(f"  {stat.size_diff / 2**10:+9.1f} KiB {stat.count_diff:+8d} blocks")
        out += [f"      {line.strip()}" for line in stat.traceback.format()[-2 * frames:]]
    return "\n".join(out)


def summary(outcome: Outcome, warmup: float, rate: float) -> str:
    """The one-line result: RSS growth from the end of the warm-up to the end, and how long it ran."""
    rows = outcome.rows
    if not rows:
        return "soak: no samples (no broker)"
    base = next((r for r in rows if r.t >= warmup * 60), rows[-1])
    last = rows[-1]
    growth = (last.rss - base.rss) / base.rss * 100 if base.rss else float("nan")
    after = [r.events_per_s for r in rows if r.t > base.t]
    return (f"soak: worker_rss_growth_pct={growth:.1f} minutes={last.t / 60:.1f} rate={rate:.0f} events={last.events} "
            f"events_per_s_min={min(after, default=last.events_per_s):.0f} worker_rss_mib={base.rss / 2**20:.0f}->"
            f"{last.rss / 2**20:.0f} rocksdb_mib={base.rocksdb / 2**20:.0f}->{last.rocksdb / 2**20:.0f} "
            f"timers={last.timers} profiles={last.profiles} commands={outcome.commands} cpu_pct_mean={sum(r.cpu for r in rows) / len(rows):.0f} "
            f"load1_max={max(r.load for r in rows):.2f} (no broker)")
