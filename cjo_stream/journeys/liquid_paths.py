"""The variable paths a parsed Liquid expression reads, nested ones (a computed key, a filter's argument) too: the
checks that follow a template's own variables (``{% assign p = catalogs.products[...] %}{{ p.title }}``, a loop's
``item``) walk them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from liquid.builtin.expressions import Path as LiquidPath


def paths_of(expression: Any, *, keys: bool = True) -> Iterator[LiquidPath]:
    """Every path ``expression`` reads, the outer one before those inside it; without ``keys``, not those a path
    reads its computed keys by (``event.properties.sku`` in ``catalogs.products[event.properties.sku]``)."""
    if isinstance(expression, LiquidPath):
        yield expression
        if not keys:
            return
    for child in expression.children():
        yield from paths_of(child, keys=keys)


def segments(path: LiquidPath) -> list[Any]:
    """A path's segments: its head, then its keys (a computed key as the inner path)."""
    return [path.head(), *path.path[1:]] if path.path else []
