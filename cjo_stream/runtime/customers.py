"""Stage 2: one customer partition's state and the batch step that runs the pure engine on it.

Records on the internal topic are keyed by customer id and carry a kind header:

======  ===============================================================
``e``   a touchpoint event (the original JSON, already validated)
``t``   a due timer (msgpack), put there by the partition's own timer scan
``m``   link request: link the key (an anonymous id) to the customer in the value (first link wins)
``a``   absorb: the value is the anonymous profile to merge into the key's profile
``l``   linked: the id in the value (it had no profile) is now the key's
``x``   erase the customer (GDPR): profile, timers and aliases
``u``   unlink: the key's customer was erased; its link and anything stored under it go
======  ===============================================================

Identity links live in the partition of the id they link (:mod:`cjo_stream.runtime.aliases`).

**Batching (why this is fast and still exact).** A whole fetched batch of one partition is processed
in memory, then every changed profile is written once (store, and the changelog record is queued on
the outbox, which writes changelogs latest-per-key before each commit), every output is produced as
record batches, and only after the broker acknowledged all of it are the input offsets committed —
the way Kafka Streams caches state stores before the changelog. Each stored profile remembers the
offset of the last record applied to it (``hw``): after a crash the uncommitted records are replayed,
and records a profile has already absorbed are skipped, so state is never applied twice and replayed
decisions reproduce the same ``delivery_id``s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import msgspec

from cjo_stream import metrics
from cjo_stream.analytics.records import encode as encode_journey_event
from cjo_stream.analytics.records import (
    erasure_events,
    journey_events,
    linked_event,
    receipt_event,
    stage_events,
)
from cjo_stream.commands import ConsentChange, DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.dedupe import admit, combine
from cjo_stream.engine import Engine, Result
from cjo_stream.engine.overtaken import FiredTimers, Listens, before, watch_after
from cjo_stream.engine.throttle import Throttles, decode_throttles, encode_throttles
from cjo_stream.event import RECEIPT_PREFIX
from cjo_stream.events import Event, InvalidEvent, decode_event, format_ts
from cjo_stream.kafka.outbox import NO_HEADERS, Outbox
from cjo_stream.kafka.records import Item
from cjo_stream.kv import KV
from cjo_stream.profile import (
    MAX_PROFILE_BYTES,
    Profile,
    bounced_told,
    decode_profile,
    encode_profile,
    new_profile,
    shrink,
)
from cjo_stream.runtime.aliases import Links, named_ids, pass_on
from cjo_stream.runtime.decoded import Decoded
from cjo_stream.runtime.lookalikes import ORDINARY
from cjo_stream.runtime.lookalikes import seen as seen_name
from cjo_stream.runtime.schedules import SCHEDULES_KEY, Scan, SchedulePlan
from cjo_stream.runtime.stored import Stored, decode_stored, encode_stored
from cjo_stream.runtime.timers import TimerIndex, decode_timer, encode_timer, storage_key

KIND_EVENT, KIND_TIMER, KIND_MERGE, KIND_ABSORB, KIND_ERASE = b"e", b"t", b"m", b"a", b"x"
KIND_LINKED, KIND_UNLINK = b"l", b"u"
#: Key of a partition's throttle windows in its profile store (and changelog): no customer id starts with
#: a control character (ingest refuses them, ``bad_id``).
THROTTLES_KEY = b"\x00throttles"
#: Header of an absorb record: the merged id's recent messageId fingerprints (cjo_stream.dedupe).
IDS_HEADER: Final = "ids"
#: Kinds a record keyed by an id that was merged away is passed on with, to the id's customer.
_FOLLOW = frozenset((KIND_EVENT, KIND_ABSORB, KIND_LINKED, KIND_ERASE))

#: How far ahead of the worker's clock an event's timestamp may be and still be decided at its own time.
#: Clocks of producers drift by milliseconds to seconds; a timestamp minutes ahead is a broken clock,
#: and believing it would make the customer's real events look late, so such an event counts as now.
FUTURE_TOLERANCE: Final = 60.0


_json = msgspec.json.Encoder()


def kind_of(headers: Sequence[tuple[str, bytes]] | None) -> bytes:
    """The record kind from its headers; ``k`` is the first (and only) header we write, so look there first."""
    if headers:
        k, v = headers[0]
        if k == "k":
            return v
        for k, v in headers:
            if k == "k":
                return v
    return KIND_EVENT


class InternalRecord(Protocol):
    """What the batch step reads of a record (an aiokafka ``ConsumerRecord`` has all of it).

    Records are used as fetched, not copied into our own objects: the copy cost ~4 µs per record.
    """

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def offset(self) -> int: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass
class BatchStats:
    records: int = 0
    events: int = 0
    timers: int = 0
    commands: int = 0
    skipped_replay: int = 0
    lateness: list[float] = field(default_factory=list)
    decision_latency: list[float] = field(default_factory=list)

    def observe(self) -> None:
        """Put the batch's timer lateness and decision latencies into their histograms."""
        for lat in self.lateness:
            metrics.TIMER_LATENESS.observe(lat)
        for lat in self.decision_latency:
            metrics.DECISION_LATENCY.observe(lat)


