"""The pure journey engine: ``(profile, event | timer, now) -> (profile, commands, skips, timers)``.

No I/O, no wall clock, no randomness: the same inputs always give the same outputs, which is what lets
one core power the live workers, the offline simulator and replays (and makes ``delivery_id`` stable).
The caller owns storage: it persists the returned profile, stores the returned timers and calls
:meth:`Engine.fire` when they are due.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any, Final
from zoneinfo import ZoneInfo

from cjo_stream.commands import DeliveryCommand, SkipRecord, delivery_id
from cjo_stream.engine.besttime import ENGAGEMENT, best_time_due, local_hour, record
from cjo_stream.engine.clock import (
    customer_zone,
    in_time_window,
    in_window,
    local_minutes,
    next_time_of_day,
    next_time_on_days,
)
from cjo_stream.engine.reads import ALL, Reads, journey_reads, profile_part
from cjo_stream.engine.recent import recent_events, remember, seen_view, since, watched_events
from cjo_stream.engine.result import Result
from cjo_stream.engine.throttle import Throttles
from cjo_stream.engine.transition import Transition
from cjo_stream.engine.types import Timer, TimerKind
from cjo_stream.event_types import INT_MAX, INT_MIN  # a profile holds events' integers (msgpack)
from cjo_stream.events import Event, format_ts
from cjo_stream.journeys.conditions import reads_previous
from cjo_stream.journeys.decision_time import DecisionTime
from cjo_stream.journeys.expressions import ZONE, instant_of, truthy
from cjo_stream.journeys.loader import with_handover_snapshots
from cjo_stream.journeys.model import END, SCHEDULED, Journey, Matcher, Step, until_first_wait
from cjo_stream.journeys.policies import Policies, QuietHours
from cjo_stream.journeys.stage_model import STAGE_CHANGED, Stages
from cjo_stream.journeys.templates import MAX_CONTENT_CHARS, RenderError, Template, render_content
from cjo_stream.profile import (
    CONSENT_CHANGED,
    LIMITED_ALL,
    PUSH_TOKEN_REFUSED,
    Instance,
    Profile,
    Seen,
    apply_event,
    bounced_address,
    consent_of,
    merge_profiles,
    update_traits,
    withdraw_consent,
)

#: Safety net only: the loader refuses cycles without a wait, so a run can never get near this.
_MAX_STEPS_PER_RUN: Final = 1000
#: Counter combinations whose stage the engine remembers (a memo of a pure function; cleared when full).
_STAGE_MEMO: Final = 65536


#: An empty mapping nothing reads or writes: the view for ``remember`` of an event kept as its bare time, an
#: instance's entry snapshot until it is taken.
_NO_VIEW: Final[dict[str, Any]] = {}
#: How an instance waits at a step of each kind ("send": deferred by quiet hours or a throttle); kinds not
#: listed never wait. A woken instance whose step now waits otherwise was edited under it (:meth:`Engine._wake`).
_PARKS: Final[dict[str, str]] = {"wait": "wait", "wait_until": "wait", "wait_for": "wait_for", "send": "send"}
#: How often a send held by a paused journey is tried again: once the journey is live again (a rolling restart
#: with ``status: live``), its held customers get the send within this long, spread as they reached it.
PAUSED_RECHECK: Final = 900.0


def _bucket(*parts: str) -> float:
    """A deterministic number in [0, 1) from the given parts (stable across processes and versions)."""
    h = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _holdable(n: int | float) -> bool:
    """Whether a profile can hold the number: a signed 64-bit integer or a finite float, as an event's."""
    return INT_MIN <= n <= INT_MAX if type(n) is int else math.isfinite(n)


def _needs_event(j: Journey, inst: Instance) -> bool:
    """Whether the instance, where it stands, may still read its entry snapshot (``Journey.keeps_event``)."""
    keep = j.keeps_event
    return keep is None or inst.step in keep


def _snapshot_view(inst: Instance, j: Journey) -> dict[str, Any]:
    """The ``event`` a step reached by a timer sees: what the instance kept of its entry event."""
    view = dict(inst.entry_event)
    # the entry event's name is the journey's entry event, and the entry time its time, unless the snapshot
    # kept them: a hand-over's trigger is another journey's event, from before the hand-over (_hand_over)
    view["event"] = view["name"] = view.get("event", j.entry.event)
    if "timestamp" not in view:
        view["timestamp"] = format_ts(inst.entered_at)
    view.setdefault("properties", {})
    view.setdefault("context", {})
    return view


def _silent_start(j: Journey) -> bool:
    """Whether every path from the first step to the first wait passes no send and no ``update`` step: an
    instance that wrote traits has decided something too (an earlier entry replacing it would write its own)."""
    return not any(step.kind == "send" or step.kind == "update" for step in until_first_wait(j))


def scheduled_view(customer_id: str, journey: str, at: float) -> dict[str, Any]:
    """The synthetic ``scheduled`` event a scheduled entry starts an instance with."""
    ts = format_ts(at)
    return {"messageId": f"scheduled:{journey}:{ts}", "type": "track", "event": SCHEDULED,
            "name": SCHEDULED, "userId": customer_id, "anonymousId": None, "timestamp": ts,
            "properties": {}, "traits": {}, "context": {}}


class _Run:
    """Scratch state of one process/fire call: the result being built and lazily built views."""

    __slots__ = ("engine", "profile", "now", "result", "_profile_view", "_cause", "throttles", "updated")

    def __init__(self, engine: Engine, profile: Profile, now: float, triggered_by: str | Timer,
                 throttles: Throttles | None = None) -> None:
        self.engine = engine
        self.profile = profile
        self.now = now
        self.result = Result(profile)
        self._profile_view: dict[str, Any] | None = None
        self._cause = triggered_by
        self.throttles = throttles if throttles is not None else engine.throttles
        self.updated = False  # an update step wrote traits: the lifecycle stage is evaluated again after the call

    @property
    def triggered_by(self) -> str:
        """What the call was for, as commands and skips carry it; a timer's (``timer:<key>``) is formatted
        only when one of them is made (most fired timers send nothing)."""
        cause = self._cause
        if isinstance(cause, Timer):
            cause = self._cause = f"timer:{cause.key}"
        return cause

    def timer_cause(self, inst: Instance) -> str | Timer:
        """Make the parked instance's timer the cause while it fires inside another call (an event's, a
        merge's, another timer's), as it is when the caller fires it: a worker behind its input and the
        simulator then write the same ``triggered_by``. Returns the cause to restore."""
        cause = self._cause
        if inst.due is not None and inst.waiting is not None:
            self._cause = Timer(self.profile.customer_id, inst.journey, inst.instance_id, inst.seq,
                                inst.due, inst.waiting)  # type: ignore[arg-type]
        return cause

    def restore_cause(self, cause: str | Timer) -> None:
        """Put back what :meth:`timer_cause` returned."""
        self._cause = cause

    def ctx(self, event_view: dict[str, Any], inst: Instance | None, journey: Journey,
            reads: Reads = ALL) -> dict[str, Any]:
        """What an expression or template sees. With ``reads`` (:mod:`cjo_stream.engine.reads`: what the
        reader can read), ``profile`` and ``journey`` are left out when not among them, and ``profile``
        holds only the keys read: building them (the profile's counters, a formatted entry time) was most
        of the cost of an entry condition on the event alone, and of a send's context."""
        roots, keys = reads
        out: dict[str, Any] = {"event": event_view}
        if roots is None or "profile" in roots:
            if keys is None or self._profile_view is not None:
                out["profile"] = self.profile_view()
            else:
                out["profile"] = profile_part(self.profile, keys, self.engine.default_stage, self.engine.topics)
        if roots is None or "journey" in roots:
            jv: dict[str, Any] = {"id": journey.id, "version": journey.version}
            if inst is not None:
                jv.update(instance_id=inst.instance_id, entered_at=format_ts(inst.entered_at),
                          variant=inst.variant, step=inst.step, holdout=inst.holdout)
            out["journey"] = jv
        out["now"] = self.now
        if roots is None or "catalogs" in roots:  # (the topology's, held by each journey: journeys.catalogs)
            out["catalogs"] = journey.catalogs
        if roots is None or ZONE in roots:  # days_until & co.: the customer's calendar (or the journey's), as wait_until's
            out[ZONE] = self.engine.zone_for(journey, self.profile)
        return out

    def profile_view(self) -> dict[str, Any]:
        """``profile`` as conditions and templates see it (built once until the profile changes)."""
        if self._profile_view is None:
            self._profile_view = self.profile.view(self.engine.default_stage, self.engine.topics)
        return self._profile_view

    def profile_changed(self) -> None:
        """The profile moved (an event applied, a stage changed): build ``profile`` again when next read."""
        self._profile_view = None

    def stage_move(self, old: str, new: str) -> None:
        """Record a lifecycle stage move (``""``: no stage, a new customer or one merged away) at this time."""
        self.result.stage_moves.append((old, new))
        self.result.stage_at = self.now

    def note(self, kind: str, inst: Instance, step: str | None = None, variant: str | None = None,
             channel: str | None = None, reason: str | None = None, delivery: str | None = None) -> None:
        """Record a transition of ``inst`` at the current decision time."""
        self.result.transitions.append(Transition(inst.journey, kind, step, variant, channel, reason,  # type: ignore[arg-type]
                                                  self.now, inst.instance_id, inst.version, delivery))



