"""Message content templates: Liquid (python-liquid), compiled once at load, rendered at decision time.

Liquid is sandboxed by design (no attribute access on Python objects, no code), which is what a
journey author's templates need; a missing variable renders as empty text.
"""

from __future__ import annotations

from typing import Any

from liquid import Environment
from liquid.exceptions import LiquidError

_env = Environment()


class TemplateError(ValueError):
    """A template that does not compile; ``line`` is the 1-based line inside the template text."""

    def __init__(self, reason: str, line: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


class Template:
    """A compiled content template. Plain text without ``{{``/``{%`` skips Liquid at render time."""

    __slots__ = ("source", "_tpl")

    def __init__(self, source: str) -> None:
        self.source = source
        self._tpl = None
        if "{{" in source or "{%" in source:
            try:
                tpl = _env.from_string(source)
                # Unknown filters are only found when rendering: render once with empty data to catch them.
                tpl.render(event={}, profile={}, journey={})
            except LiquidError as e:
                line = 1
                token = getattr(e, "token", None)
                if token is not None and hasattr(token, "start_index"):
                    line = source.count("\n", 0, token.start_index) + 1
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise TemplateError(f"template: {first}", line) from None
            self._tpl = tpl

    def paths(self, root: str) -> list[tuple[Any, ...]]:
        """The paths below ``root`` this template reads (a non-text key, e.g. ``x[y]``, as ``None``)."""
        if self._tpl is None:
            return []
        out: list[tuple[Any, ...]] = []
        for segs in self._tpl.global_variable_segments():
            if segs and segs[0] == root:
                out.append(tuple(k if isinstance(k, (str, int)) else None for k in segs[1:]))
        return out

    def render(self, data: dict[str, Any]) -> str:
        if self._tpl is None:
            return self.source
        return str(self._tpl.render(**data))
