"""``cjo-stream analytics``: folds ``cjo.journey-events`` into durable aggregates and serves them.

Its own consumer group (``<app>-analytics``), so it restarts and scales apart from the workers; one
process holds the whole fold (aggregates are per journey and hour, instance rows are keyed by
instance id: an instance that moved partitions on an identity merge is still one row), so run one
replica per deployment — one process folds well over 25,000 journey events/s (``make bench``).
State and exactness: :mod:`cjo_stream.analytics.state`. HTTP: :mod:`cjo_stream.analytics.web`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Collection, Mapping, MutableMapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from cjo_stream import metrics
from cjo_stream.analytics import records, state
from cjo_stream.analytics.fold import Analytics, BucketKey, Counters
from cjo_stream.analytics.lanes import MAX_HOLD, Lanes
from cjo_stream.analytics.offline import definitions
from cjo_stream.config import Settings
from cjo_stream.journeys.loader import Topology
from cjo_stream.journeys.model import Journey
from cjo_stream.kafka.closing import STOP_WITHIN, stop_within
from cjo_stream.kafka.guard import FetchGuard
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.reading import read_to_end
from cjo_stream.kafka.restore import offsets as topic_offsets
from cjo_stream.kafka.restore import past_end, read_ends
from cjo_stream.kafka.skips import SkipRequests, load_skips
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.kafka.watch import GONE_HINT, BrokerWatch, missing, topic_partitions
from cjo_stream.kv import KV, StoreFactory

log = logging.getLogger("cjo_stream.analytics")

FLUSH_INTERVAL = 0.5  # seconds between changelog flushes (and group commits)
FLUSH_BYTES = 512 * 1024  # flush earlier once this much is pending: one flush must fit one record batch
PRUNE_INTERVAL = 3600.0  # seconds between prunes of delivery rows past the receipt window


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, svc: AnalyticsService) -> None:
        self.svc = svc

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.svc.flush()
        self.svc.guard.forget(revoked)
        self.svc.lanes.drop(revoked)  # not folded, so not in the stored offsets: read again by their new owner
        self.svc.paused.difference_update(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        metrics.REBALANCES.inc()
        consumer = self.svc.consumer
        assert consumer is not None
        self.svc.lanes.drop(assigned)  # sought back to the stored offsets below: fetched again
        for tp in assigned:  # the store, not the group, knows what was applied (no offset: from the start)
            off = self.svc.offsets.get((tp.topic, tp.partition))
            if off is None:
                off = (await consumer.beginning_offsets([tp]))[tp]
            self.svc.guard.seek(tp, off)
        self.svc.assigned = sorted(tp.partition for tp in assigned)
        self.svc.ready.set()


class AnalyticsService:
    """The consumer loop and the state; :mod:`cjo_stream.analytics.web` reads :attr:`fold` for answers."""

    def __init__(self, settings: Settings, topology: Topology, batch_max: int = 2000) -> None:
        self.s = settings
        self.topology = topology
        self.defs: Mapping[tuple[str, int], Journey] = definitions(topology.journeys)
        self.stages: tuple[str, ...] = topology.stages.names if topology.stages is not None else ()
        self.batch_max = batch_max
        self.stores = StoreFactory(settings.store, os.path.join(settings.data_dir, settings.app_id, "analytics"))
        self.topic = settings.journey_events_topic
        self.ready = asyncio.Event()
        self.offsets: dict[tuple[str, int], int] = {}
        self.assigned: list[int] = []
        self.fold = self.new_fold()
        self.lanes: Lanes[TopicPartition] = Lanes()  # fetched records not folded yet (a lagging partition)
        self.paused: set[TopicPartition] = set()  # paused by the lanes: their records wait for another's
        self.hold_max = 2 * batch_max  # records held a partition before it pauses (:meth:`_pace`)
        self.invalid = 0
        self._kv: KV | None = None
        self._rows: state.RowCache | None = None
        self._pending: dict[bytes, bytes | None] = {}
        self._pending_bytes = 0
        self._last_flush = time.monotonic()
        self._stopping = asyncio.Event()
        self._skips_read = 0.0
        self._pruned = time.monotonic()
        self.consumer: AIOKafkaConsumer | None = None
        # /health answers 503 once the broker has not answered for a while, as on the workers and adapters
        # (it said "ok" with the broker gone); no commit is watched: the store holds the offsets
        self.watch = BrokerWatch("analytics", log, self._look, lambda: ())
        metrics.watch_gauges("analytics", self.watch)
        if self.stores.memory is not None:  # its store's share of its memory, as a worker's (cached rows are apart)
            metrics.watch_rocksdb(self.stores.memory.usage)
        self._counts: dict[str, int] = {}  # partitions of its own topics, as first seen
        self.restored = False  # start() done: the web endpoint (up before it) answers 503 until then

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        s = self.s
        await ensure_topics(s, [self.topic])
        await ensure_topics(s, [s.analytics_changelog], compacted=[s.analytics_changelog],
                            partitions={s.analytics_changelog: 1})
        self.producer = make_producer(s)
        await self.producer.start()
        await self.producer.partitions_for(s.analytics_changelog)
        await self._look()  # the partition counts of its topics, to tell them from ones made again later
        kv, start = self.stores.open("analytics", 0)
        changelog = TopicPartition(s.analytics_changelog, 0)
        if start and past_end({changelog: start}, (await topic_offsets(s, [changelog]))[1]):
            # the changelog was made again (a broker that lost its topics): the store is no copy of it, and
            # its input offsets lie past the new input's end, where it waited and counted nothing
            log.warning("analytics: the checkpoint of %s is past its end (the topic was made again): starting "
                        "over from it", s.analytics_changelog)
            self.stores.close("analytics", 0, kv, None)  # no checkpoint: wiped when opened again
            kv, start = self.stores.open("analytics", 0)
        t0 = time.perf_counter()
        await self._restore(kv, start)
        metrics.RESTORE_SECONDS.observe(time.perf_counter() - t0)
        buckets, self.offsets = state.load(kv)
        await self._forget_recreated_input(kv)
        self._kv, self._rows = kv, state.RowCache(kv, s.analytics_cache_rows)
        self.fold = self.new_fold(self._rows, buckets)
        self.consumer = AIOKafkaConsumer(**s.kafka_kwargs(), group_id=f"{s.app_id}-analytics",
                                         enable_auto_commit=False, auto_offset_reset="earliest",
                                         max_poll_records=self.batch_max, fetch_max_wait_ms=s.fetch_max_wait_ms,
                                         session_timeout_ms=10_000, heartbeat_interval_ms=1_000)
        self.guard = FetchGuard(self.consumer, s, "analytics", SkipRequests())
        self.consumer.subscribe([self.topic], listener=_Assigned(self))
        await self.consumer.start()
        metrics.UP.labels("analytics").set(1)
        self.restored = True
        log.info("analytics: %d buckets, %d input offsets restored", len(buckets), len(self.offsets))

    async def _forget_recreated_input(self, kv: KV) -> None:
        """Input offsets stored past the input topic's end: that topic was made again (its changelog kept).
        They, and the workers' source positions the fold drops duplicates by (their internal topic was
        made again too, numbered from 0), are forgotten, so the new topic is read from its start and
        counted: kept, the service waited past its end (or dropped every event as a duplicate)."""
        mine = {TopicPartition(t, p): off for (t, p), off in self.offsets.items() if t == self.topic}
        if not mine or not past_end(mine, (await topic_offsets(self.s, list(mine)))[1]):
            return
        if not past_end(mine, await read_ends(self.s, list(mine))):  # past the reported end only: Tansu's is short
            return
        log.warning("analytics: its offsets of %s are past the topic's end (the topic was made again): reading "
                    "it from the start, and forgetting the source positions applied", self.topic)
        gone: dict[bytes, bytes | None] = {state.offset_key(tp.topic, tp.partition): None for tp in mine}
        gone.update({k: None for k, _ in kv.prefix(b"s:")})
        kv.write_many(gone)
        for tp in mine:
            del self.offsets[(tp.topic, tp.partition)]
        self._pending.update(gone)  # the changelog forgets them too (written with the next flush)

    async def _restore(self, kv: KV, start: int) -> None:
        c = AIOKafkaConsumer(**self.s.kafka_kwargs(), enable_auto_commit=False, auto_offset_reset="earliest",
                             max_poll_records=50_000, fetch_max_wait_ms=self.s.fetch_max_wait_ms)
        await c.start()
        tp = TopicPartition(self.s.analytics_changelog, 0)
        try:
            c.assign([tp])
            c.seek(tp, start)
            guard = FetchGuard(c, self.s, "analytics-restore", await load_skips(self.s))
            await read_to_end(c, [tp], lambda recs: kv.write_many({r.key: r.value for r in recs}), guard)
            if guard.stuck:
                raise RuntimeError(f"the analytics changelog cannot be read past offset {guard.stuck[tp].offset} "
                                   f"({guard.stuck[tp].error}); see `cjo-stream skip`")
        finally:
            await c.stop()

    def new_fold(self, rows: MutableMapping[str, Any] | None = None,
                 buckets: dict[BucketKey, Counters] | None = None) -> Analytics:
        """A fold with the topology's policies: its time zone for the local hour of sending, and its customer-facing
        channels (built in and declared) for the local-hour and sends-per-week figures."""
        p = self.topology.policies
        return Analytics(rows, buckets, default_zone=p.default_timezone, customer_channels=p.customer_channels)

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """Flush, leave the group, checkpoint the store: each step bounded (a broker that does not answer kept
        this 40 s), and no checkpoint unless the flush was written (the store would claim rows the changelog
        lacks; without one the next start rebuilds from the changelog and folds again from its offsets)."""
        metrics.UP.labels("analytics").set(0)
        flushed = False
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), STOP_WITHIN)
            flushed = True
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await stop_within(self.consumer, "the analytics service's consumer")
        end = None
        if self._kv is not None and self.s.store != "memory" and flushed:
            with contextlib.suppress(Exception):
                end = await asyncio.wait_for(self._changelog_end(), STOP_WITHIN)
        if self._kv is not None:
            self.stores.close("analytics", 0, self._kv, end)
            self._kv = None
        with contextlib.suppress(Exception):
            await stop_within(self.producer, "the analytics service's producer")

    async def _changelog_end(self) -> int:
        c = AIOKafkaConsumer(**self.s.kafka_kwargs(), enable_auto_commit=False)
        try:
            await c.start()  # inside: a start that failed (the broker gone) left 'Unclosed AIOKafkaConsumer'
            tp = TopicPartition(self.s.analytics_changelog, 0)
            return int((await c.end_offsets([tp]))[tp])
        finally:
            await c.stop()

    # ------------------------------------------------------------------ the loop
    async def _look(self) -> bool:
        """One metadata request (:class:`BrokerWatch`): False if the broker did not answer.

        Its input topic or changelog missing from the cluster, or made again with another partition count
        than first seen, mean the broker lost them (a local broker restarted with memory storage): the
        service waited past the new topic's end and counted nothing, with /health "ok". It exits 70, with
        no checkpoint (one line), for its supervisor to start it again: from the changelog as it is then.
        """
        topics = await topic_partitions(self.producer.client)
        if topics is None:
            return False
        own = [self.topic, self.s.analytics_changelog]
        if not self._counts:
            self._counts = {t: topics[t] for t in own if t in topics}
        wrong = missing(topics, own, self._counts)
        if wrong is not None:
            log.error("analytics: %s %s; exiting (70) for its supervisor to start it again", wrong, GONE_HINT)
            os._exit(70)
        return True

    async def run(self) -> None:
        assert self.consumer is not None
        watch = asyncio.create_task(self.watch.run(self._stopping))
        try:
            await self._loop()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _loop(self) -> None:
        assert self.consumer is not None
        while not self._stopping.is_set():
            data = await self.guard.getmany(timeout_ms=200, max_records=self.batch_max)
            skipped = self.guard.take_skipped()
            if data or skipped or self.lanes.holding():
                self.apply(data, skipped, await self.behind())
                self._pace()
            if self._pending and (time.monotonic() - self._last_flush > FLUSH_INTERVAL
                                  or self._pending_bytes > FLUSH_BYTES):
                await self.flush()
            if time.monotonic() - self._pruned > PRUNE_INTERVAL:
                self.prune()
            if self.guard.stuck and time.monotonic() - self._skips_read > 5.0:
                self._skips_read = time.monotonic()
                self.guard.skips = await load_skips(self.s)

    async def behind(self) -> set[TopicPartition]:
        """Assigned partitions not read to their end as last fetched (nor stuck at an unreadable batch): the
        lanes' merge waits for their records (:mod:`cjo_stream.analytics.lanes`).

        Read to its end by the consumer's position, not by the records handed out: the last offsets of a
        partition may hold no record to hand out (a transaction's commit marker, records compacted away), which
        the consumer steps over; by the records, such a partition was behind for good, and every fetch of the
        others waited :data:`~cjo_stream.analytics.lanes.MAX_HOLD` for it, with a warning."""
        c = self.consumer
        if c is None:
            return set()
        out = set()
        for tp in c.assignment():
            if self.guard.is_stuck(tp):
                continue
            hw = c.highwater(tp)
            # (a position not known yet: not read to its end; known, it is at hand: no request, unless it is
            # being reset after an offset out of range, one offsets request away)
            if hw is None or self.guard.next_offset(tp) is None or await c.position(tp) < hw:
                out.add(tp)
        return out

    def _pace(self) -> None:
        """Pause the partitions holding more than :attr:`hold_max` records (they wait for another's), so memory
        holds about that many a partition and the lagging one gets the fetches; resume the others (never one the
        fetch guard paused at an unreadable batch). Not sooner: a pause drops what the consumer prefetched of the
        partition, fetched again on resuming (pausing every lane that held a record folded a backlog of 8
        partitions at under half the rate, ``make bench``'s analytics section)."""
        c = self.consumer
        if c is None:
            return
        want = {tp for tp in self.lanes.holding(self.hold_max) if not self.guard.is_stuck(tp)}
        assigned = c.assignment()
        go = [tp for tp in self.paused - want if not self.guard.is_stuck(tp) and tp in assigned]
        if go:
            c.resume(*go)
        stop = [tp for tp in want - self.paused if tp in assigned]
        if stop:
            c.pause(*stop)
        self.paused = want

    def apply(self, data: Mapping[TopicPartition, list[Any]], skipped: Mapping[TopicPartition, int] | None = None,
              behind: Collection[TopicPartition] = ()) -> int:
        """Fold fetched records and write the batch's state with its offsets (one RocksDB write batch).

        The partitions' records are folded merged in event-time order, each partition's in its own order (the
        duplicate check's), as far as every partition in ``behind`` (not read to its end) has records:
        :mod:`cjo_stream.analytics.lanes` says why. ``skipped``: offsets past batches skipped on request."""
        fold = self.fold
        lanes = self.lanes
        kinds: dict[str, int] = {}
        dup0 = fold.duplicates
        n = 0
        for tp, recs in data.items():
            lane: list[tuple[records.JourneyEvent, int]] = []
            for r in recs:
                try:
                    lane.append((records.decode(r.value or b""), r.offset))
                except Exception:  # noqa: BLE001 - written by something else: counted, skipped
                    self.invalid += 1
                    metrics.ANALYTICS_INVALID.inc()
            if recs:
                lanes.add(tp, lane, recs[-1].offset + 1)
                hw = self.consumer.highwater(tp) if self.consumer is not None else None
                if hw is not None:
                    metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, hw - recs[-1].offset - 1))
        for tp, off in (skipped or {}).items():
            lanes.add(tp, [], off)
        released = lanes.released
        for e in lanes.take(behind, time.monotonic()):
            if fold.apply(e):
                kinds[e.kind] = kinds.get(e.kind, 0) + 1
            n += 1
        if lanes.released > released:
            metrics.ANALYTICS_UNWAITED.inc(lanes.released - released)
            log.warning("analytics: partitions %s brought no records for %.0f s while behind: folding the others' "
                        "records without them (an instance moved by an identity merge may count as out of order)",
                        sorted(tp.partition for tp in behind), MAX_HOLD)
        for k, c in kinds.items():
            metrics.ANALYTICS_EVENTS.labels(k).inc(c)
        if fold.duplicates > dup0:
            metrics.ANALYTICS_DUPLICATES.inc(fold.duplicates - dup0)
        self._write({(tp.topic, tp.partition): off for tp, off in lanes.offsets().items()})
        return n

    def prune(self) -> int:
        """Delete delivery rows (and receipts waiting for an unknown delivery) past the receipt window, and
        customers' send times a week older (:func:`~cjo_stream.analytics.fold.stale`).

        One pass over those rows, once an hour: a send's receipts come within days, and without this every
        send would keep its row forever, and every customer ever messaged its id.
        """
        from cjo_stream.analytics.fold import RECEIPT_WINDOW, stale

        self._pruned = time.monotonic()
        assert self._kv is not None and self._rows is not None
        horizon = self.fold.latest - RECEIPT_WINDOW
        gone = 0
        for prefix in (b"d:", b"r:", b"f:"):
            keys = [k for k, v in self._kv.prefix(prefix)
                    if stale(k.decode(), state.decode_row(k.decode(), v), horizon)]
            for k in keys:
                self._rows.pop(k.decode(), None)
            gone += len(keys)
        self._write({})
        if gone:
            log.info("analytics: pruned %d rows older than the receipt window", gone)
        return gone

    def _write(self, offsets: Mapping[tuple[str, int], int]) -> None:
        assert self._kv is not None and self._rows is not None
        changes = self._rows.changes()
        metrics.ANALYTICS_CACHED_ROWS.set(self._rows.size)
        for key in self.fold.dirty:
            changes[state.bucket_key(key)] = state.encode_counters(self.fold.buckets[key])
        self.fold.clear_dirty()
        for (topic, p), off in offsets.items():
            changes[state.offset_key(topic, p)] = str(off).encode()
            self.offsets[(topic, p)] = off
        if not changes:
            return
        self._kv.write_many(changes)
        for k, v in changes.items():
            self._pending.pop(k, None)  # re-inserted at the end: offsets stay after the rows they cover
            self._pending[k] = v
            self._pending_bytes += len(k) + len(v or b"")

    async def flush(self) -> None:
        """Write pending state to the changelog as one record batch (offsets last), then commit the group."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, {}, 0
        items = sorted(pending.items(), key=lambda kv: kv[0].startswith(b"o:"))  # stable: offsets last
        batch = self.producer.create_batch()
        futures = []
        for k, v in items:
            if batch.append(key=k, value=v, timestamp=None) is None:
                log.warning("analytics changelog flush larger than one record batch: written in parts")
                batch.close()
                futures.append(await self.producer.send_batch(batch, self.s.analytics_changelog, partition=0))
                batch = self.producer.create_batch()
                batch.append(key=k, value=v, timestamp=None)
        batch.close()
        futures.append(await self.producer.send_batch(batch, self.s.analytics_changelog, partition=0))
        await asyncio.gather(*futures)
        if self.consumer is not None and self.assigned:
            commit = {TopicPartition(t, p): off for (t, p), off in self.offsets.items()
                      if t == self.topic and p in self.assigned}
            with contextlib.suppress(Exception):  # informational (lag tools): the store holds the truth
                await self.consumer.commit(commit)

    # ------------------------------------------------------------------ queries
    @property
    def buckets(self) -> dict[BucketKey, Counters]:
        return self.fold.buckets

    @property
    def totals(self) -> dict[tuple[str, int], Counters]:
        return self.fold.totals

    def health(self) -> dict[str, Any]:
        stuck = [st.as_dict() for st in self.guard.stuck.values()] if self.consumer is not None else []
        trouble = self.watch.trouble
        status = ("failing" if trouble else "starting" if not self.ready.is_set() else "degraded" if stuck
                  else "ok")
        body: dict[str, Any] = {"status": status, "partitions": self.assigned, "stuck": stuck,
                "journey_events_applied": self.fold.applied, "duplicates_dropped": self.fold.duplicates}
        if trouble:
            body["reason"] = trouble
        return body


async def serve(settings: Settings, topology: Topology, web_port: int, started: asyncio.Event | None = None,
                bound: list[int] | None = None) -> None:
    """Run the service and its web endpoint until SIGTERM/SIGINT (or :meth:`AnalyticsService.stop`)."""
    import signal

    from cjo_stream import tls
    from cjo_stream.analytics.web import build_app
    from cjo_stream.auth import ApiAuth, bind_host
    from cjo_stream.serving import bound_port, start_site

    api_auth = ApiAuth.from_settings(settings)
    host, warning = bind_host(settings.web_host, api_auth)
    if warning:
        log.warning(warning.replace("state API", "analytics service"))
    svc = AnalyticsService(settings, topology)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, svc.stop)
    runner = None
    try:
        # the endpoint first: /health answers 503 "starting" while the store is restored (the port
        # refused connections for 6-19 s after the command had printed its address)
        runner = await start_site(build_app(svc, api_auth), host, web_port, tls.server_context(settings))
        port = bound_port(runner)
        if bound is not None:
            bound.append(port)
        log.info("analytics on %s://%s:%d/", settings.web_scheme, host, port)
        await svc.start()
        if started is not None:
            started.set()
        await svc.run()
    finally:
        if runner is not None:
            await runner.cleanup()
        await svc.close()
