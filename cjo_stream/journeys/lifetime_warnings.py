"""Settings that load but cannot be what the author meant about how long, and for whom, a journey runs.

- A wait (or a ``wait_for``'s timeout) that cannot end before ``max_duration`` does: an instance never outlives
  ``max_duration`` (it ends ``expired`` at that time, also when a timer is due at the same moment), so the steps
  after the wait, or the ``on_timeout`` way, never run. The least waiting from the entry counts (a ``wait: 1d``
  after a ``wait: 2d`` in a ``max_duration: 3d`` journey) and an event way on counts as no time (the customer
  may come at once). A ``max_duration: 1d`` above a ``timeout: 2d`` validated, and the report showed every
  instance ``expired``, no step after it reached (a walkthrough).
- A holdout below 1: ``holdout`` is a percent, so ``0.1`` keeps 0.1 % of customers as control, not 10 %.

Warnings, not problems: a journey may be meant to stop there. A wait whose way on is ``end`` is not warned
about: the instance ends there either way.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from cjo_stream.journeys.model import END, Journey, Step
from cjo_stream.journeys.source import Located

_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def shown(seconds: float) -> str:
    """``172800.0`` → ``2d``: a duration as a journey file writes it."""
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _ways(step: Step) -> Iterator[tuple[str, float]]:
    """``(next step, least seconds on the way)``: an event way costs nothing, the customer may come at once."""
    if step.kind == "wait":
        yield step.next, step.seconds
    elif step.kind == "wait_for":
        yield from ((t, 0.0) for _, t in step.ways)
        if step.condition is not None:  # (it may hold as the wait begins)
            yield step.next, 0.0
        yield step.on_timeout, step.seconds
    else:  # a wait_until may end at once: its time of day may be now
        yield from ((t, 0.0) for t in step.targets)


def least_waits(j: Journey) -> dict[str, float]:
    """The least time from the entry to reaching each step, by any way."""
    best: dict[str, float] = {j.first: 0.0}
    todo = [(0.0, j.first)]
    while todo:
        d, sid = heapq.heappop(todo)
        if d > best[sid] or sid == END or sid not in j.steps:
            continue
        for t, w in _ways(j.steps[sid]):
            if t not in best or d + w < best[t]:
                best[t] = d + w
                heapq.heappush(todo, (d + w, t))
    return best


def lifetime_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """``file:line: warning: ...`` for each wait that cannot end before ``max_duration``, and a holdout below 1."""
    out = []
    for j, src in loaded:
        if 0 < j.holdout < 1:
            out.append(f"{j.source}:{src.line(('holdout',))}: warning: holdout {j.holdout:g} keeps {j.holdout:g} % of "
                       f"customers as control: holdout is a percent, not a fraction (10 % is holdout: 10)")
        best = least_waits(j)
        for i, (sid, step) in enumerate(j.steps.items()):
            if step.kind not in ("wait", "wait_for") or sid not in best:
                continue
            if (step.next if step.kind == "wait" else step.on_timeout) == END:
                continue  # the instance ends there anyway: expired or ended, nothing is lost
            ends = best[sid] + step.seconds
            if ends < j.max_duration:
                continue
            key = "wait" if step.kind == "wait" else "wait_for"
            after = "the steps after it never run" if step.kind == "wait" else "its on_timeout way never runs"
            by = f"{shown(step.seconds)} wait" if step.kind == "wait" else f"{shown(step.seconds)} timeout"
            since = f", {shown(best[sid])} after the entry at the earliest," if best[sid] else ""
            out.append(f"{j.source}:{src.line(('steps', i, key))}: warning: step {sid}'s {by}{since} ends no sooner "
                       f"than max_duration ({shown(j.max_duration)}) ends the instance (expired): {after}; raise "
                       f"max_duration (default 30d) or shorten the wait")
    return out
