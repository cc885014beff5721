"""An ``update`` step's value that ends with a line break: a YAML ``>`` or ``|`` block keeps one, unseen.

``total: >`` over ``{{ event.properties.total }}`` on the next line stores ``"150\\n"``: text, not the number a lone
``{{ }}`` stores (README, Profile updates), and a send rendering it writes the line break too. Nothing compared it,
so nothing said so (a walkthrough). Told at load as a warning at the trait's line, with the fix: ``>-`` or ``|-``.
"""

from __future__ import annotations

from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.source import Located
from cjo_stream.journeys.templates import Template, TemplateError


def _lone_inside(source: str) -> bool:
    try:
        return Template(source.strip()).lone
    except TemplateError:
        return False


def update_newline_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """One warning per update trait whose value (a template, or plain text) ends with a line break."""
    out: list[str] = []
    for j, src in loaded:
        for i, step in enumerate(j.steps.values()):
            if step.update is None:
                continue
            for name, value in step.update.traits:
                if not isinstance(value, Template) or not value.source.endswith("\n"):
                    continue
                line = src.line(("steps", i, "update", "traits", name))
                what = "text ending in a line break" + (
                    ", not the value of its {{ }} (a lone {{ }} keeps a number's type)" if _lone_inside(value.source)
                    else "")
                out.append(f"{j.source}:{line}: warning: trait {name!r} of step {step.id} ends with a line break (a "
                           f"YAML > or | block keeps one): it stores {what}; write >- or |- to drop it")
    return out
