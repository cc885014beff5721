"""Ids looked up in a catalog that has no row of them: ``simulate``'s note.

Why: an event's ``sku`` spelt otherwise than the catalog's ids (``SKU-1`` for ``sku-1``, the number ``42`` for
``"sku-42"``) finds no row, and that is silent: a condition reads null and does not hold, a template renders the
product's title, picture and price empty, and the mail goes out "  is back". The ids are the data's, so
``validate`` cannot tell; a simulation or a replay over real events can. Only they count (a Python ``get`` per
lookup): a worker's tables are plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: distinct ids kept for the note: a hostile input's ids are unbounded
_KEPT: Final = 1_000


class CountedCatalog(dict[Any, Any]):
    """A catalog's ``{id: row}`` that remembers the ids looked up, those with no row apart."""

    def __init__(self, table: dict[Any, Any]) -> None:
        super().__init__(table)
        self.found: set[Any] = set()
        self.missing: dict[Any, None] = {}  # (ordered: the note's examples are the first seen)

    def _saw(self, key: Any) -> None:
        if type(key) is not str and type(key) is not int:
            return  # (a null or a list: no id, and a condition on it is not about the catalog's ids)
        if dict.__contains__(self, key):
            self.found.add(str(key))
        elif len(self.missing) < _KEPT:
            self.missing[key] = None

    def get(self, key: Any, default: Any = None) -> Any:
        self._saw(key)
        return dict.get(self, key, default)

    def __getitem__(self, key: Any) -> Any:
        self._saw(key)
        return dict.__getitem__(self, key)


def count_lookups(catalogs: Mapping[str, Any]) -> dict[str, CountedCatalog]:
    """Make each table of ``catalogs`` (the topology's, which every journey holds) count its lookups, in place
    (none when it is not the loader's dict)."""
    if not isinstance(catalogs, dict):
        return {}
    for name in list(catalogs):
        catalogs[name] = CountedCatalog(catalogs[name])
    return dict(catalogs)


def missing_row_notes(counted: dict[str, CountedCatalog], examples: int = 3) -> list[str]:
    """One note per catalog where some id looked up had no row (``note: `` is the caller's)."""
    out = []
    for name, table in sorted(counted.items()):
        if not table.missing:
            continue
        n = len(table.missing)
        more = "+" if n == _KEPT else ""
        shown = ", ".join(repr(k) for k in list(table.missing)[:examples])
        out.append(f"catalog {name!r}: {n:,}{more} id(s) looked up have no row ({shown}), beside "
                   f"{len(table.found):,} that have: a condition reads their fields as null, a template renders them "
                   "empty (ids match exactly, as text or a whole number: 'SKU-1' is not 'sku-1')")
    return out
