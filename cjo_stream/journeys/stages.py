"""Lifecycle stages (``topologies/stages.yaml``, optional): where each customer is in their relationship.

.. code-block:: yaml

    stages:                       # ordered; a customer is in the LAST stage whose `when` holds
      - {stage: awareness,     when: "true"}
      - {stage: consideration, when: profile.counters.product_viewed >= 3}

The first stage is the default: a customer whose profile records no stage is in it, and one for whom no
``when`` holds falls back to it. The engine evaluates the stages after each event and, on a change,
records ``stage``/``stage_since`` in the profile and raises the event ``stage_changed``
(``properties: {from, to}``) right after the one that caused it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from cjo_stream.journeys.expressions import ZONE, Expression, ExpressionError, compile_expression
from cjo_stream.journeys.fields import unknown_field
from cjo_stream.journeys.source import (
    Located,
    SourceError,
    SourceErrors,
    blank,
    load_yaml,
    parse_msgspec_path,
    read_source,
)

# the compiled stages are in a module of their own, which mypyc compiles (no msgspec structs there)
from cjo_stream.journeys.stage_model import STAGE_CHANGED as STAGE_CHANGED
from cjo_stream.journeys.stage_model import Stage as Stage
from cjo_stream.journeys.stage_model import Stages as Stages

Id = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]+$")]
#: Roots a stage condition may read: a stage depends on the customer and the time, not on one event.
_STAGE_ROOTS = frozenset({"profile", "now", ZONE})  # (ZONE: a calendar function's, the customer's zone)


class StageSpec(msgspec.Struct, forbid_unknown_fields=True):
    stage: Id
    when: str | bool


class StagesSpec(msgspec.Struct, forbid_unknown_fields=True):
    """Schema of ``stages.yaml``."""

    stages: Annotated[list[StageSpec], msgspec.Meta(min_length=1)]


def compile_stages(src: Located) -> Stages:
    if not isinstance(src.data, dict):
        raise src.error((), "stages.yaml must be a mapping with `stages:` (a list of {stage, when})")
    try:
        spec = msgspec.convert(src.data, StagesSpec)
    except msgspec.ValidationError as e:
        path, reason = parse_msgspec_path(str(e), StagesSpec, src.data)
        raise src.error(path, reason) from None
    out: list[Stage] = []
    seen: set[str] = set()
    found: list[SourceError] = []  # every problem of the file in one pass, as journeys and policies
    for i, s in enumerate(spec.stages):
        if s.stage in seen:
            found.append(src.error(("stages", i, "stage"), f"duplicate stage {s.stage!r}"))
        seen.add(s.stage)
        try:
            out.append(Stage(s.stage, _condition(src, i, s.when)))
        except SourceError as e:
            found.append(e)
    if found:
        raise found[0] if len(found) == 1 else SourceErrors(sorted(found, key=lambda p: p.line))
    events, traits = _inputs(out)
    return Stages(tuple(out), events, traits, _counters_only(out))


def _condition(src: Located, i: int, when: str | bool) -> Expression:
    """Stage ``i``'s ``when``, compiled and checked: a stage depends on the customer, not on an event."""
    text = str(when).lower() if isinstance(when, bool) else when
    path = ("stages", i, "when")
    try:
        expr = compile_expression(text)
    except ExpressionError as e:  # at its line when the condition is written over several (`when: >`)
        raise src.error_at(path, text, e.column - 1, f"bad expression {text.strip()!r}: {e}") from None
    bad = sorted(expr.roots - _STAGE_ROOTS)
    if bad:
        raise src.error(("stages", i, "when"), "a stage depends on the customer: use `profile` and `now`, "
                                               f"not {', '.join(bad)}")
    for root, keys in sorted(expr.paths, key=repr):
        if (why := unknown_field(root, keys)) is not None:
            raise src.error_at(path, text, text.find(".".join((root, *map(str, keys)))),
                               f"bad expression {text.strip()!r}: {why}")
    return expr


def _counters_only(stages: list[Stage]) -> tuple[str, ...] | None:
    names: set[str] = set()
    for s in stages:
        if s.when.roots - {"profile"}:  # (now, and the zone a calendar function reads with it)
            return None
        for _, keys in s.when.paths:
            if len(keys) < 2 or keys[0] != "counters" or not isinstance(keys[1], str):
                return None
            names.add(keys[1])
    return tuple(sorted(names))


def _inputs(stages: list[Stage]) -> tuple[frozenset[str] | None, bool]:
    """What the conditions read: event names (counters, last) and whether traits; None names = anything."""
    names: set[str] = set()
    traits = False
    for s in stages:
        if "now" in s.when.roots:
            return None, True
        for _, keys in s.when.paths:
            if keys[:1] in (("stage",), ("stage_since",)):
                continue  # changes only with the stage itself
            if len(keys) >= 2 and keys[0] in ("counters", "last") and isinstance(keys[1], str):
                names.add(keys[1])
            elif len(keys) >= 2 and keys[0] == "traits":
                traits = True
            else:  # the whole counters, consent, first_seen, ...: evaluate after every event
                return None, True
    return frozenset(names), traits


def load_stages(path: str) -> Stages | None:
    """The stages of ``stages.yaml``; None for a file with nothing but comments (as without one)."""
    text = read_source(path)
    if blank(text):
        return None
    return compile_stages(load_yaml(text, path))

