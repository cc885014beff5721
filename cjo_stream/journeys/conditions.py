"""Every condition (``when``) of a compiled journey, with where it stands: one walk for the checks that read them.

The load-time warnings (:mod:`cjo_stream.journeys.loader`) and the unset-trait notes
(:mod:`cjo_stream.journeys.unset_traits`) each walked the journey themselves, and a kind of condition added
later (a ``wait_for``'s paths) had to be taught to each walk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.model import Journey, exit_place
from cjo_stream.journeys.source import Located, Path
from cjo_stream.journeys.step_templates import step_templates

ConditionKind = Literal["entry", "goal", "exit_on", "wait_for", "branch"]


@dataclass(frozen=True, slots=True)
class Condition:
    """A ``when`` and its place: ``step`` / ``step_index`` for a wait_for's way and a branch's case, ``index`` the
    way, case or ``exit_on`` item; ``event`` the event it is matched against (None for a branch's case)."""

    kind: ConditionKind
    when: Expression
    event: str | None
    index: int = 0
    step: str | None = None
    step_index: int = 0


def conditions(j: Journey) -> Iterator[Condition]:
    """The journey's conditions: entry, goal, each exit_on, then per step its wait_for's ways and branch cases."""
    if j.entry.when is not None:
        yield Condition("entry", j.entry.when, j.entry.event)
    if j.goal is not None and j.goal.when is not None:
        yield Condition("goal", j.goal.when, j.goal.event)
    for k, m in enumerate(j.exit_on):
        if m.when is not None:
            yield Condition("exit_on", m.when, m.event, exit_place(j, k))
    for k, on_profile in j.exit_when:  # (``exit_on: [{condition}]``: matched against no event)
        yield Condition("exit_on", on_profile, None, k)
    for i, step in enumerate(j.steps.values()):
        for k, (m, _) in enumerate(step.ways):
            if m.when is not None:
                yield Condition("wait_for", m.when, m.event, k, step.id, i)
        if step.condition is not None:  # (``wait_for: {condition}``: matched against no event)
            yield Condition("wait_for", step.condition, None, 0, step.id, i)
        for k, (cond, _) in enumerate(step.branch):
            if cond is not None:
                yield Condition("branch", cond, None, k, step.id, i)


def way_path(src: Located, i: int, k: int) -> Path:
    """The YAML path of step ``i``'s ``k``-th wait_for way: a path of ``paths``, or the wait_for itself."""
    paths = ("steps", i, "wait_for", "paths")
    return (*paths, k) if paths in src.lines else ("steps", i, "wait_for")


def located_conditions(j: Journey, src: Located) -> Iterator[tuple[tuple[str | int, ...], Expression]]:
    """Every condition of a journey, with the YAML path of its ``when``."""
    for c in conditions(j):
        if c.kind == "wait_for" and c.event is None:  # a wait_for's condition
            yield ("steps", c.step_index, "wait_for", "condition"), c.when
            continue
        if c.kind == "wait_for":
            path: Path = way_path(src, c.step_index, c.index)
        elif c.kind == "branch":
            path = ("steps", c.step_index, "branch", c.index)
        else:
            path = ("exit_on", c.index) if c.kind == "exit_on" else (c.kind,)
        yield (*path, "when" if c.kind != "exit_on" or c.event is not None else "condition"), c.when


def on_entry_event(j: Journey) -> frozenset[str]:
    """The steps where ``event`` is always the entry event: reached from the first step by no ``wait_for``'s
    way or timeout (after which it may be the event waited for); none for a scheduled journey, whose event is
    the synthetic ``scheduled`` one."""
    if j.schedule is not None:
        return frozenset()
    after: set[str] = set()
    # (a condition's way goes on with the event the wait began with, or the entry's: only its timeout is counted)
    todo = [t for st in j.steps.values() if st.kind == "wait_for"
            for t in (st.targets if st.condition is None else (st.on_timeout,))]
    while todo:
        sid = todo.pop()
        if sid in j.steps and sid not in after:
            after.add(sid)
            todo.extend(j.steps[sid].targets)
    return frozenset(j.steps) - after


def event_of(j: Journey, c: Condition, entry_steps: frozenset[str]) -> str | None:
    """The event name ``c`` is matched against: its own, or for a branch's case in one of ``entry_steps``
    (:func:`on_entry_event`) the entry's; None when it may be any."""
    if c.event is not None:
        return c.event
    return j.entry.event if c.step in entry_steps else None


def compared_keys(when: Expression, root: str, under: str) -> list[tuple[str, str, bool, str]]:
    """The keys one level below ``root.under`` (``profile.traits.<key>``, ``event.properties.<key>``) that ``when``
    compares with a number or true/false (``Expression.literals``): (key, the literal, whether the comparison never
    holds for text (else always), the comparison as written), in the order of what is written. One reading of the
    parser's record for validate's text-trait warning and the notes after a run."""
    return [(keys[1], literal, never, written) for r, keys, literal, never, written in sorted(when.literals,
                                                                                           key=lambda c: c[4])
            if r == root and len(keys) == 2 and keys[0] == under and isinstance(keys[1], str)]


def latest_versions(journeys: Iterable[Journey]) -> dict[str, Journey]:
    """The latest version of each journey, by id: what an author's notes after a run speak of."""
    latest: dict[str, Journey] = {}
    for j in journeys:
        if j.id not in latest or j.version > latest[j.id].version:
            latest[j.id] = j
    return latest


def reads_previous(journeys: Iterable[Journey]) -> bool:
    """Whether a condition or template of ``journeys`` reads ``event.previous`` (or the whole event, or a key it
    cannot tell): the engine builds it only then, as it costs a mapping for each event naming traits and a key in
    each event's view (~1,000 instructions an event over the bench input, where nothing reads it)."""
    def read(keys: tuple[object, ...]) -> bool:
        return not keys or keys[0] in ("previous", None)

    for j in journeys:
        if any(root == "event" and read(keys) for c in conditions(j) for root, keys in c.when.paths):
            return True
        for step in j.steps.values():
            if any(tpl.roots() is None or any(read(keys) for keys in tpl.paths("event"))
                   for _, _, tpl in step_templates(step)):
                return True
    return False
