"""Conditions comparing with a number or true/false a trait that an ``update`` step writes from a template.

A template renders text (README, Profile updates): ``last_revenue: "{{ event.properties.revenue }}"`` stores
``"150"``, which ``profile.traits.last_revenue >= 100`` never holds for (text is not a number, README,
Expressions), nor ``profile.traits.big_spender == true`` for a template rendering ``true``. Nothing said so, at
load or in a simulation: the branch took its other way for every customer. Told at load as a warning, at the
condition's line, naming the step: the trait may also come as a number from the customer's own events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.source import Located, Path
from cjo_stream.journeys.templates import Template

Conditions = Callable[[Journey, Located], Iterable[tuple[Path, Expression]]]


def _templated(loaded: list[tuple[Journey, Located]]) -> dict[str, str]:
    """Each trait an update step writes from a template: where (the first such step, ``step s of journey j
    (file:line)``)."""
    out: dict[str, str] = {}
    for j, src in loaded:
        for i, step in enumerate(j.steps.values()):
            if step.update is None:
                continue
            for name, value in step.update.traits:
                if isinstance(value, Template) and name not in out:
                    line = src.line(("steps", i, "update", "traits", name))
                    out[name] = f"step {step.id} of journey {j.id} ({j.source}:{line})"
    return out


def text_trait_warnings(loaded: list[tuple[Journey, Located]], conditions_of: Conditions,
                        stage_whens: Iterable[tuple[str, int, Expression]] = ()) -> list[str]:
    """One warning per condition comparing such a trait with a number or true/false (``conditions_of``: a
    journey's conditions with the YAML path of each ``when``; ``stage_whens``: stages.yaml's, with file and
    line, for a lifecycle stage an update is meant to move)."""
    written = _templated(loaded)
    if not written:
        return []
    whens = [(j.source, src.line(path), cond) for j, src in loaded for path, cond in conditions_of(j, src)]
    out: list[str] = []
    for file, line, cond in [*whens, *stage_whens]:
        for root, keys, literal, never, written_as in sorted(cond.literals, key=lambda c: c[4]):
            if root != "profile" or len(keys) != 2 or keys[0] != "traits" or keys[1] not in written:
                continue
            name = str(keys[1])
            like = f'"{literal}", not {literal}' if literal in ("true", "false") else '"150", not 150'
            out.append(f"{file}:{line}: warning: `{written_as}` compares trait {name!r} with {literal}, but "
                       f"{written[name]} writes it from a template, which stores text ({like}): that "
                       f"{'never' if never else 'always'} holds for what the step writes (README, Profile updates); "
                       "an update stores a number or true/false written as it is, unquoted, or a count with "
                       "increment:")
    return out