#: ``event.previous`` of an event naming no trait
_NO_PREVIOUS: Final[dict[str, Any]] = {}


def _view_of(event: Event, previous: dict[str, Any] | None) -> dict[str, Any]:
    """``event`` as conditions and templates see it, with ``previous`` when a journey reads it (None: none does,
    and it is left out): the values the profile held, before this event, of the traits it names (null for one it
    did not hold), so that a condition can tell a trait that changed to a value (Braze's "change in custom
    attribute value", Customer.io's "attribute changes to") from one sent again with the value it had:
    ``event.traits.plan == 'pro' and event.previous.plan != 'pro'``."""
    view = event.view()
    if previous is not None:
        view["previous"] = previous
    return view

class Engine:
    """Runs compiled journeys under delivery policies. Thread-compatible, holds no customer state.

    **Event time.** Decisions are made at the event's own time (``now`` is the event's timestamp, or the
    due time of a timer), so what a customer receives does not depend on when or through which
    partition an event arrived, within ``allowed_lateness`` seconds:

    - an event earlier than the customer's latest (``late``) still counts for the goal, ``exit_on`` and
      ``wait_for`` of instances it falls inside, and may start a journey at its own time, which then
      catches up with the remembered events that happened after it (:mod:`cjo_stream.engine.recent`);
    - one more than ``allowed_lateness`` earlier (``too_late``) updates the profile only: any journey
      it would start would decide on a stale picture;
    - before an event is applied, every timer of the customer due by its time fires, so a backlog
      processed late decides as it would have in real time.
    """

    def __init__(self, journeys: Iterable[Journey], policies: Policies | None = None,
                 allowed_lateness: float = 300.0, throttle_share: float = 1.0, stages: Stages | None = None,
                 paused_from: float = -math.inf, paused_recheck: float = PAUSED_RECHECK) -> None:
        journeys = with_handover_snapshots(list(journeys))
        self.policies = policies or Policies()
        self.stages = stages
        self.default_stage = stages.default if stages is not None else None
        self._stage_memo: dict[tuple[int | None, ...], str] = {}
        self.allowed_lateness = allowed_lateness
        # a journey whose file says `status: paused` is paused at decision times from this one on: always for a
        # worker and simulate; from `--since` for replay, whose warm-up is history from before the pause
        self.paused_from = paused_from
        # how often a held send is tried again; `simulate` and `replay`, whose topology cannot change during a run,
        # hold it to the end of the instance's max_duration with one timer (inf) instead of one every 15 minutes
        self.paused_recheck = paused_recheck
        # a throttle's ``max`` per window is for the whole deployment; each caller's state (a worker's
        # partition) gets this share of it. The engine's own state serves callers that pass none.
        self.throttle_share = throttle_share
        self.throttles = Throttles()
        self.versions: dict[tuple[str, int], Journey] = {}
        self.current: dict[str, Journey] = {}
        for j in journeys:
            self.versions[(j.id, j.version)] = j
            if j.id not in self.current or j.version > self.current[j.id].version:
                self.current[j.id] = j
        self.by_entry_event: dict[str, list[Journey]] = {}
        self.scheduled: list[Journey] = []  # journeys every known profile may enter on a schedule
        for j in sorted(self.current.values(), key=lambda j: j.id):
            if j.schedule is not None:
                self.scheduled.append(j)  # (a paused one's occurrences pass, entering nobody: :meth:`schedule`)
            else:
                self.by_entry_event.setdefault(j.entry.event, []).append(j)
        self.watched = watched_events(self.versions.values())
        # whether a condition or template reads `event.previous`: built only then (it costs every event a little)
        self.previous_read = reads_previous(self.versions.values())
        # channels some step picks the best send time for: only their opens/clicks are learnt (engine.besttime)
        self.best_time_channels = frozenset(st.best_time.channel for j in self.versions.values()
                                            for st in j.steps.values() if st.best_time is not None)
        self._silent_start = {key: _silent_start(j) for key, j in self.versions.items()}
        # the longest throttle window: a partition's windows older than this are forgotten
        pers = [j.throttle.per for j in self.versions.values() if j.throttle is not None]
        pers += [st.send.throttle.per for j in self.versions.values() for st in j.steps.values()
                 if st.send is not None and st.send.throttle is not None]
        self.longest_throttle = max(pers, default=0.0)
        window = self.policies.send_log_window
        self._send_log_window = window
        self._cap_windows: dict[str, float] = {}  # channel -> the longest window of the caps counting it
        # the caps as (channel, per, max): read per send, a dataclass's fields were Python attribute lookups
        self._caps = [(c.channel, c.per, c.max) for c in self.policies.frequency_caps]
        # a send log no longer than every cap's max is trimmed by window alone (_trim_sends)
        self._fewest_capped = min((most for _, _, most in self._caps), default=0)
        # the goal and exit events of each journey (by id(); every event asks of every active instance)
        self._goal_exit = {id(j): frozenset([m.event for m in (j.goal, *j.exit_on) if m is not None])
                           for j in self.versions.values()}
        # what each condition and each send or branch step reads (by id(); the journeys are held above)
        self._reads = journey_reads(self.versions.values())
        # whether any journey enters on, waits for or remembers ``stage_changed`` (goal, exit, wait_for);
        # if none does, a stage move applies no event (:meth:`_settle`)
        self._stage_changed_heard = STAGE_CHANGED in self.by_entry_event or STAGE_CHANGED in self.watched
        # channel -> the quiet-hours rules for it (every send asks; the policies are frozen)
        self._quiet_rules: dict[str, tuple[QuietHours, ...]] = {}
        # built-in channels and those policies.yaml declares: which reach a customer (also read by the journey
        # events and the analytics fold: sends on these have a local hour), where their address is
        self.customer_channels = self.policies.customer_channels
        self._address_traits = self.policies.address_traits
        #: subscription topics (policies ``topics:``), sorted, and those a customer who said nothing is not in
        self.topics: tuple[str, ...] = tuple(sorted(name for name, _ in self.policies.topics))
        self._opt_in_topics: frozenset[str] = frozenset(name for name, d in self.policies.topics if d == "opt_in")
        self._opt_in_channels: frozenset[str] = self.policies.opt_in_channels

    # ---------------------------------------------------------------- public API
    def process(self, profile: Profile, event: Event, now: float, throttles: Throttles | None = None) -> Result:
        """Apply one event at ``now`` (its time): update the profile, advance instances, start new ones;
        then, with lifecycle stages, move the customer's stage and apply ``stage_changed`` if it moved."""
        run = _Run(self, profile, now, event.message_id, throttles)
        stages = self.stages
        new = not profile.events  # nothing seen yet (first_seen 0 may be an event at the epoch)
        if stages is not None and new:
            run.stage_move("", stages.default)  # a new customer starts in the first stage
        self._apply(run, event, now, primary=True)
        # (an event none of the stage conditions reads cannot move the stage, but a new customer's first
        # event is always evaluated: a condition may hold on an empty profile)
        # (an update step's traits too)
        if stages is not None and (new or stages.affected_by(event.name, bool(event.traits) or run.updated)):
            self._restage(run, event.message_id)
        return run.result

    def _apply(self, run: _Run, event: Event, now: float, primary: bool) -> None:
        profile = run.profile
        clock = profile.last_seen
        if profile.instances:
            self._fire_due(run, now)
        late = now < clock
        too_late = clock - now > self.allowed_lateness
        # an internal event (stage_changed) is not folded into counters: a few bytes less per customer,
        # and profile.stage_since says when it happened
        previous: dict[str, Any] | None = None
        if primary:
            run.result.late, run.result.too_late = late, too_late
            if self.previous_read:  # what the profile held of the traits it names: `event.previous`
                held = profile.traits
                previous = {k: held.get(k) for k in event.traits} if event.traits else _NO_PREVIOUS
            bits = apply_event(profile, event)
            if bits:
                run.result.limited |= bits & (LIMITED_ALL | PUSH_TOKEN_REFUSED)  # (|=: a timer's update step first)
                if bits & CONSENT_CHANGED:  # (not reset: a timer's update step fired first may have withdrawn one)
                    run.result.consent_changed = True
            run.profile_changed()  # counters, traits and times moved: conditions see them as they are now
            if event.name in ENGAGEMENT and self.best_time_channels:
                ch = event.properties.get("channel")
                if isinstance(ch, str) and ch in self.best_time_channels:
                    record(profile, ch, now, local_hour(now, customer_zone(profile, self.policies.default_timezone)))
        ev_view: dict[str, Any] | None = None
        moved: list[Instance] = []
        # (most events find no instance: the loop and its sorted copy are skipped then)
        for jid in sorted(profile.instances) if profile.instances else ():
            inst = profile.instances[jid]
            j = self._journey_for(inst)
            if j is None or now >= inst.entered_at + j.max_duration:
                self._end(run, inst, j, "expired")
                continue
            if not self._touches(j, inst, event.name):
                continue
            if now < inst.entered_at:  # a late event from before the instance began is not its business, but
                if inst.waiting is not None:  # the data it brought is: read as if it had come in order
                    self._reread(run, inst, j)
                continue
            if ev_view is None:
                ev_view = _view_of(event, previous)
            if self._offer(run, inst, j, event.name, ev_view):
                moved.append(inst)
        # An instance that ended on this very event leaves its journey free: the event may start a new
        # one (re_entry permitting), e.g. every order restarting a win-back watch.
        if not too_late:
            for j in self.by_entry_event.get(event.name, ()):
                if self._shut(j, now):
                    continue  # nobody enters a paused or closed journey
                active = profile.instances.get(j.id)
                if active is not None:
                    if not (late and now < active.entered_at and self._undecided(active, j)):
                        continue
                elif not self._may_enter(profile, j, now):
                    continue
                if ev_view is None:
                    ev_view = _view_of(event, previous)
                if not self._matches(run, j.entry, ev_view, None, j):
                    continue
                if active is not None:  # this entry happened first: it is the instance the customer has
                    self._end(run, active, j, "merged", "earlier_entry")
                moved.append(self._enter(run, j, event.message_id, ev_view))
        if moved:
            recent: list[Seen] | None = None
            for inst in moved:
                if profile.instances.get(inst.journey) is not inst:
                    continue  # it ended on its way in (most sends): nothing to catch up with
                if recent is None:
                    # only events at or after ``now`` matter: there are none unless this event is not the latest
                    recent = recent_events(profile) if clock >= now else []
                self._catch_up(run, inst, recent, now)
        spec = self.watched.get(event.name)
        if spec is not None:
            # an event kept as its bare time needs no view (building one formats its timestamp)
            if ev_view is None:
                ev_view = _NO_VIEW if spec.tree == {} else _view_of(event, previous)
            remember(profile, now, event.name, ev_view, spec, self.allowed_lateness)

    def _restage(self, run: _Run, cause: str) -> None:
        """Move the customer to the last stage whose ``when`` holds; on a change, record it and apply the
        internal event ``stage_changed`` (``{from, to}``) at the same time, right after what caused it."""
        stages = self.stages
        assert stages is not None and self.default_stage is not None
        p = run.profile
        old = p.stage or self.default_stage
        key: tuple[int | None, ...] | None = None
        if stages.counters_only is not None:  # a pure function of a few counters: memoised (cheap to key)
            # (runs after most events: a list display, not a generator, is the cheaper way to the key)
            events = p.events  # (its own ``get`` is a native dict lookup; a bound ``get`` was a Python call)
            key = tuple([e[0] if (e := events.get(n)) is not None else None for n in stages.counters_only])
            new = self._stage_memo.get(key)
            if new is not None:
                if new != old:
                    self._moved(run, old, new, cause)
                return
        if stages.events is None:
            view = run.profile_view()
        else:  # only what the conditions read: cheaper than the whole view after every such event
            got = [(n, e) for n in stages.events if (e := p.events.get(n)) is not None]
            view = {"counters": {n: int(e[0]) for n, e in got}, "last": {n: int(e[1]) for n, e in got},
                    "traits": p.traits, "stage": old, "stage_since": p.stage_since or p.first_seen}
        ctx: dict[str, Any] = {"profile": view, "now": run.now}
        if stages.events is None:  # (a condition reading `now`, as a calendar function does, is evaluated so)
            ctx[ZONE] = self.zone(p)
        new = stages.current(ctx)
        if key is not None:
            if len(self._stage_memo) >= _STAGE_MEMO:
                self._stage_memo.clear()
            self._stage_memo[key] = new
        self._moved(run, old, new, cause)

    def _moved(self, run: _Run, old: str, new: str, cause: str) -> None:
        """The customer's stage is now ``new``: on a change, record it and apply ``stage_changed``."""
        if new == old:
            return
        p = run.profile
        p.stage, p.stage_since = new, int(run.now)
        run.profile_changed()
        run.stage_move(old, new)
        if not self._stage_changed_heard:
            self._settle(run, run.now)  # what applying an event nothing listens to does
            return
        ev = Event(message_id=f"{cause}/{STAGE_CHANGED}", type="track", name=STAGE_CHANGED, ts=run.now,
                   user_id=p.customer_id, properties={"from": old, "to": new})
        self._apply(run, ev, run.now, primary=False)

    def _settle(self, run: _Run, now: float) -> None:
        """:meth:`_apply` of an internal event that no journey enters on, waits for or remembers: only
        the timers due by ``now`` fire and expired instances end (a fifth of the events move a stage in
        the bench input, and applying ``stage_changed`` made an event and its pass over the instances)."""
        profile = run.profile
        if not profile.instances:
            return
        self._fire_due(run, now)
        for jid in sorted(profile.instances):
            inst = profile.instances[jid]
            j = self._journey_for(inst)
            if j is None or now >= inst.entered_at + j.max_duration:
                self._end(run, inst, j, "expired")

    def fire(self, profile: Profile, timer: Timer, now: float, throttles: Throttles | None = None) -> Result:
        """Wake an instance whose timer is due (``now``: the due time). Stale timers change nothing."""
        run = _Run(self, profile, now, timer, throttles)
        inst = profile.instances.get(timer.journey)
        if inst is None or inst.instance_id != timer.instance_id or inst.seq != timer.seq:
            return run.result
        j: Journey | None = self._journey_for(inst)
        if j is None:
            self._end(run, inst, j, "expired")
            return run.result
        self._wake(run, inst, j)
        self._fire_due(run, profile.last_seen)
        self._updated_stage(run)
        return run.result

    def _updated_stage(self, run: _Run) -> None:
        """After a timer or a schedule: an update step's traits may move the customer's lifecycle stage (an
        event's call evaluates it anyway, :meth:`process`)."""
        if run.updated and self.stages is not None and self.stages.affected_by("", True):
            self._restage(run, run.triggered_by)

    def absorb(self, into: Profile, other: Profile, throttles: Throttles | None = None) -> Result:
        """Merge another id's profile (an anonymous visitor who just identified) into the customer's.

        Its journey instances move over (their pending timers are returned re-keyed to the customer).
        Where both have an instance of the same journey, the earlier entry stays and the other ends as
        ``merged``. Each surviving instance then catches up with the events the other id saw, so a cart
        left anonymously is reminded to the known customer, and a checkout made after login counts for
        an instance that started before it.
        """
        now = max(into.last_seen, other.last_seen)
        run = _Run(self, into, now, f"merge:{other.customer_id}", throttles)
        mine_recent, theirs_recent = recent_events(into), recent_events(other)
        known_entered = dict(into.entered)  # the customer's own past entries, before the other id's join them
        bits = merge_profiles(into, other)
        run.result.absorbed = other.customer_id
        run.result.limited = bits & LIMITED_ALL
        run.result.consent_changed = bits & CONSENT_CHANGED != 0
        self._trim_sends(into, now)
        catch_up: list[tuple[Instance, list[Seen]]] = []
        for jid in sorted(set(into.instances) | set(other.instances)):
            mine, theirs = into.instances.get(jid), other.instances.get(jid)
            if theirs is not None and mine is not None:
                if (mine.entered_at, mine.instance_id) <= (theirs.entered_at, theirs.instance_id):
                    run.note("merged", theirs, theirs.step, theirs.variant, reason="identity")
                    theirs = None
                else:
                    self._cancel(run, mine)
                    into.instances.pop(jid)
                    run.note("merged", mine, mine.step, mine.variant, reason="identity")
                    mine = None
            if theirs is not None and mine is None and not self._may_join(known_entered.get(jid), jid, theirs):
                # an app reinstalled (a new anonymous id) entered the onboarding again before login: the
                # customer had it already, and re_entry says they may not have it twice
                run.note("merged", theirs, theirs.step, theirs.variant, reason="re_entry")
                into.entered[jid] = max(int(theirs.entered_at), into.entered.get(jid, 0))
                continue
            if theirs is not None:
                into.instances[jid] = theirs
                if theirs.due is not None and theirs.waiting is not None:
                    run.result.timers.append(Timer(into.customer_id, jid, theirs.instance_id, theirs.seq,
                                                   theirs.due, theirs.waiting))  # type: ignore[arg-type]
                catch_up.append((theirs, mine_recent))
            elif mine is not None:
                catch_up.append((mine, theirs_recent))
            into.entered.pop(jid, None)  # an active instance holds the entry time
        for inst, seen in catch_up:
            self._catch_up(run, inst, seen, inst.entered_at)
        self._fire_due(run, into.last_seen)
        if self.stages is not None:  # the other id's counters and traits count now
            run.stage_move(other.stage or self.stages.default, "")  # the other id is gone
            run.profile_changed()
            self._restage(run, f"merge:{other.customer_id}")
        return run.result

    def schedule(self, profile: Profile, journey: str, at: float, throttles: Throttles | None = None) -> Result:
        """A scheduled journey's entry comes round for this customer at ``at`` (its time in their zone, or in the
        journey's own ``timezone``).

        The customer enters (a synthetic ``scheduled`` event, timestamped ``at``) if the entry's ``when``
        holds and ``re_entry`` allows; an occurrence already entered is not entered twice, so a caller
        may offer the same one again (a scan repeated after a crash).
        """
        run = _Run(self, profile, at, f"schedule:{journey}@{format_ts(at)}", throttles)
        j = self.current.get(journey)
        if j is None or j.schedule is None or self._shut(j, at):
            return run.result
        if profile.instances:
            self._fire_due(run, at)
        active = profile.instances.get(journey)
        if active is not None or profile.entered.get(journey) == int(at) or not self._may_enter(profile, j, at):
            return run.result
        view = scheduled_view(profile.customer_id, journey, at)
        if not self._matches(run, j.entry, view, None, j):
            return run.result
        # the customer in the key: every customer entering this occurrence is an instance of its own (the
        # analytics fold keeps one row per instance id; a shared id mixed their paths)
        inst = self._enter(run, j, f"scheduled:{format_ts(at)}:{profile.customer_id}", view)
        if profile.last_seen >= at:  # events after the occurrence were applied first: catch up with them
            self._catch_up(run, inst, recent_events(profile), at)
        self._updated_stage(run)
        return run.result

    def zone(self, profile: Profile) -> ZoneInfo:
        """The customer's time zone (traits, last event's context, the policies' default)."""
        return customer_zone(profile, self.policies.default_timezone)

    def zone_for(self, j: Journey, profile: Profile) -> ZoneInfo:
        """The zone ``j``'s clock reads for this customer (its waits, time windows, schedule, calendar functions):
        the journey's own ``timezone`` when it has one, else the customer's. Quiet hours read the customer's."""
        tz = j.timezone
        return tz if tz is not None else customer_zone(profile, self.policies.default_timezone)

    # ---------------------------------------------------------------- event time
    def _fire_due(self, run: _Run, until: float) -> None:
        """Fire every timer of the profile due at or before ``until``, earliest first, each at its due time."""
        now = run.now
        instances = run.profile.instances
        while True:
            due = [(i.due, jid) for jid, i in instances.items() if i.due is not None and i.due <= until]
            if not due:
                break
            t, jid = min(due)
            inst = instances[jid]
            cause = run.timer_cause(inst)
            self._retire(run, inst)  # fired here: the caller's stored timer is no longer needed
            run.now = t
            j: Journey | None = self._journey_for(inst)
            if j is None:
                self._end(run, inst, j, "expired")
            else:
                self._wake(run, inst, j)
            run.restore_cause(cause)
        run.now = now

    def _catch_up(self, run: _Run, inst: Instance, recent: list[Seen], start: float) -> None:
        """Let an instance that stands at event time ``start`` meet what happened after it.

        Remembered events from ``start`` on and the instance's own timers due by the customer's latest
        event are applied in time order (a timer first when they tie), each at its own time.
        """
        profile = run.profile
        if profile.instances.get(inst.journey) is not inst:
            return  # it ended on its way in (most sends): nothing to catch up with
        now = run.now
        until = profile.last_seen
        pending = since(recent, start)
        j = self._journey_for(inst)
        i = 0
        while j is not None and profile.instances.get(inst.journey) is inst:
            due = inst.due if inst.due is not None and inst.due <= until else None
            seen = pending[i] if i < len(pending) else None
            if seen is not None and (due is None or seen.ts < due):
                i += 1
                if seen.ts < inst.entered_at or not self._touches(j, inst, seen.name):
                    continue
                run.now = seen.ts
                self._offer(run, inst, j, seen.name, seen_view(seen))
            elif due is not None:
                cause = run.timer_cause(inst)
                self._retire(run, inst)
                run.now = due
                self._wake(run, inst, j)
                run.restore_cause(cause)
            else:
                break
        run.now = now

    # ---------------------------------------------------------------- instances
    def _journey_for(self, inst: Instance) -> Journey | None:
        """The definition an instance runs on: the version it entered with.

        If that version is no longer loaded, or no longer has the instance's step (the file was edited
        without a new ``version``: that crashed the worker on every start, a walkthrough), the instance
        continues on the current version when its step exists there, and from then on is of that version
        (its commands already were); otherwise it ends (transition ``expired``, reason
        ``version_unavailable`` or ``step_unavailable``, :meth:`_end`).
        """
        j = self._runs_on(inst)
        if j is not None and j.version != inst.version:
            inst.version = j.version
        return j

    def _runs_on(self, inst: Instance) -> Journey | None:
        """:meth:`_journey_for` without moving the instance to the version it returns."""
        j = self.versions.get((inst.journey, inst.version))
        if j is not None and inst.step in j.steps:
            return j
        cur = self.current.get(inst.journey)
        if cur is not None and inst.step in cur.steps:
            return cur
        return None

    def withdrawn(self, p: Profile) -> list[str]:
        """The customer-facing channels whose consent the customer has withdrawn, sorted: the channels
        adapters hold back commands for (:class:`~cjo_stream.commands.ConsentChange`)."""
        return sorted([ch for ch in self.customer_channels if consent_of(p, ch) is False])

    def withdrawn_topics(self, p: Profile) -> list[str]:
        """The subscription topics the customer has withdrawn from, sorted (:class:`~cjo_stream.commands.ConsentChange`)."""
        return [t for t in self.topics if consent_of(p, t) is False] if self.topics else []

    def ending(self, inst: Instance) -> str | None:
        """Why ``inst`` ends (``expired``) at the customer's next event or timer, its journey, version or step
        not being loaded any more (:meth:`_journey_for`), else None. For the state API, which shows instances
        as stored: a removed journey's customers looked as if they were still in it."""
        return None if self._runs_on(inst) is not None else self._unavailable(inst)

    def _unavailable(self, inst: Instance) -> str:
        return "step_unavailable" if (inst.journey, inst.version) in self.versions else "version_unavailable"

    def _touches(self, j: Journey, inst: Instance, name: str) -> bool:
        if name in self._goal_exit[id(j)] or j.exit_when:  # (a condition on the profile: any event may make it hold)
            return True
        if inst.waiting == "wait":  # a wait for a moment the data names: any event may move it
            return j.steps[inst.step].time is not None
        if inst.waiting == "wait_for":
            step = j.steps[inst.step]
            if step.condition is not None:
                return True  # a condition on the profile: any event may make it hold
            for m, _ in step.ways:
                if m.event == name:
                    return True
        return False

    @staticmethod
    def _reached(inst: Instance, j: Journey) -> float:
        """When a waiting instance reached its step (a wait_for's timeout runs from there). Recorded when it
        parks; instances stored before that was recorded count back from the timeout's due time."""
        if inst.since_ms is not None:
            return inst.entered_at + inst.since_ms / 1000
        if inst.due is None:
            return inst.entered_at
        return max(inst.entered_at, inst.due - j.steps[inst.step].seconds)

    def _offer(self, run: _Run, inst: Instance, j: Journey, name: str, ev_view: dict[str, Any]) -> bool:
        """An event at ``run.now`` for an active instance: goal, then exit, then a pending wait_for.

        Returns whether the instance moved (ended or went on from its wait_for).
        """
        if j.goal is not None and j.goal.event == name and run.now - inst.entered_at <= j.goal_within \
                and self._matches(run, j.goal, ev_view, inst, j):
            self._end(run, inst, j, "converted")
            return True
        for m in j.exit_on:
            if m.event == name and self._matches(run, m, ev_view, inst, j):
                self._end(run, inst, j, "exited")
                return True
        if j.exit_when and self._exits(run, inst, j, ev_view):
            return True
        if inst.waiting == "wait":
            step = j.steps[inst.step]
            return step.time is not None and self._retime(run, inst, j, step)
        if inst.waiting == "wait_for" and run.now >= self._reached(inst, j):
            step = j.steps[inst.step]
            cond = step.condition
            if cond is not None:  # until a condition holds: the event may have made it
                if not truthy(cond(run.ctx(ev_view, inst, j, self._reads[id(cond)]))):
                    return False
                # on with the trigger as ``event``, as after a timer: the condition awaited no event, and the
                # mail after "wait until they have an address" names the product of the entry, not the identify
                self._leave_wait(run, inst, j, step.next, None)
                return True
            # the first way (in order) whose event and condition match; none when the journey was edited under
            # the instance and the step waits for no event any more (its timer restarts the step)
            for m, target in step.ways:
                if m.event == name and self._matches(run, m, ev_view, inst, j):
                    self._leave_wait(run, inst, j, target, ev_view)
                    return True
        return False

    def _exits(self, run: _Run, inst: Instance, j: Journey, ev_view: dict[str, Any], entering: bool = False) -> bool:
        """``exit_on: [{condition}]``: end the instance ``exited`` if one holds now. ``entering``: as the customer
        enters (a free plan entering the pro tips), before the first step runs, as before each later one (it sent
        the first tip, then exited at the next wake); the report counts the first step reached and the exit there."""
        for _, cond in j.exit_when:
            if truthy(cond(run.ctx(ev_view, inst, j, self._reads[id(cond)]))):
                if entering:
                    run.note("step", inst, j.first, inst.variant)
                self._end(run, inst, j, "exited")
                return True
        return False

    def _wake(self, run: _Run, inst: Instance, j: Journey) -> None:
        """The instance's parking is over at ``run.now``: go on from its step."""
        if run.now >= inst.entered_at + j.max_duration:
            # the timer that woke it has fired (the caller forgot it): ending must not cancel it again
            inst.waiting, inst.due = None, None
            self._end(run, inst, j, "expired")
            return
        if j.exit_when:  # a condition that holds now ends it before its next step (Klaviyo's flow filter)
            waiting, due = inst.waiting, inst.due
            inst.waiting, inst.due = None, None  # (its timer has fired: ending must not cancel it)
            if self._exits(run, inst, j, {}):
                return
            inst.waiting, inst.due = waiting, due
        step = j.steps[inst.step]
        waiting = inst.waiting
        inst.waiting, inst.due = None, None
        if _PARKS.get(step.kind) != (waiting if waiting in ("wait", "wait_for") else "send"):
            # the step changed kind under the instance (a journey edited without a new version, or a new
            # version with the same step id): it starts again on the step as it is now. A wait woken into
            # a wait_for went on as if the awaited event had come (a thank-you for a purchase never made),
            # a wait_for's timeout into a wait ended the instance (a walkthrough).
            self._run(run, inst, j, inst.step, None)
            return
        # (the entry event's view is built by the first step that reads it: most wakes go on to a wait)
        if waiting == "paused" and self._paused(j, run.now):  # still paused: held on, told once (when it was first held)
            self._park(run, inst, j, "paused", run.now + self.paused_recheck)
        elif waiting in ("quiet", "throttle", "paused"):  # a deferred send is tried again
            ev_view = _snapshot_view(inst, j)
            if self._send(run, inst, j, step, ev_view):
                self._run(run, inst, j, step.next, ev_view)
        elif waiting == "wait_for":
            if step.recheck and step.condition is not None and inst.since_ms is not None:
                timeout = self._reached(inst, j) + step.seconds
                if run.now < timeout - 0.001:  # a re-test of a condition on the time or a catalog, before the timeout
                    if truthy(step.condition(run.ctx(_snapshot_view(inst, j), inst, j,
                                                      self._reads[id(step.condition)]))):
                        self._run(run, inst, j, step.next, None)
                    else:  # parked again, the wait's start kept (its timeout runs from there)
                        since = inst.since_ms
                        self._park(run, inst, j, "wait_for", min(timeout, run.now + step.recheck))
                        inst.since_ms = since
                    return
            self._run(run, inst, j, step.on_timeout, None)
        else:
            self._run(run, inst, j, step.next, None)

    def _matches(self, run: _Run, m: Matcher, ev_view: dict[str, Any], inst: Instance | None, j: Journey) -> bool:
        when = m.when
        return when is None or truthy(when(run.ctx(ev_view, inst, j, self._reads[id(when)])))

    def _may_join(self, last: int | None, jid: str, theirs: Instance) -> bool:
        """Whether another id's instance may join a customer whose own last entry of the journey (ended) was at
        ``last``: as ``re_entry`` allows either entry after the other."""
        j = self.current.get(jid)
        if last is None or j is None or j.re_entry == "always":
            return True
        if j.re_entry == "after":
            return abs(theirs.entered_at - last) >= j.re_entry_after
        return False

    @staticmethod
    def _may_enter(p: Profile, j: Journey, now: float) -> bool:
        last = p.entered.get(j.id)
        if last is None or j.re_entry == "always":
            return True
        if j.re_entry == "after":
            return now - last >= j.re_entry_after
        return False

    def _enter(self, run: _Run, j: Journey, key: str, ev_view: dict[str, Any]) -> Instance:
        """Start an instance of ``j`` at ``run.now``; ``key`` identifies what started it (the entry event's
        ``messageId``, a schedule's occurrence, a hand-over)."""
        p = run.profile
        now = run.now
        # The id depends on the journey and what started it, not on the id the customer had then: an
        # instance that starts under an anonymous id and moves on login keeps its delivery ids.
        iid = hashlib.blake2b(f"{j.id}\x1f{key}".encode(), digest_size=8).hexdigest()
        holdout = j.holdout > 0 and _bucket(j.id, p.customer_id, "holdout") * 100 < j.holdout
        # the snapshot of the entry event is only read once a timer wakes the instance: it is taken after
        # the first run, and not at all for an instance that ends right away (a send and done)
        inst = Instance(journey=j.id, version=j.version, instance_id=iid, step=j.first, entered_at=now,
                        entry_event=_NO_VIEW, holdout=holdout)
        p.instances[j.id] = inst
        p.entered.pop(j.id, None)  # while active, the instance holds the entry time (profile.entered)
        run.note("entered", inst)
        if holdout:
            run.note("holdout", inst)
        if self._global_control(p):  # told at entry: analytics keeps these customers out of treatment
            run.note("global_control", inst)
        if j.exit_when and self._exits(run, inst, j, ev_view, entering=True):
            return inst
        self._run(run, inst, j, j.first, ev_view)
        if p.instances.get(j.id) is inst and _needs_event(j, inst):
            inst.entry_event = j.snapshot.take(ev_view)
        return inst

    def _undecided(self, inst: Instance, j: Journey) -> bool:
        """Whether a later instance may give way to an earlier entry that arrives late.

        Only if it has decided nothing yet (parked once since entry, no send on the way: nothing was sent
        that the earlier instance would send again), and only in a journey that cannot be entered again
        within the allowed lateness (otherwise the later entry would have been an instance of its own
        once the earlier one ended; recent events are not replayed for entries).
        """
        if j.re_entry == "always" or (j.re_entry == "after" and j.re_entry_after < self.allowed_lateness):
            return False
        return inst.seq == 1 and inst.version == j.version and self._silent_start[(j.id, j.version)]

    def _end(self, run: _Run, inst: Instance, j: Journey | None, kind: str, reason: str | None = None) -> None:
        self._cancel(run, inst)
        run.profile.instances.pop(inst.journey, None)
        run.profile.entered[inst.journey] = int(inst.entered_at)
        if j is None:  # the definition it ran on is gone, or has no step of that name any more
            reason = self._unavailable(inst)
        run.note(kind, inst, inst.step, inst.variant, reason=reason)

    @staticmethod
    def _retire(run: _Run, inst: Instance) -> None:
        """The caller's stored timer for this parking is no longer needed (it fired here, or was left).

        A parking of this same call (an entry that catches up with events already applied, and leaves its
        wait at once) is taken out of the call's timers instead: the callers apply the cancelled timers
        before the new ones, so both listed left a timer pending for an ended instance (a walkthrough:
        a checkout that arrived before its cart, or under the other id)."""
        if inst.due is not None and inst.waiting is not None:
            timers = run.result.timers
            for k in range(len(timers) - 1, -1, -1):
                t = timers[k]
                if t.seq == inst.seq and t.instance_id == inst.instance_id and t.journey == inst.journey:
                    del timers[k]
                    return
            run.result.cancelled.append(Timer(run.profile.customer_id, inst.journey, inst.instance_id, inst.seq,
                                              inst.due, inst.waiting))  # type: ignore[arg-type]

    def _cancel(self, run: _Run, inst: Instance) -> None:
        """The instance leaves its parking before the timer is due."""
        self._retire(run, inst)
        inst.waiting, inst.due = None, None

    def _leave_wait(self, run: _Run, inst: Instance, j: Journey, target: str, ev_view: dict[str, Any] | None) -> None:
        """An event (or data it brought) takes a parked instance on before its timer: the timer, if already on its
        way, is stale (``seq``); on from ``target``."""
        self._cancel(run, inst)
        inst.seq += 1
        self._run(run, inst, j, target, ev_view)

    def _park(self, run: _Run, inst: Instance, j: Journey, kind: TimerKind, due: float) -> None:
        if inst.entry_event and not _needs_event(j, inst):
            inst.entry_event = _NO_VIEW  # no step it can still reach reads it
        inst.seq += 1
        inst.waiting = kind
        # (_reached: the step's timeout may be edited while it waits)
        inst.since_ms = round((run.now - inst.entered_at) * 1000) if kind == "wait_for" else None
        inst.due = min(due, inst.entered_at + j.max_duration)  # an instance never outlives max_duration
        run.result.timers.append(Timer(run.profile.customer_id, inst.journey, inst.instance_id, inst.seq,
                                       inst.due, kind))

    def _run(self, run: _Run, inst: Instance, j: Journey, target: str, ev_view: dict[str, Any] | None) -> None:
        """Walk steps from ``target`` until the instance waits or ends (``ev_view`` None: a timer woke it,
        the entry event's view is built when a step first reads it)."""
        for _ in range(_MAX_STEPS_PER_RUN):
            if target == END:
                self._end(run, inst, j, "ended")
                return
            step = j.steps[target]
            inst.step = target
            run.note("step", inst, target, inst.variant)
            kind = step.kind
            if kind == "send":
                if ev_view is None:
                    ev_view = _snapshot_view(inst, j)
                if not self._send(run, inst, j, step, ev_view):
                    return  # deferred by quiet hours: parked
                target = step.next
            elif kind == "wait":
                self._park(run, inst, j, "wait", run.now + step.seconds)
                return
            elif kind == "wait_until":
                if step.time is not None:  # a moment the data names (an appointment, a renewal)
                    if ev_view is None:
                        ev_view = _snapshot_view(inst, j)
                    due = self._data_time(run, inst, j, step, ev_view, self.zone_for(j, run.profile))
                    if due is None or due <= run.now:  # no time: if_missing; a time past: on at once
                        target = step.on_missing if due is None else step.next
                        continue
                    self._park(run, inst, j, "wait", due)
                    return
                bt = step.best_time
                if bt is not None:  # the customer's own hours, learnt on their clock, whatever the journey's zone
                    due = best_time_due(run.profile, bt.channel, run.now, self.zone(run.profile), bt.default,
                                        bt.within)
                else:
                    tz = self.zone_for(j, run.profile)
                    assert step.time_of_day is not None
                    hour, minute = step.time_of_day  # (unpacked: a starred call went through Python's call)
                    if step.window_end >= 0 and in_time_window(run.now, tz, hour * 60 + minute, step.window_end,
                                                               step.days):
                        target = step.next  # inside the time window: on at once
                        continue
                    due = next_time_of_day(run.now, tz, hour, minute) if not step.days else \
                        next_time_on_days(run.now, tz, hour, minute, step.days)
                self._park(run, inst, j, "wait", due)
                return
            elif kind == "wait_for":
                cond = step.condition
                if cond is not None:  # until a condition holds: it may hold already
                    if ev_view is None:
                        ev_view = _snapshot_view(inst, j)
                    if truthy(cond(run.ctx(ev_view, inst, j, self._reads[id(cond)]))):
                        target = step.next
                        continue
                due = run.now + step.seconds
                # one that may come true with no event (the time, a catalog) is tested again meanwhile: _wake
                self._park(run, inst, j, "wait_for", min(due, run.now + step.recheck) if step.recheck else due)
                return
            elif kind == "enter":
                if ev_view is None:
                    ev_view = _snapshot_view(inst, j)
                self._hand_over(run, inst, step, ev_view)
                target = step.next
            elif kind == "update":
                if ev_view is None:
                    ev_view = _snapshot_view(inst, j)
                self._update(run, inst, j, step, ev_view)
                target = step.next
            elif kind == "branch":
                target = step.next
                if ev_view is None:
                    ev_view = _snapshot_view(inst, j)
                ctx = run.ctx(ev_view, inst, j, self._reads[id(step)])
                for cond, nxt in step.branch:
                    if cond is None or truthy(cond(ctx)):
                        target = nxt
                        break
            else:  # split: sticky per (journey, customer) across re-entries
                b = _bucket(j.id, run.profile.customer_id, step.id)
                arm = next(a for a in step.split if b < a.upper)
                inst.variant = arm.variant
                run.note("variant", inst, step.id, arm.variant)
                target = arm.next
        self._end(run, inst, j, "ended")

    def _data_time(self, run: _Run, inst: Instance, j: Journey, step: Step, ev_view: dict[str, Any],
                   tz: ZoneInfo) -> float | None:
        """When a ``wait_until: {time: ...}`` ends for this customer now: the moment its expression names, moved and
        set to its local time of day; None when the data names no time."""
        assert step.time is not None
        value = step.time(run.ctx(ev_view, inst, j, self._reads[id(step.time)]))
        return instant_of(value, tz, step.shift, step.time_of_day)

    def _retime(self, run: _Run, inst: Instance, j: Journey, step: Step) -> bool:
        """An event of a customer waiting at a ``wait_until: {time: ...}``: read the time again (the appointment was
        moved, or its time arrived with a later identify), from the trigger as the wait began. A new moment re-parks
        the instance; one passed, or none, takes it on now (``next``, ``if_missing``). Returns whether it moved on."""
        due = self._data_time(run, inst, j, step, _snapshot_view(inst, j), self.zone_for(j, run.profile))
        if due is not None and due > run.now:
            if min(due, inst.entered_at + j.max_duration) != inst.due:
                self._cancel(run, inst)
                self._park(run, inst, j, "wait", due)
            return False
        self._leave_wait(run, inst, j, step.on_missing if due is None else step.next, None)
        return True

    def _reread(self, run: _Run, inst: Instance, j: Journey) -> None:
        """An event from before the instance began (another source's, arriving late: a CRM's identify moving the slot,
        or saying the customer is activated) brought data its wait reads: read it as at the wait's start, where it
        would have been read had the event come in order. A ``wait_until: {time: ...}`` is retimed (the reminder a
        day before the slot the customer has now, not the one the late event replaced), a ``wait_for`` whose
        condition holds goes on (not a nudge three days later to an activated customer)."""
        step = j.steps[inst.step]
        if inst.waiting == "wait":
            if step.time is None:
                return
            at = inst.entered_at
        elif inst.waiting == "wait_for" and step.condition is not None:
            at = self._reached(inst, j)
        else:
            return
        cond = step.condition
        now = run.now
        run.now = at
        try:
            if step.time is not None:
                self._retime(run, inst, j, step)
            elif cond is not None and truthy(cond(run.ctx(_snapshot_view(inst, j), inst, j, self._reads[id(cond)]))):
                self._leave_wait(run, inst, j, step.next, None)
        finally:
            run.now = now

    def _hand_over(self, run: _Run, inst: Instance, step: Step, ev_view: dict[str, Any]) -> None:
        """``enter: <journey>``: start that journey now with this instance's trigger as its event."""
        assert step.enter is not None
        target = self.current.get(step.enter)
        p = run.profile
        if target is None or self._shut(target, run.now) or target.id in p.instances \
                or not self._may_enter(p, target, run.now):
            return
        if not self._matches(run, target.entry, ev_view, None, target):
            return
        entered = self._enter(run, target, f"handover:{inst.instance_id}:{step.id}@{inst.seq}", ev_view)
        if p.instances.get(target.id) is entered and _needs_event(target, entered):  # waiting: what a step after the wait will see as `event`
            # is the trigger, as the target's first steps saw it, not an event named as the target's entry
            # event at the hand-over's time (which `event.event`/`event.timestamp` read before)
            extra: dict[str, Any] = {}
            name, ts = ev_view.get("event"), ev_view.get("timestamp")
            if name is not None and name != target.entry.event:
                extra["event"] = name
            if ts is not None and ts != format_ts(entered.entered_at):
                extra["timestamp"] = ts
            if extra:  # (a snapshot holding either key took it from this same view)
                entered.entry_event = {**entered.entry_event, **extra}

    def _update(self, run: _Run, inst: Instance, j: Journey, step: Step, ev_view: dict[str, Any]) -> None:
        """``update: {traits, increment}``: write the traits to the profile at the decision time, as an event's
        traits are applied (the same limits; what they leave out is reported in ``Result.limited``), and add each
        increment to its number trait (0 when not set). A template that is one ``{{ expr }}`` alone stores its
        value with its type (a number, true/false, text; nil removes the trait: ``Template.value``), any other
        renders text. Not a message: a holdout or global-control customer's profile is updated too. Its ``consent``
        names are withdrawn as an ``unsubscribed`` event of the decision time withdraws them (a later consent event
        wins; ``Result.consent_changed`` tells the adapters; the step's ``step`` transition lists those it withdrew,
        ``withdrawn``, for the journey analytics: a name withdrawn already is not listed), but not a holdout's or global-control customer's: the
        withdrawal acts on the customer as a message does (their mail stops), and they were sent no last chance to
        stay (a sunset flow's "still want our mail?"), nor would a holdout measure the journey's effect. A template
        that cannot render, a number it gives or an increment makes outside the 64-bit range (or not finite), or
        an increment of a trait that holds no number, writes nothing of the step (a transition ``skipped``,
        reason ``render_error``, ``out_of_range`` or ``not_a_number``), and the instance goes on."""
        action = step.update
        assert action is not None
        values: dict[str, Any] = {}
        ctx: dict[str, Any] | None = None
        total = 0
        try:
            for name, value in action.traits:
                if isinstance(value, Template):
                    if ctx is None:
                        ctx = run.ctx(ev_view, inst, j, self._reads[id(step)])
                        ctx["now"] = DecisionTime(run.now)  # as a send's: `{{ now }}` is the decided_at text
                    got = value.value(ctx)  # a lone `{{ expr }}` keeps its type (Template.value)
                    if type(got) is str:
                        total += len(got)
                    elif (type(got) is int or type(got) is float) and not _holdable(got):
                        run.note("skipped", inst, step.id, inst.variant, None, "out_of_range")  # (`times`, "inf")
                        return
                    values[name] = got
                else:
                    values[name] = value
            if total > MAX_CONTENT_CHARS:
                raise RenderError(f"limit: the traits render to {total} characters; at most {MAX_CONTENT_CHARS} "
                                  "per update")
        except RenderError:
            run.note("skipped", inst, step.id, inst.variant, None, "render_error")
            return
        if action.increment:
            mine = run.profile.traits
            for name, by in action.increment:
                was = mine.get(name)
                if was is None:
                    values[name] = by
                elif type(was) is int or type(was) is float:  # (not bool: True + 1 is 2)
                    added = was + by
                    if not _holdable(added):
                        run.note("skipped", inst, step.id, inst.variant, None, "out_of_range")
                        return
                    values[name] = added
                else:  # text, a list...: nothing to add to (the producer's "3" is not 3); none of the step written
                    run.note("skipped", inst, step.id, inst.variant, None, "not_a_number")
                    return
        limited = update_traits(run.profile, values) if values else 0
        if action.consent and not inst.holdout and not self._global_control(run.profile):
            withdrew: list[str] = []
            for name in action.consent:  # (one at a time: the journey event names those it withdrew)
                bits = withdraw_consent(run.profile, (name,), run.now)
                if bits & CONSENT_CHANGED:
                    withdrew.append(name)
                limited |= bits & LIMITED_ALL
            if withdrew:
                run.result.consent_changed = True
                said = run.result.transitions[-1]  # the step's own (_run notes it just before running it)
                if said.kind == "step" and said.step == step.id and said.instance == inst.instance_id:
                    said.withdrawn = tuple(sorted(withdrew))
        if limited:
            run.result.limited |= limited
        run.profile_changed()  # a branch after it reads the traits as written
        run.updated = True

    def _global_control(self, p: Profile) -> bool:
        """The customer is in the global control group: no customer-facing send from any journey."""
        share = self.policies.global_control
        return share > 0 and _bucket("global_control", p.customer_id) * 100 < share

    def _throttled(self, run: _Run, j: Journey, step: Step, customer_facing: bool) -> float | None:
        """None if the send may go now (counted against its throttles), else when to try it again."""
        action = step.send
        assert action is not None
        now, throttles, share = run.now, run.throttles, self.throttle_share
        step_key = None
        if action.throttle is not None:
            step_key = f"{j.id}/{step.id}"
            later = throttles.admit(step_key, action.throttle.max * share, action.throttle.per, now)
            if later is not None:
                return later
        if j.throttle is not None and customer_facing:
            later = throttles.admit(j.id, j.throttle.max * share, j.throttle.per, now)
            if later is not None:
                if step_key is not None and action.throttle is not None:
                    throttles.refund(step_key, now, action.throttle.per)
                return later
        return None

    # ---------------------------------------------------------------- sends and policies
    def _send(self, run: _Run, inst: Instance, j: Journey, step: Step, ev_view: dict[str, Any]) -> bool:
        """Decide one send: emit a command or a skip and return True, or park (quiet hours, throttle: False)."""
        action = step.send
        assert action is not None
        p = run.profile
        channel = action.channel
        now = run.now
        if self._paused(j, now):  # held, not decided: it is decided (content, consent, caps) once the journey is live again
            run.note("deferred", inst, step.id, inst.variant, channel, "journey_paused")
            self._park(run, inst, j, "paused", now + self.paused_recheck)
            return False
        did = delivery_id(j.id, j.version, p.customer_id, inst.instance_id, f"{step.id}@{inst.seq}")
        customer_facing = channel in self.customer_channels
        ctx = run.ctx(ev_view, inst, j, self._reads[id(step)])
        ctx["now"] = DecisionTime(now)  # the number conditions see, output as decided_at is: `{{ now }}`
        failed: RenderError | None = None  # a template that cannot render skips this send (render_error)
        to: str | None
        if action.to is not None:
            try:
                to = action.to.render(ctx) or None
            except RenderError as e:
                to, failed = None, e
        elif channel == "in_app":
            to = p.customer_id
        elif channel in self._address_traits:
            addr = p.traits.get(self._address_traits[channel])
            to = str(addr) if addr not in (None, "") else None
        else:
            to = None
        reason: str | None = None
        # a transactional send (a password reset, a receipt: asked for) is held back by no global control,
        # consent, quiet hours or frequency cap, and counts toward no cap (a holdout has none: refused at load)
        held = customer_facing and not action.transactional
        if inst.holdout:
            reason = "holdout"
        elif held and self._global_control(p):
            reason = "global_control"
        elif failed is not None:
            reason = "render_error"
        elif customer_facing:
            consent = consent_of(p, channel) if held else True  # its own, or one given for every channel if later
            if consent is False or (consent is not True and channel in self._opt_in_channels):
                reason = "no_consent"
            elif action.topic is not None and held and not self._subscribed(p, action.topic):
                reason = "no_consent"
            elif to is None:
                reason = "no_address"
            elif p.undeliverable and bounced_address(p, channel, to):
                # the address hard-bounced: mailing it again hurts the sender's reputation (an ESP suppresses it,
                # a transactional message too: it cannot arrive); another address (a new trait) is sent to
                reason = "undeliverable"
            elif held:
                quiet_end = self._quiet_until(p, channel, now)
                if quiet_end is not None:
                    run.note("deferred", inst, step.id, inst.variant, channel, "quiet_hours")
                    self._park(run, inst, j, "quiet", quiet_end)
                    return False
                if self._capped(p, channel, now):
                    reason = "frequency_cap"
        if reason is None and (action.throttle is not None or j.throttle is not None):
            later = self._throttled(run, j, step, customer_facing)
            if later is not None:  # over the limit: waits for the next window, in the order deferred
                run.note("deferred", inst, step.id, inst.variant, channel, "throttle")
                self._park(run, inst, j, "throttle", later)
                return False
        decided_at = format_ts(now)
        content: dict[str, str] = {}
        if reason is None:
            try:
                content = render_content(action.content, ctx)
            except RenderError as e:
                reason, failed = "render_error", e
        if reason is not None:
            run.result.skips.append(SkipRecord(
                delivery_id=did, customer_id=p.customer_id, journey=j.id, journey_version=j.version,
                step=step.id, channel=channel, reason=reason, triggered_by=run.triggered_by,  # type: ignore[arg-type]
                decided_at=decided_at, instance_id=inst.instance_id, variant=inst.variant,
                detail=failed.reason[:200] if failed is not None and reason == "render_error" else None))
            run.note("skipped", inst, step.id, inst.variant, channel, reason, did)
            return True
        # a push goes to every device the customer has a token of (the one used last is ``to``)
        also = list(p.devices) if channel == "push" and action.to is None and to is not None and p.devices else None
        cmd = DeliveryCommand(
            delivery_id=did, customer_id=p.customer_id, journey=j.id, journey_version=j.version, step=step.id,
            channel=channel, to=to, content=content, triggered_by=run.triggered_by,
            decided_at=decided_at, instance_id=inst.instance_id, variant=inst.variant,
            expires_at=format_ts(now + action.expires_in) if action.expires_in else None, also_to=also)
        if action.transactional:  # (set after: a keyword more costs every command's construction)
            cmd.transactional = True
        if action.topic is not None:
            cmd.topic = action.topic
        run.result.commands.append(cmd)
        run.note("sent", inst, step.id, inst.variant, channel, delivery=did)
        if held:
            self._log_send(p, channel, now)
        return True

    def _paused(self, j: Journey, at: float) -> bool:
        """Whether ``j``'s file says ``status: paused`` and ``at`` is a decision time it applies to (replay: from
        ``--since``; :attr:`paused_from`)."""
        return j.paused and at >= self.paused_from

    def _shut(self, j: Journey, at: float) -> bool:
        """Whether nobody may enter ``j`` at ``at``: its file says ``status: paused`` or ``closed`` (from
        :attr:`paused_from` on, as a pause: replay's warm-up is history from before the closing)."""
        return (j.paused or j.closed) and at >= self.paused_from

    def _subscribed(self, p: Profile, topic: str) -> bool:
        """Whether the customer may get a message of ``topic``: its own consent, or the one given for every channel
        and topic when that was given later; with neither, the topic's default (``opt_in``: not subscribed)."""
        consent = consent_of(p, topic)
        return consent is True or (consent is None and topic not in self._opt_in_topics)

    def _quiet_until(self, p: Profile, channel: str, now: float) -> float | None:
        """End of the quiet period ``now`` falls in for this channel, or None when sending is fine."""
        rules = self._quiet_rules.get(channel)
        if rules is None:
            rules = self._quiet_rules[channel] = tuple(q for q in self.policies.quiet_hours if channel in q.channels)
        if not rules:
            return None
        tz = customer_zone(p, self.policies.default_timezone)
        minutes = local_minutes(now, tz)
        ends = [next_time_of_day(now, tz, q.end // 60, q.end % 60)
                for q in rules if in_window(minutes, q.start, q.end)]
        return max(ends) if ends else None

    def _capped(self, p: Profile, channel: str, now: float) -> bool:
        sends = p.sends
        for capped, per, most in self._caps:
            if capped != "all" and capped != channel:
                continue
            since = now - per
            if capped == "all":
                n = sum(1 for t, _ in sends if t > since)
            else:
                n = sum(1 for t, ch in sends if t > since and ch == channel)
            if n >= most:
                return True
        return False

    def _log_send(self, p: Profile, channel: str, now: float) -> None:
        if not self._send_log_window:
            return  # no caps configured: no need to remember sends
        p.sends.append((int(now), channel))
        self._trim_sends(p, now)

    def _trim_sends(self, p: Profile, now: float) -> None:
        """Keep the sends some cap can still count: within its window and among the newest ``max`` it counts.

        Bounded by the caps rather than by a length for all channels together, so a busy channel (dozens of
        in-app messages) never pushes out the email sends an email cap must count, and a cap above 64 holds.
        """
        sends = p.sends
        if len(sends) <= self._fewest_capped:  # (most customers) no cap holds more sends than it may keep
            windows = self._cap_windows
            kept: list[tuple[int, str]] = []
            for s in sends:
                per = windows.get(s[1])
                if per is None:
                    per = windows[s[1]] = max((c.per for c in self.policies.frequency_caps
                                               if c.channel == "all" or c.channel == s[1]), default=0.0)
                if s[0] > now - per:
                    kept.append(s)
            p.sends = sorted(kept)
            return
        keep = [False] * len(sends)
        newest_first = sorted(range(len(sends)), key=lambda k: sends[k][0], reverse=True)  # late sends too
        for cap in self.policies.frequency_caps:
            since, left = now - cap.per, cap.max
            for i in newest_first:
                if left <= 0:
                    break
                t, ch = sends[i]
                if t > since and (cap.channel == "all" or cap.channel == ch):
                    keep[i] = True
                    left -= 1
        p.sends = sorted(s for s, k in zip(sends, keep, strict=True) if k)
