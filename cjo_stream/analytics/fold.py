"""The fold: journey events and receipts into hourly buckets of counters, per journey and version.

**Cohorts.** Every count of an instance goes to the bucket of the hour it *entered* (its cohort), so
a report over a time range is the funnel of the customers who entered in that range: of them, how
many reached each step, were sent what, converted, left where — rates stay proportions of one group,
which is what the intervals and tests need. Receipts count in the bucket of their delivery's instance.

**Instances.** An instance's row (cohort hour, entry time, current step, variant, holdout, global
control) lives until the instance ends; it gives each step transition its edge (from the previous step),
each conversion its time to convert and its group (variant, holdout, global control: a global-control
customer counts in no variant, and apart from the journey's holdout and treatment, ``gc|...``). The row is keyed by instance id,
so an instance that moved to another customer on an identity merge (a new customer id, another
partition) keeps counting where it started.

**Duplicates.** A worker that replays records after a crash writes the same journey events again, at
the same source position (``src``: internal partition, offset, index); the fold keeps the highest
position applied per source partition and drops anything at or below it. Receipts count once per
delivery and status (unique delivered, opens, clicks, ...).

**Split arms.** An instance's row keeps every split arm it took, and a conversion counts for each
(``ac|<split>|<variant>``: ``v|<variant>|converted``, by arm name alone, counted the last split's arm only, and
that of another split of the same name). It keeps the split step whose arm it took last; each of its later sends counts for
that arm too, per channel (``ar|<split>|<variant>|<channel>|sent``), and so does each receipt of such a send (its
delivery row keeps the arm: ``...|rcpt|<status>``), so arms that reach the same send step have open and click
rates of their own. Holdout and global-control instances count in no arm, as for the arm's entries.

**Endings.** Each counts at the step it ended at (``s|<step>|end|<kind>``); an ``expired`` one with a reason
(``version_unavailable``, ``step_unavailable``: the journey was edited under it; ``erased``: the customer) also as ``s|<step>|why|expired|<reason>``,
so the report tells them from the instances that reached ``max_duration``.

**Stages.** Lifecycle stage moves count in buckets of their own (journey :data:`STAGES`, version 0),
by the hour the move happened (not a cohort: a stage is not entered once): ``m|<from>|<to>``, with
``""`` for a new customer's placement in the first stage and for a profile merged away.

Counters are flat ``"<kind>|<id>|..."`` keys in one dict per bucket (ids are ``[a-z0-9_]+``), so
buckets merge by adding and store compactly. :mod:`cjo_stream.analytics.report` reads them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, MutableMapping
from typing import Any, Final
from zoneinfo import ZoneInfo

from mypy_extensions import mypyc_attr

from cjo_stream.analytics.records import JourneyEvent, receipt_event
from cjo_stream.analytics.rows import DeliveryRow, InstanceRow
from cjo_stream.commands import CUSTOMER_CHANNELS
from cjo_stream.engine.clock import customer_zone, local_minutes
from cjo_stream.engine.result import Result
from cjo_stream.engine.transition import Transition
from cjo_stream.events import Event
from cjo_stream.timefmt import round_ms

HOUR: Final = 3600
ENDINGS = ("converted", "exited", "ended", "expired", "merged")
#: Upper bounds (seconds) of the time-to-convert histogram's bins; the last bin is open. Each bin counts its
#: conversions (``ttc|i``) and sums their times in milliseconds (``ttcms|i``): see ``report.quantile``.
TTC_BOUNDS: tuple[int, ...] = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                               172800, 259200, 432000, 604800, 1209600, 2592000, 5184000)
RECEIPTS = ("sent", "delivered", "failed", "bounced", "expired", "opened", "clicked", "unsubscribed", "complained")
_BIT: Final = {s: 1 << i for i, s in enumerate(RECEIPTS)}
WEEK: Final = 7 * 86400
FREQ_MAX: Final = 10  # sends per customer per week are counted 1, 2, ... 10 (10 = ten or more)
FREQ_KEEP: Final = 32  # a customer's latest sends remembered for the ordinal

#: The bucket "journey" of lifecycle stage moves (not a journey id: those are ``[a-z0-9_]+``).
STAGES: Final = "@stages"

BucketKey = tuple[str, int, int]  # journey, version, cohort hour (epoch hours)
Counters = dict[str, int]


class _Both:
    """A bucket and its journey version's totals, incremented together (``t`` None: totals are summed when
    read, see ``Analytics(live_totals=False)``)."""

    __slots__ = ("b", "t", "journey", "version", "hour")

    def __init__(self, b: Counters, t: Counters | None, journey: str, version: int, hour: int) -> None:
        self.b, self.t = b, t
        self.journey, self.version, self.hour = journey, version, hour

    def inc(self, k: str, n: int = 1) -> None:
        b, t = self.b, self.t
        b[k] = b.get(k, 0) + n
        if t is not None:
            t[k] = t.get(k, 0) + n


# tests subclass it to record what it folds (mypyc refuses interpreted subclasses of compiled classes otherwise)
@mypyc_attr(allow_interpreted_subclasses=True)
class Analytics:
    """Folds journey events (and receipts) into buckets. Pure: the caller owns storage and time.

    ``rows`` holds the per-instance/delivery/customer rows (a dict offline; the service passes a cache
    over RocksDB); ``buckets`` all bucket counters, kept in memory (journeys x versions x hours: small).
    """

    def __init__(self, rows: MutableMapping[str, Any] | None = None,
                 buckets: dict[BucketKey, Counters] | None = None, default_zone: ZoneInfo | None = None,
                 unseen_entries: bool = True, live_totals: bool = True,
                 customer_channels: frozenset[str] = CUSTOMER_CHANNELS) -> None:
        # ``unseen_entries=False``: drop the transitions of instances whose entry this fold never saw. A replay's
        # warm-up enters instances it does not fold; counted after --since (in the hour of their first
        # transition), they made a cohort convert more customers than entered it
        self.unseen_entries = unseen_entries
        self.default_zone = default_zone or ZoneInfo("UTC")  # the policies' zone: local hour of sending
        # the policies' customer-facing channels (built in and declared): their sends count by local hour and
        # by sends per customer per week
        self.customer_channels = customer_channels
        self.rows: MutableMapping[str, Any] = rows if rows is not None else {}
        self.buckets: dict[BucketKey, Counters] = buckets if buckets is not None else {}
        self.dirty: set[BucketKey] = set()  # buckets changed since the caller's last ``clear_dirty()``
        # per (journey, version): the sum of all its buckets, kept as they change (a report over all time, or
        # most of it, reads these instead of adding up hundreds of hourly buckets); ``live_totals=False`` (a
        # fold read once, at its end: simulate, replay): summed from the buckets when read instead, which
        # saves half the fold's counter updates
        self.live_totals = live_totals
        self._totals: dict[tuple[str, int], Counters] = {}
        self._totals_stale = False
        self._sum_totals()
        self._boths: dict[BucketKey, _Both] = {}  # buckets and their totals are never replaced, only added to
        # the bucket folded into last (in ``dirty``): most transitions of an engine call share one, and the key's
        # tuple, its two hashes (lookup, ``dirty``) cost more than comparing its three parts
        self._last: _Both | None = None
        # counter names by their parts, made once (formatting three names per step transition was a tenth
        # of a replay's fold): (previous step, step) -> reached, continued, edge; (step, ending) -> its
        # two; (from, to) -> a stage move's
        self._step_keys: dict[tuple[str | None, str], tuple[str, str, str]] = {}
        self._end_keys: dict[tuple[str, str], tuple[str, str]] = {}
        self._move_keys: dict[tuple[str | None, str | None], str] = {}
        # a split arm's: (split, variant, channel) -> its arm ("<split>|<variant>") and sends' counter; (arm,
        # channel, status) -> its receipts' (built anew for each, they cost ~30 % more, 2026-12-04)
        self._arm_keys: dict[tuple[str, str | None, str], tuple[str, str]] = {}
        self._arm_receipt_keys: dict[tuple[str, str, str], str] = {}
        self.applied = 0
        self.duplicates = 0
        self.receipts_unmatched = 0
        self.latest = 0.0  # the latest event time folded (the service prunes rows relative to it)

    # ------------------------------------------------------------------ entry points
    def add(self, result: Result, customer_id: str | None = None) -> None:
        """Fold one engine call's transitions and stage moves (offline: the simulator, replays).

        Counts exactly what :meth:`apply` of the call's :func:`~cjo_stream.analytics.records.journey_events`
        and :func:`~cjo_stream.analytics.records.stage_events` would (``tests/analytics/test_fold.py`` checks
        it), but folds the engine's transitions as they are: building a ``JourneyEvent`` per transition
        only to drop it was a fifth of the fold's cost in a replay. The customer is the result's.
        """
        raw: float | None = None  # the latest time rounded, and ``at`` the journey events' (rounded) time
        at = 0.0
        latest = self.latest
        if result.transitions:
            cid = customer_id or result.profile.customer_id
            zone: ZoneInfo | None = None
            facing = self.customer_channels
            for t in result.transitions:
                if t.at != raw:  # one call's transitions share their time, and rounding is not free
                    raw = t.at
                    at = round_ms(raw)  # as the journey event's ``at``
                    if at > latest:
                        latest = at
                kind = t.kind
                hour = None
                if kind == "sent" and t.channel in facing:
                    if zone is None:
                        zone = customer_zone(result.profile, self.default_zone)
                    hour = local_minutes(t.at, zone) // 60
                _transition(self, t, kind, at, cid, hour)
            self.applied += len(result.transitions)
        moves = result.stage_moves
        if moves:
            if result.stage_at != raw:
                at = round_ms(result.stage_at)
                if at > latest:
                    latest = at
            self.applied += len(moves)
            b = _bucket(self, STAGES, 0, int(at // HOUR))
            bb, tt, names = b.b, b.t, self._move_keys
            for move in moves:
                k = names.get(move)
                if k is None:
                    k = names[move] = f"m|{move[0] or ''}|{move[1] or ''}"
                bb[k] = bb.get(k, 0) + 1
                if tt is not None:
                    tt[k] = tt.get(k, 0) + 1
        self.latest = latest
        if result.absorbed:  # last, as its ``linked`` record follows the call's others
            self.applied += 1
            self.link(result.absorbed, customer_id or result.profile.customer_id)

    def link(self, merged: str, into: str) -> None:
        """``merged``'s sends join ``into``'s (an anonymous id merged into the customer at login): each send of
        either is ranked among both ids' sends of its week, as if all had gone to one id. Sends per customer a
        week restarted at login before (an analyst's hand count: 1, 2, 1, 2 for four pushes to one person)."""
        rows = self.rows
        theirs = rows.pop("f:" + merged, None)
        if not theirs or merged == into:
            return
        mine = rows.get("f:" + into) or []
        for group, other in ((mine, theirs), (theirs, mine)):
            for t, did in group:
                _rank_up(self, did, sum(1 for u, _ in other if t - WEEK < u <= t))
        rows["f:" + into] = sorted([*mine, *theirs])[-FREQ_KEEP:]

    def clear_dirty(self) -> None:
        """The caller has stored the changed buckets."""
        self.dirty.clear()
        self._last = None

    @property
    def totals(self) -> dict[tuple[str, int], Counters]:
        """Per (journey, version): the sum of all its buckets."""
        if self._totals_stale:
            self._sum_totals()
        return self._totals

    def _sum_totals(self) -> None:
        totals: dict[tuple[str, int], Counters] = {}
        for (j, v, _), b in self.buckets.items():
            t = totals.get((j, v))
            if t is None:
                t = totals[(j, v)] = {}
            for k, n in b.items():
                t[k] = t.get(k, 0) + n
        self._totals = totals
        self._totals_stale = False

    def add_event(self, ev: Event, customer_id: str) -> None:
        """Fold an input event if it is a receipt (``message_<status>`` naming a ``delivery_id``)."""
        r = receipt_event(ev, customer_id)
        if r is not None:
            self.apply(r)

    def apply_all(self, events: Iterable[JourneyEvent]) -> None:
        for e in events:
            self.apply(e)

    def apply(self, e: JourneyEvent) -> bool:
        """Fold one journey event; False if it was a duplicate (already applied from its source position)."""
        rows = self.rows
        if e.src is not None:
            skey = f"s:{e.src[0]}"
            last = rows.get(skey)
            pos = (e.src[1], e.src[2])
            if last is not None and pos <= tuple(last):
                self.duplicates += 1
                return False
            rows[skey] = pos
        self.applied += 1
        kind = e.kind
        if kind == "erased":  # forget the id (an erasure's wall-clock time does not move the event clock)
            rows.pop("f:" + e.customer_id, None)
            return True
        if kind == "linked":  # an id merged into the customer: its sends join the customer's
            if e.from_:
                self.link(e.from_, e.customer_id)
            return True
        if e.at > self.latest:
            self.latest = e.at
        if kind == "receipt":
            if e.delivery_id and e.status:
                self.add_receipt(e.delivery_id, e.status, e.at)
        elif kind == "stage":
            _bucket(self, STAGES, 0, int(e.at // HOUR)).inc(f"m|{e.from_ or ''}|{e.to or ''}")
        else:
            # as the engine's transition it was written from: the fold reads a compiled Transition's fields
            # directly (the replay's path), a journey event's through Python's attribute lookup
            t = Transition(e.journey, kind, e.step, e.variant, e.channel, e.reason, e.at,  # type: ignore[arg-type]
                           e.instance, e.version, e.delivery_id, e.withdrawn)
            _transition(self, t, kind, e.at, e.customer_id, e.local_hour)
        return True

    # ------------------------------------------------------------------ sends and receipts
    def add_receipt(self, delivery_id: str, status: str, at: float) -> bool:
        """Count a receipt once per delivery and status; one for an unknown delivery waits for it."""
        if status not in _BIT:
            return False
        d: DeliveryRow | None = self.rows.get("d:" + delivery_id)
        if d is None:
            rkey = "r:" + delivery_id
            waiting = list(self.rows.get(rkey) or [])
            if all(s != status for s, _ in waiting):
                waiting.append((status, at))
                self.rows[rkey] = waiting
                self.receipts_unmatched += 1
            return False
        if _count_receipt(self, d, status):
            self.rows["d:" + delivery_id] = d  # its ``seen`` changed
            return True
        return False


# The fold's work, as functions of the fold rather than its methods: the class allows interpreted subclasses
# (a test records what it folds), so mypyc calls its methods through Python's generic call; these are called
# directly (~2 % of a replay's instructions, 2026-12-02).
def _bucket(a: Analytics, journey: str, version: int, hour: int) -> _Both:
    last = a._last
    if last is not None and last.hour == hour and last.version == version and last.journey == journey:
        return last
    key = (journey, version, hour)
    both = a._boths.get(key)  # made once per bucket: one lookup per fold instead of two and an object
    if both is None:
        b = a.buckets.get(key)
        if b is None:
            b = a.buckets[key] = {}
        t: Counters | None = None
        if a.live_totals:
            t = a._totals.get((journey, version))
            if t is None:
                t = a._totals[(journey, version)] = {}
        both = a._boths[key] = _Both(b, t, journey, version, hour)
    a.dirty.add(key)
    if not a.live_totals:
        a._totals_stale = True
    a._last = both
    return both


def _transition(a: Analytics, e: Transition, kind: str, at: float, customer_id: str, local_hour: int | None) -> None:
    """Fold one journey transition (``at``, customer and local hour passed apart: a transition has no such
    fields; a journey event's are passed as they were written)."""
    rows = a.rows
    ikey = "i:" + e.instance
    row: InstanceRow | None = rows.get(ikey)
    moved = False  # a stored row's time moved on
    if row is None:
        # entered, or an instance whose entry this fold never saw (started before the topic's retention)
        if kind != "entered" and not a.unseen_entries:
            return
        row = InstanceRow(e.journey, e.version, int(at // HOUR), at)
    else:
        moved = at > row.at
    b = _bucket(a, e.journey, row.version, row.hour)
    in_order = at >= row.at
    if in_order:
        row.at = at
    if kind == "step":  # the commonest: its counters incremented here (a call per counter cost more)
        s = e.step or ""
        prev = row.step
        keys = a._step_keys.get((prev, s))
        if keys is None:
            keys = a._step_keys[(prev, s)] = (f"s|{s}|reached", f"s|{prev}|continued", f"e|{prev or ''}|{s}")
        bb, tt = b.b, b.t
        k = keys[0]
        bb[k] = bb.get(k, 0) + 1
        if tt is not None:
            tt[k] = tt.get(k, 0) + 1
        if in_order:
            if prev is not None:
                k = keys[1]
                bb[k] = bb.get(k, 0) + 1
                if tt is not None:
                    tt[k] = tt.get(k, 0) + 1
            k = keys[2]
            bb[k] = bb.get(k, 0) + 1
            if tt is not None:
                tt[k] = tt.get(k, 0) + 1
            row.step = s
        withdrawn = e.withdrawn
        if withdrawn is not None:  # an update step withdrew consent (a sunset flow): which, how often
            for name in withdrawn:
                b.inc(f"s|{s}|withdrew|{name}")
        rows[ikey] = row
    elif kind == "sent" or kind == "skipped" or kind == "deferred":
        if kind == "sent":
            _sent(a, e, at, customer_id, local_hour, b, row)
        elif kind == "skipped":
            k = f"s|{e.step}|skip|{e.reason}"
            b.inc(k)
            if e.channel is not None:  # (an update step's render_error is no channel's)
                k = f"c|{e.channel}|skipped"
                b.inc(k)
        else:
            k = f"s|{e.step}|deferred"
            b.inc(k)
            if e.reason is not None:  # by why: a pause's holds apart from quiet hours' and throttles' waits
                b.inc(f"s|{e.step}|defer|{e.reason}")
        if moved:
            # its time moved: written back, or a store-backed ``rows`` (the analytics service's
            # RowCache) keeps the old time once the row is evicted, and a later out-of-order step
            # counts as in order there but not in a replay (tests/analytics/test_row_cache.py)
            rows[ikey] = row
    elif kind == "entered":
        bb, tt = b.b, b.t
        bb["entered"] = bb.get("entered", 0) + 1
        if tt is not None:
            tt["entered"] = tt.get("entered", 0) + 1
        rows[ikey] = row
    elif kind == "holdout":
        b.inc("holdout")
        row.holdout = True
        if row.global_control:
            b.inc("gc|holdout")  # in both: the report takes it out of the holdout group
        rows[ikey] = row
    elif kind == "global_control":
        b.inc("gc|entered")
        row.global_control = True
        if row.holdout:
            b.inc("gc|holdout")
        rows[ikey] = row
    elif kind == "variant":
        # every arm it took, one per split: a conversion counts for each split's arm (an instance through two
        # splits converted for the last one's arm alone, and the first split's arms showed 0 conversions)
        taken = row.arms
        if taken is None:  # a row stored before ``arms``: the arm it was in
            taken = [f"{row.split}|{row.variant}"] if row.split is not None else []
        prefix = f"{e.step}|"
        row.arms = [x for x in taken if not x.startswith(prefix)] + [f"{prefix}{e.variant}"]
        row.variant = e.variant
        row.split = e.step  # the arm its later sends count for
        if not row.holdout and not row.global_control:
            v = e.variant
            b.inc(f"v|{v}|entered")
            b.inc(f"a|{e.step}|{v}")
        rows[ikey] = row
    else:  # an ending: converted, exited, ended, expired, merged
        s = e.step or row.step or ""
        ends = a._end_keys.get((s, kind))
        if ends is None:
            ends = a._end_keys[(s, kind)] = (f"s|{s}|end|{kind}", f"e|{s}|!{kind}")
        bb, tt = b.b, b.t
        for k in (kind, *ends):
            bb[k] = bb.get(k, 0) + 1
            if tt is not None:
                tt[k] = tt.get(k, 0) + 1
        if kind == "expired" and e.reason is not None:
            # not max_duration (no reason): the definition it ran on is gone or lost its step, an edit in place
            b.inc(f"s|{s}|why|expired|{e.reason}")
        if kind == "converted":
            took = at - row.entered_at
            i = bisect.bisect_left(TTC_BOUNDS, took)
            b.inc(f"ttc|{i}")
            b.inc(f"ttcms|{i}", int(took * 1000))  # the bin's sum: its mean places the quantiles inside it
            if row.global_control:
                b.inc("gc|converted")
                if row.holdout:
                    b.inc("gc|h|converted")
            if row.holdout:
                b.inc("h|converted")
            elif not row.global_control:
                arms = row.arms
                if arms is None and row.split is not None and row.variant is not None:
                    arms = [f"{row.split}|{row.variant}"]  # a row stored before ``arms``: its last split's arm
                if arms is not None:
                    for arm in arms:
                        b.inc(f"ac|{arm}")  # per split and arm (the report's experiment table)
                else:
                    v = e.variant or row.variant  # a row from before ``split``: by arm name, as counted then
                    if v is not None:
                        b.inc(f"v|{v}|converted")
        rows.pop(ikey, None)


def _sent(a: Analytics, e: Transition, at: float, customer_id: str, local_hour: int | None, b: _Both,
          row: InstanceRow) -> None:
    ch = e.channel or ""
    did = e.delivery_id
    bb, tt = b.b, b.t
    for k in (f"s|{e.step}|sent", f"c|{ch}|sent"):
        bb[k] = bb.get(k, 0) + 1
        if tt is not None:
            tt[k] = tt.get(k, 0) + 1
    freq = None
    if did is not None and ch in a.customer_channels:
        freq = _frequency(a, customer_id, at, did, ch, b)
        if local_hour is not None:
            k = f"lh|{ch}|{local_hour}|sent"
            bb[k] = bb.get(k, 0) + 1
            if tt is not None:
                tt[k] = tt.get(k, 0) + 1
    arm = None
    split = row.split
    if split is not None and not row.holdout and not row.global_control:  # as the arm's entries
        ak = (split, row.variant, ch)
        names = a._arm_keys.get(ak)
        if names is None:
            names = a._arm_keys[ak] = (f"{split}|{row.variant}", f"ar|{split}|{row.variant}|{ch}|sent")
        arm, k = names
        bb[k] = bb.get(k, 0) + 1
        if tt is not None:
            tt[k] = tt.get(k, 0) + 1
    if did is None:
        return
    d = DeliveryRow(e.journey, row.version, row.hour, e.step or "", ch, local_hour, freq, 0, at, arm)
    rows = a.rows
    dkey = "d:" + did
    old = rows.get(dkey)
    if old is not None:
        d.seen = old.seen
    rows[dkey] = d
    waiting = rows.pop("r:" + did, None)
    if waiting:
        for status, _ in waiting:
            _count_receipt(a, d, status)


def _frequency(a: Analytics, customer: str, at: float, did: str, ch: str, b: _Both) -> int:
    """The send's ordinal among the customer's sends in the 7 days up to it, order-independent.

    ``#{sends y: at - 7d < y.at <= at}``: sends folded out of event-time order (they arrive from
    several partitions and timers) move the later sends they precede one bin up, so the counts are
    those of event-time order whatever the order of folding.
    """
    fkey = "f:" + customer
    rows = a.rows
    old = rows.get(fkey)
    if not old:  # a customer's first send here (the commonest): nothing to count or move
        rows[fkey] = [(at, did)]
        b.inc(f"fq|{ch}|1|sent")
        return 1
    recent = list(old)
    n = 1 + sum(1 for t, _ in recent if at - WEEK < t <= at)
    for t, other in recent:
        if at <= t < at + WEEK:
            _rank_up(a, other, 1)
    recent.append((at, did))
    recent.sort()
    # the latest FREQ_KEEP by event time, not a time window: a send folded weeks late (a backlog's
    # timers, another partition) still finds the sends it precedes
    a.rows[fkey] = recent[-FREQ_KEEP:]
    n = min(n, FREQ_MAX)
    b.inc(f"fq|{ch}|{n}|sent")
    return n


def _count_receipt(a: Analytics, d: DeliveryRow, status: str) -> bool:
    bit = _BIT[status]
    if d.seen & bit:
        return False
    d.seen |= bit
    b = _bucket(a, d.journey, d.version, d.hour)
    for k in (f"c|{d.channel}|rcpt|{status}", f"s|{d.step}|rcpt|{status}"):
        b.inc(k)
    if d.arm is not None:
        rk = (d.arm, d.channel, status)
        name = a._arm_receipt_keys.get(rk)
        if name is None:
            name = a._arm_receipt_keys[rk] = f"ar|{d.arm}|{d.channel}|rcpt|{status}"
        b.inc(name)
    if status == "opened":
        if d.local_hour is not None:
            k = f"lh|{d.channel}|{d.local_hour}|opened"
            b.inc(k)
        if d.freq is not None:
            k = f"fq|{d.channel}|{d.freq}|opened"
            b.inc(k)
    return True


def _rank_up(a: Analytics, did: str, k: int) -> None:
    """Move send ``did`` ``k`` places up among its customer's sends of the week (at most to FREQ_MAX), with its
    open: ``k`` sends of that week it had not counted were folded since (earlier in event time, or under an id
    merged into the customer)."""
    d: DeliveryRow | None = a.rows.get("d:" + did)
    if k <= 0 or d is None or d.freq is None or d.freq >= FREQ_MAX:
        return
    to = min(d.freq + k, FREQ_MAX)
    ob = _bucket(a, d.journey, d.version, d.hour)
    _move(ob, f"fq|{d.channel}|{d.freq}|", f"fq|{d.channel}|{to}|", "sent")
    if d.seen & _BIT["opened"]:
        _move(ob, f"fq|{d.channel}|{d.freq}|", f"fq|{d.channel}|{to}|", "opened")
    d.freq = to
    a.rows["d:" + did] = d


def _move(b: _Both, src: str, dst: str, what: str) -> None:
    b.inc(src + what, -1)
    b.inc(dst + what)


def merge(buckets: Iterable[Counters]) -> Counters:
    """Add counters of several buckets."""
    out: Counters = {}
    for b in buckets:
        for k, v in b.items():
            out[k] = out.get(k, 0) + v
    return out


RECEIPT_WINDOW: Final = 30 * 86400.0
"""Receipts are joined to sends up to this long after the send (event time); older delivery rows and
receipts still waiting for an unknown delivery are pruned by the service."""


def stale(key: str, value: Any, horizon: float) -> bool:
    """Whether a delivery row (``d:``) or a waiting receipt (``r:``) is older than ``horizon``, or a customer's
    send times (``f:``) a week older: no send that still has its row counts them (:func:`_frequency` looks
    a week back), and kept, they held every customer ever messaged by id for good."""
    if key.startswith("d:"):
        return bool(value.at < horizon)
    if key.startswith("r:"):
        return all(at < horizon for _, at in value)
    if key.startswith("f:"):
        return all(at < horizon - WEEK for at, _ in value)
    return False
