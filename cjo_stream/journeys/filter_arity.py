"""A Liquid filter given the wrong number of arguments, told at load.

python-liquid checks a filter's arguments only when it calls it, so ``{{ profile.traits.email | prepend }}``
compiled, passed ``validate``, and then failed every send of its step (``render_error``) with a Python
message ("prepend() missing 1 required positional argument"). How many arguments a filter takes does not
depend on the data, so :func:`arity_problem` checks them against the filter's signature once, at load.
"""

from __future__ import annotations

import inspect
from typing import Any

from liquid import RenderContext
from liquid.builtin.expressions.arguments import KeywordArgument, PositionalArgument
from liquid.exceptions import FilterArgumentError

from cjo_stream.journeys.fastliquid import _LITERALS  # the constants an argument may be (one list for both)

#: keyword arguments python-liquid passes itself (``with_context`` / ``with_environment`` filters)
_INJECTED = ("context", "environment")


def _callable(f: Any) -> Any:
    """The function behind our wrappers (range guard, numeric ``now``): its signature is the filter's."""
    f = getattr(f, "unguarded", f)
    return getattr(f, "_f", f)


def _signature(f: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):  # a compiled callable class: it states its arity itself
        return None


def _arguments(n: int) -> str:
    return "no arguments" if n == 0 else f"{n} argument" + ("s" if n != 1 else "")


def arity_problem(name: str, f: Any, args: list[Any]) -> str | None:
    """Why ``name: args`` cannot be called whatever the data (None: it can)."""
    f = _callable(f)
    given = [a for a in args if not isinstance(a, KeywordArgument)]
    keywords = [a.name for a in args if isinstance(a, KeywordArgument)]
    stated = getattr(f, "arity", None)  # (least, most) positional arguments after the input
    if stated is not None:
        least, most = stated
        named: set[str] | None = set()
    else:
        sig = _signature(f)
        if sig is None:
            return None
        params = list(sig.parameters.values())[1:]  # the first is the value left of the `|`
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            return None
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        least = sum(1 for p in positional if p.default is p.empty)
        most = len(positional)
        named = None if any(p.kind is p.VAR_KEYWORD for p in params) else \
            {p.name for p in params if p.kind is not p.POSITIONAL_ONLY and p.name not in _INJECTED}
        positional_names = [p.name for p in positional]
        # a keyword naming a positional parameter fills it (`truncate: num: 5` is python-liquid's call too)
        filled = len(given) + sum(1 for k in keywords if k in positional_names[len(given):])
        if filled >= least and len(given) <= most:
            least = most = -1  # counts fine: only the names are left to check
    for k in keywords:
        if named is not None and k not in named:
            return f"filter {name!r} has no argument {k!r}"
    n = len(given)
    if least >= 0 and n < least:
        needs = _arguments(least) if least == most else f"at least {_arguments(least)}"
        return f"filter {name!r} needs {needs}, given {n}"
    if most >= 0 and n > most:
        takes = _arguments(most) if least == most else f"at most {_arguments(most)}"
        return f"filter {name!r} takes {takes}, given {n}"
    return None


#: Values a filter is tried on at load: an argument the filter refuses with each of them is wrong whatever the data.
_ANY_LEFT: tuple[Any, ...] = ("", "abc", 0, 2.5, [], ["a"], {}, None)


def argument_problem(name: str, args: list[Any], context: RenderContext) -> str | None:
    """Why ``name: args`` fails whatever the value left of it, when all its arguments are constants (None:
    it may not). ``truncate: 'abc'`` loaded, and every send of its step was skipped (``render_error``:
    "truncate expected an integer, found str"), because the load-time render only refuses a template that
    reads no data. Tried on values of every kind; only python-liquid's own ``FilterArgumentError`` for each
    counts (a filter that needs the render context, or fails on the value, is left to the render)."""
    if any(type(a) not in (PositionalArgument, KeywordArgument) or type(a.value) not in _LITERALS for a in args):
        return None
    positional: list[Any] = []
    named: dict[str, Any] = {}
    for a in args:
        key, value = a.evaluate(context)
        if key:
            named[key] = value
        else:
            positional.append(value)
    call = context.filter(name, None)  # as the render calls it (the context or environment passed in)
    why = ""
    for left in _ANY_LEFT:
        try:
            call(left, *positional, **named)
        except FilterArgumentError as e:
            why = why or str(e.message)
            continue
        except Exception:  # noqa: BLE001 - not an argument problem: the render decides
            return None
        return None
    return why if why.startswith(name) else f"filter {name!r}: {why}"  # python-liquid's names it mostly


__all__ = ["argument_problem", "arity_problem"]
