"""The streaming worker: stage 1 (ingest), stage 2 (customers), global tables, timers.

Why not one Faust agent per stage: a Faust agent costs ~150 µs of CPU per event here and a Table write
per event caps a worker near 2,000 events/s (README, "Performance"; ``make bench`` measures it side by
side, results in ``docs/benchmarks.md``). The worker therefore runs its hot path on aiokafka consumers
in per-partition batches (one state write per changed customer per batch, outputs as record batches,
offsets committed after the broker acknowledged everything), while
Faust hosts it: the worker process, its web views and lifecycle (:mod:`cjo_stream.runtime.app`).
Partition ownership and rebalancing come from the Kafka consumer group protocol; the state tables are
changelogged RocksDB stores restored on assignment, as Faust tables are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, IllegalStateError

from cjo_stream import metrics, zones
from cjo_stream.config import Settings
from cjo_stream.diskfull import exit_if_disk_full
from cjo_stream.engine import Engine
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import Topology
from cjo_stream.kafka.closing import stop_within
from cjo_stream.kafka.groups import heartbeat_ms, leave_group_on_close
from cjo_stream.kafka.guard import FetchGuard, Stuck
from cjo_stream.kafka.memberships import Memberships, member_id
from cjo_stream.kafka.outbox import Outbox
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.reading import read_to_end
from cjo_stream.kafka.records import Item
from cjo_stream.kafka.restore import offsets, past_end, restore
from cjo_stream.kafka.skips import SkipRequests
from cjo_stream.kafka.topics import consent_changes_config, ensure_topics
from cjo_stream.kafka.watch import GONE_HINT, BrokerWatch, missing, topic_partitions
from cjo_stream.kv import KV, StoreFactory, release_memory
from cjo_stream.profile import profile_to_dict
from cjo_stream.runtime import lookalikes, overtaken, readiness
from cjo_stream.runtime.aliases import MAX_HOPS, Links
from cjo_stream.runtime.customers import KIND_ERASE, CustomerPartition
from cjo_stream.runtime.decoded import Decoded
from cjo_stream.runtime.ingest import Ingest
from cjo_stream.runtime.loopback import Loopback
from cjo_stream.runtime.members import ANNOUNCE_EVERY, STALE, WorkerInfo, owner_url, workers_topic_config
from cjo_stream.runtime.stalls import Stalls, committed_offsets
from cjo_stream.zone_notes import live_note

log = logging.getLogger("cjo_stream.worker")

_TABLES = ("profiles", "timers", "aliases")  # the stores of one customer partition, with their changelogs
_FEED_MAX = 64  # internal batches stage 1 may have waiting for the loopback before it pauses
_KEPT_WAIT = 2.0  # seconds stage 1 waits for room for decoded events if stage 2 takes none of them
_LOOP_TAKE = 16  # internal batches the loopback applies in one step (about two ingest batches)
_SCAN_PAGE = 500  # profiles a scheduled-entry scan reads per turn of the batch lock
_SCAN_PAUSE = 0.005  # and how long it steps aside after a page while records wait (seconds)

_json = msgspec.json.Encoder()


async def _no_offsets() -> dict[TopicPartition, int]:
    return {}


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: StreamWorker) -> None:
        self.worker = worker
        self.revoked_at: float | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.revoked_at = time.monotonic()
        await self.worker.release([tp.partition for tp in revoked])
        self.worker.customers_guard.forget(revoked)
        if revoked:
            log.info("stage 2: gave up %d partition(s) for a rebalance in %.1f s", len(revoked),
                     time.monotonic() - self.revoked_at)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        metrics.REBALANCES.inc()
        w = self.worker
        w.memberships.remember(w.customers_group, member_id(w.customers))  # before the restore: a crash may come
        t0 = time.monotonic()
        try:
            taken = await w.acquire([tp.partition for tp in assigned])
        except Exception as e:  # aiokafka logs a listener's failure and carries on: the worker sat "starting" forever
            exit_if_disk_full(e, "worker", w.s.data_dir, "opening the stores of the partitions assigned")
            log.exception("stage 2: taking partitions %s failed; stopping the process so it can be restarted",
                          ",".join(str(tp.partition) for tp in sorted(assigned)))
            os._exit(70)
        if not taken:  # stop() came while start() still read the global tables: nothing was restored
            log.info("stage 2: stopping before the start finished; partitions %s not taken",
                     ",".join(str(tp.partition) for tp in sorted(assigned)) or "none")
            return
        # how long the rebalance kept this worker's partitions waiting (its start -> assigned; then the restore)
        waited = f", {t0 - self.revoked_at:.1f} s after the rebalance began" if self.revoked_at is not None else ""
        log.info("stage 2: assigned partitions %s (restored in %.1f s%s)",
                 ",".join(str(tp.partition) for tp in sorted(assigned)) or "none", time.monotonic() - t0, waited)


#: Seconds of reading the global tables at start before each warning that they are not read yet.
_GLOBALS_PATIENCE: Final = 30.0


class _Finisher:
    """Completes batches in the background while the loop fetches and processes the next ones.

    Completing means: wait for the broker's acks of everything a batch produced, then commit its input
    offsets. Batches complete strictly in order, so an offset is never committed before the outputs and
    changelog writes of every batch up to it are acknowledged. Commits are coalesced: at most one per
    ``commit_interval`` seconds carries every completed batch's offsets (Kafka Streams does the same
    with ``commit.interval.ms``); a crash replays what was not committed, which the stores'
    applied-offset marks and messageId dedupe make harmless. Up to ``max_in_flight`` batches may be
    waiting for acks (``submit`` waits beyond that). With ``changelogs``, that outbox's deferred
    changelog records are written and acknowledged before each commit, so a committed offset's effects
    are always in the changelogs.

    Why: with one batch in flight and one commit per batch, each loop waited for the previous commit
    before fetching again; at 5,000 events/s (8 partitions, loopback on, single noisy 20 s runs) the
    event -> command p99 went from 117-235 ms to 84-99 ms with background, coalesced completion.
    """

    def __init__(self, consumer: AIOKafkaConsumer, max_in_flight: int = 4, commit_interval: float = 0.1,
                 changelogs: Outbox | None = None) -> None:
        self.consumer = consumer
        self.changelogs = changelogs  # its deferred changelog records are written before each commit
        self.max_in_flight = max_in_flight
        self.commit_interval = commit_interval
        self._queue: deque[tuple[asyncio.Future[Any], dict[TopicPartition, int]]] = deque()
        self._due: dict[TopicPartition, int] = {}  # offsets of completed batches, not yet committed
        self._last_commit = 0.0
        self.busy_since = 0.0  # when the commit (with its changelog flush) in progress began; 0: none
        self._flush = False
        self._task: asyncio.Future[None] | None = None
        self._progress = asyncio.Event()
        self._more = asyncio.Event()

    async def submit(self, acks: Awaitable[Any], offsets: dict[TopicPartition, int]) -> None:
        self._check()
        while len(self._queue) >= self.max_in_flight and self._task is not None:
            self._progress.clear()
            progress: asyncio.Future[Any] = asyncio.ensure_future(self._progress.wait())
            await asyncio.wait([progress, self._task], return_when=asyncio.FIRST_COMPLETED)
            progress.cancel()
            self._check()
        self._queue.append((asyncio.ensure_future(acks), offsets))
        self._more.set()
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def _check(self) -> None:
        """Raise the error of a failed completion (a produce the broker refused, a failed commit)."""
        task = self._task
        if task is not None and task.done():
            self._task = None
            task.result()

    def _unwritten(self) -> bool:
        return self.changelogs is not None and self.changelogs.has_deferred()

    async def _run(self) -> None:
        queue = self._queue
        while queue or self._due or self._unwritten():
            if queue:
                acks, offsets = queue[0]
                await acks
                queue.popleft()
                self._due.update(offsets)
                self._progress.set()
            if not self._due and not self._unwritten():
                continue
            wait = self.commit_interval - (time.monotonic() - self._last_commit)
            if wait <= 0 or self._flush:
                due, self._due = self._due, {}
                self._last_commit = self.busy_since = time.monotonic()
                try:
                    if self.changelogs is not None:
                        # state first: an offset is committed only once the changelogs hold its effects
                        await (await self.changelogs.send_deferred())
                    if due:
                        # (aiokafka retries a commit the broker refuses as "retriable" forever, e.g. for a
                        # topic it no longer knows: StreamWorker._watch_loop notices that by busy_since)
                        await self.consumer.commit(due)
                finally:
                    self.busy_since = 0.0
            elif not queue:
                self._more.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._more.wait(), timeout=wait)
        self._task = None

    async def wait(self) -> None:
        """Complete and commit every submitted batch now; a completion's error is raised here."""
        self._flush = True
        self._more.set()
        if self._task is None and (self._due or self._unwritten()):
            self._task = asyncio.ensure_future(self._run())
        try:
            while self._task is not None:
                task = self._task
                try:
                    await asyncio.shield(task)
                finally:
                    if task.done() and self._task is task:
                        self._task = None
        finally:
            self._flush = False
        self._queue.clear()
        self._due.clear()

    async def settle(self) -> None:
        """Before partitions are given up: every batch in flight must be durable, or the process restarts.

        A failed commit only means a replay (harmless); a failed produce means state the changelog
        does not have, which must not be checkpointed, so the worker exits and restores on restart.
        """
        try:
            await self.wait()
        except CommitFailedError:
            log.warning("offset commit failed during a rebalance; the new owner replays those records")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outputs of the last batch were not acknowledged; restarting to restore state")
            os._exit(70)


