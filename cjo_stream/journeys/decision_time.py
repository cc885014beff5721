"""``now`` as a send's templates see it: the decision time, a number that is output as RFC 3339 text.

In a module of its own, not compiled: mypyc compiles the engine and :mod:`cjo_stream.journeys.templates`,
and a compiled class cannot subclass ``float``.
"""

from __future__ import annotations

from cjo_stream.timefmt import format_ts


class DecisionTime(float):
    """Epoch seconds, as conditions see ``now``: arithmetic, comparisons and ``date`` read the number
    (templates' ``plus``/``minus``/``times``/``modulo`` are given the plain float, see
    ``templates._Numeric``); output, and text filters, give RFC 3339 UTC text as the command's
    ``decided_at`` (``{{ now }}`` rendered ``1772445600.25``, which no template author meant)."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_ts(float(self))
