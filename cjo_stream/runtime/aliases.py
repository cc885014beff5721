"""Identity links, partitioned like the customers: which customer an id that was merged away belongs to.

Why partitioned and not a global table: a global alias table (every worker holding every link, in a
dict or in RocksDB) makes each worker's memory, disk and fresh start grow with *all* linked ids — 50 M
links on every worker, read whole by every new one. Here the link of an id lives in the partition of
that id (its partition of ``<app>.customer-events``), in a RocksDB store changelogged to
``<app>.aliases`` on the same partition number — the Kafka Streams stream–table join, co-partitioned.
Records keyed by an id arrive on that id's partition, so the one place that must know an id's link
is the one that holds it. A worker keeps the links of its own partitions, restores them with the
profiles (checkpointed: after a clean stop only the tail), and its RAM stays within the stores'
budget (:mod:`cjo_stream.kv`). Measured in ``make bench`` ("Identity at scale").

The protocol, as records on the internal topic (kinds in :mod:`cjo_stream.runtime.customers`):

- stage 1 keys an event by its ``userId`` (else its ``anonymousId``), as the producer would;
- the customer's partition, applying an event that names another id (``anonymousId``,
  ``previousId``) its profile does not list yet, sends a **link request** (``m``) keyed by that id;
- the id's partition decides: **the first link wins**. It stores the link, moves the id's profile to
  the customer (``a``, absorb; its journeys and timers move with it) or, without a profile, tells the
  customer it now owns the id (``l``, linked) — so a customer's profile lists every id linked to it;
- a record for an id that has a link and no profile is **passed on** to the customer (events,
  absorbs, erasures; a hop counter in header ``h`` stops contradictory links after ``MAX_HOPS``);
- **erasure** of a customer sends an **unlink** (``u``) for every id its profile lists; each id's
  partition deletes the link (a tombstone on ``<app>.aliases``) and anything stored under the id. A
  link or absorb that reaches a customer erased meanwhile is unlinked the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cjo_stream.events import Event
from cjo_stream.kafka.outbox import Outbox
from cjo_stream.kv import KV

HOPS: Final = "h"
#: Most times one record is passed on from id to customer (a chain of links, or a cycle that
#: contradictory alias events made); beyond that it is applied where it is.
MAX_HOPS: Final = 16


class Links:
    """The links of the ids of one partition (``id -> customer``), changelogged to ``topic``.

    Writes are kept until :meth:`flush` (the batch step's end, whether or not it finished) and applied as
    one RocksDB write batch: a link or unlink used to be a write of its own and a read to keep the key
    count (with ~1 link in 8 events on the bench input, ~1,500 instructions an event). Reads see them.
    """

    def __init__(self, kv: KV, topic: str, partition: int) -> None:
        self.kv = kv
        self.topic = topic
        self.partition = partition
        self._pending: dict[bytes, bytes | None] = {}

    def _get(self, key: bytes) -> bytes | None:
        pending = self._pending
        if pending and key in pending:
            return pending[key]
        return self.kv.get(key)

    def owner(self, ident: str) -> str | None:
        raw = self._get(ident.encode())
        return raw.decode() if raw is not None else None

    def link(self, ident: str, customer: str, out: Outbox) -> None:
        key, value = ident.encode(), customer.encode()
        self._pending[key] = value
        out.add(self.topic, key, value, partition=self.partition)

    def unlink(self, ident: str, out: Outbox) -> bool:
        key = ident.encode()
        if self._get(key) is None:
            return False
        self._pending[key] = None
        out.add(self.topic, key, None, partition=self.partition)
        return True

    def flush(self) -> None:
        """Apply the kept writes (one write batch; the store keeps its exact key count)."""
        if self._pending:
            pending, self._pending = self._pending, {}
            self.kv.write_many(pending)

    def __len__(self) -> int:
        self.flush()
        return len(self.kv)


def hops_of(headers: Sequence[tuple[str, bytes]] | None) -> int:
    for k, v in headers or ():
        if k == HOPS:
            try:
                return int(v)
            except ValueError:
                return MAX_HOPS
    return 0


def pass_on(out: Outbox, topic: str, owner: str, kind: bytes, value: bytes | None,
            headers: Sequence[tuple[str, bytes]] | None) -> bool:
    """Send a record on to the customer ``owner`` its key was linked to; False once it has hopped enough."""
    hops = hops_of(headers)
    if hops >= MAX_HOPS:
        return False
    kept = [(k, v) for k, v in headers or () if k not in ("k", HOPS)]  # e.g. an absorb's recent ids
    out.add(topic, owner.encode(), value, headers=[("k", kind), (HOPS, str(hops + 1).encode()), *kept])
    return True


def named_ids(ev: Event, customer: str, known: Sequence[str]) -> list[str]:
    """Other ids an event of ``customer`` names that the customer does not list yet (to be linked)."""
    if not ev.user_id:
        return []
    return [other for other in (ev.anonymous_id, ev.previous_id)
            if other and other != customer and other != ev.user_id and other not in known]
