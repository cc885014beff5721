"""Load and validate journey files and policies into compiled, runnable journeys.

Every problem is reported as ``file:line: reason`` and a file with any problem is refused whole:
a half-understood journey must never run against customers.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from cjo_stream.commands import ALL_CHANNELS
from cjo_stream.event_types import INT_MAX, INT_MIN  # a profile holds events' integers (msgpack)
from cjo_stream.journeys.catalog_refs import catalog_problems
from cjo_stream.journeys.catalogs import Catalogs, catalog_rows, load_catalogs
from cjo_stream.journeys.durations import parse_duration, parse_time_of_day
from cjo_stream.journeys.expressions import Expression, ExpressionError, compile_expression, instant_of
from cjo_stream.journeys.fields import unknown_field, unknown_root
from cjo_stream.journeys.foreign_names import expression_hint, foreign_hint
from cjo_stream.journeys.journey_warnings import journey_warnings
from cjo_stream.journeys.loops import MIN_LOOP, describe, quick_cycle, quick_loop, shortest_waits
from cjo_stream.journeys.model import (
    END,
    SCHEDULED,
    BestTime,
    Handover,
    Journey,
    Matcher,
    SendAction,
    SplitArm,
    Step,
    Throttle,
    TraitValue,
    UpdateAction,
)
from cjo_stream.journeys.policies import Policies, closest_channel, load_policies
from cjo_stream.journeys.schedule import Schedule, cron_problem
from cjo_stream.journeys.snapshot import snapshot_spec
from cjo_stream.journeys.source import (
    Located,
    Path,
    SourceError,
    load_yaml,
    parse_msgspec_path,
    re_entry_hint,
    read_source,
)
from cjo_stream.journeys.spec import (
    ACTIONS,
    EntrySpec,
    EventMatchSpec,
    ExitSpec,
    JourneySpec,
    ScheduleSpec,
    SendSpec,
    StepSpec,
    ThrottleSpec,
    UpdateSpec,
    WaitForSpec,
    WaitUntilSpec,
)
from cjo_stream.journeys.stages import Stages, load_stages
from cjo_stream.journeys.templates import RenderError, Template, TemplateError
from cjo_stream.profile_types import ALL_CHANNELS as PROFILE_ALL_CHANNELS
from cjo_stream.webhook_content import REQUEST_KEYS, headers_of, method_of
from cjo_stream.zone_notes import unknown_zone_reason
from cjo_stream.zones import zone

#: Policies with no declared channel: a journey loaded alone may send on built-in channels only.
_BUILT_IN = Policies()

#: Expression roots available at entry time (there is no instance yet, but ``journey.id`` is known).
_ALLOWED_ROOTS = frozenset({"event", "profile", "journey", "now"})


class JourneyLoadError(ValueError):
    """One or more files were refused; ``problems`` lists every ``file:line: reason``."""

    def __init__(self, problems: list[SourceError], warnings: list[str] | None = None) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
        self.warnings = warnings or []  # as Topology.warnings: shown with the problems, not counted among them


@dataclass
class Topology:
    """Everything loaded from a ``topologies/`` directory."""

    journeys: list[Journey]
    policies: Policies = field(default_factory=Policies)
    root: str = ""
    stages: Stages | None = None  # lifecycle stages (stages.yaml), if any
    #: What loads but is likely not what the author meant (``path[:line]: warning: reason``, one line each):
    #: the command line prints them to stderr; they refuse nothing.
    warnings: list[str] = field(default_factory=list)
    #: ``catalogs/<name>.jsonl``: rows journeys look up by id (journeys.catalogs); each journey holds them too
    catalogs: Catalogs = field(default_factory=dict)


def loaded_text(journeys: Iterable[Journey]) -> str:
    """``3 journeys`` or, with versions kept beside the current ones, ``3 journeys (4 versions)``: the workers'
    and the analytics service's first line counted versions as journeys (``4 journeys loaded`` for three, with
    ``abandoned_cart.v1.yaml`` kept for the customers in it; a walkthrough); then the versions paused and those
    closed, if any, and the catalogs."""
    versions = list(journeys)
    n = len({j.id for j in versions})
    text = f"{n} journey{'' if n == 1 else 's'}"
    text = text if len(versions) == n else f"{text} ({len(versions)} versions)"
    paused = sorted({f"{j.id} v{j.version}" for j in versions if j.paused})  # a pause left in place is seen
    text += f" (paused: {', '.join(paused)})" if paused else ""
    closed = sorted({f"{j.id} v{j.version}" for j in versions if j.closed})  # so is a journey closed, not removed
    text += f" (closed: {', '.join(closed)})" if closed else ""
    catalogs = next((j.catalogs for j in versions if j.catalogs), None)  # (every journey holds the same)
    if catalogs:
        rows = sum(catalog_rows(t) for t in catalogs.values())
        text += f", {len(catalogs)} catalog{'' if len(catalogs) == 1 else 's'} ({rows:,} row{'' if rows == 1 else 's'})"
    return text


class _Compiler:
    def __init__(self, src: Located, policies: Policies) -> None:
        self.src = src
        self.policies = policies  # the channels a send may name
        self.problems: list[SourceError] = []

    def fail(self, path: Path, reason: str) -> None:
        self.problems.append(self.src.error(path, reason))

    def expr(self, text: str | None, path: Path, event: str | None = None) -> Expression | None:
        """``text`` compiled, its problems told at ``path``; ``event``: the event a condition is matched against,
        if one."""
        if text is None:
            return None
        text = str(text)
        try:
            e = compile_expression(text)
        except ExpressionError as err:
            self.problems.append(self.src.error_at(path, text, err.column - 1, f"bad expression {text.strip()!r}: "
                                                   f"{err}{expression_hint(text, err.column - 1)}"))
            return None
        for root, keys in sorted(e.paths, key=repr):
            if (why := unknown_field(root, keys)) is not None:
                self.problems.append(self.src.error_at(path, text, text.find(".".join((root, *map(str, keys)))),
                                                       f"bad expression {text.strip()!r}: {why}"
                                                       f"{foreign_hint(root, keys, liquid=False)}"))
                return None
        if event == "group" and any(root == "event" and keys[:1] == ("traits",) for root, keys in e.paths):
            # Segment's group call carries the group's traits as `traits`; read as event.traits they were null for
            # every call, silently: the condition never held
            self.problems.append(self.src.error_at(path, text, text.find("event.traits"), (
                f"bad expression {text.strip()!r}: a group call's traits are event.properties.traits (they describe "
                "the group, so they stay off the profile and event.traits is empty)")))
            return None
        return e

    def duration(self, text: object, path: Path) -> float:
        try:
            return parse_duration(text)
        except ValueError as e:
            self.fail(path, str(e))
            return 1.0

    def template(self, text: str, path: Path) -> Template:
        try:
            tpl = Template(text)
        except TemplateError as e:
            line = self.src.text_line(path, text, e.index)
            self.problems.append(SourceError(self.src.file, line, f"{path[-1]}: {e.reason}"))
            return Template("")
        # every misspelt name of the field, not only the first (an author fixed and re-ran once per name)
        found: list[tuple[int, str]] = []
        for root in sorted(tpl.roots() or ()):  # (None: a computed first key, which cannot be told)
            if (why := unknown_root(root)) is not None:
                first = min(tpl.paths(root), key=lambda keys: tpl.index_of(root, keys), default=())
                hint = foreign_hint(root, first, liquid=True)
                if not hint and not first and "did you mean" not in why:  # `{{ first_name }}`, as Mailchimp's
                    hint = f"; a trait is {{{{ profile.traits.{root} }}}}, an event's property " \
                           f"{{{{ event.properties.{root} }}}}"
                found.append((tpl.index_of(root, None), why + hint))
                continue
            for keys in sorted(tpl.paths(root), key=repr):
                if (why := unknown_field(root, keys, liquid=True)) is not None:
                    found.append((tpl.index_of(root, keys), why + foreign_hint(root, keys, liquid=True)))
        seen: set[str] = set()
        for index, why in sorted(found):
            if why not in seen:
                seen.add(why)
                line = self.src.text_line(path, text, index)
                self.problems.append(SourceError(self.src.file, line, f"{path[-1]}: template: {why}"))
        return Template("") if found else tpl

    def profile_condition(self, text: str, path: Path, what: str, why: str) -> Expression | None:
        """A condition on the profile alone (``wait_for``'s and ``exit_on``'s ``condition``), tested when no event
        is at hand: one reading ``event`` is refused, saying ``why``."""
        cond = self.expr(text, path)
        if cond is not None:
            for root, keys in sorted(cond.paths, key=repr):
                if root == "event":
                    read = ".".join(map(str, (root, *keys)))
                    self.fail(path, f"{what} reads the profile, not {read}: it is tested {why}")
                    return None
        return cond

    def matcher(self, spec: EventMatchSpec, path: Path) -> Matcher:
        return Matcher(spec.event, self.expr(spec.when, (*path, "when"), spec.event))

    def throttle(self, spec: ThrottleSpec | None, path: Path) -> Throttle | None:
        if spec is None:
            return None
        return Throttle(spec.max, self.duration(spec.per, (*path, "per")))

    def entry(self, spec: EntrySpec) -> tuple[Matcher, Schedule | None]:
        when = self.expr(spec.when, ("entry", "when"), spec.event)
        if (spec.event is None) == (spec.schedule is None):
            self.fail(("entry",), "entry needs exactly one of `event` (an event starts it) or `schedule` "
                                  "(every known customer, on a schedule)")
            return Matcher(spec.event or SCHEDULED, when), None
        if spec.schedule is None:
            assert spec.event is not None
            return Matcher(spec.event, when), None
        return Matcher(SCHEDULED, when), self.schedule(spec.schedule)

    def schedule(self, spec: ScheduleSpec) -> Schedule | None:
        path: Path = ("entry", "schedule")
        if (spec.every is None) == (spec.cron is None):
            self.fail(path, "a schedule has `every` (with an optional `at`) or `cron`, not both or neither")
            return None
        if spec.cron is not None:
            if spec.at is not None:
                self.fail((*path, "at"), "`at` goes with `every`; a cron expression names its own time")
            problem = cron_problem(spec.cron)
            if problem:
                self.fail((*path, "cron"), problem)
                return None
            return Schedule(cron=spec.cron)
        every = self.duration(spec.every, (*path, "every"))
        at = None
        if spec.at is not None:
            try:
                at = parse_time_of_day(spec.at)
            except ValueError as e:
                self.fail((*path, "at"), str(e))
            if every % 86400:
                self.fail((*path, "every"), f"with `at`, every is a whole number of days (1d, 2d, 1w), not {spec.every!r}")
        elif every < 60:
            self.fail((*path, "every"), "a schedule comes round at most once a minute")
        return Schedule(every=every, at=at)


def _resolve(target: str | None, default: str, ids: set[str], comp: _Compiler, path: Path) -> str:
    if target is None:
        return default
    if target != END and target not in ids:
        import difflib

        close = difflib.get_close_matches(target, sorted(ids), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""  # a typo in the target or in the step's id
        comp.fail(path, f"unknown step {target!r}{hint}: use one of {sorted(ids)} or 'end'")
        return END
    return target


#: ``days:`` names (three letters or whole, any case) -> weekday (Monday 0), and the two sets a word names
_DAY_NAMES: Final = {name: i for i, day in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                                      "saturday", "sunday")) for name in (day, day[:3])}
_DAY_SETS: Final = {"weekdays": 0x1F, "weekend": 0x60}


def _days(days: list[str] | str, path: Path, comp: _Compiler) -> int:
    """A ``wait_until``'s ``days:`` as a bit mask (bit 0 Monday): ``[mon, fri]``, ``weekdays`` or ``weekend``, or a
    list mixing them (``[weekend, mon]``); a bad name is told at its own line."""
    listed = not isinstance(days, str)
    mask = 0
    for k, name in enumerate([days] if isinstance(days, str) else days):
        at = (*path, k) if listed else path
        key = name.lower() if isinstance(name, str) else None
        if key in _DAY_SETS:
            mask |= _DAY_SETS[key]
            continue
        i = _DAY_NAMES.get(key) if key is not None else None
        if i is None:
            parts = re.split(r"[\s,;/]+", str(name).strip().lower())
            if len(parts) > 1 and all(p in _DAY_NAMES or p in _DAY_SETS for p in parts):
                comp.fail(at, f"days: {name!r} is one text, not a list: write days: [{', '.join(parts)}]")
                return 0
            close = difflib.get_close_matches(str(name).lower(), [*_DAY_NAMES, *_DAY_SETS], n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            comp.fail(at, f"days: {name!r} is not a day{hint}: write mon, tue, wed, thu, fri, sat, sun (or the whole "
                          "name), a list of them, or weekdays / weekend")
            return 0
        mask |= 1 << i
    if not mask:
        comp.fail(path, "days: an empty list waits for no day: name at least one (mon ... sun), or leave days: out")
    return mask


def _data_time_wait(spec: WaitUntilSpec, step_id: str, nxt: str, ids: set[str], path: Path,
                    comp: _Compiler) -> Step:
    """``{time: profile.traits.appointment_at, before: 1d, at: "09:00", if_missing: end}``: until a moment the data
    names (Customer.io's "wait until a date attribute", Dittofeed's user-property delay, AJO's custom wait): the
    appointment reminder, the renewal notice. ``time`` is an expression read as the wait begins (with the trigger as
    ``event``) and again at each event of the customer (a rescheduled appointment moves the wait)."""
    assert spec.time is not None
    for key in ("best_time", "default", "within", "days", "until"):
        if getattr(spec, key) is not None:
            comp.fail((*path, key), f"{key}: does not go with time: (a moment the data names, moved by before: or "
                                    'after:, at a local time at: "09:00" if given)')
    text = str(spec.time)
    tpath = (*path, "time")
    expr = comp.expr(text, tpath)
    if expr is not None:
        try:  # what can never be a time, told as a date function's argument is (a count, an id, a literal)
            compile_expression(f"days_until({text})")
        except ExpressionError as e:
            said = str(e)
            if "takes a date or a time, not " in said:
                comp.fail(tpath, f"time: {text.strip()!r} is never a time: it is {said.split(', not ', 1)[1]} (give a "
                                 "trait or property holding one: epoch seconds, RFC 3339 or YYYY-MM-DD text, "
                                 "profile.last.<event> or event.timestamp)")
    if spec.before is not None and spec.after is not None:
        comp.fail((*path, "after"), "before: and after: move the moment one way: give one of them")
    shift = 0.0
    if spec.before is not None:
        shift = -comp.duration(spec.before, (*path, "before"))
    elif spec.after is not None:
        shift = comp.duration(spec.after, (*path, "after"))
    tod: tuple[int, int] | None = None
    if spec.at is not None:
        try:
            tod = parse_time_of_day(spec.at)
        except ValueError as e:
            comp.fail((*path, "at"), str(e))
    on_missing = _resolve(spec.if_missing, END, ids, comp, (*path, "if_missing"))
    return Step(step_id, "wait_until", nxt, time_of_day=tod, time=expr, shift=shift, on_missing=on_missing)


def _wait_until(spec: WaitUntilSpec, step_id: str, nxt: str, path: Path, comp: _Compiler) -> Step:
    """``{at, days}`` or ``{best_time, default, within}``: which fields go together, each told at its line."""
    for key in ("before", "after", "if_missing"):
        if getattr(spec, key) is not None:
            comp.fail((*path, key), f"{key}: goes with time: (a moment the data names, e.g. time: "
                                    "profile.traits.appointment_at)")
    if spec.best_time is not None:
        if spec.at is not None:
            comp.fail((*path, "at"), "at: and best_time: are two kinds of wait_until, a fixed local time or the "
                                     "customer's best hour (falling back to default:): give one of them")
        if spec.days is not None:
            comp.fail((*path, "days"), "days: goes with at: (the next such time on those days), not with best_time:")
        if spec.until is not None:
            comp.fail((*path, "until"), "until: goes with at: (a time window from at: to until:), not with best_time:")
        if spec.default is None:
            comp.fail(path, 'best_time needs default: "10:00", the local time used until the customer\'s opens and '
                            "clicks say better (missing required key `default`)")
            return Step(step_id, "wait_until", nxt, time_of_day=(0, 0))
        return Step(step_id, "wait_until", nxt, best_time=_best_time(spec, path, comp))
    for key in ("default", "within"):
        if getattr(spec, key) is not None:
            comp.fail((*path, key), f"{key}: goes with best_time: (the customer's best hour for a channel); a fixed "
                                    'time is at: "09:00"')
    if spec.at is None:
        comp.fail(path, 'wait_until needs at: "09:00" (the local time to wait for, with days: [mon, ...] for some days '
                        "only), or best_time: with default:")
        return Step(step_id, "wait_until", nxt, time_of_day=(0, 0))
    try:
        tod = parse_time_of_day(spec.at)
    except ValueError as e:
        comp.fail((*path, "at"), str(e))
        tod = (0, 0)
    days = _days(spec.days, (*path, "days"), comp) if spec.days is not None else 0
    return Step(step_id, "wait_until", nxt, time_of_day=tod, days=days,
                window_end=-1 if spec.until is None else _window_end(spec.until, tod, (*path, "until"), comp))


def _window_end(until: str, start: tuple[int, int], path: Path, comp: _Compiler) -> int:
    """``until:`` as minutes after midnight: where a time window ``[at, until)`` closes, later the same local day."""
    try:
        hour, minute = parse_time_of_day(until)
    except ValueError as e:
        comp.fail(path, str(e))
        return -1
    end = hour * 60 + minute
    if end <= start[0] * 60 + start[1]:
        comp.fail(path, f"until: {until!r} is not after at: {start[0]:02d}:{start[1]:02d}; a time window opens at at: "
                        "and closes at until: later the same local day (one across midnight, 22:00 to 06:00, is not "
                        "supported)")
        return -1
    return end


def _best_time(spec: WaitUntilSpec, path: Path, comp: _Compiler) -> BestTime:
    # a customer-facing channel, built in or declared: it learns from opens and clicks (internal channels have none)
    facing = comp.policies.customer_channels
    name = spec.best_time
    assert name is not None and spec.default is not None
    if name not in facing:
        declared = sorted(facing - ALL_CHANNELS)
        choices = ", ".join(sorted(facing & ALL_CHANNELS)) + (f", declared {', '.join(declared)}" if declared else "")
        if name in comp.policies.channel_names:
            comp.fail((*path, "best_time"), f"best_time: {name!r} is an internal channel, without opens or clicks to "
                                            f"learn from: use a customer-facing one ({choices})")
        else:
            comp.fail((*path, "best_time"), f"best_time: unknown channel {name!r}{closest_channel(name, facing)}: use a "
                                            f"customer-facing one ({choices}), or declare it under `channels:` in "
                                            "policies.yaml")
    try:
        default = parse_time_of_day(spec.default)
    except ValueError as e:
        comp.fail((*path, "default"), str(e))
        default = (0, 0)
    within_text = spec.within if spec.within is not None else "24h"
    within = comp.duration(within_text, (*path, "within"))
    if within > 7 * 86400:
        comp.fail((*path, "within"), f"within {within_text!r} is longer than 7d: a best time is an hour of the day")
    return BestTime(name, default, within)


def _wait_ways(spec: StepSpec, wf: WaitForSpec, following: str, ids: set[str], comp: _Compiler,
               path: Path) -> list[tuple[Matcher, str]]:
    """A wait_for's ways on by an event: its ``event`` (and ``when``) to ``on_event``, or one a path."""
    wpath = (*path, "wait_for")
    if wf.paths is None:
        if wf.event is None:
            comp.fail(wpath, "a wait_for needs `event` (with `on_event`), `paths` (each with its `event` and `next`) or "
                            "`condition` (with `next`)")
            return []
        on_event = _resolve(spec.on_event, following, ids, comp, (*path, "on_event"))
        return [(Matcher(wf.event, comp.expr(wf.when, (*wpath, "when"), wf.event)), on_event)]
    if wf.event is not None or wf.when is not None:
        comp.fail(wpath, "a wait_for has `event` (and `when`) or `paths`, not both: give each path its event")
    if spec.on_event is not None:
        comp.fail((*path, "on_event"), "a wait_for with paths goes on by each path's `next`, not on_event")
    ways: list[tuple[Matcher, str]] = []
    for k, way in enumerate(wf.paths):
        ppath = (*wpath, "paths", k)
        for j, (m, _) in enumerate(ways):
            if m.event == way.event and wf.paths[j].when is None:  # an earlier path takes every such event
                comp.fail((*ppath, "event"), f"this path is never taken: an earlier path takes every {way.event!r} "
                                             "event (it has no `when`); order the paths, or give the earlier a `when`")
                break
            if m.event == way.event and way.when is not None and wf.paths[j].when == way.when:
                # a copied path: the earlier one takes every event this one matches, so its `next` is dead
                comp.fail((*ppath, "event"), f"this path is never taken: path {j + 1} waits for the same "
                                             f"{way.event!r} event with the same `when`; remove one, or change its "
                                             "`when`")
                break
        ways.append((Matcher(way.event, comp.expr(way.when, (*ppath, "when"), way.event)),
                     _resolve(way.next, following, ids, comp, (*ppath, "next"))))
    return ways


def _exits(specs: list[ExitSpec], comp: _Compiler) -> tuple[tuple[Matcher, ...], tuple[int, ...],
                                                              tuple[tuple[int, Expression], ...]]:
    """``exit_on``'s items: those on an event and their places in the list, and those on a condition of the
    profile alone, with their places."""
    exits: list[Matcher] = []
    places: list[int] = []
    conditions: list[tuple[int, Expression]] = []
    for k, m in enumerate(specs):
        path: Path = ("exit_on", k)
        if m.condition is not None:
            if m.event is not None or m.when is not None:
                comp.fail(path, "an exit_on item has `event` (with its `when`) or `condition` (on the profile), not "
                                "both: make them two items")
                continue
            cond = comp.profile_condition(m.condition, (*path, "condition"), "an exit_on condition",
                                          "after each event and as a timer wakes the instance, when no event is at "
                                          "hand; to exit on an event, write `event:` and `when:`")
            if cond is not None:
                conditions.append((k, cond))
        elif m.event is None:
            comp.fail(path, "an exit_on item needs `event` (with an optional `when`) or `condition` (on the profile)")
        else:
            exits.append(Matcher(m.event, comp.expr(m.when, (*path, "when"), m.event)))
            places.append(k)
    return tuple(exits), tuple(places) if conditions else (), tuple(conditions)


def _condition_wait(spec: StepSpec, wf: WaitForSpec, nxt: str, following: str, ids: set[str], comp: _Compiler,
                    path: Path) -> Step | None:
    """``wait_for: {condition, timeout}``: until a condition on the profile holds (Customer.io's Wait Until), on by
    ``next`` then, by ``on_timeout`` when it never did. The condition reads the profile and the journey, not
    ``event``: it is tested as the wait begins too, when no event is awaited."""
    wpath = (*path, "wait_for")
    if wf.event is not None or wf.when is not None or wf.paths is not None:
        what = "`paths`" if wf.paths is not None else "`event`" if wf.event is not None else "`when`"
        comp.fail(wpath, f"a wait_for has `condition` (until it holds) or {what} (an event), not both: wait for the "
                         "event with its `when`, or for the condition alone")
        return None
    if spec.on_event is not None:
        comp.fail((*path, "on_event"), "a wait_for with a condition goes on by `next` when the condition holds (and "
                                       "by on_timeout when it never did), not on_event")
    assert wf.condition is not None
    cond = comp.profile_condition(wf.condition, (*wpath, "condition"), "a wait_for's condition", "as the wait "
                                  "begins too, with no event awaited; to wait for an event, write `event:` and `when:`")
    on_timeout = _resolve(spec.on_timeout, following, ids, comp, (*path, "on_timeout"))
    return Step(spec.id, "wait_for", nxt, seconds=comp.duration(wf.timeout, (*wpath, "timeout")),
                on_timeout=on_timeout, condition=cond, recheck=_recheck(wf, cond, comp, wpath))


#: how often a condition that can come true with no event is tested again while the customer is quiet
RECHECK_EVERY = 3600.0
_RECHECK_LEAST = 60.0


def _recheck(wf: WaitForSpec, cond: Expression | None, comp: _Compiler, wpath: Path) -> float:
    """A condition wait's :attr:`Step.recheck`: ``every`` (at least a minute), else :data:`RECHECK_EVERY` for a
    condition reading the time (``days_since(profile.first_seen) > 3``) or a catalog (a restock is loaded with
    the next deploy), which may come true while the customer sends nothing; 0 for one on the profile alone,
    which only an event of theirs can change (tested then)."""
    timed = cond is not None and ("now" in cond.roots or "catalogs" in cond.roots)
    if wf.every is None:
        return RECHECK_EVERY if timed else 0.0
    told = len(comp.problems)
    every = comp.duration(wf.every, (*wpath, "every"))
    if len(comp.problems) > told:  # not a duration ('hourly', '1h30m'): told once, as that
        return RECHECK_EVERY if timed else 0.0
    if cond is not None and not timed:
        comp.fail((*wpath, "every"), "`every` tests again a condition that reads the time or a catalog, which can "
                                     "come true with no event; this one reads neither: only the customer's events "
                                     "change it, and it is tested at each")
    elif every < _RECHECK_LEAST:
        comp.fail((*wpath, "every"), f"`every` is at least 1m (a timer per waiting customer that often), not "
                                     f"{wf.every}")
    else:
        try:
            timeout = parse_duration(wf.timeout)
        except ValueError:  # (told at the timeout)
            return every
        if every >= timeout:
            comp.fail((*wpath, "every"), f"`every: {wf.every}` is no shorter than the timeout, {wf.timeout}: the "
                                         "condition would never be tested again before it; leave `every` out (every "
                                         "1h) or make it shorter")
    return every


def _compile_step(spec: StepSpec, i: int, following: str, ids: set[str], comp: _Compiler) -> Step | None:
    path: Path = ("steps", i)
    actions = [a for a in ACTIONS if getattr(spec, a) is not None]
    if len(actions) != 1:
        what = ", ".join(actions) if actions else "none"
        comp.fail(path, f"step {spec.id!r} must have exactly one of {', '.join(ACTIONS)} (has {what})")
        return None
    kind = actions[0]
    if kind != "wait_for":
        for key in ("on_event", "on_timeout"):
            if getattr(spec, key) is not None:
                how = {"branch": "by its cases' next", "split": "by its variants' next"}.get(kind, "by next: <step>")
                article = "an" if kind[0] in "aeiou" else "a"  # (an update step, an enter step)
                comp.fail((*path, key), f"{key} only applies to wait_for steps ({article} {kind} step goes on {how})")
    nxt = _resolve(spec.next, following, ids, comp, (*path, "next"))
    if kind == "wait":
        return Step(spec.id, "wait", nxt, seconds=comp.duration(spec.wait, (*path, "wait")))
    if kind == "wait_until":
        if isinstance(spec.wait_until, WaitUntilSpec):
            if spec.wait_until.time is not None:
                return _data_time_wait(spec.wait_until, spec.id, nxt, ids, (*path, "wait_until"), comp)
            return _wait_until(spec.wait_until, spec.id, nxt, (*path, "wait_until"), comp)
        try:
            tod = parse_time_of_day(spec.wait_until)
        except ValueError as e:
            text = spec.wait_until.strip() if isinstance(spec.wait_until, str) else ""
            dated = f"; to wait until that date, wait_until: {{time: \"'{text}'\"}}" \
                if text and instant_of(text, UTC) is not None else ""
            comp.fail((*path, "wait_until"), str(e) + dated)
            tod = (0, 0)
        return Step(spec.id, "wait_until", nxt, time_of_day=tod)
    if kind == "wait_for":
        wf = spec.wait_for
        assert wf is not None
        if wf.condition is not None:
            return _condition_wait(spec, wf, nxt, following, ids, comp, path)
        if wf.every is not None:
            comp.fail((*path, "wait_for", "every"), "`every` belongs to a wait_for with a condition (tested again "
                                                    "that often); a wait_for of an event goes on when it comes")
        if spec.next is not None:
            how = "each path's `next`" if wf.paths is not None else "on_event"  # (on_event is refused beside paths)
            comp.fail((*path, "next"), f"a wait_for step continues with {how} / on_timeout, not next")
        on_timeout = _resolve(spec.on_timeout, following, ids, comp, (*path, "on_timeout"))
        wpath = (*path, "wait_for")
        ways = _wait_ways(spec, wf, following, ids, comp, path)
        if not ways:
            return None
        return Step(spec.id, "wait_for", ways[0][1],
                    seconds=comp.duration(wf.timeout, (*wpath, "timeout")),
                    on_timeout=on_timeout, ways=tuple(ways))
    if kind == "branch":
        assert spec.branch is not None
        cases: list[tuple[Expression | None, str]] = []
        for k, case in enumerate(spec.branch):
            cpath = (*path, "branch", k)
            if case.else_ is None and (*cpath, "else") in comp.src.lines:  # `- else:` with its `next:` below it
                target = f"- else: {case.next}" if case.next is not None else "- else: <step> (or - else: end)"
                comp.fail(cpath, f"an else case names its step itself, on its line: {target}")
                continue
            if case.else_ is not None:
                if case.when is not None or case.next is not None:
                    comp.fail(cpath, "an else case has only `else: <step>`")
                if k != len(spec.branch) - 1:
                    comp.fail(cpath, "else must be the last case of a branch")
                cases.append((None, _resolve(case.else_, following, ids, comp, (*cpath, "else"))))
            else:
                if case.when is None or case.next is None:
                    comp.fail(cpath, "a branch case needs `when: <expression>` and `next: <step>`")
                    continue
                cases.append((comp.expr(case.when, (*cpath, "when")),
                              _resolve(case.next, following, ids, comp, (*cpath, "next"))))
        return Step(spec.id, "branch", nxt, branch=tuple(cases))
    if kind == "split":
        assert spec.split is not None
        if spec.next is not None:  # it was never taken: each arm goes its own way (a walkthrough)
            comp.fail((*path, "next"), "a split step continues by each variant's `next` (without one, the following "
                                       "step), not by a step-level next: give the variants theirs")
        total = sum(a.weight for a in spec.split)
        seen: set[str] = set()
        arms: list[SplitArm] = []
        acc = 0.0
        for k, arm in enumerate(spec.split):
            if arm.variant in seen:
                comp.fail((*path, "split", k, "variant"), f"duplicate variant {arm.variant!r}")
            seen.add(arm.variant)
            acc += arm.weight / total
            arms.append(SplitArm(arm.variant, acc if k < len(spec.split) - 1 else 1.0,
                                 _resolve(arm.next, following, ids, comp, (*path, "split", k, "next"))))
        if len(arms) < 2:
            comp.fail((*path, "split"), "a split needs at least two variants")
        return Step(spec.id, "split", nxt, split=tuple(arms))
    if kind == "enter":
        assert spec.enter is not None
        return Step(spec.id, "enter", nxt, enter=spec.enter)
    if kind == "update":
        assert spec.update is not None
        return Step(spec.id, "update", nxt, update=_update(spec.update, comp, (*path, "update")))
    send = spec.send
    assert send is not None
    spath = (*path, "send")
    _check_channel(send, comp, spath)
    if not send.content:
        comp.fail((*spath, "content"), "send content is empty: give at least one field (e.g. subject, body)")
    content = tuple((k, comp.template(v, (*spath, "content", k))) for k, v in send.content.items())
    if send.channel == "webhook":
        _check_webhook_request(send.content, comp, (*spath, "content"))
    to = comp.template(send.to, (*spath, "to")) if send.to is not None else None
    expires = comp.duration(send.expires_in, (*spath, "expires_in")) if send.expires_in is not None else None
    throttle = comp.throttle(send.throttle, (*spath, "throttle"))
    _check_topic(send, comp, spath)
    return Step(spec.id, "send", nxt, send=SendAction(send.channel, content, to, expires, throttle,
                                                      send.transactional, send.topic))


#: Why an ``update`` step may not write a trait the profile gives a meaning of its own (profile.apply_event), and
#: what to do instead: written by a journey, consent would be given or withdrawn by no one's choice, and a push
#: token would send pushes to a device the customer never named.
_OWN_TRAITS: Final = {
    "consent": "consent is no trait: to withdraw it (a sunset flow), write `update: {consent: {email: false}}` (a "
               "channel or a subscription topic), as an unsubscribed event does",
    "push_token": "push_token is the device's address, taken from the customer's own events (context.device.token, "
                  "or the push_token trait of an identify call): a journey cannot name a device; to send to "
                  "another address, give the send a `to:`",
}


def _own_trait(name: str) -> str | None:
    """Why an update step may not write ``name`` (a key :func:`cjo_stream.profile.apply_event` reads), else None."""
    if name == "consent" or name.startswith("consent."):
        return _OWN_TRAITS["consent"]
    return _OWN_TRAITS.get(name)


def _update(spec: UpdateSpec, comp: _Compiler, upath: Path) -> UpdateAction:
    """An ``update`` step's traits: each a template (text, or the typed value of a lone ``{{ expr }}``), a number,
    a boolean, or null (remove the trait); and its increments, each a number added to a number trait."""
    if not spec.traits and not spec.increment and not spec.consent:
        comp.fail(upath if spec.traits is None else (*upath, "traits"),
                  "an update step needs `traits:` with at least one trait to write (name: value; null removes it), "
                  "`increment:` with a number trait to add to (name: 1), or `consent:` with a channel or topic to "
                  "withdraw (email: false)")
        return UpdateAction(())
    out: list[tuple[str, TraitValue]] = []
    for name, value in (spec.traits or {}).items():
        tpath = (*upath, "traits", name)
        if not name.strip():
            comp.fail(tpath, "a trait needs a name")
            continue
        if (why := _own_trait(name)) is not None:
            comp.fail(tpath, f"trait {name!r} cannot be written by a journey: {why}")
            continue
        if isinstance(value, str):
            tpl = comp.template(value, tpath)
            if (why := _unholdable_constant(tpl)) is not None:
                comp.fail(tpath, f"trait {name!r}: {why}")
                continue
            out.append((name, tpl))
        elif value is None or isinstance(value, (bool, int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                comp.fail(tpath, f"trait {name!r}: {_as_yaml(value)} is not a number a profile can hold (JSON has no "
                                 "NaN or infinity)")
                continue
            if type(value) is int and not INT_MIN <= value <= INT_MAX:  # (the stored profile is msgpack)
                comp.fail(tpath, f"trait {name!r}: {value} is outside the signed 64-bit range a profile holds "
                                 "(put it in quotes to store it as text)")
                continue
            out.append((name, value))
        elif isinstance(value, (dict, list)):
            what = "a mapping" if isinstance(value, dict) else "a list"
            comp.fail(tpath, f"trait {name!r} is {what}: an update writes text, a number, true/false or null, one "
                             "trait per name (write each field as a trait of its own, e.g. offer_code, offer_value)")
        else:  # a YAML date or time (2026-03-01): the profile holds JSON
            comp.fail(tpath, f"trait {name!r}: {str(value)!r} is not text, a number, true/false or null: put it in "
                             "quotes to store it as text")
    return UpdateAction(tuple(out), _increments(spec, comp, upath), _withdrawals(spec, comp, upath))


def _withdrawals(spec: UpdateSpec, comp: _Compiler, upath: Path) -> tuple[str, ...]:
    """An update's ``consent:``: each a customer-facing channel, a declared subscription topic or ``all`` (every
    channel), withdrawn (``false``). Giving consent is refused: consent given is the customer's own act (GDPR's
    "freely given ... unambiguous indication of the data subject's wishes", the TCPA's written consent for texts), and
    a journey giving it back would message someone who never said yes or who said no."""
    out: list[str] = []
    policies = comp.policies
    facing = policies.customer_channels
    topics = [name for name, _ in policies.topics]
    for name, value in (spec.consent or {}).items():
        cpath = (*upath, "consent", name)
        if name in policies.channel_names and name not in facing:
            comp.fail(cpath, f"channel {name!r} is internal: no consent applies to it")
            continue
        if name not in facing and name not in topics and name != PROFILE_ALL_CHANNELS:
            known = sorted({*facing, *topics, PROFILE_ALL_CHANNELS})
            comp.fail(cpath, f"unknown channel or topic {name!r}{closest_channel(name, known)}: name a customer-facing "
                             f"channel, a topic declared under `topics:` in policies.yaml, or all ({', '.join(known)})")
            continue
        if value is True:
            comp.fail(cpath, f"consent {name!r}: true would give consent, which only the customer can (a subscribed "
                             "event, or their own consent trait): a journey may only withdraw it (false)")
            continue
        if value is not False:
            what = f"{value!r} is text" if isinstance(value, str) else f"{_as_yaml(value)} is not false"
            comp.fail(cpath, f"consent {name!r}: {what}: a journey withdraws a consent with {name}: false, unquoted")
            continue
        out.append(name)
    return tuple(out)


def _unholdable_constant(tpl: Template) -> str | None:
    """Why a lone output of constants gives a number no profile holds (``"{{ 9223372036854775808 }}"``, stored as
    the number it is, was skipped ``out_of_range`` for every customer), else None."""
    if not tpl.lone or tpl.roots() != frozenset():
        return None
    try:
        got = tpl.value({})
    except RenderError:
        return None  # (one failing on constants alone was refused by Template)
    if type(got) is int and not INT_MIN <= got <= INT_MAX:
        return f"{tpl.source!r} stores the number {got}, outside the signed 64-bit range a profile holds"
    if type(got) is float and not math.isfinite(got):
        return f"{tpl.source!r} stores {got}, not a number a profile can hold (JSON has no NaN or infinity)"
    return None


def _as_yaml(value: Any) -> str:
    """A scalar as the file spells it (``true``, ``null``, ``.inf``), not as Python does (``'True'``, ``'None'``)."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
    return repr(str(value))


def _increments(spec: UpdateSpec, comp: _Compiler, upath: Path) -> tuple[tuple[str, int | float], ...]:
    """An update's ``increment:``: each trait once, by a finite number (Braze's increment: a count needs no
    template, and a trait holding text is told, ``not_a_number``, where ``| plus: 1`` counts text as 0)."""
    out: list[tuple[str, int | float]] = []
    for name, by in (spec.increment or {}).items():
        ipath = (*upath, "increment", name)
        if not name.strip():
            comp.fail(ipath, "a trait needs a name")
        elif (why := _own_trait(name)) is not None:
            comp.fail(ipath, f"trait {name!r} cannot be written by a journey: {why}")
        elif spec.traits and name in spec.traits:
            comp.fail(ipath, f"trait {name!r} is both written (traits:) and incremented in one step: keep one")
        elif isinstance(by, str):
            comp.fail(ipath, f"increment of {name!r}: {by!r} is text: give the amount to add as a number, unquoted "
                             f"(e.g. {name}: 1, or -1 to subtract)")
        elif isinstance(by, bool) or not isinstance(by, (int, float)) or not math.isfinite(by):
            comp.fail(ipath, f"increment of {name!r}: {_as_yaml(by)} is not a number: give the amount to add, e.g. "
                             f"{name}: 1 (or -1 to subtract)")
        elif isinstance(by, int) and not INT_MIN <= by <= INT_MAX:
            comp.fail(ipath, f"increment of {name!r}: {by} is outside the signed 64-bit range a profile holds")
        else:
            out.append((name, by))
    return tuple(out)


def _check_webhook_request(content: dict[str, str], comp: _Compiler, cpath: Path) -> None:
    """A webhook step's own request (``method:``, ``headers:``, ``content_type:``; webhook_content): each constant
    is checked as the adapter would (a bad one failed every send), and headers or a content type without a
    method are refused (the adapter POSTs the whole command then: they were sent as mere content)."""
    plain = {k: v for k, v in content.items() if "{{" not in v and "{%" not in v}
    if "method" not in content:
        for key in ("headers", "content_type"):
            if key in content:
                comp.fail((*cpath, key), f"{key}: belongs to a webhook step's own request, which `method:` asks "
                                         "for (e.g. method: POST); without it the adapter POSTs the whole delivery "
                                         "command as JSON, this key inside it (docs/adapters.md, webhook)")
        return
    method = None
    if "method" in plain:
        try:
            method = method_of(plain["method"])
        except ValueError as e:
            comp.fail((*cpath, "method"), str(e))
    if "headers" in plain:
        try:
            headers_of(plain["headers"])
        except ValueError as e:
            comp.fail((*cpath, "headers"), str(e))
    if "content_type" in plain and not plain["content_type"].strip():
        comp.fail((*cpath, "content_type"), "content_type is empty: leave it out for application/json")
    if method == "GET" and content.get("body", ""):
        comp.fail((*cpath, "body"), "a GET sends no body: put what it carries in the URL (`to:`), or use POST")
    extra = sorted(set(content) - REQUEST_KEYS)
    if extra:
        comp.fail((*cpath, extra[0]), f"{extra[0]}: a webhook step's own request (method:) sends body: as it is, "
                                      f"so this key would go nowhere: put it in the body (keys: "
                                      f"{', '.join(sorted(REQUEST_KEYS))})")


def _check_channel(send: SendSpec, comp: _Compiler, spath: Path) -> None:
    """A send names a built-in channel or one declared in policies.yaml (a typo went to a topic nobody reads);
    a customer-facing declared channel without an address trait needs the step's ``to:`` (else every send
    is skipped ``no_address``)."""
    policies = comp.policies
    known = policies.channel_names
    name = send.channel
    if name not in known:
        hint = closest_channel(name, known)
        declared = sorted(known - ALL_CHANNELS)
        also = f", declared {', '.join(declared)}" if declared else ""
        comp.fail((*spath, "channel"), f"unknown channel {name!r}{hint}: use one of {', '.join(sorted(ALL_CHANNELS))}"
                                       f"{also}, or declare it under `channels:` in policies.yaml (docs/adapters.md, "
                                       "\"Your own channel\")")
    elif send.to is None and name in policies.customer_channels and name not in policies.address_traits \
            and name != "in_app":
        comp.fail((*spath, "channel"), f"channel {name!r} has no address trait (channels: {name}: address: in "
                                       "policies.yaml) and this send gives no `to:`: every send would be skipped "
                                       "no_address")


def _check_topic(send: SendSpec, comp: _Compiler, spath: Path) -> None:
    """A send's ``topic`` is one policies.yaml declares (a typo would never match a customer's unsubscribe from
    it), on a customer-facing channel, and not on a transactional send (which no consent holds back)."""
    if send.topic is None:
        return
    topics = [name for name, _ in comp.policies.topics]
    if send.topic not in topics:
        hint = closest_channel(send.topic, topics)
        known = f"declared: {', '.join(topics)}" if topics else "none is declared"
        comp.fail((*spath, "topic"), f"unknown topic {send.topic!r}{hint}: declare it under `topics:` in "
                                     f"policies.yaml, e.g. `topics: {{newsletter: opt_in}}` ({known})")
    elif send.channel not in comp.policies.customer_channels:
        comp.fail((*spath, "topic"), f"channel {send.channel!r} is internal: no consent applies to it, nor a topic's")
    elif send.transactional:
        comp.fail((*spath, "topic"), "a transactional send is held back by no consent, a topic's included: a message "
                                     "the customer asked for has no subscription topic (take one of the two away)")


def _check_graph(steps: dict[str, Step], order: list[str], comp: _Compiler, index: dict[str, int]) -> None:
    """Refuse unreachable steps and cycles that never wait (they would spin forever on one event)."""
    reach: set[str] = set()
    todo = [order[0]]
    while todo:
        s = todo.pop()
        if s in reach or s == END:
            continue
        reach.add(s)
        todo.extend(steps[s].targets)
    for sid in order:
        if sid not in reach:
            comp.fail(("steps", index[sid]), f"step {sid!r} is unreachable from the first step")
    # Cycle detection over the graph restricted to non-waiting steps.
    color: dict[str, int] = {}

    def visit(s: str, stack: list[str]) -> None:
        color[s] = 1
        stack.append(s)
        for t in steps[s].targets:
            if t == END or steps[t].waits:
                continue
            if color.get(t) == 1:
                cyc = stack[stack.index(t):] + [t]
                comp.fail(("steps", index[t]), f"steps {' -> '.join(cyc)} form a cycle without a wait")
            elif t not in color:
                visit(t, stack)
        stack.pop()
        color[s] = 2

    for sid in order:
        if sid not in color and not steps[sid].waits:
            visit(sid, [])
    if not comp.problems:  # a loop that waits, but only moments a round (journeys.loops)
        loop = quick_loop(steps, order)
        if loop is not None:
            path, took = loop
            comp.fail(("steps", index[path[0]]), f"steps {' -> '.join(path)} form a loop that waits only "
                      f"{describe(took)} a round: wait at least {describe(MIN_LOOP)} in it (each round is a "
                      f"timer for every customer in it)")


def _event_paths(steps: Iterable[Step]) -> Iterator[tuple[Any, ...]]:
    """``event.*`` paths that steps may read from an instance's entry event (after a timer).

    Entry, goal, exit and wait_for conditions always see the current event, so they are not counted.
    """
    for step in steps:
        for expr, _ in step.branch:
            if expr is not None:
                yield from (keys for root, keys in expr.paths if root == "event")
        if step.time is not None:  # (read again at the customer's later events: from the snapshot)
            yield from (keys for root, keys in step.time.paths if root == "event")
        if step.send is not None:
            for _, tpl in step.send.content:
                yield from tpl.paths("event")
            if step.send.to is not None:
                yield from step.send.to.paths("event")
        if step.update is not None:
            for _, value in step.update.traits:
                if isinstance(value, Template):
                    yield from value.paths("event")


def _keeps_event(steps: dict[str, Step]) -> frozenset[str]:
    """The steps at which a parked instance still needs its entry snapshot (``Journey.keeps_event``): past
    the last step that reads ``event.*``, an instance kept it for nothing. The example abandoned cart's
    coupon arm waits 3 days holding the product name its reminder read; in-flight instances like it moved
    the bench's median stored profile from 501 to 578 bytes."""
    reads = {sid for sid, st in steps.items() if st.enter is not None or next(_event_paths([st]), None) is not None}
    keep: set[str] = set()
    for sid in steps:
        seen: set[str] = set()
        todo = [sid]
        while todo:
            s = todo.pop()
            if s in seen or s not in steps:
                continue
            if s in reads:
                keep.add(sid)
                break
            seen.add(s)
            todo.extend(steps[s].targets)
    return frozenset(keep)


