"""What a condition or a send reads of its context, worked out once per journey, so a decision builds only that.

Why: building the context was a large part of a send (cProfile of a replay: the ``profile`` view, every
counter and last-seen time of the customer, was built for templates that read one trait). A step's
reads are ``(roots, profile keys)``: the context keys it can read (None: any) and the keys of
``profile`` it can read (None: the whole view). A key a reader does not name is never looked at, so
leaving it out changes no result; ``size``/``first`` of ``profile`` read the whole mapping, and so does
any path that is only ``profile`` or starts with a computed key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from cjo_stream.journeys.expressions import ZONE, Expression
from cjo_stream.journeys.model import Journey, Step
from cjo_stream.journeys.templates import Template
from cjo_stream.profile import Profile
from cjo_stream.profile_types import consent_view, undeliverable_view

Reads = tuple[frozenset[str] | None, tuple[str, ...] | None]
#: reads anything: the whole context, the whole profile view
ALL: Final[Reads] = (None, None)

#: ``profile`` view keys a part can be built of (each as :meth:`Profile.view` makes it, from the profile, the
#: default stage and the declared subscription topics; the tests compare them with it); ``counters``/``last``
#: are not here: they cost what the whole view costs, which is then built once per decision and shared
PROFILE_PARTS: Final[dict[str, Callable[[Profile, str | None, tuple[str, ...]], Any]]] = {
    "customer_id": lambda p, _, __: p.customer_id,
    "traits": lambda p, _, __: p.traits,
    "first_seen": lambda p, _, __: p.first_seen,
    "last_seen": lambda p, _, __: p.last_seen,
    "consent": lambda p, _, topics: consent_view(p, topics),
    "timezone": lambda p, _, __: p.zone_name(),
    "stage": lambda p, d, _: p.stage or d,
    "stage_since": lambda p, d, _: (p.stage_since or p.first_seen) if (p.stage or d) else None,
    "undeliverable": lambda p, _, __: undeliverable_view(p),
}


def profile_part(p: Profile, keys: tuple[str, ...], default_stage: str | None,
                 topics: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``profile`` view with only ``keys`` (each one of :data:`PROFILE_PARTS`)."""
    return {k: PROFILE_PARTS[k](p, default_stage, topics) for k in keys}


def _profile_keys(paths: Iterable[tuple[Any, ...]]) -> tuple[str, ...] | None:
    """The profile keys the paths below ``profile`` start with, or None when the whole view is needed."""
    keys: set[str] = set()
    for path in paths:
        if not path or type(path[0]) is not str or path[0] not in PROFILE_PARTS:
            return None
        keys.add(path[0])
    return tuple(sorted(keys))


def _combine(roots: Iterable[frozenset[str] | None], profile_paths: list[tuple[Any, ...]]) -> Reads:
    out: set[str] = set()
    for r in roots:
        if r is None:
            return ALL
        out |= r
    return frozenset(out), _profile_keys(profile_paths)


def expression_reads(exprs: Iterable[Expression | None]) -> Reads:
    """What these conditions read together."""
    es = [e for e in exprs if e is not None]
    return _combine((e.roots for e in es), [keys for e in es for root, keys in e.paths if root == "profile"])


def template_reads(tpls: Iterable[Template]) -> Reads:
    """What these templates read together."""
    ts = list(tpls)
    return _combine((_template_roots(t) for t in ts), [path for t in ts for path in t.paths("profile")])


def _template_roots(t: Template) -> frozenset[str] | None:
    """What a template reads: its roots, and the customer's zone for a calendar filter (``| days_until``), as a
    condition's calendar function reads it."""
    roots = t.roots()
    return roots | {ZONE} if roots is not None and t.calendar else roots


def step_reads(step: Step) -> Reads | None:
    """What a send, an update or a branch step reads (None for other steps: they build no context)."""
    if step.send is not None:
        tpls = [t for _, t in step.send.content]
        if step.send.to is not None:
            tpls.append(step.send.to)
        return template_reads(tpls)
    if step.update is not None:
        return template_reads([v for _, v in step.update.traits if isinstance(v, Template)])
    if step.kind == "branch":
        return expression_reads(cond for cond, _ in step.branch)
    return None


def journey_reads(journeys: Iterable[Journey]) -> dict[int, Reads]:
    """By ``id()`` of each step that builds a context and of each condition: what it reads."""
    out: dict[int, Reads] = {}
    for j in journeys:
        for m in (j.entry, j.goal, *j.exit_on):
            if m is not None and m.when is not None:
                out[id(m.when)] = expression_reads([m.when])
        for _, cond in j.exit_when:
            out[id(cond)] = expression_reads([cond])
        for st in j.steps.values():
            for m, _ in st.ways:
                if m.when is not None:
                    out[id(m.when)] = expression_reads([m.when])
            if st.condition is not None:
                out[id(st.condition)] = expression_reads([st.condition])
            if st.time is not None:
                out[id(st.time)] = expression_reads([st.time])
            r = step_reads(st)
            if r is not None:
                out[id(st)] = r
    return out
