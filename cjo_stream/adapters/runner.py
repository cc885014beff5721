"""The adapter loop: consume ``cjo.delivery.<channel>``, deliver each command once, report receipts.

Per batch of records (consumer group ``cjo-adapter-<channel>``, manual commits):

1. decode; an unreadable record goes to ``cjo.delivery.<channel>.dlq`` (reason ``invalid_command``);
2. skip a ``delivery_id`` found in the sent-record (:mod:`cjo_stream.adapters.sentlog`): it was
   delivered before — by this process, a crashed one, or another consumer group replaying the topic;
   a command older than the sent-record's retention cannot be checked: skipped (``stale``), no receipt;
3. the customer withdrew the channel's consent, or was erased, since the command was decided
   (``cjo.consent-changes``, :mod:`cjo_stream.adapters.withheld`): a skip record ``no_consent`` on
   ``cjo.delivery.skipped``, nothing is sent, no receipt (the address hard-bounced since: ``undeliverable``);
   past its ``expires_at`` (or the channel's
   default age): receipt ``expired``, nothing is sent;
4. wait for the channel's token bucket, call the provider, retry transient failures with backoff
   (:mod:`cjo_stream.adapters.retry`);
5. sent: write the sent-record at once, then a ``sent`` receipt; permanent failure or retry budget
   spent: a ``failed`` (or ``bounced``) receipt and the command to the DLQ with reason headers;
6. wait until the broker has acknowledged every sent-record, receipt and DLQ record of the batch, and
   only then commit the input offsets.

Because of (2) and (6), a crash anywhere except one point never sends twice: either the sent-record
is durable (the id is skipped after restart) or the offset was not committed and the provider was not
called yet. **The one gap:** the process dies after the provider accepted a message and before its
sent-record reached the broker (a few milliseconds: the record is produced immediately, not at the end
of the batch). After a restart that command is delivered again — at-least-once at this single point.
Channels whose provider supports idempotency keys send ``delivery_id`` as the key (webhook and CRM:
``Idempotency-Key``; e-mail: a deterministic ``Message-ID``), so the provider or receiver drops the
repeat; SMS (Twilio), push (FCM) and Slack offer no such key, and a repeat is possible there.

Commands of one batch are delivered concurrently (``concurrency``); the batch's offsets are committed
when its slowest command is done, so the retry budget also bounds how long a batch can take.
On ``stop()`` no command and no retry starts any more, backoff waits are cut short, provider calls in
flight get ``stop_grace`` seconds to finish (then they are cancelled) and the unfinished batch is not
committed: its commands are picked up again (already-sent ones are skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from cjo_stream import metrics, scratch
from cjo_stream.adapters import sentlog, withheld
from cjo_stream.adapters.base import Channel, ChannelStartError, DeliveryResult, attempt, said, utc_now_iso
from cjo_stream.adapters.config import ConfigError
from cjo_stream.adapters.expiry import ExpiryPolicy
from cjo_stream.adapters.giveup_warnings import GiveUpWarnings
from cjo_stream.adapters.peers import PeerAssignor
from cjo_stream.adapters.ratelimit import TokenBucket
from cjo_stream.adapters.retry import RetryPolicy, run_with_retries
from cjo_stream.adapters.sentlog import DEFAULT_MARGIN, SentLog, retention, sent_topic
from cjo_stream.adapters.withheld import BOUNCED, Withheld
from cjo_stream.commands import (
    ADDRESS_DIGEST_ATTRIBUTE,
    ALL_CHANNELS,
    UNREGISTERED_ATTRIBUTE,
    DeliveryCommand,
    Receipt,
    ReceiptStatus,
    SkipReason,
    SkipRecord,
    address_digest,
)
from cjo_stream.config import Settings
from cjo_stream.errors import UsageError
from cjo_stream.events import parse_ts
from cjo_stream.kafka.closing import stop_within
from cjo_stream.kafka.groups import heartbeat_ms, leave_group_on_close
from cjo_stream.kafka.guard import FetchGuard
from cjo_stream.kafka.memberships import Memberships, member_id
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.skips import SkipRequests, load_skips
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.kafka.watch import GONE_HINT, BrokerWatch, missing, topic_partitions

_T = TypeVar("_T")
log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder(DeliveryCommand).decode
_encode = msgspec.json.Encoder().encode

#: Seconds provider calls in flight may take after a stop before they are cancelled (CJO_ADAPTER_STOP_GRACE):
#: longer than the HTTP channels' 10 s timeout, well inside the manifests' 30-60 s terminationGracePeriodSeconds.
DEFAULT_STOP_GRACE = 15.0
# a provider call still running after this long is cut and counted transient: a channel of a user's own
# without a timeout of its own (an SDK's call that never returns) held its batch, and every partition of the
# adapter, for ever while /health said ok; the built-in channels time out long before (HTTP 10 s, SMTP 30 s a step)
DEFAULT_ATTEMPT_TIMEOUT = 300.0
#: Seconds between refreshes of the lag gauge while one batch is delivered (about a Prometheus scrape interval).
LAG_INTERVAL = 10.0


class _Aborted(Exception):
    """A backoff or rate-limit wait was cut short because the runner is stopping."""


class _Expired(Exception):
    """The command expired between retries."""


async def track_topics(producer: AIOKafkaProducer, topics: Sequence[str]) -> None:
    """Make the producer keep metadata for ``topics``.

    aiokafka only refreshes metadata for topics it was told about; one that merely appeared in an
    earlier full metadata answer (Tansu answers an empty topic list with every topic) is dropped at the
    next refresh, and records for it then wait for a leader forever. Registering them avoids that.
    """
    await asyncio.gather(*(producer.client.add_topic(t) for t in topics))


def dlq_topic(input_topic: str) -> str:
    return f"{input_topic}.dlq"


def group_id(adapter: str) -> str:
    return f"cjo-adapter-{adapter}"


def sources_for(adapter: str) -> list[str]:
    """Channels whose delivery topics an adapter consumes: its own, or all of them for ``console``."""
    return sorted(ALL_CHANNELS) if adapter == "console" else [adapter]


def record_lag(consumer: AIOKafkaConsumer | None, data: dict[TopicPartition, list[Any]]) -> None:
    """``cjo_consumer_lag_records`` of each command partition a fetch returned records of, as workers report theirs.

    Without it a slow adapter (a provider's rate limit, too few replicas) built a backlog on
    ``cjo.delivery.<channel>`` that no alert saw until its commands expired: CjoConsumerLagGrowing reads this gauge.
    """
    if consumer is None:
        return
    for tp, recs in data.items():
        hw = consumer.highwater(tp)
        if recs and hw is not None:
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, hw - recs[-1].offset - 1))


def forget_lag(revoked: Sequence[TopicPartition]) -> None:
    """Drop the lag series of partitions this adapter gave up: a stale copy would outlive the backlog it showed."""
    for tp in revoked:
        with contextlib.suppress(KeyError):
            metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))


def remove_abandoned(parent: str | None = None) -> int:
    """Remove the temporary directories of adapters that are gone (killed before a clean stop; :mod:`cjo_stream.scratch`)
    and say how many in one line; returns that number."""
    prefixes = (sentlog.TEMP_PREFIX, withheld.TEMP_PREFIX)
    swept = scratch.sweep(prefixes, parent)
    if swept.removed or swept.unlocked:
        where = os.path.join(parent or tempfile.gettempdir(), "{" + ",".join(prefixes) + "}*")
        log.info("removed %d temporary director%s of adapters that are gone%s", swept.removed,
                 "y" if swept.removed == 1 else "ies",
                 f"; {swept.unlocked} of {where} made by an older version (no lock file) left: remove those once no "
                 "adapter of that version runs" if swept.unlocked else "")
    return swept.removed


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: AdapterRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.runner.caught_up.clear()  # no new batch until the next assignment's sent ids are read
        self.runner.peers.forget()  # the peer table of the generation that ends
        self.runner.give_up_batch()
        async with self.runner._lock:  # the batch in progress ends (what it sent recorded) before the next owner reads
            pass
        if self.runner.guard is not None:
            self.runner.guard.forget(revoked)
        forget_lag(revoked)  # the new owner reports these partitions' lag

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.runner._stopping.is_set():
            return  # (a group joined again while it stops, e.g. its topics gone: nothing will be delivered)
        metrics.REBALANCES.inc()
        self.runner.peers.assigned()  # (with the peer table of this generation, or plain round robin's: none)
        if self.runner.memberships is not None:
            self.runner.memberships.remember(self.runner.group, member_id(self.runner.consumer))
        consumer = self.runner.consumer
        if consumer is not None:  # all the partitions sends can be on, to tell a final 404 from another replica's
            self.runner.sent.in_use(p for t in consumer.subscription() for p in consumer.partitions_for_topic(t) or ())
        # the sent ids of these partitions, including those the previous owner recorded
        await self.runner.sent.catch_up({tp.partition for tp in assigned})
        self.runner.caught_up.set()
        self.runner.assigned = sorted((tp.topic, tp.partition) for tp in assigned)


class AdapterRunner:
    """Runs one channel adapter against the broker. ``await serve()``; ``stop()`` ends it cleanly."""

    def __init__(self, settings: Settings, channel: Channel, *, name: str | None = None,
                 sources: Sequence[str] | None = None, group: str | None = None, concurrency: int = 16,
                 batch_max: int = 500, retry: RetryPolicy | None = None, limiter: TokenBucket | None = None,
                 expiry: ExpiryPolicy | None = None, producer: AIOKafkaProducer | None = None,
                 session_timeout_ms: int = 6_000, clock: Callable[[], float] = time.time,
                 sent_retention: float | None = None, state_dir: str | None = None,
                 stop_grace: float = DEFAULT_STOP_GRACE, lag_interval: float = LAG_INTERVAL,
                 attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT) -> None:
        self.settings = settings
        self.channel = channel
        self.name = name or channel.name
        self.inputs = [settings.delivery_topic(c) for c in (sources or sources_for(self.name))]
        self.group = group or group_id(self.name)
        self.concurrency = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        # a batch is committed when all of it is done: with a slow rate limit (Slack: 1/s) fetch only
        # about 30 s worth, so the group never thinks this consumer is stuck
        paced = int(limiter.rate * 30) if limiter is not None else batch_max
        self.batch_max = max(1, min(batch_max, paced))
        self.expiry = expiry or ExpiryPolicy()
        self.session_timeout_ms = session_timeout_ms
        self.clock = clock
        self.stop_grace = max(0.0, stop_grace)
        self.attempt_timeout = attempt_timeout
        self.lag_interval = lag_interval
        self._cut_at: float | None = None  # loop time at which provider calls still in flight are cancelled
        # set by a stop or a rebalance: the batch in progress starts no more commands, attempts or backoffs
        self._give_up = asyncio.Event()
        self._on_wire: set[asyncio.Timeout] = set()  # the cut-off of each provider call in flight
        self._left: Counter[TopicPartition] = Counter()  # commands of the batch in progress not yet done
        self._own_producer = producer is None
        self.producer = producer or make_producer(settings)
        sources = sources or sources_for(self.name)
        # ids are kept for the longest expiry of the channels consumed plus a margin (or as configured)
        self.sent_retention = sent_retention if sent_retention is not None else retention(
            self.expiry.longest([c for c in sources]), DEFAULT_MARGIN)
        self.sent = SentLog(settings, sent_topic(self.name), self.producer, keep=self.sent_retention,
                            state_dir=state_dir)
        # consent withdrawn and erasures since commands were decided: those are held back
        # (a command's channel is its topic's: the workers write each to cjo.delivery.<its channel>)
        self.withheld = Withheld(settings, keep=self.sent_retention, clock=clock, channels=sources,
                                 state_dir=state_dir)
        # with a state directory kept across restarts, its member id: removed from the group at the next
        # start after a crash instead of holding the partitions for a session timeout (kafka.memberships)
        self.memberships = Memberships(state_dir) if state_dir else None
        # the replicas of the group and the partitions each holds, in every assignment (adapters.peers); its URL,
        # this replica's, is set by whoever serves the web endpoint before start()
        self.peers = PeerAssignor()
        self.consumer: AIOKafkaConsumer | None = None
        self.guard: FetchGuard | None = None  # survives record batches it cannot decode (kafka.guard)
        self._skips_read = 0.0
        self.assigned: list[tuple[str, int]] = []
        self.outcomes: Counter[str] = Counter()
        self.ready = asyncio.Event()
        # set once the sent ids of the assigned partitions are read: aiokafka may hand out records of a
        # new assignment while the rebalance listener still reads them
        self.caught_up = asyncio.Event()
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pending: list[asyncio.Future[Any]] = []
        self._inflight: dict[str, asyncio.Event] = {}
        self._slots = asyncio.Semaphore(self.concurrency)
        self._started = False
        # the broker unanswered, or a commit pending, for long: /health 503 (kafka.watch)
        self._busy_since = 0.0  # when the acks and commit of the batch in progress began; 0: none
        self._stale_unsaid, self._stale_said = 0, -60.0  # stale commands not yet in a warning; when the last was
        # commands given up: the first of each reason logged, then one line a minute (a provider down: thousands)
        self.give_ups = GiveUpWarnings(log, self.name, dlq_topic(self.inputs[0]) if len(self.inputs) == 1
                                       else "cjo.delivery.<channel>.dlq")
        self.watch = BrokerWatch(f"adapter {self.name}", log, self._look, lambda: (self._busy_since,))
        metrics.watch_gauges("adapter", self.watch)
        self._counts: dict[str, int] = {}  # partitions of its own topics, as first seen
        self.lost: str | None = None  # its own topics gone from the cluster: the runner stops (exit 70)
        self.lost_event = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        s = self.settings
        if self.memberships is not None and not self.memberships.claim(warn=False) and self.memberships.holder:
            # before any store opens: a second process on the directory wiped the first's consent-withdrawal table
            # (made afresh at each start) and the sent-record partitions it was assigned, under the live process
            raise UsageError(f"the adapter's state directory {self.memberships.directory} (CJO_ADAPTER_STATE_DIR) is "
                             f"in use by another live process (pid {self.memberships.holder}): give each adapter "
                             "process its own directory")
        await asyncio.to_thread(remove_abandoned)
        outputs = [s.receipts_topic, s.skipped_topic, *map(dlq_topic, self.inputs),
                   *getattr(self.channel, "output_topics", ())]
        await ensure_topics(s, [*self.inputs, *outputs])
        if self._own_producer:
            await self.producer.start()
        self._started = True
        await self.sent.start()
        await self.withheld.start()  # before any command is read
        await track_topics(self.producer, [*outputs, self.sent.topic])
        await self._look()  # the partition counts of its own topics, to tell them from ones made again later
        leave_group_on_close()
        if self.memberships is not None and self.memberships.claim():
            await self.memberships.remove_left_behind(s, [self.group])
        try:
            await self.channel.start()
        except Exception as e:  # (a class of the user's own: its connections, its settings)
            config = isinstance(e, ConfigError)  # its text is the whole message, as from __init__
            raise ChannelStartError(f"the {self.name} channel's start() failed: {e if config else said(e)}",
                                    config=config) from e
        worst_batch = self.retry.budget + max(60.0, self.attempt_timeout) + (self.batch_max / self.limiter.rate if self.limiter else 0.0)
        poll_ms = int(max(300.0, worst_batch) * 1000)
        self.consumer = AIOKafkaConsumer(**s.kafka_kwargs(), group_id=self.group, enable_auto_commit=False,
                                         auto_offset_reset="earliest", max_poll_records=self.batch_max,
                                         session_timeout_ms=self.session_timeout_ms,
                                         heartbeat_interval_ms=heartbeat_ms(self.session_timeout_ms),
                                         max_poll_interval_ms=poll_ms, rebalance_timeout_ms=poll_ms,
                                         # (round robin as before; plain round robin while a replica of an older
                                         # version is in the group: no peer table until it is gone)
                                         partition_assignment_strategy=(self.peers, RoundRobinPartitionAssignor))
        self.guard = FetchGuard(self.consumer, s, f"adapter {self.name}", SkipRequests())
        self.consumer.subscribe(self.inputs, listener=_Rebalance(self))
        await self.consumer.start()
        metrics.UP.labels("adapter").set(1)
        # (no count of the ids sent here: the sent-record is read as partitions are assigned, after this
        # line, which said "0 ids already sent" before "sent-record: read 582 ids")
        log.info("adapter %s consuming %s as group %s", self.name, ", ".join(self.inputs), self.group,
                 extra={"channel": self.name})

    def stop(self) -> None:
        """Start no more commands or retries; cancel provider calls still in flight ``stop_grace`` s from now.

        Unbounded, a provider that does not answer (an SMTP relay taking its 30 s timeout per step) kept a
        stop going past Kubernetes' grace period, and the SIGKILL then also lost the sent-records in the
        producer's buffer. A cancelled call counts as not delivered: the batch is not committed, and the
        command is sent again with the same ``delivery_id`` (at-least-once, as for a crash).
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.give_up_batch()

    def give_up_batch(self) -> None:
        """End the batch in progress early: no command, retry or backoff of it starts any more, and provider calls
        in flight are cancelled ``stop_grace`` s from now. What it left undone is not committed: the partitions'
        next owner (this runner again, another one, or the next run) sends it, with the same ``delivery_id``.

        A stop, and a rebalance: the group waits for every member's revocation, and a batch waiting out a
        provider's backoff (up to ``CJO_RETRY_BUDGET``, 300 s) held every adapter of the group idle that long
        whenever another one started or stopped (a rolling restart: minutes for each pod).
        """
        if self._give_up.is_set():
            return
        self._give_up.set()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # (not running: nothing is in flight)
        self._cut_at = loop.time() + self.stop_grace
        for cut in self._on_wire:
            cut.reschedule(self._cut_at)

    async def close(self) -> None:
        """Release everything, each step independently (one failing close must not leak the others)."""
        metrics.UP.labels("adapter").set(0)
        self.give_ups.flush()  # (the give-ups of the last minute: none left unsaid)
        consumer, self.consumer = self.consumer, None
        left = True

        async def leave() -> None:  # leaves the group: its partitions move on at once
            nonlocal left
            assert consumer is not None
            left = await stop_within(consumer, f"the {self.name} adapter's consumer")

        async def flush() -> None:  # flushes what is still buffered (receipts, sent-records)
            await stop_within(self.producer, f"the {self.name} adapter's producer")

        steps: list[Callable[[], Awaitable[None]]] = []
        if consumer is not None:
            steps.append(leave)
        steps += [self.channel.close, self._close_sent, self.withheld.close]
        if self._own_producer and self._started:
            steps.append(flush)
        for step in steps:
            try:
                await step()
            except asyncio.CancelledError:
                # a step's own cancellation (aiokafka 0.14's consumer.stop() re-raised the cancellation of a fetch
                # sleeping out its retry backoff, aio-libs/aiokafka#647): the adapter ended on a CancelledError traceback
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # ours: the caller is cancelling this close
                log.debug("closing the %s adapter: %s was cancelled", self.name, getattr(step, "__qualname__", step))
            except Exception:
                log.exception("closing the %s adapter: %s failed", self.name, getattr(step, "__qualname__", step))
        if self.memberships is not None:
            if consumer is not None and left:
                self.memberships.forget()  # it left the group above: nothing left behind for the next run
            self.memberships.release()

    async def _close_sent(self) -> None:
        await self.sent.close(checkpoint=self.lost is None)  # its topic lost: not named again on the way out

    async def serve(self) -> None:
        try:
            await self.start()
            await self.run()
        finally:
            await self.close()

    async def run(self) -> None:
        assert self.consumer is not None and self.guard is not None, "call start() first"
        self.ready.set()
        watch = asyncio.create_task(self.watch.run(self._stopping))
        try:
            await self._loop(self.guard)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _loop(self, guard: FetchGuard) -> None:
        while not self._stopping.is_set():
            # raced with stop(): with the broker gone during a rebalance the guard waits for a committed
            # position that never comes, and SIGTERM went unanswered (tests/test_broker_loss_logs.py)
            got, data = await self._unless_stopped(guard.getmany(timeout_ms=200, max_records=self.batch_max))
            if not got or data is None:
                break
            record_lag(self.consumer, data)
            skipped = guard.take_skipped()
            if skipped:  # past a batch an operator skipped (cjo-stream skip)
                async with self._lock:
                    await self._commit(skipped)
            if data and await self._wait_caught_up():
                data = {tp: recs for tp, recs in data.items() if self.sent.owns(tp.partition)}
                if data:
                    await self.process_batch(data)
            if guard.stuck and time.monotonic() - self._skips_read > 5.0:
                self._skips_read = time.monotonic()  # stuck: look for a skip request every 5 s
                guard.skips = await load_skips(self.settings)

    async def _wait_caught_up(self) -> bool:
        """Wait until the sent-record covers the current assignment; False if the runner stops first."""
        if self.caught_up.is_set():
            return True
        stop = asyncio.ensure_future(self._stopping.wait())
        ready = asyncio.ensure_future(self.caught_up.wait())
        await asyncio.wait([stop, ready], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        ready.cancel()
        return self.caught_up.is_set() and not self._stopping.is_set()

    # ------------------------------------------------------------------ one batch
    async def process_batch(self, data: dict[TopicPartition, list[Any]]) -> bool:
        """Deliver a fetched batch; commit its offsets unless the runner is stopping. True if committed."""
        async with self._lock:
            if not self._stopping.is_set():  # (a rebalance gave up the last batch: this one is of the new assignment)
                self._give_up.clear()
                self._cut_at = None
            stale = self.outcomes["stale"]
            self._left = Counter({tp: len(recs) for tp, recs in data.items()})
            last = {tp: recs[-1].offset for tp, recs in data.items() if recs}
            ends: dict[TopicPartition, int] = {}
            lag = asyncio.ensure_future(self._refresh_lag(last, ends))
            try:
                done = await asyncio.gather(*(self._guarded(tp, r) for tp, recs in data.items() for r in recs))
            finally:
                lag.cancel()
                for tp, end in ends.items():  # (refreshed: what is left of the batch counted no more)
                    metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - last[tp] - 1))
            self._say_stale(self.outcomes["stale"] - stale)
            self._busy_since = time.monotonic()
            try:
                if self._pending:
                    pending, self._pending = self._pending, []
                    await asyncio.gather(*pending)  # sent-records, receipts, DLQ: durable before the commit
                if not all(done):
                    if not self._stopping.is_set():
                        log.info("adapter %s: a rebalance ended the batch early; %d command(s) not done are sent by "
                                 "their partitions' next owner", self.name, done.count(False),
                                 extra={"channel": self.name})
                    return False
                return await self._commit({tp: recs[-1].offset + 1 for tp, recs in data.items()})
            finally:
                self._busy_since = 0.0

    async def _refresh_lag(self, last: dict[TopicPartition, int], ends: dict[TopicPartition, int]) -> None:
        """Every ``lag_interval`` s while a batch is delivered: ``cjo_consumer_lag_records`` from the partitions'
        end offsets now (one ListOffsets request) plus the batch's commands not yet done; ``ends`` keeps them.

        :func:`record_lag` sets the gauge at a fetch only: a batch delivered for minutes (a slow provider,
        retries with backoff) kept the value of its fetch, and commands piling up behind it showed no lag.
        """
        consumer = self.consumer
        if consumer is None or not last:
            return
        while True:
            await asyncio.sleep(self.lag_interval)
            try:
                now = await asyncio.wait_for(consumer.end_offsets(list(last)), max(5.0, self.lag_interval))
            except Exception as e:  # (a gauge must never stop a delivery: the next round tries again)
                log.debug("adapter %s: end offsets not read for the lag gauge: %s", self.name, type(e).__name__)
                continue
            for tp, end in now.items():
                # the fetcher's highwater too: Tansu answers ListOffsets with the last record batch's base
                # offset + 1 (5 records in one batch at 1-5: 2), a prefetch saw the true end
                end = max(end, consumer.highwater(tp) or 0)
                ends[tp] = end
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                    max(0, end - last[tp] - 1) + self._left[tp])

    async def _commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit, unless the runner is asked to stop first: False then, and the records are fetched again.

        aiokafka retries a commit the broker refuses as "retriable" forever, e.g. for a topic the broker
        no longer knows (a local broker restarted with memory storage): SIGTERM went unanswered for a
        minute and more. Nothing is lost by giving up: the sent-record skips what was delivered.
        """
        assert self.consumer is not None
        began = not self._busy_since  # (process_batch counts from before the acks it waits for)
        if began:
            self._busy_since = time.monotonic()
        try:
            committed, _ = await self._unless_stopped(self.consumer.commit(offsets))
        finally:
            if began:
                self._busy_since = 0.0
        if not committed and self.lost is None:  # (its topics gone: nothing is read again)
            log.info("adapter %s: stopping before an offset commit completed; those records are read again "
                     "at the next start", self.name, extra={"channel": self.name})
        return committed

    async def _unless_stopped(self, aw: Awaitable[_T]) -> tuple[bool, _T | None]:
        """``(True, aw's result)``, unless :meth:`stop` comes first: then ``aw`` is cancelled, ``(False, None)``."""
        task = asyncio.ensure_future(aw)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()  # this call cancelled: so is what it waits for
            raise
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            return False, None
        return True, task.result()

    async def _guarded(self, tp: TopicPartition, rec: Any) -> bool:
        """Handle one record; False if the runner was asked to stop first (the batch is then not committed).

        A record still waiting for a slot when the stop comes is not started: with a provider that does not
        answer (an SMTP host blackholed, 30 s per connect), SIGTERM waited for every queued command of the
        batch to make its first attempt, minutes for a batch of hundreds (drilled: 60 s and counting).
        """
        try:
            async with self._slots:
                if self._give_up.is_set():
                    return False
                await self._handle(rec)
            return True
        except _Aborted:
            return False
        finally:
            self._left[tp] -= 1  # (the lag gauge counts the batch's commands not yet done)

    async def _handle(self, rec: Any) -> None:
        try:
            cmd = _decode(rec.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            await self._dead_letter(rec, "invalid_command", str(e)[:300], 0)
            self._count("invalid")
            return
        did = cmd.delivery_id
        while (first := self._inflight.get(did)) is not None:  # the same id twice in one batch
            await first.wait()
        if self.sent.contains(did, rec.partition):
            self._count("duplicate")
            return
        if self._beyond_record(cmd):
            self._count("stale")  # sent or not, the sent-record no longer knows: never risk a second send
            return
        why = self.withheld.why(cmd, rec.timestamp)
        if why is not None:
            await self._withhold(cmd, why)
            return
        done = self._inflight[did] = asyncio.Event()
        try:
            await self._deliver(rec, cmd)
        finally:
            del self._inflight[did]
            done.set()

    def _beyond_record(self, cmd: DeliveryCommand) -> bool:
        """Decided longer ago than the sent-record keeps ids (so it could have been sent and forgotten)."""
        if self.sent_retention is None:
            return False
        try:
            return self.clock() > parse_ts(cmd.decided_at) + self.sent_retention
        except ValueError:
            return False

    async def _deliver(self, rec: Any, cmd: DeliveryCommand) -> None:
        if self.expiry.expired(cmd, self.clock()):
            await self._receipt(cmd, "expired", reason="expired before sending")
            return
        channel = self.name  # metric label: the adapter (console consumes every channel's topic)

        async def call() -> DeliveryResult:
            if self.expiry.expired(cmd, self.clock()):
                raise _Expired
            if self.limiter is not None:
                waited = await self.limiter.acquire(self._sleep)
                if waited:
                    metrics.ADAPTER_RATE_WAIT.labels(channel).inc(waited)
            if self._give_up.is_set():
                raise _Aborted  # stopping or rebalancing: no attempt starts any more
            t0 = time.perf_counter()
            result = await self._attempt(cmd)
            metrics.ADAPTER_LATENCY.labels(channel).observe(time.perf_counter() - t0)
            return result

        def on_retry(result: DeliveryResult, wait: float) -> None:
            metrics.ADAPTER_RETRIES.labels(channel).inc()
            # debug: a provider down retried every command of the backlog several times, a line each at the
            # adapter's default level (cjo_adapter_retries_total counts them; the give-up says the reason)
            log.debug("retrying %s in %.2fs: %s", cmd.delivery_id, wait, result.reason,
                     extra={"channel": channel, "delivery_id": cmd.delivery_id, "reason": result.reason})

        try:
            out = await run_with_retries(call, self.retry, sleep=self._sleep, on_retry=on_retry)
        except _Expired:
            await self._receipt(cmd, "expired", reason="expired while retrying")
            return
        r = out.result
        attrs: dict[str, Any] = {"attempts": out.attempts}
        if r.unregistered:  # (a push's uninstalled devices, by digest: the profile drops them)
            attrs[UNREGISTERED_ATTRIBUTE] = list(r.unregistered)
        if r.outcome == "sent":
            self._pending.append(await self.sent.record(cmd.delivery_id, utc_now_iso(self.clock()),
                                                        r.provider_message_id, rec.partition,
                                                        customer_id=cmd.customer_id, channel=cmd.channel,
                                                        journey=cmd.journey, step=cmd.step, topic=cmd.topic,
                                                        other_ids=r.other_ids))
            await self._receipt(cmd, "sent", provider_message_id=r.provider_message_id, attributes=attrs)
            if r.response is not None:  # the call confirmed delivery: say so, with what the receiver answered
                await self._receipt(cmd, "delivered", provider_message_id=r.provider_message_id, attributes=attrs,
                                    response=r.response)
            return
        if r.outcome == "permanent":
            reason, dlq_reason = r.reason or "permanent failure", "permanent_failure"
        else:
            reason, dlq_reason = f"{out.gave_up}: {r.reason}", "retries_exhausted"
        self.give_ups.warn(dlq_reason, f"delivery {cmd.delivery_id}: {reason}")  # (a line each was a flood)
        if r.status == "bounced" and cmd.to and cmd.channel not in ("push", "in_app"):
            # the address that hard-bounced, by digest: the profile remembers it, and the next send to it is skipped
            # ``undeliverable`` (a push's dead devices go by ``unregistered``)
            attrs[ADDRESS_DIGEST_ATTRIBUTE] = address_digest(cmd.to)
        await self._receipt(cmd, r.status, reason=reason, attributes=attrs)
        await self._dead_letter(rec, dlq_reason, reason, out.attempts)

    async def _attempt(self, cmd: DeliveryCommand) -> DeliveryResult:
        """One provider call, cancelled (``_Aborted``) if still running ``stop_grace`` s after :meth:`stop`, and
        cut (a transient failure) after ``attempt_timeout`` s."""
        try:
            async with asyncio.timeout(self._cut_at) as cut:
                self._on_wire.add(cut)
                try:
                    async with asyncio.timeout(self.attempt_timeout):
                        return await attempt(self.channel, cmd)
                except TimeoutError:
                    if cut.expired():
                        raise
                    return DeliveryResult.transient(f"no answer within {self.attempt_timeout:g}s "
                                                    "(CJO_ADAPTER_ATTEMPT_TIMEOUT)")
                finally:
                    self._on_wire.discard(cut)
        except TimeoutError:  # (attempt() folds the channel's own timeouts into a result: this is the cut)
            why, again = ("the stop", "at the next start") if self._stopping.is_set() else \
                ("a rebalance began", "by the partition's next owner")
            log.info("delivery %s: provider call cut off %.4gs after %s; sent again %s", cmd.delivery_id,
                     self.stop_grace, why, again, extra={"channel": self.name, "delivery_id": cmd.delivery_id})
            raise _Aborted from None

    # ------------------------------------------------------------------ outputs
    async def _receipt(self, cmd: DeliveryCommand, status: ReceiptStatus, *, reason: str | None = None,
                       provider_message_id: str | None = None, attributes: dict[str, Any] | None = None,
                       response: dict[str, Any] | None = None) -> None:
        receipt = Receipt(delivery_id=cmd.delivery_id, customer_id=cmd.customer_id, channel=cmd.channel,
                          status=status, at=utc_now_iso(self.clock()), journey=cmd.journey, step=cmd.step,
                          provider_message_id=provider_message_id, reason=reason, attributes=attributes or {},
                          response=response, topic=cmd.topic)
        self._pending.append(await self.producer.send(self.settings.receipts_topic, _encode(receipt),
                                                      key=cmd.customer_id.encode()))
        self._count(status)

    async def _withhold(self, cmd: DeliveryCommand, why: str) -> None:
        """Not delivered: consent withdrawn, the customer erased or the address hard-bounced since it was decided.
        A skip record, as the engine writes for a send it decides against (no receipt: nothing was attempted)."""
        reason: SkipReason = "undeliverable" if why == BOUNCED else "no_consent"
        skip = SkipRecord(delivery_id=cmd.delivery_id, customer_id=cmd.customer_id, journey=cmd.journey,
                          journey_version=cmd.journey_version, step=cmd.step, channel=cmd.channel, reason=reason,
                          triggered_by=cmd.triggered_by, decided_at=cmd.decided_at, instance_id=cmd.instance_id,
                          variant=cmd.variant, detail=why)
        self._pending.append(await self.producer.send(self.settings.skipped_topic, _encode(skip),
                                                      key=cmd.customer_id.encode()))
        log.info("delivery %s held back: %s", cmd.delivery_id, why,
                 extra={"channel": self.name, "delivery_id": cmd.delivery_id, "reason": "withheld"})
        self._count("withheld")

    async def _dead_letter(self, rec: Any, reason: str, detail: str, attempts: int) -> None:
        headers = [("cjo.reason", reason.encode()), ("cjo.detail", detail[:500].encode()),
                   ("cjo.attempts", str(attempts).encode()), ("cjo.adapter", self.name.encode()),
                   ("cjo.source.topic", rec.topic.encode()), ("cjo.source.partition", str(rec.partition).encode()),
                   ("cjo.source.offset", str(rec.offset).encode()), ("cjo.failed_at", utc_now_iso().encode())]
        self._pending.append(await self.producer.send(dlq_topic(rec.topic), rec.value, key=rec.key,
                                                      headers=headers))
        self._count("dead_lettered")

    def _say_stale(self, n: int) -> None:
        """Stale commands get no receipt and no DLQ record: without this line an adapter started on old commands
        (the README's example touchpoints are from March 2026) printed nothing and said nothing. At most one
        warning a minute, counting those skipped since the last one."""
        self._stale_unsaid += n
        if not self._stale_unsaid or time.monotonic() - self._stale_said < 60.0:
            return
        assert self.sent_retention is not None  # (no retention: nothing is stale)
        log.warning("adapter %s: skipped %d command(s) decided more than %.4g days ago, older than the sent-record "
                    "keeps ids (stale: not sent, no receipt; CJO_SENT_RETENTION)", self.name, self._stale_unsaid,
                    self.sent_retention / 86400, extra={"channel": self.name})
        self._stale_unsaid, self._stale_said = 0, time.monotonic()

    def _count(self, status: str) -> None:
        self.outcomes[status] += 1
        metrics.DELIVERY_OUTCOMES.labels(self.name, status).inc()

    async def _sleep(self, seconds: float) -> None:
        """A wait that ends early (raising ``_Aborted``) when the batch is given up (a stop or a rebalance)."""
        if self._give_up.is_set():
            raise _Aborted
        try:
            await asyncio.wait_for(self._give_up.wait(), seconds)
        except TimeoutError:
            return
        raise _Aborted

    # ------------------------------------------------------------------ the broker
    async def _look(self) -> bool:
        """One metadata request (:class:`BrokerWatch`, every few seconds): False if the broker did not answer.

        The adapter's own topics (its command topics, sent-record and consent changes) missing from the cluster, or made
        again with another partition count than first seen, mean the broker lost them (a local broker
        restarted with memory storage: every topic and group): commits would fail forever and nothing
        would arrive. The runner stops (``lost``, one error line; ``cjo-stream adapter`` exits 70) so its
        supervisor starts it again, and it makes its topics as on a first start.
        """
        topics = await topic_partitions(self.producer.client)  # (the producer's client: not long-polling)
        if topics is None:
            return False
        # cjo.consent-changes too: deleted and made again, this reader's positions are the old topic's, and the
        # first records of the new one (withdrawals) would be skipped; a start reads it from its beginning
        own = [*self.inputs, self.sent.topic, self.withheld.topic]
        if not self._counts:
            self._counts = {t: topics[t] for t in own if t in topics}
        wrong = missing(topics, own, self._counts)
        if wrong is not None and self.lost is None:
            self.lost = f"{wrong} {GONE_HINT}"
            log.error("adapter %s: %s; stopping (cjo-stream adapter exits 70) for its supervisor to start it "
                      "again (it makes its topics as on a first start)", self.name, self.lost, extra={"channel": self.name})
            self.lost_event.set()
            self.stop()
        return True

    @property
    def trouble(self) -> str | None:
        """Why the adapter cannot make progress now (``/health``: 503 ``failing`` with it as the reason)."""
        return self.lost or self.watch.trouble

    def health(self) -> dict[str, Any]:
        stuck = [st.as_dict() for st in self.guard.stuck.values()] if self.guard is not None else []
        trouble = self.trouble
        if trouble:
            status = "failing"
        elif self.ready.is_set() and self.caught_up.is_set():
            status = "degraded" if stuck else "ok"
        else:
            status = "starting"
        body = {"status": status, "stuck": stuck, "adapter": self.name,
                "group": self.group, "topics": self.inputs,
                "partitions": [f"{t}:{p}" for t, p in self.assigned], "sent_ids": len(self.sent),
                "outcomes": dict(self.outcomes)}
        if trouble:
            body["reason"] = trouble
        return body
