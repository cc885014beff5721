"""A step's templates, with where each stands: one walk for the load-time warnings, the trait notes of a run and
the engine's question whether anything reads ``event.previous`` (each had a loop of its own over sends' content,
``to:`` and an update's traits)."""

from __future__ import annotations

from cjo_stream.journeys.model import Step
from cjo_stream.journeys.source import Path
from cjo_stream.journeys.templates import Template


def step_templates(step: Step) -> list[tuple[Path, str, Template]]:
    """A send's or an update's templates: (their YAML path below the step, their key, the template); a send's
    content in order, then its ``to:`` (key ``to``), or an update's text traits."""
    out: list[tuple[Path, str, Template]] = []
    if step.send is not None:
        out.extend((("send", "content", key), key, tpl) for key, tpl in step.send.content)
        if step.send.to is not None:
            out.append((("send", "to"), "to", step.send.to))
    if step.update is not None:
        out.extend((("update", "traits", key), key, v) for key, v in step.update.traits if isinstance(v, Template))
    return out
