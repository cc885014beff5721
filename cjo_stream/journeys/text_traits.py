"""Conditions comparing with a number or true/false a trait that an ``update`` step writes from a template that
renders text.

A lone output keeps its value's type (README, Profile updates): ``last_revenue: "{{ event.properties.revenue }}"``
stores 150. Any other template renders text: ``"{{ event.properties.revenue }} EUR"``, or ``"{% if ... %}true{%
endif %}"``, stores ``"150 EUR"`` or ``"true"``, which ``profile.traits.last_revenue >= 100`` never holds for (text
is not a number, README, Expressions), nor ``profile.traits.big_spender == true``. Nothing said so, at load or in a
simulation: the branch took its other way for every customer. Told at load as a warning, at the condition's line,
naming the step: the trait may also come as a number from the customer's own events. Not for a lone output: its
value's type is the data's (a property the producer sends as text stays text), which the loader cannot know.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cjo_stream.journeys.conditions import compared_keys
from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.source import Located, Path
from cjo_stream.journeys.templates import Template, TemplateError

Conditions = Callable[[Journey, Located], Iterable[tuple[Path, Expression]]]


def _spaced(tpl: Template) -> bool:
    """Whether the template is a lone output but for space or line breaks around it (a YAML ``>`` block ends
    with a line break): text, which the author likely meant as the value."""
    try:
        return tpl.source != tpl.source.strip() and Template(tpl.source.strip()).lone
    except TemplateError:
        return False


def _templated(loaded: list[tuple[Journey, Located]]) -> dict[str, tuple[str, bool]]:
    """Each trait an update step writes from a template that renders text (not a lone output): where (the first
    such step, ``step s of journey j (file:line)``), and whether only space around an output makes it text."""
    out: dict[str, tuple[str, bool]] = {}
    for j, src in loaded:
        for i, step in enumerate(j.steps.values()):
            if step.update is None:
                continue
            for name, value in step.update.traits:
                if isinstance(value, Template) and not value.lone and name not in out:
                    line = src.line(("steps", i, "update", "traits", name))
                    out[name] = (f"step {step.id} of journey {j.id} ({j.source}:{line})", _spaced(value))
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
        for name, literal, never, written_as in compared_keys(cond, "profile", "traits"):
            if name not in written:
                continue
            like = f'"{literal}", not {literal}' if literal in ("true", "false") else '"150", not 150'
            where, spaced = written[name]
            fix = ("the space or line break around its {{ ... }} makes it text: remove it (a YAML > block ends with "
                   "a line break, >- does not) or write {{- ... -}}") if spaced else \
                ("a template that is one {{ ... }} and nothing else stores its value as it is (a number, "
                 "true/false), as does a value written unquoted, or a count with increment:")
            out.append(f"{file}:{line}: warning: `{written_as}` compares trait {name!r} with {literal}, but "
                       f"{where} writes it from a template that renders text ({like}): that "
                       f"{'never' if never else 'always'} holds for what the step writes (README, Profile updates); "
                       f"{fix}")
    return out
