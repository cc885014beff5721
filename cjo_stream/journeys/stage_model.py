"""Compiled lifecycle stages (:mod:`cjo_stream.journeys.stages` reads ``stages.yaml`` into them).

Apart from the file's msgspec schema so that mypyc compiles them: the engine asks them after every event
(``affected_by``, ``default``), which through Python's calls was ~1,700 instructions of a replay's event
(callgrind, 2026-12-02).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cjo_stream.journeys.expressions import Expression, truthy

#: The internal event the engine raises when a customer's stage changes.
STAGE_CHANGED: Final = "stage_changed"


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    when: Expression


@dataclass(frozen=True, slots=True)
class Stages:
    """The compiled stages, in order; ``stages[0]`` is the default.

    ``events`` names the events whose counters or times the conditions read, and ``traits`` whether they
    read traits: another event cannot change any condition, so the engine need not evaluate them after it
    (``events`` None: the conditions read something else, e.g. ``now``, and are evaluated after every event).
    """

    stages: tuple[Stage, ...]
    events: frozenset[str] | None = frozenset()
    traits: bool = False
    #: the event names whose counters are all the conditions read (nothing else), in a fixed order: then
    #: the stage is a function of those counters alone, which the engine memoises
    counters_only: tuple[str, ...] | None = None

    def affected_by(self, name: str, has_traits: bool) -> bool:
        """Whether an event of this name (with or without traits) may move a customer's stage."""
        return self.events is None or name in self.events or (has_traits and self.traits)

    @property
    def default(self) -> str:
        return self.stages[0].name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def current(self, ctx: dict[str, Any]) -> str:
        """The last stage whose ``when`` holds in ``ctx`` (``profile``, ``now``), else the first."""
        for s in reversed(self.stages[1:]):
            if truthy(s.when(ctx)):
                return s.name
        return self.stages[0].name
