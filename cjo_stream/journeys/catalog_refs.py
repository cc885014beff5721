"""What journeys read of the topology's catalogs, checked against the catalogs it has (journeys.catalogs).

Why: a catalog read by a name the topology has no file for (``catalogs.product`` for ``products.jsonl``) is
null for every customer: a condition that never holds, a mail naming no product. The name is the topology's
to know, so it is refused at its line, with the closest name; a field no row of the catalog has is warned about
(a row may lack a field it does not need, so the field alone refuses nothing).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from cjo_stream.journeys.catalogs import Catalogs, catalog_fields
from cjo_stream.journeys.conditions import located_conditions
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.source import Located, SourceError
from cjo_stream.journeys.step_templates import step_templates


def _closest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f"; the catalogs are {', '.join(choices)}" if choices else \
        "; the topology has none (a catalog is catalogs/<name>.jsonl beside journeys/)"


def catalog_problems(loaded: list[tuple[Journey, Located]], catalogs: Catalogs) -> tuple[list[SourceError], list[str]]:
    """(problems: a catalog name with no file, warnings: a field no row has), each at its line."""
    names = sorted(catalogs)
    fields: dict[str, set[str]] = {}
    problems: list[SourceError] = []
    warnings: list[str] = []
    for j, src in loaded:
        for path, cond in located_conditions(j, src):
            for root, keys in sorted(cond.paths, key=repr):
                if root != "catalogs":
                    continue
                name = keys[0] if keys else None
                if not isinstance(name, str):
                    problems.append(SourceError(j.source, src.line(path), f"{cond.source!r}: read a catalog by its "
                                                f"name, catalogs.<name>[id]{_closest('', names)}"))
                elif name not in catalogs:
                    problems.append(SourceError(j.source, src.line(path), f"no catalog {name!r}{_closest(name, names)}"))
        for i, step in enumerate(j.steps.values()):
            for where, key, tpl in step_templates(step):
                for keys in sorted(tpl.paths("catalogs"), key=repr):
                    name = keys[0] if keys else None
                    line = src.text_line(("steps", i, *where), tpl.source, tpl.index_of("catalogs", keys))
                    if not isinstance(name, str):
                        continue  # (a computed name: cannot be told)
                    if name not in catalogs:
                        problems.append(SourceError(j.source, line, f"{key}: template: no catalog "
                                                                    f"{name!r}{_closest(name, names)}"))
                        continue
                    field = keys[2] if len(keys) > 2 else None
                    if isinstance(field, str) and field not in _fields(fields, name, catalogs[name]) \
                            and fields[name]:  # (none at all: the file was refused, and told)
                        have = sorted(fields[name])
                        close = difflib.get_close_matches(field, have, n=1, cutoff=0.6)
                        hint = f" (did you mean {close[0]!r}?)" if close else f"; its fields are {', '.join(have)}"
                        warnings.append(f"{j.source}:{line}: warning: step {step.id}'s {key} reads field {field!r} "
                                        f"of catalog {name!r}, which no row has{hint}: it renders empty")
    return problems, warnings


def _fields(memo: dict[str, set[str]], name: str, table: Mapping[Any, Mapping[str, Any]]) -> set[str]:
    if name not in memo:
        memo[name] = catalog_fields(table)
    return memo[name]
