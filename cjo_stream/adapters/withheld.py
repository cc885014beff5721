"""Commands held back at delivery: the customer withdrew the channel's consent, or was erased, after the
command was decided.

The engine checks consent when it decides a send, so a command is only ever written with consent. But an
adapter reaches it later: by its lag, after an outage by hours (up to the command's expiry). A customer who
unsubscribed meanwhile was still messaged. Workers now write every consent change and erasure to
``cjo.consent-changes`` (:class:`~cjo_stream.commands.ConsentChange`); each adapter reads the whole topic
at start and follows it, and before delivering a command asks :meth:`Withheld.why`:

- the customer's latest change lists the command's channel in ``withdrawn``: held back, whenever the
  command was decided (one decided after a consent given back carries a later change that lists it no
  more; while that change is still on its way, milliseconds, the command is held back: the safe side);
- the customer was erased and the command's record was written no later than the erasure's record (Kafka
  timestamps: the worker writes a batch's changes after its commands): held back. Commands for a new
  profile under the same id, written after the erasure, are delivered.

Entries older than what the adapter's sent-record keeps are dropped: a command decided before them is
stale by then and not sent anyway. A withdrawal is kept only for the channels the adapter delivers: the ``crm``
and ``slack`` adapters (internal channels, never withdrawn) kept every customer's unsubscribe from e-mail or SMS
for days, two objects each, and grew by hundreds of objects a minute under the bench's load for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream.commands import ConsentChange, DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.kafka.closing import stop_within
from cjo_stream.kafka.reading import partitions_of, read_to_end
from cjo_stream.kafka.topics import consent_changes_config, ensure_topics

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder(ConsentChange).decode

#: :meth:`Withheld.why`'s answers (the skip record's ``detail``)
WITHDRAWN = "consent withdrawn after the send was decided"
ERASED = "customer erased after the send was decided"


class Withheld:
    """The latest consent change and erasure of each customer, as ``cjo.consent-changes`` says."""

    def __init__(self, settings: Settings, keep: float | None = None, clock: Callable[[], float] = time.time,
                 channels: Iterable[str] | None = None) -> None:
        self.settings = settings
        self.topic = settings.consent_changes_topic
        self.keep = keep  # seconds an entry matters (the sent-record's retention); None: for good
        self.clock = clock
        # the channels of the commands asked about (those of the adapter's topics); None: every channel
        self.channels = None if channels is None else frozenset(channels)
        self._sets: dict[frozenset[str], frozenset[str]] = {}  # one shared copy of each set of channels kept
        self.withdrawn: dict[str, tuple[frozenset[str], float]] = {}  # id -> (channels, record time, s)
        self.erased: dict[str, float] = {}  # id -> the time of its latest erasure record (s)
        self.unreadable = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._pruned = 0.0

    # ------------------------------------------------------------------ the table
    def apply(self, records: list[Any]) -> None:
        """Fold records of the topic in (in offset order per partition)."""
        withdrawn, erased = self.withdrawn, self.erased
        for rec in records:
            try:
                change = _decode(rec.value or b"")
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.unreadable += 1  # (a record no worker writes: nothing to hold back by)
                continue
            at = rec.timestamp / 1000.0
            cid = change.customer_id
            if change.erased:
                erased[cid] = max(at, erased.get(cid, at))
                withdrawn.pop(cid, None)  # a profile made again under the id starts with no withdrawal
            elif (kept := self._kept(change.withdrawn)) is not None:
                withdrawn[cid] = (kept, at)
            else:
                withdrawn.pop(cid, None)  # every consent given back, or none of this adapter's channels withdrawn
        now = self.clock()
        if self.keep is not None and now - self._pruned > 60.0:
            self._pruned = now
            self.prune(now - self.keep)

    def _kept(self, withdrawn: list[str]) -> frozenset[str] | None:
        """The withdrawn channels that matter here (one shared frozenset per distinct set), None if none."""
        if not withdrawn:
            return None
        chans = frozenset(withdrawn) if self.channels is None else self.channels.intersection(withdrawn)
        return self._sets.setdefault(chans, chans) if chans else None

    def prune(self, before: float) -> None:
        """Forget entries written before ``before`` (epoch seconds)."""
        self.withdrawn = {k: v for k, v in self.withdrawn.items() if v[1] >= before}
        self.erased = {k: t for k, t in self.erased.items() if t >= before}

    def why(self, cmd: DeliveryCommand, written_ms: int) -> str | None:
        """Why ``cmd`` (its record written at ``written_ms``) must not be delivered, or None."""
        cid = cmd.customer_id
        if self.erased:
            at = self.erased.get(cid)
            if at is not None and written_ms / 1000.0 <= at:
                return ERASED
        w = self.withdrawn.get(cid)
        if w is not None and cmd.channel in w[0]:
            return WITHDRAWN
        return None

    # ------------------------------------------------------------------ reading the topic
    async def start(self) -> None:
        """Read the whole topic (made if missing), then follow it in the background."""
        s = self.settings
        await ensure_topics(s, [self.topic], configs={self.topic: consent_changes_config()})
        consumer = self._consumer = AIOKafkaConsumer(**s.kafka_kwargs(), enable_auto_commit=False,
                                                     auto_offset_reset="earliest")
        await consumer.start()
        tps = [TopicPartition(self.topic, p) for p in await partitions_of(consumer, self.topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        await read_to_end(consumer, tps, self.apply)
        log.info("consent changes: %d customers with a channel withdrawn, %d erased", len(self.withdrawn),
                 len(self.erased))
        self._task = asyncio.create_task(self._follow(consumer))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                data = await consumer.getmany(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the broker away: aiokafka reconnects; keep following
                log.warning("consent changes: reading failed (%s); retrying", type(e).__name__)
                await asyncio.sleep(1.0)
                continue
            for recs in data.values():
                self.apply(recs)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await stop_within(consumer, "the consent-changes reader")
