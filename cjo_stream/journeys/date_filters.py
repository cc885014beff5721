"""A calendar filter given what is never a date: ``{{ profile.counters.order_completed | days_since }}``.

The filters ``days_until``, ``days_until_anniversary``, ``days_since`` and ``hours_since`` are the expression
functions of those names (README, Date-based journeys). A condition refuses such a function given a count, an id or
a text that is no date at its line; the filter took a count of 3 orders for 3 seconds after 1970 and the mail said
"20514 days since your last order". The same check, on the value a filter is first applied to.
"""

from __future__ import annotations

import re
from typing import Any, Final

from liquid.builtin.expressions import Path as LiquidPath
from liquid.builtin.expressions import StringLiteral

from cjo_stream.journeys.expressions import ExpressionError, compile_expression

#: the calendar filters (templates.CALENDAR_FILTERS), checked as their functions are
_DATE_FILTERS: Final = frozenset({"days_until", "days_until_anniversary", "days_since", "hours_since"})
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _source(value: Any) -> str | None:
    """``value`` written as an expression's argument (a path of literal keys, or a quoted text), else None."""
    if isinstance(value, StringLiteral):
        return repr(str(value.value))
    if not isinstance(value, LiquidPath) or not value.path or not isinstance(value.path[0], str):
        return None
    out = [value.path[0]]
    for key in value.path[1:]:
        if isinstance(key, str):
            out.append(f".{key}" if _NAME.match(key) else f"[{key!r}]")
        elif isinstance(key, int):
            out.append(f"[{key}]")
        else:  # a computed key: what it reads cannot be told here
            return None
    return "".join(out)


def date_filter_problem(expression: Any) -> str | None:
    """Why a filtered expression's first filter, a calendar filter, can never be given a date, or None."""
    filters = getattr(expression, "filters", None)
    if not filters or str(filters[0].name) not in _DATE_FILTERS:
        return None
    name = str(filters[0].name)
    arg = _source(getattr(expression, "left", None))
    if arg is None:
        return None
    try:  # (as days_until checks its argument: a condition's days_since takes what it makes nil of)
        compile_expression(f"days_until({arg})")
    except ExpressionError as e:  # (another reason, a loop's variable or `today` no condition has: not ours)
        told = "days_until() takes a date or a time"
        return f"filter {name!r}{e.reason.removeprefix('days_until()')}" if e.reason.startswith(told) else None
    return None
