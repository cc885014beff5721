"""Funnel analytics folded from engine transitions: per journey, step and variant counts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from cjo_stream.engine.transition import Transition
from cjo_stream.journeys.model import Journey

JOURNEY_KINDS = ("entered", "holdout", "converted", "exited", "ended", "expired", "merged")
_JOURNEY_KINDS = frozenset(JOURNEY_KINDS)


class Funnel:
    """Counts per journey, per (journey, step) and per (journey, variant).

    Counted in plain dicts by journey, then step or variant (found by their strings: no tuple made and
    hashed per transition, and a plain dict's item, not a ``Counter``'s generic one: ~3,600 instructions
    of a replay's event before, callgrind 2026-12-02); read as ``Counter`` tables (``journeys``, ``steps``,
    ``variants``: a missing count is 0), made when read.
    """

    def __init__(self, tracked: frozenset[str] = frozenset()) -> None:
        self._journeys: dict[str, dict[str, int]] = {}
        self._steps: dict[str, dict[str, dict[str, int]]] = {}
        self._variants: dict[str, dict[str, dict[str, int]]] = {}
        #: journeys with two splits or more (:func:`multi_split`): their instances' arms are remembered until
        #: they end, and a conversion counts for each arm taken; the transition names the last arm only, and
        #: the first split's arms showed 0 conversions (an analyst's hand count). Others keep no row.
        self.tracked = tracked
        self._arms: dict[str, list[str]] = {}

    def add(self, transitions: list[Transition]) -> None:
        for t in transitions:
            k = t.kind
            if k == "step":
                _inc(_counts(self._steps, t.journey, t.step or ""), "reached")
            elif k == "sent":
                _inc(_counts(self._steps, t.journey, t.step or ""), "sent")
            elif k in _JOURNEY_KINDS:
                c = self._journeys.get(t.journey)
                if c is None:
                    c = self._journeys[t.journey] = {}
                _inc(c, k)
                arms = self._arms.pop(t.instance, None) if self.tracked and t.journey in self.tracked else None
                if k == "converted":
                    if arms is None:
                        arms = [t.variant] if t.variant else []
                    for v in arms:
                        _inc(_counts(self._variants, t.journey, v), "converted")
            elif k == "variant":
                v = t.variant or ""
                _inc(_counts(self._variants, t.journey, v), "entered")
                if self.tracked and t.journey in self.tracked:
                    taken = self._arms.get(t.instance)
                    if taken is None:
                        self._arms[t.instance] = [v]
                    elif v not in taken:
                        taken.append(v)
            elif k == "skipped":
                _inc(_counts(self._steps, t.journey, t.step or ""), f"skipped:{t.reason}")
            elif k == "deferred":
                c = _counts(self._steps, t.journey, t.step or "")
                _inc(c, "deferred")
                if t.reason == "journey_paused":  # the sends a pause holds, apart (replay --compare's row)
                    _inc(c, "deferred:journey_paused")

    @property
    def journeys(self) -> defaultdict[str, Counter[str]]:
        return defaultdict(Counter, {j: Counter(c) for j, c in self._journeys.items()})

    @property
    def steps(self) -> defaultdict[tuple[str, str], Counter[str]]:
        return _table(self._steps)

    @property
    def variants(self) -> defaultdict[tuple[str, str], Counter[str]]:
        return _table(self._variants)

    def render(self, step_order: dict[str, list[str]] | None = None) -> str:
        """A plain-text report: journeys, then steps, then variants. ``step_order``: each journey's step ids
        in its file's order, which the steps are listed in (an analyst reads a journey top down; sorted by
        name, a reminder's row came before the wait it follows); steps not in it follow, by name."""
        journeys, steps, variants = self.journeys, self.steps, self.variants
        # columns as wide as the longest id and a space: a journey id of 22 characters or more ran into
        # its step's (``spring_promotion_2026_v2s0``)
        jw = max([22, *(len(j) + 2 for j in journeys), *(len(j) + 2 for j, _ in steps),
                  *(len(j) + 2 for j, _ in variants)])
        sw = max([20, *(len(s) + 1 for _, s in steps), *(len(v) + 1 for _, v in variants)])
        lines = ["journey".ljust(jw) + "".join(k.rjust(10) for k in JOURNEY_KINDS)]
        for j in sorted(journeys):
            c = journeys[j]
            lines.append(j.ljust(jw) + "".join(str(c[k]).rjust(10) for k in JOURNEY_KINDS))
        lines.append("")
        lines.append("journey".ljust(jw) + "step".ljust(sw) + "reached".rjust(9) + "sent".rjust(7)
                     + "deferred".rjust(10) + "  skipped")
        order = step_order or {}
        ranks = {(j, s): i for j, ids in order.items() for i, s in enumerate(ids)}
        for (j, s) in sorted(steps, key=lambda js: (js[0], ranks.get(js, len(ranks)), js[1])):
            c = steps[(j, s)]
            skips = ", ".join(f"{k.split(':', 1)[1]}={v}" for k, v in sorted(c.items()) if k.startswith("skipped:"))
            lines.append(j.ljust(jw) + s.ljust(sw) + str(c["reached"]).rjust(9) + str(c["sent"]).rjust(7)
                         + str(c["deferred"]).rjust(10) + "  " + (skips or "-"))
        if variants:
            lines.append("")
            # every instance of the arm: its counts differ from the analytics' split table, which leaves
            # holdout and global-control instances out, and two tables of one arm disagreed unexplained
            lines.append("journey".ljust(jw) + "variant".ljust(sw) + "entered".rjust(9) + "converted".rjust(11)
                         + "  (holdout and global control included)")
            for (j, v) in sorted(variants):
                c = variants[(j, v)]
                lines.append(j.ljust(jw) + v.ljust(sw) + str(c["entered"]).rjust(9) + str(c["converted"]).rjust(11))
        return "\n".join(lines)


def multi_split(journeys: Iterable[Journey]) -> frozenset[str]:
    """The ids of the journeys a version of which has two split steps or more (:attr:`Funnel.tracked`)."""
    return frozenset(j.id for j in journeys if sum(s.kind == "split" for s in j.steps.values()) >= 2)


def step_order(journeys: Iterable[Journey]) -> dict[str, list[str]]:
    """Each journey's step ids in its file's order (its versions' in load order, each id once), for
    :meth:`Funnel.render`."""
    out: dict[str, list[str]] = {}
    for j in journeys:
        ids = out.setdefault(j.id, [])
        ids.extend(s for s in j.steps if s not in ids)
    return out


def _counts(table: dict[str, dict[str, dict[str, int]]], journey: str, key: str) -> dict[str, int]:
    """The counts of a journey's step or variant ``key`` in ``table``, made when first counted."""
    by = table.get(journey)
    if by is None:
        by = table[journey] = {}
    c = by.get(key)
    if c is None:
        c = by[key] = {}
    return c


def _inc(c: dict[str, int], k: str) -> None:
    c[k] = c.get(k, 0) + 1


def _table(table: dict[str, dict[str, dict[str, int]]]) -> defaultdict[tuple[str, str], Counter[str]]:
    return defaultdict(Counter, {(j, k): Counter(c) for j, by in table.items() for k, c in by.items()})
