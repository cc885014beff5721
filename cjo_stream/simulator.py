"""Offline simulation: run journeys over a file of events in virtual time, no Kafka needed.

The file's order is the arrival order, and each event is decided at its own timestamp, exactly as the
live workers do (see :class:`~cjo_stream.engine.Engine` on event time and lateness). Virtual time is the
latest timestamp read so far: before an event is handled, every timer due at or before its timestamp
fires, in due order (ties in the order they were scheduled) — as the workers' timers fire on the wall
clock. Identity works as live: an event linking an anonymous id is applied to the known customer, then
the anonymous profile (with its journeys) is absorbed into it. Duplicates of a ``messageId`` are dropped
within a window, as the workers drop them. The same pure engine runs in the streaming workers, so what
the simulator prints is what the runtime decides for the same input.

Replay (:mod:`cjo_stream.replay`) drives the same class over history: with a profile store that spills
to disk, without keeping every output in memory, and counting only decisions from ``count_from`` on.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from cjo_stream.analytics.fold import Analytics
from cjo_stream.commands import DeliveryCommand, SkipRecord
from cjo_stream.dedupe import admit, combine
from cjo_stream.engine import Engine, Result
from cjo_stream.engine.funnel import Funnel, multi_split
from cjo_stream.engine.overtaken import FiredTimers, Listens, before, watch_after
from cjo_stream.engine.transition import Transition
from cjo_stream.event import RECEIPT_PREFIX
from cjo_stream.events import Event, InvalidEvent, decode_event
from cjo_stream.identity import canonical, new_links
from cjo_stream.journeys.text_numbers import numbers_compared
from cjo_stream.journeys.unset_traits import properties_read
from cjo_stream.profile import Profile, new_profile
from cjo_stream.receipts import receipt_line
from cjo_stream.timer_queue import TimerQueue

#: ``Simulator.analytics`` not given: one is made for the engine's policies (a typed placeholder, not None:
#: the compiled class checks the attribute's type)
_UNSET = Analytics()
#: the transitions that end an instance
_ENDINGS: Final = frozenset(("converted", "exited", "ended", "expired", "merged"))

#: Property keys noted per event name a condition reads properties of, besides the keys it reads
_CARRIED_MAX: Final = 256

#: The workers' default ``CJO_DEDUPE_WINDOW_SECONDS``.
DEDUPE_WINDOW: Final = 86400.0


@dataclass
class BadLine:
    line: int
    reason: str
    detail: str


@dataclass
class Simulator:
    engine: Engine
    on_command: Callable[[DeliveryCommand], None] | None = None
    on_skip: Callable[[SkipRecord], None] | None = None
    #: every counted engine call's result (commands, skips, transitions), e.g. to write the journey events
    #: a worker would (a hook, not a patched method: the compiled classes take neither subclass nor patch)
    on_result: Callable[[Result], None] | None = None
    #: every counted receipt (a ``message_<status>`` input event) with its customer's id, after its engine call's
    #: result: the ``receipt`` journey events a worker writes (``simulate --journey-events`` left them out)
    on_receipt: Callable[[Event, str], None] | None = None
    profiles: MutableMapping[str, Profile] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    funnel: Funnel = field(default_factory=Funnel)
    commands: list[DeliveryCommand] = field(default_factory=list)
    skips: list[SkipRecord] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    too_late: int = 0
    #: keep every command and skip in ``commands``/``skips`` (off for long replays: use the callbacks)
    keep: bool = True
    #: decisions made before this time update state but are not reported (replay's warm-up)
    count_from: float = float("-inf")
    #: of ``funnel``'s counts, those of instances entered before ``count_from`` (in a warm-up): their later
    #: steps, sends and endings count in ``funnel`` too, but a rate over the customers who entered from
    #: ``count_from`` on leaves them out (``replay --compare`` showed 300 % converted)
    warm_funnel: Funnel = field(default_factory=Funnel)
    _warm: set[str] = field(default_factory=set)  # those instances, while they last
    dedupe_window: float = DEDUPE_WINDOW
    _timers: TimerQueue = field(default_factory=TimerQueue)
    # (check at, tick, customer, journey, occurrences handled up to): one per customer and scheduled journey
    _schedules: list[tuple[float, int, str, str, float]] = field(default_factory=list)
    _cancelled: set[tuple[str, str, str, int]] = field(default_factory=set)
    _tick: int = 0
    recent_ids: dict[str, bytes] = field(default_factory=dict)  # recent messageIds per customer, as live
    dedupe_ids: int = 32  # CJO_DEDUPE_IDS
    clock: float = 0.0
    #: journey analytics of the counted decisions (simulate --report/--html, replay); made from the policies
    analytics: Analytics = field(default=_UNSET)
    #: fold decisions into ``analytics`` (off when nothing reads it: ``replay --compare`` reports funnels)
    analyse: bool = True
    #: lifecycle stage changes counted (from, to), as the workers' ``cjo_stage_transitions_total``
    stage_transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: the names of the events handled (a journey waiting for a name none had is told: journeys.unseen)
    names: set[str] = field(default_factory=set)
    #: per event name, the ``event.properties`` keys a condition matched against it reads (set from the
    #: engine's journeys), and per such name handled the keys its events carried: a key none carried is told
    #: (journeys.unset_traits.unset_properties)
    props_read: dict[str, frozenset[str]] = field(default_factory=dict)
    props_carried: dict[str, set[str]] = field(default_factory=dict)
    _props_pending: dict[str, frozenset[str]] = field(default_factory=dict)  # names with a read key not carried yet
    #: per event name, the property keys a condition on it compares with a number, and per (name, key) how many
    #: events carried that key as text (``"30"``): such a condition never holds for them (journeys.text_numbers)
    numbers_read: dict[str, frozenset[str]] = field(default_factory=dict)
    text_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    #: per journey, the counted events that came after a timer of their customer had fired, though they happened
    #: before it was due, and that the journey listens to (the file's order is the arrival order: engine.overtaken),
    #: and the longest time after the due time one came (in the file's time)
    overtaken: Counter[str] = field(default_factory=Counter)
    overtaken_after: dict[str, float] = field(default_factory=dict)
    _fired: FiredTimers | None = None
    _listens: Listens | None = None  # what moves each journey version's instances (engine.overtaken)
    _told: list[tuple[str, float]] = field(default_factory=list)  # check()'s scratch list

    def __post_init__(self) -> None:
        self.props_read = properties_read(self.engine.versions.values())
        self._props_pending = dict(self.props_read)
        self.numbers_read = numbers_compared(self.engine.versions.values())
        self._fired = FiredTimers()
        self._listens = Listens(self.engine.versions.values())
        tracked = multi_split(self.engine.versions.values())  # a conversion counts for the arm of each split
        if tracked:
            self.funnel.tracked = self.warm_funnel.tracked = tracked
        if self.analytics is _UNSET:
            # read once, at the end (its report): totals summed then, not kept up with every counter
            self.analytics = Analytics(default_zone=self.engine.policies.default_timezone, live_totals=False,
                                       customer_channels=self.engine.customer_channels)

    def _count_warm(self, transitions: list[Transition]) -> None:
        warm = self._warm
        mine = [tr for tr in transitions if tr.instance in warm]
        if mine:
            self.warm_funnel.add(mine)
            for tr in mine:
                if tr.kind in _ENDINGS:
                    warm.discard(tr.instance)

    def _collect(self, res: Result, at: float) -> None:
        # cancelled timers by (customer, journey, instance, seq), what ``Timer.key`` formats: a tuple
        # is cheaper to build than that string, and this runs for every timer set and cancelled
        if res.cancelled:
            cancelled = self._cancelled
            for t in res.cancelled:
                cancelled.add((t.customer_id, t.journey, t.instance_id, t.seq))
        if res.timers:
            cancelled, timers = self._cancelled, self._timers
            for t in res.timers:
                if cancelled:
                    cancelled.discard((t.customer_id, t.journey, t.instance_id, t.seq))
                timers.push(t)
        if at < self.count_from:
            if res.transitions:
                warm = self._warm
                for tr in res.transitions:
                    if tr.kind == "entered":
                        warm.add(tr.instance)
                    elif tr.kind in _ENDINGS:
                        warm.discard(tr.instance)
            return
        for c in res.commands:
            if self.keep:
                self.commands.append(c)
            if self.on_command:
                self.on_command(c)
        for s in res.skips:
            if self.keep:
                self.skips.append(s)
            if self.on_skip:
                self.on_skip(s)
        if res.transitions:
            self.funnel.add(res.transitions)
            if self._warm:
                self._count_warm(res.transitions)
        if res.stage_moves:
            for frm, to in res.stage_moves:
                if frm and to:
                    self.stage_transitions[(frm, to)] += 1
        if self.analyse and (res.transitions or res.stage_moves or res.absorbed):  # (absorbed: a login)
            self.analytics.add(res)
        if self.on_result is not None:
            self.on_result(res)

    def advance(self, until: float, schedules_until: float | None = None) -> None:
        """Fire every timer due at or before ``until`` and every schedule that comes round by then
        (or by ``schedules_until``), in time order (a timer first when they tie)."""
        timers, schedules = self._timers, self._schedules
        s_until = until if schedules_until is None else min(until, schedules_until)
        while True:
            due = timers.next_due()  # (infinity when none is pending: ``until`` may be infinity too)
            t_next = due if due <= until and len(timers) else None
            s_next = schedules[0][0] if schedules and schedules[0][0] <= s_until else None
            if t_next is None and s_next is None:
                return
            if s_next is None or (t_next is not None and t_next <= s_next):
                timer = timers.pop()
                self.clock = max(self.clock, due)
                if self._cancelled:
                    key = (timer.customer_id, timer.journey, timer.instance_id, timer.seq)
                    if key in self._cancelled:
                        self._cancelled.discard(key)
                        continue
                profile = self.profiles.get(timer.customer_id)
                if profile is not None:
                    was = before(profile, timer)  # (the engine moves the instance on in place)
                    res = self.engine.fire(profile, timer, due)
                    if res.transitions and was is not None and self._fired is not None and self._listens is not None:
                        w = watch_after(self._listens, timer, was, self.clock, 0.0)  # (engine.overtaken)
                        if w is not None:
                            self._fired.fired(timer.customer_id, timer.journey, w)
                    self._collect(res, due)
            else:
                at, _, cid, jid, since = heapq.heappop(schedules)
                self.clock = max(self.clock, at)
                profile = self.profiles.get(cid)
                if profile is None:
                    continue  # merged into another customer, who has schedules of their own
                j = self.engine.current[jid]
                assert j.schedule is not None
                zone = self.engine.zone_for(j, profile)  # as now: the customer may have moved since
                occ = j.schedule.latest(since, at, zone)
                if occ is not None:
                    self._collect(self.engine.schedule(profile, jid, occ), occ)
                    since = occ
                self._tick += 1
                nxt = j.schedule.next_after(at if occ is not None else since, zone)
                heapq.heappush(schedules, (nxt, self._tick, cid, jid, since))

    def _known(self, profile: Profile, since: float) -> None:
        """A new customer: their scheduled journeys come round after ``since``, in their zone (or the journey's)."""
        for j in self.engine.scheduled:
            assert j.schedule is not None
            self._tick += 1
            at = j.schedule.next_after(since, self.engine.zone_for(j, profile))
            heapq.heappush(self._schedules, (at, self._tick, profile.customer_id, j.id, since))

    def _carry(self, name: str, props: dict[str, Any], reads: frozenset[str]) -> None:
        """Note the property keys an event named ``name`` carried: those in ``reads``, and others (for the
        closest name to a missing one) up to :data:`_CARRIED_MAX`; once every key read was carried, its
        events are not looked at again (a hostile input's keys are unbounded, and most events are right)."""
        carried = self.props_carried.get(name)
        if carried is None:
            carried = self.props_carried[name] = set()
        if len(carried) < _CARRIED_MAX:
            carried.update(props)
        else:
            carried.update(k for k in reads if k in props)
        if reads <= carried:
            del self._props_pending[name]

    def _text_numbers(self, name: str, props: dict[str, Any], keys: frozenset[str]) -> None:
        """Count the keys of ``keys`` an event named ``name`` carried as text."""
        for key in keys:
            if isinstance(props.get(key), str):
                self.text_numbers[(name, key)] = self.text_numbers.get((name, key), 0) + 1

    def handle(self, ev: Event) -> None:
        # the customer is known before this event's own links apply (they only link ids it carries
        # next to the user id it is decided for), so duplicates are dropped per customer, as live
        uid, ts = ev.user_id, ev.ts
        cid = canonical(self.links, uid or ev.anonymous_id or "")  # customer_of, without its call
        clock = self.clock
        ids = admit(self.recent_ids.get(cid, b""), ev.message_id, clock if clock > ts else ts, self.dedupe_window,
                    self.dedupe_ids)
        if ids is None:
            self.duplicates += 1
            return
        self.recent_ids[cid] = ids
        self.names.add(ev.name)
        if self._props_pending:
            reads = self._props_pending.get(ev.name)
            if reads is not None:
                self._carry(ev.name, ev.properties, reads)
        if self.numbers_read:
            compared = self.numbers_read.get(ev.name)
            if compared is not None:
                self._text_numbers(ev.name, ev.properties, compared)
        timers, schedules = self._timers, self._schedules
        if timers.next_due() <= ts or (schedules and schedules[0][0] <= ts):  # most events: nothing due
            self.advance(ts)
        if ts > self.clock:
            self.clock = ts
        fired = self._fired
        if fired is not None and fired.latest and cid in fired.latest:  # a timer of the customer fired lately
            self._check_overtaken(fired, cid, ev.name, ts)
        # timers fired above change no links: the user id's customer is still ``cid``
        links = new_links(self.links, ev, cid) if uid else ()  # (an event without a user id links nothing)
        if links:  # a known customer is never merged into another (Profile.known), as live (_link_request)
            links = [(src, dst) for src, dst in links if not ((p := self.profiles.get(src)) and p.known)]
        for src, dst in links:
            self.links[src] = dst
        profile = self.profiles.get(cid)
        known = profile is not None
        if profile is None:
            profile = self.profiles[cid] = new_profile(cid)
        res = self.engine.process(profile, ev, ts)
        if not known and self.engine.scheduled:
            self._known(profile, ts)  # after its first event: its zone is known
        self._collect(res, ts)
        if ts >= self.count_from:
            self.late += res.late
            self.too_late += res.too_late
            if (self.analyse or self.on_receipt is not None) and ev.name.startswith(RECEIPT_PREFIX):
                # a receipt counts for its delivery, as live
                if self.analyse:
                    self.analytics.add_event(ev, cid)
                if self.on_receipt is not None:
                    self.on_receipt(ev, cid)
        for src, dst in links:  # as live: the linking event first, then what the other id knew
            anon = self.profiles.pop(src, None)
            theirs = self.recent_ids.pop(src, b"")  # live: its recent ids go with the absorbed profile
            if theirs:
                self.recent_ids[dst] = combine(self.recent_ids.get(dst, b""), theirs, max(self.clock, ev.ts),
                                               self.dedupe_window, self.dedupe_ids)
            if anon is not None:
                cancelled = self._cancelled  # its timers move with its instances (re-keyed), as the
                for jid, inst in anon.instances.items():  # workers erase the absorbed id's
                    if inst.due is not None and inst.waiting is not None:
                        cancelled.add((src, jid, inst.instance_id, inst.seq))
                target = self.profiles.get(dst)
                if target is None:
                    target = self.profiles[dst] = new_profile(dst)
                self._collect(self.engine.absorb(target, anon), ev.ts)

    def _check_overtaken(self, fired: FiredTimers, cid: str, name: str, ts: float) -> None:
        """Count an event that came after a timer it happened before (engine.overtaken), if counted."""
        told = self._told
        fired.check(cid, name, ts, self.clock, told)
        if told:
            for journey, after in told:
                if ts >= self.count_from:
                    self.overtaken[journey] += 1
                    if after > self.overtaken_after.get(journey, 0.0):
                        self.overtaken_after[journey] = after
            told.clear()

    def finish(self, until: float | None = None) -> None:
        """Fire the remaining timers (all of them, or those due up to ``until``).

        Schedules come round forever: without ``until`` they run up to the last event's time.
        """
        if until is None:
            self.advance(float("inf"), schedules_until=self.clock)
        else:
            self.advance(until)

    def stage_counts(self) -> dict[str, int]:
        """Customers per lifecycle stage now (the whole count: the simulator holds every profile)."""
        default = self.engine.default_stage
        if default is None:
            return {}
        counts = Counter(p.stage or default for p in self.profiles.values())
        return {name: counts.get(name, 0) for name in self.engine.stages.names} if self.engine.stages else {}

    @property
    def pending_timers(self) -> int:
        return len(self._timers) - len(self._cancelled)

    def run_lines(self, lines: Iterable[bytes]) -> None:
        for n, raw in enumerate(lines, start=1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                ev = decode_event(raw)
            except InvalidEvent as e:
                receipt = receipt_line(raw)  # a receipt (tail --receipts) reads as the event the workers make of it
                if receipt is None:
                    self.bad.append(BadLine(n, e.reason, e.detail))
                    continue
                ev = receipt
            self.handle(ev)
