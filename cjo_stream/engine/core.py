"""The pure journey engine: ``(profile, event | timer, now) -> (profile, commands, skips, timers)``.

No I/O, no wall clock, no randomness: the same inputs always give the same outputs, which is what lets
one core power the live workers, the offline simulator and replays (and makes ``delivery_id`` stable).
The caller owns storage: it persists the returned profile, stores the returned timers and calls
:meth:`Engine.fire` when they are due.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from cjo_stream.commands import (
    ADDRESS_TRAIT,
    CUSTOMER_CHANNELS,
    DeliveryCommand,
    SkipRecord,
    delivery_id,
)
from cjo_stream.engine.clock import customer_zone, in_window, local_minutes, next_time_of_day
from cjo_stream.engine.types import Result, Timer, TimerKind, Transition
from cjo_stream.events import Event, format_ts
from cjo_stream.journeys.expressions import truthy
from cjo_stream.journeys.model import END, Journey, Matcher, Step
from cjo_stream.journeys.policies import Policies
from cjo_stream.journeys.templates import RenderError, render_content
from cjo_stream.profile import SEND_LOG_MAX, Instance, Profile, apply_event

#: Safety net only: the loader refuses cycles without a wait, so a run can never get near this.
_MAX_STEPS_PER_RUN = 1000


def _bucket(*parts: str) -> float:
    """A deterministic number in [0, 1) from the given parts (stable across processes and versions)."""
    h = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _entry_snapshot(ev_view: dict[str, Any], ts: float, j: Journey) -> dict[str, Any]:
    """What an instance keeps of its entry event: only what its steps can read (see journeys.snapshot)."""
    return j.snapshot.take(ev_view, int(ts))


def _snapshot_view(snap: dict[str, Any], j: Journey) -> dict[str, Any]:
    view = dict(snap)
    view["event"] = view["name"] = j.entry.event  # the entry event's name is the journey's entry event
    view["timestamp"] = format_ts(snap.get("ts", 0))
    view.setdefault("properties", {})
    view.setdefault("context", {})
    return view


class _Run:
    """Scratch state of one process/fire call: the result being built and lazily built views."""

    __slots__ = ("engine", "profile", "now", "result", "_profile_view", "triggered_by")

    def __init__(self, engine: Engine, profile: Profile, now: float, triggered_by: str) -> None:
        self.engine = engine
        self.profile = profile
        self.now = now
        self.result = Result(profile)
        self._profile_view: dict[str, Any] | None = None
        self.triggered_by = triggered_by

    def ctx(self, event_view: dict[str, Any], inst: Instance | None, journey: Journey) -> dict[str, Any]:
        if self._profile_view is None:
            self._profile_view = self.profile.view()
        jv: dict[str, Any] = {"id": journey.id, "version": journey.version}
        if inst is not None:
            jv.update(instance_id=inst.instance_id, entered_at=format_ts(inst.entered_at),
                      variant=inst.variant, step=inst.step, holdout=inst.holdout)
        return {"event": event_view, "profile": self._profile_view, "journey": jv, "now": self.now}

    def note(self, t: Transition) -> None:
        self.result.transitions.append(t)


class Engine:
    """Runs compiled journeys under delivery policies. Thread-compatible, holds no customer state."""

    def __init__(self, journeys: Iterable[Journey], policies: Policies | None = None) -> None:
        self.policies = policies or Policies()
        self.versions: dict[tuple[str, int], Journey] = {}
        self.current: dict[str, Journey] = {}
        for j in journeys:
            self.versions[(j.id, j.version)] = j
            if j.id not in self.current or j.version > self.current[j.id].version:
                self.current[j.id] = j
        self.by_entry_event: dict[str, list[Journey]] = {}
        for j in sorted(self.current.values(), key=lambda j: j.id):
            self.by_entry_event.setdefault(j.entry.event, []).append(j)
        window = self.policies.send_log_window
        self._send_log_window = window

    # ---------------------------------------------------------------- public API
    def process(self, profile: Profile, event: Event, now: float) -> Result:
        """Apply one event: update the profile, advance active instances, start new ones."""
        run = _Run(self, profile, now, event.message_id)
        apply_event(profile, event)
        ev_view: dict[str, Any] | None = None
        for jid in sorted(profile.instances):
            inst = profile.instances[jid]
            j = self._journey_for(inst)
            if j is None or now >= inst.deadline:
                self._end(run, inst, j, "expired")
                continue
            if not self._touches(j, inst, event.name):
                continue
            if ev_view is None:
                ev_view = event.view()
            if j.goal is not None and self._matches(run, j.goal, event, ev_view, inst, j):
                self._end(run, inst, j, "converted")
                continue
            if any(self._matches(run, m, event, ev_view, inst, j) for m in j.exit_on):
                self._end(run, inst, j, "exited")
                continue
            if inst.waiting == "wait_for":
                step = j.steps[inst.step]
                assert step.wait_for is not None
                if self._matches(run, step.wait_for, event, ev_view, inst, j):
                    inst.seq += 1  # the pending timeout timer becomes stale
                    inst.waiting, inst.due = None, None
                    self._run(run, inst, j, step.next, ev_view)
        # An instance that ended on this very event leaves its journey free: the event may start a new
        # one (re_entry permitting), e.g. every order restarting a win-back watch.
        for j in self.by_entry_event.get(event.name, ()):
            if j.id in profile.instances or not self._may_enter(profile, j, now):
                continue
            if ev_view is None:
                ev_view = event.view()
            if not self._matches(run, j.entry, event, ev_view, None, j):
                continue
            self._enter(run, j, event, ev_view)
        return run.result

    def fire(self, profile: Profile, timer: Timer, now: float) -> Result:
        """Wake an instance whose timer is due. Stale timers (the instance moved on) change nothing."""
        run = _Run(self, profile, now, f"timer:{timer.key}")
        inst = profile.instances.get(timer.journey)
        if inst is None or inst.instance_id != timer.instance_id or inst.seq != timer.seq:
            return run.result
        j = self._journey_for(inst)
        if j is None or now >= inst.deadline:
            self._end(run, inst, j, "expired")
            return run.result
        step = j.steps[inst.step]
        ev_view = _snapshot_view(inst.entry_event, j)
        waiting = inst.waiting
        inst.waiting, inst.due = None, None
        if waiting == "quiet":
            if self._send(run, inst, j, step, ev_view):
                self._run(run, inst, j, step.next, ev_view)
        elif waiting == "wait_for":
            self._run(run, inst, j, step.on_timeout, ev_view)
        else:
            self._run(run, inst, j, step.next, ev_view)
        return run.result

    # ---------------------------------------------------------------- instances
    def _journey_for(self, inst: Instance) -> Journey | None:
        """The definition an instance runs on: the version it entered with.

        If that version is no longer loaded, the instance continues on the current version when its
        current step still exists there; otherwise it ends (transition ``expired``, reason
        ``version_unavailable``).
        """
        j = self.versions.get((inst.journey, inst.version))
        if j is not None:
            return j
        cur = self.current.get(inst.journey)
        if cur is not None and inst.step in cur.steps:
            return cur
        return None

    @staticmethod
    def _touches(j: Journey, inst: Instance, name: str) -> bool:
        if j.goal is not None and j.goal.event == name:
            return True
        if any(m.event == name for m in j.exit_on):
            return True
        if inst.waiting == "wait_for":
            wf = j.steps[inst.step].wait_for
            return wf is not None and wf.event == name
        return False

    def _matches(self, run: _Run, m: Matcher, event: Event, ev_view: dict[str, Any],
                 inst: Instance | None, j: Journey) -> bool:
        if m.event != event.name:
            return False
        return m.when is None or truthy(m.when(run.ctx(ev_view, inst, j)))

    @staticmethod
    def _may_enter(p: Profile, j: Journey, now: float) -> bool:
        last = p.entered.get(j.id)
        if last is None or j.re_entry == "always":
            return True
        if j.re_entry == "after":
            return now - last >= j.re_entry_after
        return False

    def _enter(self, run: _Run, j: Journey, event: Event, ev_view: dict[str, Any]) -> None:
        p = run.profile
        now = run.now
        iid = hashlib.blake2b(f"{j.id}\x1f{p.customer_id}\x1f{event.message_id}".encode(),
                              digest_size=8).hexdigest()
        holdout = j.holdout > 0 and _bucket(j.id, p.customer_id, "holdout") * 100 < j.holdout
        inst = Instance(journey=j.id, version=j.version, instance_id=iid, step=j.first, entered_at=int(now),
                        deadline=int(now + j.max_duration), entry_event=_entry_snapshot(ev_view, event.ts, j),
                        holdout=holdout)
        p.instances[j.id] = inst
        p.entered.pop(j.id, None)  # while active, the instance holds the entry time (profile.entered)
        run.note(Transition(j.id, "entered"))
        if holdout:
            run.note(Transition(j.id, "holdout"))
        self._run(run, inst, j, j.first, ev_view)

    def _end(self, run: _Run, inst: Instance, j: Journey | None, kind: str) -> None:
        run.profile.instances.pop(inst.journey, None)
        run.profile.entered[inst.journey] = inst.entered_at
        reason = "version_unavailable" if j is None else None
        run.note(Transition(inst.journey, kind, step=inst.step, variant=inst.variant, reason=reason))  # type: ignore[arg-type]

    def _park(self, run: _Run, inst: Instance, kind: TimerKind, due: float) -> None:
        inst.seq += 1
        inst.waiting = kind
        inst.due = min(due, inst.deadline)  # an instance never outlives max_duration
        run.result.timers.append(Timer(run.profile.customer_id, inst.journey, inst.instance_id, inst.seq,
                                       inst.due, kind))

    def _run(self, run: _Run, inst: Instance, j: Journey, target: str, ev_view: dict[str, Any]) -> None:
        """Walk steps from ``target`` until the instance waits or ends."""
        for _ in range(_MAX_STEPS_PER_RUN):
            if target == END:
                self._end(run, inst, j, "ended")
                return
            step = j.steps[target]
            inst.step = target
            run.note(Transition(j.id, "step", step=target, variant=inst.variant))
            kind = step.kind
            if kind == "send":
                if not self._send(run, inst, j, step, ev_view):
                    return  # deferred by quiet hours: parked
                target = step.next
            elif kind == "wait":
                self._park(run, inst, "wait", run.now + step.seconds)
                return
            elif kind == "wait_until":
                assert step.time_of_day is not None
                tz = customer_zone(run.profile, self.policies.default_timezone)
                self._park(run, inst, "wait", next_time_of_day(run.now, tz, *step.time_of_day))
                return
            elif kind == "wait_for":
                self._park(run, inst, "wait_for", run.now + step.seconds)
                return
            elif kind == "branch":
                target = step.next
                ctx = run.ctx(ev_view, inst, j)
                for cond, nxt in step.branch:
                    if cond is None or truthy(cond(ctx)):
                        target = nxt
                        break
            else:  # split: sticky per (journey, customer) across re-entries
                b = _bucket(j.id, run.profile.customer_id, step.id)
                arm = next(a for a in step.split if b < a.upper)
                inst.variant = arm.variant
                run.note(Transition(j.id, "variant", step=step.id, variant=arm.variant))
                target = arm.next
        self._end(run, inst, j, "ended")

    # ---------------------------------------------------------------- sends and policies
    def _send(self, run: _Run, inst: Instance, j: Journey, step: Step, ev_view: dict[str, Any]) -> bool:
        """Decide one send: emit a command or a skip and return True, or park for quiet hours (False)."""
        action = step.send
        assert action is not None
        p = run.profile
        channel = action.channel
        now = run.now
        did = delivery_id(j.id, j.version, p.customer_id, inst.instance_id, f"{step.id}@{inst.seq}")
        customer_facing = channel in CUSTOMER_CHANNELS
        ctx = run.ctx(ev_view, inst, j)
        failed: RenderError | None = None  # a template that cannot render skips this send (render_error)
        to: str | None
        if action.to is not None:
            try:
                to = action.to.render(ctx) or None
            except RenderError as e:
                to, failed = None, e
        elif channel == "in_app":
            to = p.customer_id
        elif channel in ADDRESS_TRAIT:
            addr = p.traits.get(ADDRESS_TRAIT[channel])
            to = str(addr) if addr not in (None, "") else None
        else:
            to = None
        reason: str | None = None
        if inst.holdout:
            reason = "holdout"
        elif failed is not None:
            reason = "render_error"
        elif customer_facing:
            consent = p.consent.get(channel)
            if consent is False or (self.policies.consent == "opt_in" and consent is not True):
                reason = "no_consent"
            elif to is None:
                reason = "no_address"
            else:
                quiet_end = self._quiet_until(p, channel, now)
                if quiet_end is not None:
                    run.note(Transition(j.id, "deferred", step=step.id, variant=inst.variant, channel=channel))
                    self._park(run, inst, "quiet", quiet_end)
                    return False
                if self._capped(p, channel, now):
                    reason = "frequency_cap"
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
            run.note(Transition(j.id, "skipped", step=step.id, variant=inst.variant, channel=channel, reason=reason))
            return True
        run.result.commands.append(DeliveryCommand(
            delivery_id=did, customer_id=p.customer_id, journey=j.id, journey_version=j.version, step=step.id,
            channel=channel, to=to, content=content, triggered_by=run.triggered_by,  # type: ignore[arg-type]
            decided_at=decided_at, instance_id=inst.instance_id, variant=inst.variant,
            expires_at=format_ts(now + action.expires_in) if action.expires_in else None))
        run.note(Transition(j.id, "sent", step=step.id, variant=inst.variant, channel=channel))
        if customer_facing:
            self._log_send(p, channel, now)
        return True

    def _quiet_until(self, p: Profile, channel: str, now: float) -> float | None:
        """End of the quiet period ``now`` falls in for this channel, or None when sending is fine."""
        rules = [q for q in self.policies.quiet_hours if channel in q.channels]
        if not rules:
            return None
        tz = customer_zone(p, self.policies.default_timezone)
        minutes = local_minutes(now, tz)
        ends = [next_time_of_day(now, tz, q.end // 60, q.end % 60)
                for q in rules if in_window(minutes, q.start, q.end)]
        return max(ends) if ends else None

    def _capped(self, p: Profile, channel: str, now: float) -> bool:
        for cap in self.policies.frequency_caps:
            since = now - cap.per
            if cap.channel == "all":
                n = sum(1 for t, _ in p.sends if t > since)
            elif cap.channel == channel:
                n = sum(1 for t, ch in p.sends if t > since and ch == channel)
            else:
                continue
            if n >= cap.max:
                return True
        return False

    def _log_send(self, p: Profile, channel: str, now: float) -> None:
        if not self._send_log_window:
            return  # no caps configured: no need to remember sends
        since = now - self._send_log_window
        p.sends = [s for s in p.sends if s[0] > since][-(SEND_LOG_MAX - 1):]
        p.sends.append((int(now), channel))