class _Pace:
    """At least ``interval`` seconds between two fetches, so the broker answers fewer, fuller fetches.

    On the local broker a fetch that finds new records costs a listing of every batch the partition
    holds, and each ingest fetch becomes one internal record batch per partition; pacing trades up to
    ``interval`` of latency for both (README, "The local broker's limits").
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = 0.0

    async def wait(self) -> None:
        if self.interval > 0:
            ahead = self._last + self.interval - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            self._last = time.monotonic()


class _IngestJoined(ConsumerRebalanceListener):  # type: ignore[misc]
    """Marks the ingest consumer as part of its group (an assignment may be empty: more workers than partitions)."""

    def __init__(self, worker: StreamWorker) -> None:
        self.worker = worker
        self.revoked_at: float | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.revoked_at = time.monotonic()
        self.worker.ingest_rebalancing = self.worker.ingest_behind = True  # (see StreamWorker.ingest_rebalancing)
        await self.worker.ingest_finisher.settle()
        self.worker.ingest_guard.forget(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        w = self.worker
        if self.revoked_at is not None:  # (aiokafka revokes, maybe nothing, when a rebalance or a first join begins)
            log.info("stage 1: assigned %d partition(s), %.1f s after the rebalance began", len(assigned),
                     time.monotonic() - self.revoked_at)
        w.memberships.remember(w.ingest_group, member_id(w.ingest_consumer))
        w.ingest_rebalancing = False
        w.ingest_joined.set()


class StreamWorker:
    """One worker process's streaming machinery. ``start()``/``stop()`` are called by the Faust service."""

    def __init__(self, settings: Settings, topology: Topology, web_url: str = "") -> None:
        self.s = settings
        self.topology = topology
        self._zones_told = 0  # of zones.unknown, logged (_publish_gauges)
        # each partition holds its share of a throttle's deployment-wide limit (engine.throttle)
        self.engine = Engine(topology.journeys, topology.policies, settings.allowed_lateness,
                             throttle_share=1 / max(settings.partitions, 1), stages=topology.stages)
        metrics.set_step_topics(topology.journeys)
        self.worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.web_url = web_url
        self.workers: dict[str, WorkerInfo] = {}
        self.partitioner = Partitioner(settings.partitions)
        self.stores = StoreFactory(settings.store, os.path.join(settings.data_dir, settings.app_id,
                                                                 f"worker-{settings.web_port}"),
                                   settings.rocksdb_memory_mb << 20)
        if self.stores.memory is not None:
            metrics.watch_rocksdb(self.stores.memory.usage)
        # this worker's member ids in its stage groups, for its next run after a crash (kafka.memberships)
        self.memberships = Memberships(self.stores.data_dir)
        self.customers_group = f"{settings.app_id}-customers"
        self.ingest_group = f"{settings.app_id}-ingest"
        self.parts: dict[int, CustomerPartition] = {}
        # partitions assigned to stage 2 whose changelogs cannot be restored (an unreadable batch): not
        # processed until the batch is skipped on request, then restored again
        self.blocked: dict[int, list[Stuck]] = {}
        self.skips = SkipRequests()  # operator skip requests (global table <app>.skips)
        self._kv: dict[int, tuple[KV, KV, KV]] = {}
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []  # loops stop() lets finish their batch
        self._idle_tasks: list[asyncio.Task[None]] = []  # loops stop() cancels (see start())
        self._not_ready: asyncio.Task[None] | None = None  # warns while the worker is not ready (readiness)
        self._assigned = False  # stage 2 has received a partition assignment (readiness)
        self._running = False
        self.ready = asyncio.Event()  # customer partitions restored
        self._prepared = asyncio.Event()  # producer started, global tables read (start())
        self.ingest_joined = asyncio.Event()  # stage 1 has joined its group
        self.ingest_behind = True  # until stage 1's first fetch says otherwise (timers wait for a backlog)
        # From a rebalance's start to its assignment stage 1 reads nothing, while events keep coming: timers
        # fired by the wall clock then decided before events that happened before they were due (drilled: a
        # wait timing out though its event came, at each worker start and stop). So timers go by the event
        # time applied meanwhile, as for a backlog, and the fetches after it say when stage 1 is caught up.
        self.ingest_rebalancing = False
        # input partitions another worker holds and does not read (killed, until its session times out): timers
        # due after they stopped wait (runtime.stalls); None while none is stalled
        self.stalls: Stalls[TopicPartition] = Stalls()
        self.timers_held_since: float | None = None
        self.decoded = Decoded(self.parts)  # stage 1's decoded events for the partitions held here
        self.ingest = Ingest(settings, self.decoded)
        self.processed_events = 0
        self.loopback = Loopback()
        # internal batches this process sent, in the order the producer queued them (per partition: offset
        # order), for the loopback task; stage 1 waits while more than _FEED_MAX are waiting
        self._feed: deque[tuple[int, asyncio.Future[Any], list[Item]]] = deque()
        self._feed_ready = asyncio.Event()
        self._feed_room = asyncio.Event()
        self._looping = False  # the loopback task holds batches taken from the feed (not yet applied)
        self._stopping = asyncio.Event()  # set by stop(): loops idling between rounds return at once
        # commits pending or the broker unanswered for long: /health 503 (trouble), see _watch_loop
        self.watch = BrokerWatch("worker", log, self._exit_if_topics_gone,
                                 lambda: (f.busy_since for f in (self.ingest_finisher, self.finisher)))
        metrics.watch_gauges("worker", self.watch)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Create topics, join both stage groups and catch up the global tables, all at once.

        Joining a group is mostly waiting for the broker (the local Tansu broker holds a JoinGroup for
        half the session timeout; Kafka waits ``group.initial.rebalance.delay.ms`` for a new group), so
        both groups are joined concurrently while the producer starts and the global tables are read;
        partitions assigned meanwhile are restored once that is done (``_prepared``). The worker is
        ready (``healthy``) when its customer partitions are restored and stage 1 is in its group.
        """
        t0 = time.monotonic()
        s = self.s
        # the built-in channels' and those policies.yaml declares (their adapters may start after the worker)
        outputs = [s.delivery_topic(c) for c in sorted(self.topology.policies.channel_names)]
        await ensure_topics(s, [s.input_topic, s.receipts_topic, s.dlq_topic, s.internal_topic, s.profiles_changelog,
                                s.timers_changelog, s.aliases_topic, s.workers_topic, s.skips_topic, s.skipped_topic,
                                s.journey_events_topic, s.consent_changes_topic, *outputs],
                            compacted=[s.profiles_changelog, s.timers_changelog, s.aliases_topic, s.skips_topic],
                            configs={s.workers_topic: workers_topic_config(),
                                     s.consent_changes_topic: consent_changes_config()})
        leave_group_on_close()
        if self.memberships.claim():  # a crashed run's members would hold its partitions for a session timeout
            await self.memberships.remove_left_behind(s, [self.customers_group, self.ingest_group])
        self.producer = make_producer(s)
        sink = self._to_feed if s.loopback else None
        self.outbox = Outbox(self.producer, self.partitioner, s.internal_topic, sink,
                             deferred=(s.profiles_changelog, s.timers_changelog, s.aliases_topic))
        self.ingest_out = Outbox(self.producer, self.partitioner, s.internal_topic, sink)
        self.globals_consumer = AIOKafkaConsumer(**s.kafka_kwargs(), enable_auto_commit=False,
                                                 auto_offset_reset="earliest")
        self.globals_guard = FetchGuard(self.globals_consumer, s, "globals", self.skips)
        self.offsets_consumer = AIOKafkaConsumer(**s.kafka_kwargs(), enable_auto_commit=False)  # never fetches
        group = {"enable_auto_commit": False, "auto_offset_reset": "earliest", "max_poll_records": s.batch_max,
                 "fetch_max_bytes": 16 * 1024 * 1024, "max_partition_fetch_bytes": 4 * 1024 * 1024,
                 "session_timeout_ms": s.session_timeout_ms, "heartbeat_interval_ms": heartbeat_ms(s.session_timeout_ms),
                 "fetch_max_wait_ms": s.fetch_max_wait_ms}
        self.customers = AIOKafkaConsumer(**s.kafka_kwargs(), group_id=self.customers_group,
                                          rebalance_timeout_ms=30_000, **group)
        self.customers_guard = FetchGuard(self.customers, s, "customers", self.skips)
        commit_interval = s.commit_interval_ms / 1000
        self.finisher = _Finisher(self.customers, changelogs=self.outbox, commit_interval=commit_interval)
        self.customers.subscribe([s.internal_topic], listener=_Rebalance(self))
        self.ingest_consumer = AIOKafkaConsumer(**s.kafka_kwargs(), group_id=self.ingest_group,
                                                isolation_level=s.input_isolation, **group)
        self.ingest_guard = FetchGuard(self.ingest_consumer, s, "ingest", self.skips)
        self.ingest_finisher = _Finisher(self.ingest_consumer, commit_interval=commit_interval)
        self.ingest_consumer.subscribe([s.input_topic, s.receipts_topic], listener=_IngestJoined(self))
        self._running = True
        self._not_ready = asyncio.create_task(readiness.tell_while_not_ready(
            self._progress, self.ingest_group, self.customers_group, log))
        joins = asyncio.gather(self.customers.start(), self.ingest_consumer.start())
        try:
            await self.producer.start()
            for topic in (s.internal_topic, s.profiles_changelog, s.timers_changelog, s.skipped_topic, s.dlq_topic,
                          s.journey_events_topic, s.consent_changes_topic, *outputs):
                # learn every output's partitions now: a first send to a topic the producer has no
                # metadata for waits for a metadata round trip (the first commands took ~1 s without this)
                await self.producer.partitions_for(topic)
            # dead letters keep their input partition, modulo the partitions the dead-letter topic has (ingest)
            self.ingest.dlq_partitions = len(await self.producer.partitions_for(s.dlq_topic)) or s.partitions
            for topic in (s.skipped_topic, s.journey_events_topic, s.consent_changes_topic, *outputs):  # Outbox.narrow
                n = len(await self.producer.partitions_for(topic))
                if 0 < n < s.partitions:
                    self.outbox.narrow[topic] = n
            await asyncio.gather(self.globals_consumer.start(), self.offsets_consumer.start())
            await self._catch_up_globals()
        except BaseException:
            joins.cancel()
            raise
        self._prepared.set()
        t1 = time.monotonic()
        await joins
        self._tasks = [asyncio.create_task(self._guard(self._customers_loop)),
                       asyncio.create_task(self._guard(self._ingest_loop))]
        # readers of the global tables, the announcer and the watchdog: nothing of theirs needs finishing, so
        # stop() cancels them instead of waiting out their polls and sleeps
        self._idle_tasks = [asyncio.create_task(self._guard(self._globals_loop)),
                            asyncio.create_task(self._guard(self._announce_loop)),
                            asyncio.create_task(self._guard(self._watch_loop)),
                            asyncio.create_task(self._guard(self._stalls_loop))]
        if s.loopback:
            self._tasks.append(asyncio.create_task(self._guard(self._loopback_loop)))
        if self.engine.scheduled:
            self._tasks.append(asyncio.create_task(self._guard(self._schedules_loop)))
        metrics.UP.labels("worker").set(1)
        log.info("stage groups joined %.1f s after the worker started (producer and global tables: %.1f s)",
                 time.monotonic() - t0, t1 - t0)

    async def stop(self) -> None:
        """Clean shutdown: let the loops finish the batch in hand, leave the groups, checkpoint stores.

        The order is the hand-over's: the partitions wait from the moment the loops stop until the other
        workers have them, so this process leaves its groups as soon as its last batch is committed and
        the changelog ends for the checkpoints are read, and flushes and checkpoints its stores after.
        Checkpoints are written only when every loop ended on its own (outputs flushed, offsets
        committed); after a forced cancel the stores may be ahead of their changelogs, so the next start
        rebuilds them from the changelogs instead (no checkpoint = full restore).
        """
        t0 = time.monotonic()
        self._running = False
        self._stopping.set()
        self._feed_ready.set()  # (the loopback loop waits on it)
        if self._not_ready is not None:
            self._not_ready.cancel()
        for t in self._idle_tasks:
            t.cancel()
        tasks = [*self._tasks, *self._idle_tasks]
        _, pending = await asyncio.wait(self._tasks, timeout=15) if self._tasks else (set(), set())
        for t in pending:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        t_loops = time.monotonic()
        if not pending:
            with contextlib.suppress(Exception):
                await self.ingest_finisher.wait()
        ends: dict[tuple[str, int], int] | None = None
        if not pending and self.parts:
            with contextlib.suppress(Exception):
                async with self._lock:  # (a rebalance's revoke may run meanwhile until the groups are left)
                    ends = await self._settle(sorted(self.parts))
        consumers = {name: getattr(self, c, None) for c, name in (
            ("ingest_consumer", "stage-1 consumer"), ("customers", "stage-2 consumer"),
            ("globals_consumer", "global tables' consumer"), ("offsets_consumer", "offsets reader"))}
        # leaving the groups (at once) revokes partitions and hands them to the other workers now
        left = await asyncio.gather(*(stop_within(c, f"the worker's {name}") for name, c in consumers.items()
                                      if c is not None), return_exceptions=True)
        if all(x is True for x in left):
            self.memberships.forget()  # (a LeaveGroup that failed on its own: the broker is gone, nothing to remove)
        # else a stop was cut, its LeaveGroup unsent: the next run on this directory removes those members
        t_left = time.monotonic()
        unsaved: Exception | None = None
        try:
            async with self._lock:
                # without ends (a loop was cancelled) the stores are closed without a checkpoint
                await self._close(sorted(self.parts), ends or {}, announce=False)
        except Exception as e:  # a store not flushed has no checkpoint: the next start restores it in full
            unsaved = e
        # bounded: with the broker gone each would wait out the request timeout (40 s; the stop took 43 s)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.send_and_wait(self.s.workers_topic, None,
                                                               key=self.worker_id.encode()), 3.0)
        with contextlib.suppress(Exception):  # (it flushes what is pending)
            await stop_within(self.producer, "the worker's producer")
        self.memberships.release()
        log.info("stopped in %.1f s: loops ended after %.1f s, groups left after %.1f s",
                 time.monotonic() - t0, t_loops - t0, t_left - t0)
        if unsaved is not None:
            # a volume that filled while the worker ran shows first here (no write-ahead log: writes wait in
            # memory until a flush); it was exit 0 and not a word
            exit_if_disk_full(unsaved, "worker", self.s.data_dir,
                              "its stores were not saved at the stop; the next start restores them from the changelogs")
            log.warning("its stores were not saved at the stop (%s); the next start restores them from the changelogs",
                        str(unsaved)[:300])

    async def _guard(self, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            exit_if_disk_full(e, "worker", self.s.data_dir, f"in its loop {fn.__name__}")
            # a commit or produce failing because the broker lost this worker's topics: say that, in one line
            with contextlib.suppress(Exception):
                await self._exit_if_topics_gone()
            log.exception("worker loop %s crashed; stopping the process so it can be restarted", fn.__name__)
            os._exit(70)

    async def _stalls_loop(self) -> None:
        """Twice a second: the group's committed offsets of the input partitions held elsewhere, and the ends of
        those not being read (:mod:`cjo_stream.runtime.stalls`, its Cost); sets :attr:`timers_held_since`."""
        c = self.ingest_consumer
        topics = (self.s.input_topic, self.s.receipts_topic)
        while self._running:
            await asyncio.sleep(0.5)
            if self.ingest_rebalancing or not self.ingest_joined.is_set():
                continue  # (a rebalance holds the timers itself; the committed offsets are changing hands)
            mine = c.assignment()
            others = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())
                      if TopicPartition(t, p) not in mine]
            committed: dict[TopicPartition, int | None] = {}
            ends: dict[TopicPartition, int] = {}
            starts: dict[TopicPartition, int] = {}
            if others:
                try:
                    committed = await asyncio.wait_for(committed_offsets(c, others), 5.0)
                    wanted = self.stalls.wanted(committed)
                    fresh = [tp for tp in wanted if committed[tp] is None]  # its owner reads it from its start
                    if wanted:
                        ends, starts = await asyncio.wait_for(asyncio.gather(
                            c.end_offsets(wanted), c.beginning_offsets(fresh) if fresh else _no_offsets()), 5.0)
                except Exception as e:  # noqa: BLE001 - the broker busy or gone: the watchdog says so; look again
                    log.debug("stalled partitions not looked at: %s", type(e).__name__)
                    continue
            now = time.time()
            self.stalls.observe(now, committed, ends, starts)
            self._say_stalls(now, self.stalls.since(now))

    def _say_stalls(self, now: float, since: float | None) -> None:
        held = self.timers_held_since
        if since is not None and held is None:
            parts = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in self.stalls.stalled(now))
            log.warning("stage 1: %s held by another worker not read for %.0f s (a worker gone, or one just assigned "
                        "them): timers due after %s wait until they are (%.0f s at most)", parts, now - since, format_ts(since),
                        self.stalls.hold_max)
        elif since is None and held is not None:
            if self.stalls.stalled(now):
                log.warning("stage 1: input partitions still not read after %.0f s: timers go on by the wall clock",
                            now - held)
            else:
                log.info("stage 1: the input partitions held elsewhere are read again: timers go on")
        self.timers_held_since = since
        metrics.TIMERS_HELD.set(0 if since is None else 1)

    async def _watch_loop(self) -> None:
        """Notice what the loops cannot: commits that never complete, and this worker's topics gone.

        aiokafka retries a commit the broker refuses as "retriable" forever, a commit to a topic it no
        longer knows included (a local broker restarted with memory storage loses every topic), and says
        so once a minute (logs.Repeats): the worker spun while ``/health`` said ok. Here a commit pending
        longer than ``STALL``, or a broker unanswered that long, turns ``/health`` to 503 with the
        reason (``trouble``), and the worker's topics gone from the cluster end the process
        (:meth:`_exit_if_topics_gone`). While the broker does not answer it is asked every 0.5 s, so
        that a broker back without the topics is seen before the rejoined groups restore anything.
        """
        await self.watch.run(self._stopping)

    @property
    def stopping(self) -> bool:
        """:meth:`stop` has begun."""
        return self._stopping.is_set()

    @property
    def trouble(self) -> str | None:
        """Why the worker cannot make progress now (/health: 503), see _watch_loop."""
        return self.watch.trouble

    async def _exit_if_topics_gone(self) -> bool:
        """End the process (exit 70, one line) if a topic of this worker's is missing from the cluster, or
        was made again with another partition count; False if the broker did not answer.

        A local broker restarted with memory storage has lost them: restoring from an empty changelog
        would lose every profile without a word, and commits would fail forever. Restarted (by its
        supervisor), the worker creates its topics as on a first start. The topic list is asked for in
        full: a metadata request naming a topic has Tansu create it (4 partitions, no compaction).
        """
        s = self.s
        # (the consumer's client: its public topics() gives names only, not partition counts)
        topics = await topic_partitions(self.offsets_consumer._client)
        if topics is None:
            return False
        # the receipts topic too: deleted (and made again by an adapter's next receipt), the ingest group kept
        # its subscription without it, and no receipt (an unsubscribe, a bounce) was applied, /health saying ok
        wrong = missing(topics, (s.input_topic, s.receipts_topic, s.internal_topic, *self._changelogs),
                        {t: s.partitions for t in (s.internal_topic, *self._changelogs)})
        if wrong is not None:
            log.error("worker: %s %s; exiting", wrong, GONE_HINT)
            os._exit(70)
        return True

    # ------------------------------------------------------------------ global tables (workers, skip requests)
    async def _catch_up_globals(self) -> None:
        s = self.s
        c = self.globals_consumer
        tps: list[TopicPartition] = []
        for topic in (s.workers_topic, s.skips_topic):
            parts = c.partitions_for_topic(topic)
            if not parts:
                await c.topics()  # refresh metadata
                parts = c.partitions_for_topic(topic) or set()
            tps.extend(TopicPartition(topic, p) for p in parts)
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        reading = asyncio.ensure_future(read_to_end(c, tps, self._apply_globals, self.globals_guard))
        t0 = time.monotonic()
        try:
            # (the read goes on; each wait only times a warning while it takes long)
            while not (await asyncio.wait([reading], timeout=_GLOBALS_PATIENCE))[0]:
                if self._stopping.is_set():  # stop() stops the consumer: the start ends as the read would have
                    raise ConsumerStoppedError
                # the worker sits "starting" meanwhile (seen once after the local broker restarted): say why.
                # Bounded: a request on a consumer that stop() is closing held the start past the stop (a test)
                try:
                    ends = await asyncio.wait_for(c.end_offsets(tps), 5.0)
                    behind = ", ".join([f"{tp.topic}[{tp.partition}] at {await c.position(tp)} of {ends[tp]}"
                                        for tp in tps if ends[tp] > 0])
                except TimeoutError:
                    behind = "their ends unknown: the broker did not answer in 5 s"
                log.warning("start: still reading the global tables after %.0f s (%s); the worker is not ready "
                            "until they are read", time.monotonic() - t0, behind or "no records yet")
        finally:
            reading.cancel()
        await reading

    def _apply_globals(self, recs: list[Any]) -> None:
        s = self.s
        for r in recs:
            key = r.key.decode() if r.key else ""
            if r.topic == s.workers_topic:
                info = msgspec.json.decode(r.value, type=WorkerInfo) if r.value is not None else None
                if info is None or time.time() - info.at > STALE:
                    self.workers.pop(key, None)  # gone, or not heard of lately (crashed)
                else:
                    self.workers[key] = info
            elif r.topic == s.skips_topic:
                self.skips.apply(r.value, r.key)

    async def _globals_loop(self) -> None:
        while self._running:
            for recs in (await self.globals_guard.getmany(timeout_ms=500)).values():
                self._apply_globals(recs)

    # ------------------------------------------------------------------ stage 1
    async def _ingest_loop(self) -> None:
        c = self.ingest_consumer
        guard = self.ingest_guard
        pace = _Pace(self.s.ingest_interval_ms / 1000)
        while self._running:
            await pace.wait()
            data = await guard.getmany(timeout_ms=100, max_records=self.s.batch_max)
            skipped = guard.take_skipped()  # past a batch an operator skipped: committed like processed records
            self.ingest_behind = self.ingest_rebalancing or self._behind(c, data, guard)
            if not data and not skipped:
                continue
            offsets = skipped
            for tp, recs in data.items():
                offsets[tp] = recs[-1].offset + 1
            if data:  # the whole fetch at once: it is forwarded in event-time order (runtime.ingest)
                self.ingest.process(next(iter(data.values())) if len(data) == 1
                                    else [r for recs in data.values() for r in recs], self.ingest_out)
            await self.ingest_finisher.submit(await self.ingest_out.send(), offsets)
            kept, since = len(self.decoded), time.monotonic()
            while self._running and self._stage2_behind():  # wait for it
                self._feed_room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._feed_room.wait(), timeout=0.5)
                if len(self.decoded) < kept:
                    kept, since = len(self.decoded), time.monotonic()
                elif time.monotonic() - since > _KEPT_WAIT and len(self._feed) <= _FEED_MAX:
                    break  # stage 2 took none of the kept events for a while: not coming back soon (Decoded.start)
            self._record_lag(c, offsets)
            for reason, n in self.ingest.invalid.items():
                metrics.EVENTS_INVALID.labels(reason).inc(n)
            self.ingest.invalid.clear()

    # ------------------------------------------------------------------ stage 2
    async def _customers_loop(self) -> None:
        guard = self.customers_guard
        interval = self.s.timer_interval
        loopback = self.loopback
        while self._running:
            if self.blocked:
                await self._retry_blocked()
            data = await guard.getmany(timeout_ms=int(interval * 1000), max_records=self.s.batch_max)
            skipped = guard.take_skipped()
            for tp, off in skipped.items():
                loopback.next[tp.partition] = off
            async with self._lock:
                if sum(len(r) for r in data.values()) < self.s.batch_max:
                    for p, part in self.parts.items():  # a partition the fetch did not include has nothing waiting
                        if TopicPartition(self.s.internal_topic, p) not in data:
                            part.behind = False
                batch: dict[int, Sequence[Any]] = {}
                fetched = 0
                for tp, got in data.items():
                    p = tp.partition
                    if p not in self.parts:
                        continue  # revoked while the fetch was in flight: the new owner replays it
                    recs = loopback.fetched(p, got)  # minus what the loopback applied already
                    fetched += len(recs)
                    more = loopback.take(p)  # handed-over records that now continue these
                    if recs or more:
                        batch[p] = [*recs, *more] if more else recs
                        metrics.INTERNAL_RECORDS.labels("loopback").inc(len(more))
                if fetched:
                    metrics.INTERNAL_RECORDS.labels("fetched").inc(fetched)
                await self._step(batch, {tp: off for tp, off in skipped.items() if tp.partition in self.parts})
                for p in loopback.idle(time.monotonic()):
                    self._unfollow(p)  # fed nothing lately: read what others may have written

    async def _loopback_loop(self) -> None:
        """Apply acknowledged internal batches this process wrote (see :mod:`cjo_stream.runtime.loopback`)."""
        while self._running:
            if not self._feed:
                self._feed_ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._feed_ready.wait(), timeout=0.5)
                continue
            # a bounded share at a time: after a backlog the feed holds up to _FEED_MAX batches, and
            # applying them in one step held the loop for seconds (11 s seen with 100 k profiles restored
            # on a busy machine): no /metrics or /health answer, no timer, no scan page meanwhile
            looped = [self._feed.popleft() for _ in range(min(len(self._feed), _LOOP_TAKE))]
            if len(self._feed) <= _FEED_MAX:
                self._feed_room.set()
            self._looping = True  # batches in hand: their kept events are taken by the step below
            try:
                await self._loop_step(looped)
            finally:
                self._looping = False
                self._feed_room.set()  # stage 1 may wait for the decoded events this step took

    async def _loop_step(self, looped: list[tuple[int, asyncio.Future[Any], list[Item]]]) -> None:
        """Apply batches taken from the feed once the broker acknowledged them."""
        internal = self.s.internal_topic
        try:
            acks = await asyncio.gather(*(fut for _, fut, _ in looped))
        except Exception:
            return  # not written: the finisher of the stage that sent it fails and restarts the process
        async with self._lock:
            touched, gaps = set(), set()
            for (p, _, items), meta in zip(looped, acks, strict=True):
                if p in self.parts and not self.customers_guard.is_stuck(TopicPartition(internal, p)):
                    if self.loopback.offer(p, meta.offset, items):
                        gaps.add(p)
                    touched.add(p)
            batch: dict[int, Sequence[Any]] = {}
            for p in touched:
                recs = self.loopback.take(p)
                if recs:
                    batch[p] = recs
                    metrics.INTERNAL_RECORDS.labels("loopback").inc(len(recs))
            if batch:
                await self._step(batch)
            now = time.monotonic()
            for p in batch:
                if p not in gaps and self.loopback.fed(p, now):
                    # the consumer need not fetch (nor the broker look up) what the loopback feeds
                    with contextlib.suppress(IllegalStateError):
                        self.customers.pause(TopicPartition(internal, p))
            for p in gaps:
                self._unfollow(p)

    def _unfollow(self, p: int) -> None:
        """Let the consumer read partition ``p`` again, from the next offset stage 2 expects."""
        if self.loopback.unfollow(p) and p in self.parts:
            tp = TopicPartition(self.s.internal_topic, p)
            if self.customers_guard.is_stuck(tp):
                return  # stays paused at its unreadable batch
            with contextlib.suppress(IllegalStateError):
                self.customers_guard.seek(tp, self.loopback.next[p])
                self.customers.resume(tp)

    def _stage2_behind(self) -> bool:
        """Stage 1 waits: more than ``_FEED_MAX`` batches wait for the loopback, or the loopback holds records
        while the decoded events kept for them leave no room for another fetch's (runtime.decoded: events
        not kept there are decoded again by stage 2, ~5 µs each; a 40,000-record lead had it decode ~85 %)."""
        if len(self._feed) > _FEED_MAX:
            return True
        if self.decoded.room(self.s.batch_max):
            return False
        if self._feed or self._looping:
            return True
        # Everything stage 1 sent is in the feed once its send returned, and the loopback has applied the
        # feed: what is still kept was applied from the consumer's copy (it got there first) or waits in
        # the loopback behind a gap. Dropped: stage 2 decodes those (Decoded's rule for a full map).
        self.decoded.by_id.clear()
        return False

    def _to_feed(self, partition: int, ack: asyncio.Future[Any], items: list[Item]) -> None:
        self._feed.append((partition, ack, items))
        self._feed_ready.set()

    async def _step(self, data: dict[int, Sequence[Any]], commit: dict[TopicPartition, int] | None = None) -> None:
        """Process records of owned partitions in order, run due timers, send outputs, commit in the background.

        ``commit``: offsets to commit with the batch besides those of its records (past a skipped batch).
        """
        t0 = time.perf_counter()
        now = time.time()
        counts = metrics.BatchCounts()
        offsets = dict(commit) if commit else {}
        n = 0
        internal = self.s.internal_topic
        for p, recs in data.items():
            part = self.parts.get(p)
            if part is None:
                continue
            st = part.process(recs, now, self.outbox, counts)
            n += st.records
            self.processed_events += st.events
            st.observe()
            tp = TopicPartition(internal, p)
            offsets[tp] = recs[-1].offset + 1
            hw = self.customers.highwater(tp)
            part.behind = hw is not None and hw > offsets[tp]
        held = self.timers_held_since
        clock = now - self.s.timer_grace_ms / 1000  # (events in flight from before a due time come first)
        if held is not None:
            clock = min(clock, held)
        for part in self.parts.values():
            part.due_timers(clock, self.outbox, ingest_behind=self.ingest_behind)
        await self.finisher.submit(await self.outbox.send(), offsets)
        if offsets:
            self._record_lag(self.customers, offsets)
        counts.publish()
        if counts.lookalikes:  # counted, each name new to the process logged (runtime.lookalikes)
            lookalikes.publish(counts.lookalikes)
        if counts.overtaken:  # events that came after a timer they happened before (runtime.overtaken)
            overtaken.publish(counts.overtaken, self.s.timer_grace_ms)
        self._publish_gauges()
        if n:
            metrics.BATCH_SIZE.observe(n)
            metrics.PROCESSING.observe((time.perf_counter() - t0) / n)

    # ------------------------------------------------------------------ scheduled entry
    async def _schedules_loop(self) -> None:
        """Bring scheduled journeys round for the owned partitions' profiles (:mod:`cjo_stream.runtime.schedules`)."""
        while self._running:
            for p in sorted(self.parts):
                if not self._running:
                    break
                await self._scan_schedules(p)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 1.0)

    async def _scan_schedules(self, p: int) -> None:
        """One partition's scan, a page at a time under the batch lock, so events go first: between pages
        the customers' loop takes the lock, and while records wait the scan pauses a little longer."""
        part = self.parts.get(p)
        if part is None or not part.schedules.due(time.time()):
            return
        behind = part.behind or self.ingest_behind
        if behind and part.watermark <= 0:
            return  # nothing applied yet after a start: no clock to offer occurrences by
        # as the timers: while records wait, occurrences come round by the event time applied so far
        part.schedules.begin(min(time.time(), part.watermark) if behind else time.time())
        t0 = time.monotonic()
        try:
            while self._running:
                async with self._lock:
                    if self.parts.get(p) is not part:
                        return  # given up meanwhile: the next owner scans from the stored marks
                    counts = metrics.BatchCounts()
                    scan = part.schedules.scan
                    assert scan is not None
                    before = scan.profiles
                    done = part.offer_schedules(scan, _SCAN_PAGE, self.outbox, counts)
                    metrics.SCHEDULE_PROFILES.inc(scan.profiles - before)
                    if done:
                        part.finish_schedules(time.time(), self.outbox)
                    await self.finisher.submit(await self.outbox.send(), {})
                    counts.publish()
                    if done:
                        metrics.SCHEDULE_SCAN.observe(time.monotonic() - t0)
                        log.info("partition %d: scheduled entry offered to %d profiles in %.1f s", p,
                                 scan.profiles, time.monotonic() - t0)
                        return
                await asyncio.sleep(_SCAN_PAUSE if part.behind or self.ingest_behind else 0)
        finally:
            part.schedules.abandon()

    # ------------------------------------------------------------------ partition ownership
    async def acquire(self, partitions: list[int]) -> bool:
        """Restore and take ``partitions``; False (nothing taken) when stop() began before start() was done."""
        self._assigned = True
        if not self._prepared.is_set():  # assigned while start() still reads the global tables
            prepared = asyncio.ensure_future(self._prepared.wait())
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([prepared, stopping], return_when=asyncio.FIRST_COMPLETED)
            prepared.cancel()
            stopping.cancel()
            if not self._prepared.is_set():
                # stop() came first: take nothing. (Waiting on, this listener held up the consumer's group
                # coordinator, whose close stop() awaits: a worker stopped before its start finished hung.)
                return False
        async with self._lock:
            new = [p for p in partitions if p not in self.parts]
            if new:
                t0 = time.perf_counter()
                # opened in threads (RocksDB opens them without the GIL): 24 stores took 1.0 s one after the
                # other on a loaded 2-core machine, 0.45 s this way, and the event loop (heartbeats, the
                # other stage's join) is not blocked meanwhile
                opened = await asyncio.gather(*(asyncio.to_thread(self.stores.open, table, p, counted=table != "aliases")
                                                for p in new for table in _TABLES))
                stores: dict[int, tuple[KV, KV, KV]] = {}
                jobs: list[tuple[str, int, KV, int]] = []
                for i, p in enumerate(new):
                    (prof_kv, prof_start), (timer_kv, timer_start), (alias_kv, alias_start) = opened[3 * i:3 * i + 3]
                    stores[p] = (prof_kv, timer_kv, alias_kv)
                    jobs += [(self.s.profiles_changelog, p, prof_kv, prof_start),
                             (self.s.timers_changelog, p, timer_kv, timer_start),
                             (self.s.aliases_topic, p, alias_kv, alias_start)]
                await self._exit_if_topics_gone()  # (new groups after a rebalance: maybe a broker that lost all)
                jobs = await self._rebuild_recreated(jobs, stores)
                stuck = await self._restore(jobs)
                for p, (prof_kv, timer_kv, alias_kv) in stores.items():
                    if p in stuck:  # its state is incomplete: do not decide for these customers
                        for table, kv in zip(_TABLES, (prof_kv, timer_kv, alias_kv), strict=True):
                            self.stores.close(table, p, kv, None)  # no checkpoint: restored in full later
                        self.blocked[p] = stuck[p]
                        with contextlib.suppress(IllegalStateError):
                            self.customers.pause(TopicPartition(self.s.internal_topic, p))
                        continue
                    self._kv[p] = (prof_kv, timer_kv, alias_kv)
                    self.loopback.forget(p)
                    self.parts[p] = CustomerPartition(p, self.engine, self.s, prof_kv, timer_kv,
                                                      Links(alias_kv, self.s.aliases_topic, p), self.decoded)
                metrics.RESTORE_SECONDS.observe(time.perf_counter() - t0)
            self._publish_gauges()
            await self._announce()
        self.ready.set()
        return True

    async def release(self, partitions: list[int]) -> None:
        """Give up partitions in a rebalance: finish the batch in flight, close their stores with a checkpoint."""
        async with self._lock:
            try:
                ends = await self._settle(partitions)
            except Exception as e:  # the partitions go all the same; without a checkpoint they are restored in full
                log.warning("changelog ends unreadable (%s); closing the given-up stores without a checkpoint", e)
                ends = {}
            await self._close(partitions, ends)

    async def _settle(self, partitions: list[int]) -> dict[tuple[str, int], int]:
        """Wait for the batch in flight, then read the changelog ends the stores' checkpoints will name."""
        await self.finisher.settle()  # the changelog ends read below must include the batch in flight
        return await self._changelog_ends(partitions) if self.s.store != "memory" else {}

    async def _close(self, partitions: list[int], ends: dict[tuple[str, int], int], announce: bool = True) -> None:
        for p in partitions:
            self.parts.pop(p, None)
            self.loopback.forget(p)
            self._unblock(p)
            kvs = self._kv.pop(p, None)
            if kvs is None:
                continue
            for table, topic, kv in zip(_TABLES, self._changelogs, kvs, strict=True):
                self.stores.close(table, p, kv, ends.get((topic, p)))
            metrics.forget_partition(p)
        if announce:
            with contextlib.suppress(Exception):
                await self._announce()

    def _unblock(self, p: int) -> None:
        for st in self.blocked.pop(p, ()):
            with contextlib.suppress(KeyError):
                metrics.PARTITION_STUCK.remove(st.topic, str(st.partition))

    async def _retry_blocked(self) -> None:
        """Restore a blocked partition again once its unreadable changelog batch has a skip request."""
        for p, stuck in list(self.blocked.items()):
            if any(self.skips.get(st.topic, st.partition, st.offset) for st in stuck):
                self._unblock(p)
                await self.acquire([p])  # the restore applies the standing request when it reaches the batch
                if p in self.parts:
                    with contextlib.suppress(IllegalStateError):
                        self.customers.resume(TopicPartition(self.s.internal_topic, p))

    async def _changelog_ends(self, partitions: list[int]) -> dict[tuple[str, int], int]:
        tps = [TopicPartition(t, p) for p in partitions for t in self._changelogs]
        if not tps:
            return {}
        if self._prepared.is_set():
            # an idle client: on the global tables' consumer this request waited behind its long-poll
            # fetches (the broker answers a connection's requests in order): 0.5 s a request, 1.5-2 s in a
            # rebalance; a new client per call costs its start-up
            # bounded: with the broker gone it would wait out the request timeout (40 s)
            ends = await asyncio.wait_for(self.offsets_consumer.end_offsets(tps), 5.0)
        else:
            _, ends = await offsets(self.s, tps)
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}

    async def _rebuild_recreated(self, jobs: list[tuple[str, int, KV, int]],
                                 stores: dict[int, tuple[KV, KV, KV]]) -> list[tuple[str, int, KV, int]]:
        """A store whose checkpoint lies past its changelog's end is not a copy of that changelog (the
        topic was made again, e.g. a fresh broker with an old data directory): wipe it and read it all."""
        checkpointed = {TopicPartition(t, p): start for t, p, _, start in jobs if start}
        if not checkpointed:
            return jobs
        _, ends = await offsets(self.s, list(checkpointed))
        stale = past_end(checkpointed, ends)
        out = []
        for topic, p, kv, start in jobs:
            if TopicPartition(topic, p) in stale:
                log.warning("the checkpoint of %s[%d] is past the changelog's end (the topic was made again): "
                            "rebuilding the store from it", topic, p)
                table = _TABLES[self._changelogs.index(topic)]
                self.stores.close(table, p, kv, None)  # no checkpoint: wiped when opened again
                kv, start = self.stores.open(table, p, counted=table != "aliases")
                i = self._changelogs.index(topic)
                stores[p] = (*stores[p][:i], kv, *stores[p][i + 1:])  # type: ignore[assignment]
            out.append((topic, p, kv, start))
        return out

    async def _restore(self, jobs: list[tuple[str, int, KV, int]]) -> dict[int, list[Stuck]]:
        """Replay changelog partitions into their stores, each from its start offset to the current end.

        The record batches are read raw (:mod:`cjo_stream.kafka.restore`: ~3x the rate of a consumer,
        which built a Python record object per record), a few partitions at a time, and each fetched
        chunk goes into RocksDB as one write batch (latest value per key). Returns the customer
        partitions whose changelogs stopped at a record batch that cannot be decoded.
        """
        if not jobs:
            return {}
        t0 = time.perf_counter()
        target = {TopicPartition(topic, p): kv for topic, p, kv, _ in jobs}

        def apply(tp: TopicPartition, changes: dict[bytes, bytes | None]) -> None:
            if changes:
                target[tp].write_many(changes)

        done = await restore(self.s, {TopicPartition(topic, p): start for topic, p, _, start in jobs}, apply,
                             skips=self.skips)
        log.info("restored %d changelog records of %d store(s) in %.1f s", done.records, len(jobs),
                 time.perf_counter() - t0)
        if done.records > 100_000:
            release_memory()  # the restore's buffers, freed now, back to the OS
        stuck: dict[int, list[Stuck]] = {}
        for tp, st in done.stuck.items():
            stuck.setdefault(tp.partition, []).append(st)
        return stuck

    async def _announce_loop(self) -> None:
        """Re-announce now and then, so the workers table's retention never deletes a live worker."""
        last = time.monotonic()
        while self._running:
            await asyncio.sleep(1.0)
            if time.monotonic() - last >= ANNOUNCE_EVERY:
                last = time.monotonic()
                async with self._lock:
                    await self._announce()

    async def _announce(self) -> None:
        info = WorkerInfo(self.web_url, sorted(self.parts), time.time())
        await self.producer.send_and_wait(self.s.workers_topic, _json.encode(info), key=self.worker_id.encode())
        self.workers[self.worker_id] = info

    def _publish_gauges(self) -> None:
        for p, part in self.parts.items():
            metrics.TIMERS_PENDING.labels(str(p)).set(len(part.timers))
            metrics.PROFILES.labels(str(p)).set(part.customers())
        if len(zones.unknown) != self._zones_told:  # the engine times them in the default zone without a word
            new = list(zones.unknown)[self._zones_told:]
            self._zones_told = len(zones.unknown)
            metrics.UNKNOWN_TIMEZONES.set(self._zones_told)
            log.warning("%s", live_note(new, str(self.engine.policies.default_timezone)))

    # ------------------------------------------------------------------ queries (web views)
    def stuck(self) -> list[dict[str, Any]]:
        """Partitions stopped at a record batch this worker cannot decode (``/health``)."""
        guards = [getattr(self, name, None) for name in ("globals_guard", "ingest_guard", "customers_guard")]
        out = [st for g in guards if g is not None for st in g.stuck.values()]
        out += [st for sts in self.blocked.values() for st in sts]
        return [st.as_dict() for st in sorted(out, key=lambda st: (st.topic, st.partition))]

    def _progress(self) -> readiness.Progress | None:
        """How far the start is, for the warnings while it is not ready; None once ready or stopping."""
        if self.healthy or self._stopping.is_set():
            return None
        return readiness.Progress(tables_read=self._prepared.is_set(), ingest_joined=self.ingest_joined.is_set(),
                                  assigned=self._assigned, ready=self.ready.is_set())

    @property
    def healthy(self) -> bool:
        """Processing: customer partitions restored, the ingest stage in its group, commits completing."""
        return self.ready.is_set() and self.ingest_joined.is_set() and self.trouble is None

    @property
    def _changelogs(self) -> tuple[str, str, str]:
        return self.s.profiles_changelog, self.s.timers_changelog, self.s.aliases_topic

    def customer_id(self, ident: str) -> str:
        """The customer of ``ident`` as far as this worker can tell (state API).

        Links live in the partition of the id they link (:mod:`cjo_stream.runtime.aliases`): they are
        followed while those partitions are this worker's; the owner of the next one continues.
        """
        cur = ident
        for _ in range(MAX_HOPS):
            part = self.parts.get(self.partition_of(cur))
            if part is None or part.load(cur) is not None:
                return cur
            nxt = part.links.owner(cur)
            if nxt is None or nxt == cur:
                return cur
            cur = nxt
        return cur

    def partition_of(self, customer_id: str) -> int:
        return self.partitioner(customer_id.encode())

    def owner_url(self, partition: int) -> str | None:
        return owner_url(self.workers, partition, time.time())

    def local_customer(self, customer_id: str) -> dict[str, Any] | None:
        part = self.parts.get(self.partition_of(customer_id))
        if part is None:
            raise KeyError(customer_id)
        stored = part.load(customer_id)
        if stored is None:
            return None
        p = stored.profile
        timers = [{"journey": t.journey, "instance_id": t.instance_id, "due": format_ts(t.due), "kind": t.kind}
                  for t in part.timers.of_customer(customer_id)]
        return {"customer_id": p.customer_id, "profile": profile_to_dict(p, self.engine.default_stage, self.engine.ending),
                "pending_timers": timers,
                "active_journeys": sorted(p.instances), "partition": part.partition}

    async def erase(self, customer_id: str) -> None:
        await self.producer.send_and_wait(self.s.internal_topic, b"", key=customer_id.encode(),
                                          partition=self.partition_of(customer_id), headers=[("k", KIND_ERASE)])

    def _behind(self, c: AIOKafkaConsumer, data: dict[TopicPartition, list[Any]], guard: FetchGuard) -> bool:
        """Whether a fetch left records waiting: it was full, a partition ends beyond what it returned, or an
        assigned partition was not fetched yet (its end unknown: after an assignment the first fetches may bring
        nothing while a backlog waits). Not by the position of a partition the fetch returned nothing of: the
        end counts transaction markers, which are never returned (timers would wait with no end), nor one
        stuck at an unreadable batch (it waits for an operator, not for time)."""
        if sum(len(r) for r in data.values()) >= self.s.batch_max:
            return True
        if any((hw := c.highwater(tp)) is not None and hw > recs[-1].offset + 1 for tp, recs in data.items()):
            return True
        return any(c.highwater(tp) is None and not guard.is_stuck(tp) for tp in c.assignment())

    @staticmethod
    def _record_lag(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        for tp, pos in offsets.items():
            hw = consumer.highwater(tp)
            if hw is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, hw - pos))