def compile_journey(src: Located, policies: Policies = _BUILT_IN) -> Journey:
    """Validate and compile one parsed journey file; raises :class:`JourneyLoadError`. Its sends may name the
    channels of ``policies`` (the built-in ones by default)."""
    if not isinstance(src.data, dict):
        raise JourneyLoadError([src.error((), "a journey file must be a mapping with journey, entry and steps")])
    try:
        spec = msgspec.convert(src.data, JourneySpec)
    except msgspec.ValidationError as e:
        path, reason = parse_msgspec_path(str(e), JourneySpec, src.data)
        raise JourneyLoadError([src.error(path, reason)]) from None
    comp = _Compiler(src, policies)
    index: dict[str, int] = {}
    for i, s in enumerate(spec.steps):
        if s.id == END:
            comp.fail(("steps", i, "id"), "'end' is reserved: it means the journey ends here")
        elif s.id in index:
            comp.fail(("steps", i, "id"), f"duplicate step id {s.id!r}")
        index.setdefault(s.id, i)
    ids = set(index)
    order = [s.id for s in spec.steps]
    steps: dict[str, Step] = {}
    for i, s in enumerate(spec.steps):
        following = spec.steps[i + 1].id if i + 1 < len(spec.steps) else END
        step = _compile_step(s, i, following, ids, comp)
        if step is not None and s.id not in steps:
            steps[s.id] = step
    re_entry, after = "once", 0.0
    if spec.re_entry in ("once", "always"):
        re_entry = spec.re_entry
    elif spec.re_entry.startswith("after "):
        re_entry, after = "after", comp.duration(spec.re_entry[6:].strip(), ("re_entry",))
    else:
        comp.fail(("re_entry",), f"bad re_entry {spec.re_entry!r}: {re_entry_hint(spec.re_entry)}")
    max_duration = comp.duration(spec.max_duration, ("max_duration",))
    entry, schedule = comp.entry(spec.entry)
    throttle = comp.throttle(spec.throttle, ("throttle",))
    goal = comp.matcher(spec.goal, ("goal",)) if spec.goal else None
    goal_within = _goal_window(spec, max_duration, comp)
    exits, exits_at, exit_when = _exits(spec.exit_on, comp)
    tz = _journey_zone(spec, comp)
    if spec.holdout:  # its holdout customers would never get a password reset or a receipt
        for i, s in enumerate(spec.steps):
            if s.send is not None and s.send.transactional:
                comp.fail(("steps", i, "send", "transactional"),
                          f"step {s.id}: a transactional send in a journey with a holdout ({spec.holdout:g} %), whose "
                          "customers would never get it: take the holdout away, or move the send to a journey of "
                          "its own")
    if not comp.problems and len(steps) == len(order):
        _check_graph(steps, order, comp, index)
    if comp.problems:  # in the file's order (the steps are checked before the journey's own keys above them)
        raise JourneyLoadError(sorted(comp.problems, key=lambda p: p.line))
    channels = frozenset(s.send.channel for s in steps.values() if s.send)
    snapshot = snapshot_spec(_event_paths(steps.values()))
    waits = shortest_waits(steps, order[0])
    handovers = tuple(Handover(s.id, s.enter, src.line(("steps", index[s.id], "enter")), waits.get(s.id, math.inf))
                      for s in steps.values() if s.enter is not None)
    return Journey(
        id=spec.journey, version=spec.version, entry=entry, steps=steps, first=order[0],
        description=spec.description, re_entry=re_entry,  # type: ignore[arg-type]
        re_entry_after=after, holdout=spec.holdout, goal=goal, exit_on=exits, exit_on_at=exits_at,
        exit_when=exit_when,
        max_duration=max_duration, source=src.file, channels=channels, snapshot=snapshot,
        keeps_event=_keeps_event(steps),
        schedule=schedule, throttle=throttle, handovers=handovers, goal_within=goal_within,
        paused=spec.status == "paused", closed=spec.status == "closed", timezone=tz,
    )