class _Batch:
    """What one :meth:`CustomerPartition.process` call holds until its end."""

    __slots__ = ("absent", "cache", "consent", "dirty", "erased", "gone", "requested")

    def __init__(self) -> None:
        self.cache: dict[str, Stored | None] = {}  # profiles read (None: none stored, or erased here)
        self.absent: set[str] = set()  # ids with no stored profile when the batch read them
        self.dirty: set[str] = set()  # profiles to write
        self.erased: set[str] = set()  # profiles to delete (unless written again afterwards)
        self.requested: set[tuple[str, str]] = set()  # link requests sent in this batch
        self.consent: set[str] = set()  # customers whose consent changed (cjo.consent-changes at the batch's end)
        self.gone: list[str] = []  # ids erased (told to adapters at the batch's end, after its commands)


class CustomerPartition:
    """State of one partition of the internal topic, owned by exactly one worker at a time."""

    #: Decoded profiles kept after a batch wrote them (see ``_recent``): ~3.2 KB each (bench profiles, tracemalloc),
    #: ~0.8 MB a partition.
    RECENT = 256

    def __init__(self, partition: int, engine: Engine, settings: Settings, profiles: KV, timers: KV,
                 links: Links, decoded: Decoded | None = None) -> None:
        self.partition = partition
        self.decoded = decoded  # events this process's stage 1 decoded already (runtime.decoded)
        self.engine = engine
        self.settings = settings
        self.profiles = profiles
        self.timers = TimerIndex(timers)
        self.links = links  # identity links of this partition's ids (runtime.aliases)
        # this partition's share of every throttle's windows (engine.throttle), stored with the profiles
        raw = profiles.get(THROTTLES_KEY)
        self.throttles = decode_throttles(raw) if raw is not None else Throttles()
        self._throttles_raw = raw or encode_throttles(self.throttles)
        self._throttles_stored = raw is not None
        # scheduled journeys: what this partition has offered its profiles so far (runtime.schedules)
        marks = profiles.get(SCHEDULES_KEY)
        self.schedules = SchedulePlan(engine.scheduled, engine.policies.default_timezone, marks)
        self._schedules_stored = marks is not None
        self.changelog_offset = 0
        # Profiles as the last batches stored them, decoded, the most recent last (at most RECENT): a
        # customer's events come in sessions, so the next batch mostly finds its profiles here instead of
        # reading and decoding them again (stage_bench: with 128 a partition, 18.5k of 60k events read
        # the store, all but ~500 of them new customers, against 38.5k without). Written through: the
        # store always has what these hold. Emptied when a batch did not finish (``_settled``).
        self._recent: dict[str, Stored] = {}
        self._settled = True
        # Event time of the latest event applied here, and whether records wait unread (set by the
        # worker): while this partition or ingest is behind, timers fire by this clock, not the wall's.
        self.watermark = 0.0
        self.behind = True
        # the latest timers fired per customer, to tell events that come after a timer they happened before
        self.fired = FiredTimers()
        self._listens = Listens(engine.versions.values())  # what moves each journey version's instances

    # ------------------------------------------------------------------ state access
    def load(self, customer_id: str) -> Stored | None:
        raw = self.profiles.get(customer_id.encode())
        return decode_stored(raw, customer_id) if raw is not None else None

    # ------------------------------------------------------------------ the batch step
    def process(self, records: Sequence[InternalRecord], now: float, out: Outbox,
                counts: metrics.BatchCounts) -> BatchStats:
        """Apply records in order; queue outputs and changelog writes on ``out``.

        Touchpoint events are nearly every record, so their path stays in one loop (:meth:`_apply`); the
        other kinds (timers, identity, erasure) are methods of their own. Nothing is written to the profile
        store before the end of the batch (:meth:`_write`): one RocksDB write batch per partition batch.
        """
        st = BatchStats(records=len(records))
        b = _Batch()
        links = self.links
        if not self._settled:  # the last batch raised half-way: its profiles may hold what was never stored
            self._recent.clear()
        self._settled = False
        try:
            self._apply(records, now, out, counts, st, b)
        finally:
            links.flush()  # written as before, even by a batch that raised: now as one write batch
        self._write(b, out, counts.profile_sizes, counts.limited)
        self.timers.flush()
        self._settled = True
        return st

    def _apply(self, records: Sequence[InternalRecord], now: float, out: Outbox, counts: metrics.BatchCounts,
               st: BatchStats, b: _Batch) -> None:
        """The loop of :meth:`process` over its records."""
        cache = b.cache
        s = self.settings
        engine, links, throttles = self.engine, self.links, self.throttles
        kept_events = self.decoded.by_id if self.decoded is not None else None
        recent = self._recent
        dirty, consumed = b.dirty, counts.consumed
        ordinary, lookalikes = ORDINARY, counts.lookalikes  # names read as no consent event, and those that do
        window, max_ids = s.dedupe_window, s.dedupe_ids
        fired = self.fired
        fired_latest = fired.latest  # (runtime.overtaken: one dict lookup an event while it holds anything)
        for rec in records:
            cid = (rec.key or b"").decode()
            if cid in cache:
                stored = cache[cid]
            else:
                stored = cache[cid] = recent.get(cid) or self.load(cid)
                if stored is None:
                    b.absent.add(cid)
            if stored is not None and rec.offset <= stored.hw:
                st.skipped_replay += 1
                continue
            headers = rec.headers
            kind = headers[0][1] if headers and headers[0][0] == "k" else kind_of(headers)
            if stored is None and kind in _FOLLOW and (owner := links.owner(cid)) is not None \
                    and owner != cid and pass_on(out, s.internal_topic, owner, kind, rec.value, headers):
                if kind == KIND_ERASE:  # erased by an id merged into the customer: that id's link goes too
                    links.unlink(cid, out)  # (the customer's profile lists at most MAX_ALIASES merged ids)
                    self._erased(cid, now, rec, out, b)
                continue  # keyed by an id that was merged into a customer: the customer's partition decides
            receipt: Event | None = None
            if kind == KIND_EVENT:
                kept = kept_events.pop(id(rec.value), None) if kept_events else None  # Decoded.take, inline
                if kept is not None:
                    ev = kept[1]
                else:  # not decoded by this process's stage 1 (runtime.decoded)
                    try:
                        ev = decode_event(rec.value or b"", trusted=True)  # checked by ingest
                    except InvalidEvent:
                        continue  # stage 1 validated it; a record that fails here was written by something else
                if stored is None:
                    stored = cache[cid] = Stored(-1, new_profile(cid))
                if ev.user_id and (ev.anonymous_id or ev.previous_id):  # names another id: maybe a new link
                    self._request_links(ev, cid, stored, b, out)
                ids = admit(stored.ids, ev.message_id, now, window, max_ids)
                if ids is None:
                    counts.duplicates += 1
                    res: Result | None = None
                else:
                    stored.ids = ids
                    st.events += 1
                    name = ev.name
                    if name not in ordinary:  # a name first read, or one read as a consent event and none
                        seen_name(name, lookalikes)  # (runtime.lookalikes: a worker tells them)
                    is_receipt = name.startswith(RECEIPT_PREFIX)
                    ctx = ev.context
                    source = ctx["channel"] if "channel" in ctx else "receipt" if is_receipt else "unknown"
                    consumed[(ev.type, source if type(source) is str else str(source))] += 1
                    lat = now - ev.ts
                    if lat < -FUTURE_TOLERANCE:
                        ev.ts = now  # a producer's clock far ahead of ours: decide it as arriving now
                    if ev.ts > self.watermark:
                        self.watermark = ev.ts
                    if fired_latest and cid in fired_latest:  # a timer of the customer fired lately
                        fired.check(cid, name, ev.ts, now, counts.overtaken)
                    res = engine.process(stored.profile, ev, ev.ts, throttles)
                    if is_receipt:
                        receipt = ev  # an adapter's receipt: a journey event joins it to its delivery
                    if res.late:
                        counts.late += 1
                        counts.too_late += res.too_late
                    if res.commands:
                        st.decision_latency.extend([lat] * len(res.commands))
            elif kind == KIND_TIMER:
                if (res := self._fire(stored, rec.value or b"", now, out, st)) is None:
                    continue
            elif kind == KIND_MERGE:
                self._link_request(cid, stored, (rec.value or b"").decode(), b, out)
                continue
            elif kind == KIND_ABSORB:
                got = self._absorb(cid, stored, rec, now, b, out)
                if got is None:
                    continue
                stored, res = got
            elif kind == KIND_LINKED:
                if (stored := self._linked(cid, stored, (rec.value or b"").decode(), b, out)) is None:
                    continue
                res = None
            elif kind in (KIND_UNLINK, KIND_ERASE):
                if kind == KIND_UNLINK:
                    links.unlink(cid, out)
                self._leave_stage(stored, counts)
                self._erase(cid, b, out, keep_aliases=False, profile=stored.profile if stored else None)
                self._erased(cid, now, rec, out, b, stored.profile if stored else None)  # (also for an id with no profile here)
                continue
            else:
                res = None  # an unknown kind (a newer writer's): marks the record applied, as before
            assert stored is not None
            stored.hw = rec.offset
            dirty.add(cid)
            if res is not None:
                if res.limited:
                    counts.limited.append(res.limited)
                if res.consent_changed:
                    b.consent.add(cid)
            if res is not None and (res.transitions or res.timers or res.cancelled or res.commands or res.skips
                                    or res.stage_moves or receipt is not None or res.absorbed):
                self._emit(res, out, counts, st, rec.offset, receipt)

    def _request_links(self, ev: Event, cid: str, stored: Stored, b: _Batch, out: Outbox) -> None:
        """Ask the partition of each other id the event names to link it to this customer (once a batch)."""
        for named in named_ids(ev, cid, stored.profile.aliases):
            if (named, cid) not in b.requested:
                b.requested.add((named, cid))
                out.add(self.settings.internal_topic, named.encode(), cid.encode(), headers=[("k", KIND_MERGE)])

    def _fire(self, stored: Stored | None, raw: bytes, now: float, out: Outbox, st: BatchStats) -> Result | None:
        """A due timer came round: forget it and wake its instance (None: no profile to wake)."""
        timer = decode_timer(raw)
        key = storage_key(timer)
        if self.timers.remove(key):
            out.add(self.settings.timers_changelog, key, None, partition=self.partition)
        if stored is None:
            return None  # erased or merged away: nothing to wake
        st.timers += 1
        st.lateness.append(now - timer.due)
        was = before(stored.profile, timer)  # (the engine moves the instance on in place)
        res = self.engine.fire(stored.profile, timer, timer.due, self.throttles)  # decided at its due time
        if res.transitions and was is not None:  # it moved an instance: an event from before its due time is late
            w = watch_after(self._listens, timer, was, now, self.settings.timer_grace_ms / 1000)
            if w is not None:
                self.fired.fired(stored.profile.customer_id, timer.journey, w)
        return res

    def _link_request(self, cid: str, stored: Stored | None, target: str, b: _Batch, out: Outbox) -> None:
        """Link this partition's id ``cid`` to the customer ``target`` unless it is linked already (the
        first link wins); its profile, if it has one, moves to the customer (absorb)."""
        if not target or target == cid or self.links.owner(cid) is not None:
            return
        if stored is not None and target in stored.profile.aliases:
            return  # the target was merged into this id: linking back would make a cycle
        if stored is not None and stored.profile.known:
            return  # a customer some event named as its userId: never merged into another (Profile.known)
        self.links.link(cid, target, out)  # later records keyed by this id go to the customer
        if stored is None:
            out.add(self.settings.internal_topic, target.encode(), cid.encode(), headers=[("k", KIND_LINKED)])
        else:
            out.add(self.settings.internal_topic, target.encode(), encode_profile(stored.profile),
                    headers=[("k", KIND_ABSORB), (IDS_HEADER, stored.ids)])
            self._erase(cid, b, out, keep_aliases=True)

    def _absorb(self, cid: str, stored: Stored | None, rec: InternalRecord, now: float, b: _Batch,
                out: Outbox) -> tuple[Stored, Result] | None:
        """Merge the profile of an id linked to this customer into the customer's (None: nothing to apply)."""
        other = decode_profile(rec.value or b"")
        if stored is None:
            if self.links.owner(cid) is None:
                # the customer was erased after it asked for the link: erase what it would get
                self._unlink_all([other.customer_id, *other.aliases], out)
                return None
            stored = b.cache[cid] = Stored(-1, new_profile(cid))  # passed on too often: applied here
        elif other.customer_id in stored.profile.aliases:
            # absorbed already: the id's partition replayed its link request after a crash (its store
            # and links restored from changelogs that had not seen the merge) and sent it again
            return None
        s = self.settings
        theirs = next((v for k, v in rec.headers or () if k == IDS_HEADER), b"")
        stored.ids = combine(stored.ids, theirs, now, s.dedupe_window, s.dedupe_ids)
        return stored, self.engine.absorb(stored.profile, other, self.throttles)

    def _linked(self, cid: str, stored: Stored | None, ident: str, b: _Batch, out: Outbox) -> Stored | None:
        """The id ``ident`` (it had no profile) is now this customer's (None: the customer is gone)."""
        if stored is None:
            if self.links.owner(cid) is None:
                self._unlink_all([ident], out)  # erased after it asked for the link
                return None
            stored = b.cache[cid] = Stored(-1, new_profile(cid))
        if ident and ident != cid and ident not in stored.profile.aliases:
            stored.profile.aliases.append(ident)
        return stored

    def _write(self, b: _Batch, out: Outbox, sizes: list[int], limited: list[int]) -> None:
        """Store the batch's changed profiles (and throttle windows) in one RocksDB write batch and queue
        their changelog records. The store's key count follows from what the batch loaded: no multi-get."""
        s, p = self.settings, self.partition
        writes: dict[bytes, bytes | None] = {}
        added = 0
        recent = self._recent
        for cid in b.erased - b.dirty:
            recent.pop(cid, None)
            if cid not in b.absent:
                writes[cid.encode()] = None
                added -= 1
        changelog: list[Item] = []  # one add_many for the batch's profiles, in the same order
        for cid in b.dirty:
            stored = b.cache[cid]
            assert stored is not None
            key = cid.encode()
            writes[key] = raw = encode_stored(stored.hw, stored.profile, stored.ids, s.stored_layout)
            if len(raw) > MAX_PROFILE_BYTES:  # (Kafka refuses a changelog record over its 1 MB default)
                limited.append(shrink(stored.profile, MAX_PROFILE_BYTES - (len(raw) - len(encode_profile(stored.profile)))))
                writes[key] = raw = encode_stored(stored.hw, stored.profile, stored.ids, s.stored_layout)
            changelog.append((key, raw, NO_HEADERS))
            sizes.append(len(raw))
            if cid in b.absent:
                added += 1
            recent.pop(cid, None)
            recent[cid] = stored  # moved to the end: the least recently written go first
        while len(recent) > self.RECENT:
            del recent[next(iter(recent))]
        out.add_many(s.profiles_changelog, p, changelog)
        if b.consent or b.gone:
            self._tell_adapters(b, out)
        added += self._throttles_to(writes, out)
        if writes:
            self.profiles.write_many(writes, added=added)

    def _tell_adapters(self, b: _Batch, out: Outbox) -> None:
        """Write the batch's consent changes and erasures to ``cjo.consent-changes``, for adapters to hold back
        commands already on their topics (:mod:`cjo_stream.adapters.withheld`).

        Added after every command of the batch, so their records carry Kafka timestamps no later than these
        (an erasure holds back what was written before it). A change is written for the customer and each
        id merged into it: commands decided for an anonymous id before it merged are keyed by that id.
        """
        s, now, p = self.settings, format_ts(time.time()), self.partition
        topic = s.consent_changes_topic  # (all from the customer's partition: adapters read every partition)
        for cid in sorted(b.consent):
            stored = b.cache.get(cid)
            if stored is None:
                continue  # erased or merged away in the same batch (told below, or by the customer's own)
            self._tell_consent(cid, stored.profile, now, out)
        for cid in b.gone:
            out.add(topic, cid.encode(), _json.encode(ConsentChange(customer_id=cid, at=now, erased=True)), partition=p)

    def _tell_consent(self, cid: str, profile: Profile, now: str, out: Outbox) -> None:
        """One customer's consent as it is now, for the customer and each id merged into it (``cjo.consent-changes``)."""
        withdrawn, topics = self.engine.withdrawn(profile), self.engine.withdrawn_topics(profile)
        bounced = bounced_told(profile)
        for ident in (cid, *profile.aliases):
            out.add(self.settings.consent_changes_topic, ident.encode(),
                    _json.encode(ConsentChange(customer_id=ident, at=now, withdrawn=withdrawn, topics=topics,
                                               bounced=bounced)),
                    partition=self.partition)

    def _throttles_to(self, writes: dict[bytes, bytes | None], out: Outbox) -> int:
        """Add the throttle windows to a batch's writes if they changed (one write batch, one commit).
        Returns the keys added to the store (1 the first time the windows are written, else 0)."""
        if self.throttles.windows:
            self.throttles.forget_before(self.watermark, self.engine.longest_throttle)
            raw = encode_throttles(self.throttles)
            if raw != self._throttles_raw:
                self._throttles_raw = writes[THROTTLES_KEY] = raw
                out.add(self.settings.profiles_changelog, THROTTLES_KEY, raw, partition=self.partition)
                if not self._throttles_stored:
                    self._throttles_stored = True
                    return 1
        return 0

    def _leave_stage(self, stored: Stored | None, counts: metrics.BatchCounts) -> None:
        """An erased profile leaves its lifecycle stage (for the per-stage gauge)."""
        default = self.engine.default_stage
        if stored is not None and default is not None:
            counts.add_stages([(stored.profile.stage or default, "")])

    def customers(self) -> int:
        """Profiles stored (the partition's own records, throttles and schedule marks, are not)."""
        # known without reading them: the worker asks after every batch step, for every partition
        return len(self.profiles) - self._throttles_stored - self._schedules_stored

    # ------------------------------------------------------------------ scheduled entry
    def offer_schedules(self, scan: Scan, limit: int, out: Outbox, counts: metrics.BatchCounts) -> bool:
        """Offer the next ``limit`` profiles their scheduled journeys' occurrences (runtime.schedules);
        True when the scan has read every profile. Entries, sends and timers go out as a batch's do."""
        page = self.profiles.page(scan.next_key, limit)
        scan.profiles += len(page)
        engine, s = self.engine, self.settings
        st = BatchStats()
        writes: dict[bytes, bytes | None] = {}
        told: list[tuple[str, Profile]] = []  # customers whose consent an update step withdrew (a sunset flow)
        for key, raw in page:
            stored = decode_stored(raw, key.decode())
            profile = stored.profile
            changed = False
            withdrew = False
            for jid, at in scan.offers(engine.scheduled, profile, engine.zone(profile)):
                res = engine.schedule(profile, jid, at, self.throttles)
                if res.transitions or res.timers or res.cancelled or res.commands or res.skips or res.consent_changed:
                    changed = True
                    withdrew |= res.consent_changed
                    self._emit(res, out, counts, st, None)
            if withdrew:
                told.append((key.decode(), profile))
            if changed:  # the record's applied-offset mark stays: no internal record was applied
                writes[key] = new = encode_stored(stored.hw, profile, stored.ids, s.stored_layout)
                out.add(s.profiles_changelog, key, new, partition=self.partition)
                counts.profile_sizes.append(len(new))
                self._recent.pop(key.decode(), None)  # decoded anew from the store by the next batch
        if told:  # after the page's commands, as a batch's (_tell_adapters)
            now_text = format_ts(time.time())
            for cid, profile in told:
                self._tell_consent(cid, profile, now_text, out)
        added = self._throttles_to(writes, out)  # the page's profiles are stored already
        if writes:
            self.profiles.write_many(writes, added=added)
        self.timers.flush()
        if len(page) < limit:
            return True
        scan.next_key = page[-1][0] + b"\x00"  # the smallest key after the last one read
        return False

    def finish_schedules(self, now: float, out: Outbox) -> None:
        """The scan in hand read every profile: store how far occurrences were offered."""
        raw = self.schedules.finish(now)
        self.profiles.put(SCHEDULES_KEY, raw)
        self._schedules_stored = True
        out.add(self.settings.profiles_changelog, SCHEDULES_KEY, raw, partition=self.partition)

    def _emit(self, res: Result, out: Outbox, counts: metrics.BatchCounts, st: BatchStats, offset: int | None = -1,
              receipt: Event | None = None) -> None:
        s = self.settings
        # Outputs keyed by customer id land on the customer's partition number (same partitioner and
        # partition count as the internal topic), so the hash need not be computed again.
        p = self.partition
        for cmd in res.commands:
            out.add(s.delivery_topic(cmd.channel), cmd.customer_id.encode(), _json.encode(cmd), partition=p)
        st.commands += len(res.commands)
        for skip in res.skips:
            out.add(s.skipped_topic, skip.customer_id.encode(), _json.encode(skip), partition=p)
        if res.cancelled or res.timers:  # their changelog records in one add_many, in the same order
            timers = self.timers
            changed: list[Item] = []
            for t in res.cancelled:
                key = storage_key(t)
                if timers.remove(key):
                    changed.append((key, None, NO_HEADERS))
            for t in res.timers:
                key = storage_key(t)
                changed.append((key, timers.add(t, key), NO_HEADERS))
            out.add_many(s.timers_changelog, p, changed)
        if res.transitions:
            counts.add(res.transitions)
        if res.stage_moves:
            counts.add_stages(res.stage_moves)
        if s.journey_events and (res.transitions or receipt is not None or res.stage_moves or res.absorbed):
            # journey events (cjo_stream.analytics.records): the same outbox as the commands, so they are
            # acknowledged before the input offset is committed; ``src`` lets analytics drop replays
            cid = res.profile.customer_id
            # (a schedule scan has no record: ``offset`` None, its events are not checked for replays —
            # the engine enters no one twice for one occurrence, so a repeated scan emits nothing again)
            key = cid.encode()
            src = (p, offset) if offset is not None else None
            # one add_many in their order (transitions, receipt, stage moves), not a call per record
            items = [(key, encode_journey_event(je), NO_HEADERS)
                     for je in journey_events(res, cid, self.engine.policies.default_timezone, src,
                                              self.engine.customer_channels)]
            if receipt is not None:
                r = receipt_event(receipt, cid, src, len(res.transitions))
                if r is not None:
                    items.append((key, encode_journey_event(r), NO_HEADERS))
            if res.stage_moves:  # after the receipt's position (its index stays what it was)
                items.extend([(key, encode_journey_event(je), NO_HEADERS)
                              for je in stage_events(res, cid, src, len(res.transitions) + 1)])
            if res.absorbed:  # a login merged an id into the customer: last, at the next position
                items.append((key, encode_journey_event(linked_event(
                    res, cid, src, len(res.transitions) + 1 + len(res.stage_moves))), NO_HEADERS))
            out.add_many(s.journey_events_topic, p, items)

    def _erase(self, cid: str, b: _Batch, out: Outbox, *, keep_aliases: bool, profile: Profile | None = None) -> None:
        """Delete the customer's profile (at the batch's write, :meth:`_write`) and timers; unless
        ``keep_aliases``, its own link and those of the ids it lists too."""
        s = self.settings
        b.cache[cid] = None
        b.dirty.discard(cid)
        b.erased.add(cid)
        out.add(s.profiles_changelog, cid.encode(), None, partition=self.partition)
        for key in self.timers.remove_customer(cid):
            out.add(s.timers_changelog, key, None, partition=self.partition)
        if not keep_aliases:
            self.links.unlink(cid, out)
            if profile is not None:
                self._unlink_all(profile.aliases, out)

    def _erased(self, cid: str, now: float, rec: InternalRecord, out: Outbox, b: _Batch,
                profile: Profile | None = None) -> None:
        """Tell the analytics service the id was erased (journey events): the instances of ``profile`` (erased with
        it) end, and it deletes what it keeps under the id; and the adapters, at the batch's end
        (:meth:`_tell_adapters`)."""
        b.gone.append(cid)
        if self.settings.journey_events:
            key = cid.encode()
            out.add_many(self.settings.journey_events_topic, self.partition,
                         [(key, encode_journey_event(je), NO_HEADERS)
                          for je in erasure_events(cid, profile, now, (self.partition, rec.offset))])

    def _unlink_all(self, ids: Sequence[str], out: Outbox) -> None:
        """Erase the links of ``ids`` (and whatever is stored under them), each in its own partition."""
        for a in ids:
            out.add(self.settings.internal_topic, a.encode(), b"", headers=[("k", KIND_UNLINK)])

    # ------------------------------------------------------------------ timers
    def due_timers(self, now: float, out: Outbox, *, ingest_behind: bool = False) -> int:
        """Hand due timers to the customers' own stream (this partition of the internal topic).

        Timers fire on the wall clock while the worker keeps up. While records wait unread (a backlog
        after an outage, a burst), the wall clock runs ahead of the events being applied: a timer fired
        then would decide before events that happened before it was due. So it fires by the event time
        of what was applied instead, and the customer's own later events fire it inline (the engine
        fires every timer due by an event's time before applying it).
        """
        clock = min(now, self.watermark) if self.behind or ingest_behind else now
        due = self.timers.due(clock)
        for t in due:
            out.add(self.settings.internal_topic, t.customer_id.encode(), encode_timer(t),
                    partition=self.partition, headers=[("k", KIND_TIMER)])
        return len(due)


def command_json(cmd: DeliveryCommand) -> bytes:
    return _json.encode(cmd)


def wall_clock() -> float:
    return time.time()
