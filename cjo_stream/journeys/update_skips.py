"""Why ``update`` steps wrote nothing: one line per step and reason, from a run's funnel counts.

An update that fails writes none of its traits and sends nothing, so it has no skip record: ``simulate`` showed
only ``skipped:not_a_number=3`` in the funnel, and ``replay`` the same over weeks of history, leaving the author
to guess which trait and why. Shared by both commands (the funnel is the engine's, so they agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.source import step_line

_WHY = {"render_error": "a template failed on their data",
        "not_a_number": "an increment's trait ({counted}) held something other than a number, text or true/false "
                        "(a number sent in quotes, or written by a template that renders text)",
        "out_of_range": "a number a lone {{ }} gave or an increment made is one no profile holds (past a signed "
                        "64-bit integer, or not finite)"}


def update_skip_notes(journeys: Iterable[Journey], steps: Mapping[tuple[str, str], Mapping[str, int]]) -> list[str]:
    """``file:line: journey step s: N update(s) wrote nothing, <why> (<reason>)`` for each update step the funnel
    (``steps``: (journey, step) -> counts) counted skipped, the traits it increments named for ``not_a_number``;
    the line is the step's ``update:`` (its ``increment:`` for ``not_a_number``) in the file of the latest
    version having the step."""
    owner: dict[tuple[str, str], Journey] = {}
    counted: dict[tuple[str, str], str] = {}
    for j in journeys:
        for sid, st in j.steps.items():
            if st.update is not None and ((j.id, sid) not in owner or j.version > owner[(j.id, sid)].version):
                owner[(j.id, sid)] = j
                counted[(j.id, sid)] = ", ".join(repr(name) for name, _ in st.update.increment)
    out: list[str] = []
    for (journey, step), counts in sorted(steps.items()):
        if (journey, step) not in counted:  # (an update's failure is no send's: it has no skip record)
            continue
        for reason, what in _WHY.items():
            n = counts.get(f"skipped:{reason}", 0)
            if n:
                what = what.replace("{counted}", counted[(journey, step)])
                below = ("update", "increment") if reason == "not_a_number" else ("update",)
                source = owner[(journey, step)].source
                line = step_line(source, step, *below) if source else None
                where = f"{source}:{line}: " if line is not None else ""
                out.append(f"{where}{journey} step {step}: {n} update(s) wrote nothing, {what} ({reason})")
    return out
