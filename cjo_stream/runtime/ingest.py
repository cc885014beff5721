"""Stage 1: decode input and receipt records, dead-letter bad ones, repartition by the id they name.

Input records may have any key. Valid events are forwarded unchanged (same JSON bytes) to the internal
topic keyed by their ``userId`` (else ``anonymousId``), so all records of an id are handled in order by
the one worker owning that partition, where the id's identity link lives: an id merged into a customer
is resolved there and its records passed on (:mod:`cjo_stream.runtime.aliases`). Stage 1 holds no
state. Invalid records go to the dead-letter topic unchanged with headers saying why and where they
came from; nothing is dropped silently.

**A fetch is forwarded in event-time order.** Producers that do not key by id (Segment's Kafka destination
by default, a random or ``messageId`` key) spread one customer's events over partitions, and a fetch
holds them partition by partition: a ``signed_up`` tracked right after the ``identify`` with the e-mail
address reached the customer first, and its welcome e-mail was skipped ``no_address`` (a walkthrough:
20 of 30). The engine decides on event time, but a decision reads the profile as it is, so the valid
events of a whole fetch (every partition of it) are forwarded sorted by their timestamps (stable: a
key's records of equal time keep their order). Records of one key on one partition are in order already
unless their producer's timestamps go back, and event-time order is what replay and the simulator
decide in. Events split over two fetches, or over two workers' stage 1, are not reordered.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Protocol

from cjo_stream.config import Settings
from cjo_stream.events import Event, InvalidEvent, decode_event
from cjo_stream.kafka.outbox import Outbox
from cjo_stream.receipts import receipt_record_event
from cjo_stream.runtime.decoded import Decoded


class InRecord(Protocol):
    """What stage 1 reads of an input record (an aiokafka ``ConsumerRecord``, used as fetched)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


_by_time = itemgetter(0)  # (C: no Python call per element, as a key function of ours costs)


class Ingest:
    def __init__(self, settings: Settings, decoded: Decoded | None = None) -> None:
        self.settings = settings
        self.decoded = decoded  # events kept for this process's own stage 2 (runtime.decoded)
        self.invalid: Counter[str] = Counter()
        self.forwarded = 0
        #: The dead-letter topic's own partition count, which the worker reads at start (it is made with
        #: ``CJO_PARTITIONS``, but one an operator made first may have any: a dead letter sent to a partition it
        #: does not have stopped stage 1 at the first bad record of a higher input partition, again at each restart)
        self.dlq_partitions = settings.partitions

    def _dead_letter(self, rec: InRecord, err: InvalidEvent, out: Outbox) -> None:
        s = self.settings
        headers = [
            ("cjo.reason", err.reason.encode()),
            ("cjo.detail", err.detail[:500].encode()),
            ("cjo.source.topic", rec.topic.encode()),
            ("cjo.source.partition", str(rec.partition).encode()),
            ("cjo.source.offset", str(rec.offset).encode()),
            ("cjo.failed_at", str(time.time()).encode()),
        ]
        # the producer's own headers (tracing, schema ids, ...) are kept, as Kafka Connect's DLQ keeps them
        out.add(s.dlq_topic, rec.key, rec.value, partition=rec.partition % self.dlq_partitions,
                headers=[*(rec.headers or ()), *headers])
        self.invalid[err.reason] += 1

    def process(self, records: Sequence[InRecord], out: Outbox) -> None:
        s = self.settings
        internal, receipts = s.internal_topic, s.receipts_topic
        add, partitioner = out.add, out.partitioner
        decoded = self.decoded
        # Decoded.keep, inline (a call per event less): events for partitions this process's stage 2 holds
        if decoded is not None:
            decoded.start()
        owned, kept, limit = (decoded.owned, decoded.by_id, decoded.limit) if decoded is not None else ((), {}, 0)
        valid: list[tuple[float, bytes, Event]] = []
        latest, ordered = float("-inf"), True
        for rec in records:
            value = rec.value
            try:
                if value is None:
                    raise InvalidEvent("missing_field", "record has no value (tombstone)")
                if rec.topic == receipts:
                    value = receipt_record_event(value)
                ev: Event = decode_event(value)
            except InvalidEvent as e:
                self._dead_letter(rec, e, out)
                continue
            ts = ev.ts
            if ts >= latest:
                latest = ts
            else:
                ordered = False
            valid.append((ts, value, ev))
        if not ordered:
            valid.sort(key=_by_time)  # stable: equal times keep their order
        forwarded = len(valid)
        for _, value, ev in valid:
            key = (ev.user_id or ev.anonymous_id or "").encode()
            if decoded is None:
                add(internal, key, value)
                continue
            p = partitioner(key)
            add(internal, key, value, partition=p)
            if p in owned and len(kept) < limit:  # full: stage 2 takes the older ones first (Decoded)
                kept[id(value)] = (value, ev)
        self.forwarded += forwarded
