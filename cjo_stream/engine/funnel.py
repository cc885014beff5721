"""Funnel analytics folded from engine transitions: per journey, step and variant counts."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from cjo_stream.engine.transition import Transition

JOURNEY_KINDS = ("entered", "holdout", "converted", "exited", "ended", "expired", "merged")
_JOURNEY_KINDS = frozenset(JOURNEY_KINDS)


@dataclass
class Funnel:
    journeys: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    steps: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    variants: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # the counters above by journey, then step or variant (the same objects): found by their string keys,
    # without a (journey, step) tuple to make and hash per transition
    _by_step: dict[str, dict[str, Counter[str]]] = field(default_factory=dict, repr=False, compare=False)
    _by_variant: dict[str, dict[str, Counter[str]]] = field(default_factory=dict, repr=False, compare=False)

    def add(self, transitions: list[Transition]) -> None:
        for t in transitions:
            k = t.kind
            if k == "step":
                self._step(t.journey, t.step or "")["reached"] += 1
            elif k == "sent":
                self._step(t.journey, t.step or "")["sent"] += 1
            elif k in _JOURNEY_KINDS:
                self.journeys[t.journey][k] += 1
                if k == "converted" and t.variant:
                    self._variant(t.journey, t.variant)["converted"] += 1
            elif k == "variant":
                self._variant(t.journey, t.variant or "")["entered"] += 1
            elif k == "skipped":
                self._step(t.journey, t.step or "")[f"skipped:{t.reason}"] += 1
            elif k == "deferred":
                self._step(t.journey, t.step or "")["deferred"] += 1

    def _step(self, journey: str, step: str) -> Counter[str]:
        return _counter(self._by_step, self.steps, journey, step)

    def _variant(self, journey: str, variant: str) -> Counter[str]:
        return _counter(self._by_variant, self.variants, journey, variant)

    def render(self) -> str:
        """A plain-text report: journeys, then steps, then variants."""
        # columns as wide as the longest id and a space: a journey id of 22 characters or more ran into
        # its step's (``spring_promotion_2026_v2s0``)
        jw = max([22, *(len(j) + 2 for j in self.journeys), *(len(j) + 2 for j, _ in self.steps),
                  *(len(j) + 2 for j, _ in self.variants)])
        sw = max([20, *(len(s) + 1 for _, s in self.steps), *(len(v) + 1 for _, v in self.variants)])
        lines = ["journey".ljust(jw) + "".join(k.rjust(10) for k in JOURNEY_KINDS)]
        for j in sorted(self.journeys):
            c = self.journeys[j]
            lines.append(j.ljust(jw) + "".join(str(c[k]).rjust(10) for k in JOURNEY_KINDS))
        lines.append("")
        lines.append("journey".ljust(jw) + "step".ljust(sw) + "reached".rjust(9) + "sent".rjust(7)
                     + "deferred".rjust(10) + "  skipped")
        for (j, s) in sorted(self.steps):
            c = self.steps[(j, s)]
            skips = ", ".join(f"{k.split(':', 1)[1]}={v}" for k, v in sorted(c.items()) if k.startswith("skipped:"))
            lines.append(j.ljust(jw) + s.ljust(sw) + str(c["reached"]).rjust(9) + str(c["sent"]).rjust(7)
                         + str(c["deferred"]).rjust(10) + "  " + (skips or "-"))
        if self.variants:
            lines.append("")
            lines.append("journey".ljust(jw) + "variant".ljust(sw) + "entered".rjust(9) + "converted".rjust(11))
            for (j, v) in sorted(self.variants):
                c = self.variants[(j, v)]
                lines.append(j.ljust(jw) + v.ljust(sw) + str(c["entered"]).rjust(9) + str(c["converted"]).rjust(11))
        return "\n".join(lines)


def _counter(cache: dict[str, dict[str, Counter[str]]], table: dict[tuple[str, str], Counter[str]], journey: str,
             key: str) -> Counter[str]:
    """``table[(journey, key)]`` (a step's or a variant's counter), found through ``cache`` by its two strings."""
    by = cache.get(journey)
    if by is None:
        by = cache[journey] = {}
    c = by.get(key)
    if c is None:
        c = by[key] = table[(journey, key)]
    return c