def _journey_zone(spec: JourneySpec, comp: _Compiler) -> ZoneInfo | None:
    """``timezone:``: the zone the journey's clock reads instead of each customer's (None: the customer's); a name
    the tz database lacks is refused at its line with the zone it likely means (a typo timed everyone in UTC)."""
    if spec.timezone is None:
        return None
    z = zone(spec.timezone)
    if z is None:
        comp.fail(("timezone",), unknown_zone_reason(spec.timezone))
    return z


def _goal_window(spec: JourneySpec, max_duration: float, comp: _Compiler) -> float:
    """``goal: {within: 3d}`` in seconds (no window: inf); one past ``max_duration`` would never close (the
    instance ends first), which is refused as a mistake of units or of the wrong field."""
    if spec.goal is None or spec.goal.within is None:
        return math.inf
    within = comp.duration(spec.goal.within, ("goal", "within"))
    if within > max_duration:
        comp.fail(("goal", "within"), f"goal within {spec.goal.within} is longer than max_duration "
                                      f"{spec.max_duration}: the instance ends before the window closes (give the "
                                      "journey a longer max_duration, or the goal a shorter window)")
    return within


def _declared_id(path: str) -> list[str]:
    """The ``journey:`` id a refused file declares, if it can be read (its problems are listed already: a
    hand-over to it is not reported again as to an unknown journey)."""
    try:
        with open(path, encoding="utf-8") as f:
            m = re.search(r"^journey:\s*['\"]?([a-z0-9_]+)['\"]?\s*(#.*)?$", f.read(), re.MULTILINE)
    except (OSError, UnicodeDecodeError):
        return []
    return [m.group(1)] if m else []


def _link_journeys(journeys: list[Journey], problems: list[SourceError], refused: set[str] | None = None) -> list[Journey]:
    """Checks across journeys: hand-overs name a known journey (or one ``refused`` for problems of its
    own, listed already) and never loop without a wait.

    A journey that hands over keeps what its target reads of the trigger event too (its ``when`` and
    steps read the trigger as ``event``), so the instance's snapshot covers both.
    """
    by_id: dict[str, Journey] = {}
    for j in journeys:
        if j.id not in by_id or j.version > by_id[j.id].version:
            by_id[j.id] = j
    for j in journeys:
        for h in j.handovers:
            if h.target not in by_id and h.target not in (refused or ()):
                import difflib

                close = difflib.get_close_matches(h.target, sorted(by_id), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""  # as for an unknown step
                problems.append(SourceError(j.source, h.line, f"enter: unknown journey {h.target!r}{hint}: use one of "
                                                              f"{sorted(by_id)}"))
    # a cycle of hand-overs must wait as a loop of steps must (journeys.loops): each hand-over is an entry
    edges: dict[str, dict[str, float]] = {}
    for j in by_id.values():
        for h in j.handovers:
            if h.target in by_id and h.waited < edges.setdefault(j.id, {}).get(h.target, math.inf):
                edges[j.id][h.target] = h.waited
    cycle = quick_cycle(lambda jid: edges.get(jid, {}).items(), sorted(edges))
    if cycle is not None:
        path, took = cycle
        src = by_id[path[-2]]
        line = next(h.line for h in src.handovers if h.target == path[-1] and h.waited == edges[src.id][path[-1]])
        how = "without a wait" if took == 0 else (f"that waits only {describe(took)} a round: wait at least "
                                                  f"{describe(MIN_LOOP)} in it")
        problems.append(SourceError(src.source, line, f"hand-overs {' -> '.join(path)} form a cycle {how}"))
    return with_handover_snapshots(journeys)


def with_handover_snapshots(journeys: list[Journey]) -> list[Journey]:
    """The journeys, those that hand over keeping what their targets read of the trigger event too.

    A target's ``when`` and steps read the trigger as ``event``; the instance that hands over (after a
    wait, from its snapshot) must have kept those fields. Idempotent (the engine applies it as well).
    """
    by_id: dict[str, Journey] = {}
    for j in journeys:
        if j.id not in by_id or j.version > by_id[j.id].version:
            by_id[j.id] = j
    out = []
    for j in journeys:
        if not j.handovers:
            out.append(j)
            continue
        paths = list(_event_paths(j.steps.values()))
        todo, seen = [h.target for h in j.handovers], {j.id}
        while todo:
            t = todo.pop()
            if t in seen or t not in by_id:
                continue
            seen.add(t)
            target = by_id[t]
            if target.entry.when is not None:
                paths += [keys for root, keys in target.entry.when.paths if root == "event"]
            paths += list(_event_paths(target.steps.values()))
            todo += [h.target for h in target.handovers]
        out.append(dataclasses.replace(j, snapshot=snapshot_spec(paths)))
    return out


def load_journey_text(text: str, file: str, policies: Policies = _BUILT_IN) -> Journey:
    try:
        src = load_yaml(text, file)
    except SourceError as e:
        raise JourneyLoadError([e]) from None
    return compile_journey(src, policies)


def load_journey(path: str) -> Journey:
    return _load_located(path)[0]


def _load_located(path: str, policies: Policies = _BUILT_IN) -> tuple[Journey, Located]:
    """The journey in ``path`` and its parsed file (for lines the journey does not keep)."""
    try:
        src = load_yaml(read_source(path), path)
    except SourceError as e:
        raise JourneyLoadError([e]) from None
    return compile_journey(src, policies), src


def _collect(problems: list[SourceError], fn: Callable[[], object]) -> object | None:
    try:
        return fn()
    except JourneyLoadError as e:
        problems.extend(e.problems)
    except SourceError as e:
        problems.extend(e.problems)
    return None


def _misplaced_hint(root: str) -> str:
    """Why no journeys were found when YAML files sit in ``root`` itself: the journeys directory was given
    instead of its parent (``validate topologies/journeys``), or journeys were put beside policies.yaml."""
    here = [f for ext in ("*.yaml", "*.yml") for f in glob.glob(os.path.join(root, ext))
            if os.path.basename(f) not in ("policies.yaml", "stages.yaml")]
    if not here:
        below = [f for ext in ("*.yaml", "*.yml") for f in glob.glob(os.path.join(root, "journeys", "**", ext),
                                                                      recursive=True)]
        if below:  # every journey in a team's folder (journeys/marketing/): only journeys/*.yaml is read
            return (f"; {len(below)} journey file(s) sit in subfolders of {os.path.join(root, 'journeys')}/, "
                    "which are not read: move them up into it")
        return ""
    if os.path.basename(os.path.normpath(root)) == "journeys":
        parent = os.path.dirname(os.path.normpath(root)) or "."
        return (f"; {root} holds {len(here)} YAML file(s) itself: give the topologies directory above it "
                f"({parent}), the one holding journeys/")
    return f"; {root} holds {len(here)} YAML file(s) itself: journey files go in {os.path.join(root, 'journeys')}/"


def _subfolder_warnings(root: str) -> list[str]:
    """One line per folder below ``journeys/`` holding journey files: only ``journeys/*.yaml`` is read, and
    a team's folder (``journeys/marketing/``) was skipped without a word. Not a problem: an archive may be
    deliberate. Likewise JSON files in ``journeys/`` itself: an AJO or Braze export set there was skipped too."""
    out = []
    top = os.path.join(root, "journeys")
    for folder, dirs, names in os.walk(top):
        dirs.sort()
        n = sum(name.endswith((".yaml", ".yml")) for name in names)
        if folder != top and n:
            out.append(f"{folder}: warning: {n} journey file(s) in a subfolder are not loaded (journeys/*.yaml only)")
        exported = sum(name.lower().endswith(".json") for name in names)
        if folder == top and exported:  # a journey exported from Adobe Journey Optimizer or Braze, set beside ours
            out.append(f"{folder}: warning: {exported} JSON file(s) are not loaded (journeys/*.yaml only): a journey "
                       "exported from another tool is written anew as a journey file (README, \"Coming from ...\")")
    return out


def _declared_only(path: str) -> Policies:
    """The channels a policies.yaml with problems names under ``channels:``, as far as it can be read: journeys
    are still checked for a mistyped channel, without a declared one being called unknown. (Whether they reach
    a customer is not known then: the address check waits for the file to load.)"""
    from cjo_stream.journeys.policies import CustomChannel

    try:
        data = load_yaml(read_source(path), path).data
    except SourceError:
        return Policies()
    names = data.get("channels") if isinstance(data, dict) else None
    if not isinstance(names, dict):
        return Policies()
    return Policies(channels=tuple(CustomChannel(n, customer_facing=False) for n in names if isinstance(n, str)))


def _paused_notes(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A line for each journey version whose file says ``status: paused`` or ``closed``: every command loading
    the topology (a worker at start, ``validate``, ``simulate``, ``replay``) names what it holds back, so that a
    pause left in place after an incident, or a journey closed and never removed, is seen."""
    return [f"{src.file}:{src.line(('status',))}: note: journey {j.id} version {j.version} is paused: nobody enters "
            "it, and each send its customers reach is held (deferred, reason journey_paused) until its file says "
            "status: live" for j, src in loaded if j.paused] \
        + [f"{src.file}:{src.line(('status',))}: note: journey {j.id} version {j.version} is closed: nobody enters "
           "it, and those in it go on to its end with its sends as when live" for j, src in loaded if j.closed]


def load_topology(root: str) -> Topology:
    """Load ``<root>/journeys/*.yaml`` (or ``*.yml``), ``<root>/policies.yaml`` and ``<root>/stages.yaml``
    (both optional), and ``<root>/catalogs/*.jsonl`` (journeys.catalogs).

    Several files may define the same journey id with different versions (the newest takes new
    entries; older ones keep running their in-flight instances). Raises :class:`JourneyLoadError`
    listing every problem in every file. Warnings (:attr:`Topology.warnings`) refuse nothing.
    """
    if not os.path.isdir(root):
        raise JourneyLoadError([SourceError(root, 1, "not a directory: expected a topologies dir with journeys/")])
    problems: list[SourceError] = []
    files = sorted(glob.glob(os.path.join(root, "journeys", "*.yaml")) + glob.glob(os.path.join(root, "journeys", "*.yml")))
    journeys: list[Journey] = []
    loaded: list[tuple[Journey, Located]] = []
    seen: dict[tuple[str, int], str] = {}
    refused: set[str] = set()  # ids of journeys whose file has problems (listed already)
    # the policies first: their channels are those journeys may send on (their problems are listed below)
    policies = Policies()
    ppath = os.path.join(root, "policies.yaml")
    pproblems: list[SourceError] = []
    if os.path.exists(ppath):
        p = _collect(pproblems, lambda: load_policies(ppath))
        if isinstance(p, Policies):
            policies = p
    channels = _declared_only(ppath) if pproblems else policies
    for path in files:
        got = _collect(problems, lambda p=path: _load_located(p, channels))  # type: ignore[misc]
        if not isinstance(got, tuple):
            refused.update(_declared_id(path))
        else:
            j, src = got
            key = (j.id, j.version)
            if key in seen:
                problems.append(SourceError(path, 1, f"journey {j.id!r} version {j.version} is also defined in "
                                                     f"{seen[key]}: bump `version` for a new version of it, or give a "
                                                     "different journey its own `journey:` id"))
                continue
            seen[key] = path
            journeys.append(j)
            loaded.append((j, src))
    journeys = _link_journeys(journeys, problems, refused)
    for name in ("policies", "stages"):  # journeys may be *.yml; these two were then ignored without a word
        if os.path.exists(os.path.join(root, f"{name}.yml")):  # (an opt_in consent, caps and quiet hours lost)
            problems.append(SourceError(os.path.join(root, f"{name}.yml"), 1,
                                        f"never read: {name} are read from {name}.yaml; rename it"
                                        + (f" (and merge it with the {name}.yaml beside it)"
                                           if os.path.exists(os.path.join(root, f"{name}.yaml")) else "")))
    problems.extend(pproblems)
    stages: Stages | None = None
    spath = os.path.join(root, "stages.yaml")
    if os.path.exists(spath):
        st = _collect(problems, lambda: load_stages(spath))
        if isinstance(st, Stages):
            stages = st
    stage_whens: list[tuple[str, int, Expression]] = []
    if stages is not None:  # (their lines, for the warnings: the compiled stages keep none)
        slines = load_yaml(read_source(spath), spath)
        stage_whens = [(spath, slines.line(("stages", i, "when")), s.when) for i, s in enumerate(stages.stages)]
    if not files and not problems:
        problems.append(SourceError(os.path.join(root, "journeys"), 1, "no journey files (*.yaml or *.yml) found"
                                    + _misplaced_hint(root)))
    catalogs = load_catalogs(root, problems)
    catalog_refused, catalog_warnings = catalog_problems(loaded, catalogs)
    problems.extend(catalog_refused)
    if catalogs:  # every journey holds them: each engine built of the journeys reads the same
        journeys = [dataclasses.replace(j, catalogs=catalogs) for j in journeys]
    warnings = _subfolder_warnings(root) + journey_warnings(loaded, stage_whens) + catalog_warnings \
        + _paused_notes(loaded)
    if problems:
        raise JourneyLoadError(problems, warnings)
    return Topology(journeys, policies, root, stages, warnings, catalogs)
