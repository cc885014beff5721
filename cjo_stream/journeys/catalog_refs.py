"""What journeys read of the topology's catalogs, checked against the catalogs it has (journeys.catalogs).

Why: a catalog read by a name the topology has no file for (``catalogs.product`` for ``products.jsonl``) is
null for every customer: a condition that never holds, a mail naming no product. The name is the topology's
to know, so it is refused at its line, with the closest name; a field no row of the catalog has, and a row id
written in the journey that it has not (``catalogs.products.sku-1`` in a condition: row 'sku', minus 1), are
warned about (a row may lack a field it does not need, and a row may come later: they alone refuse nothing).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from liquid.builtin.expressions import Path as LiquidPath
from liquid.builtin.tags.assign_tag import AssignNode

from cjo_stream.journeys.catalogs import Catalogs, catalog_fields
from cjo_stream.journeys.conditions import located_conditions
from cjo_stream.journeys.liquid_paths import paths_of, segments
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.source import Located, SourceError
from cjo_stream.journeys.step_templates import step_templates
from cjo_stream.journeys.templates import Template


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
                else:
                    dotted = len(keys) > 1 and f"catalogs.{name}.{keys[1]}" in cond.source
                    told = _row_or_field(name, keys[1:], catalogs[name], fields, dotted)
                    if told:
                        warnings.append(f"{j.source}:{src.line(path)}: warning: {cond.source!r} reads {told[0]}: "
                                        f"it is null{told[1]}")
            for name, field in sorted(cond.catalog_fields):
                told = _row_or_field(name, (None, field), catalogs[name], fields) if name in catalogs else None
                if told:
                    warnings.append(f"{j.source}:{src.line(path)}: warning: {cond.source!r} reads {told[0]}: it is "
                                    f"null{told[1]}")
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
                    told = _row_or_field(name, keys[1:], catalogs[name], fields)
                    if told:
                        warnings.append(f"{j.source}:{line}: warning: step {step.id}'s {key} reads {told[0]}: it "
                                        f"renders empty{told[1]}")
                seen: set[tuple[str, str, str]] = set()  # told once a template, as a field read directly is
                for index, var, name, field in row_variable_fields(tpl):
                    if (var, name, field) in seen:
                        continue
                    seen.add((var, name, field))
                    told = _row_or_field(name, (None, field), catalogs[name], fields) if name in catalogs else None
                    if told:
                        line = src.text_line(("steps", i, *where), tpl.source, index)
                        warnings.append(f"{j.source}:{line}: warning: step {step.id}'s {key} reads {var}.{field}, "
                                        f"{told[0]}: it renders empty{told[1]}")
    return problems, warnings


def row_variable_fields(tpl: Template) -> list[tuple[int, str, str, str]]:
    """(index in the text, variable, catalog, field) of each field read through a variable a template assigned a
    catalog's row to, ``{% assign p = catalogs.products[event.properties.sku] %}{{ p.title }}`` (Braze's
    ``{% catalog_items %}`` habit): the paths themselves name the variable, not the catalog."""
    rows: dict[str, str] = {}  # variable -> the catalog its row is of
    out: list[tuple[int, str, str, str]] = []
    for node in tpl.nodes():
        for expression in node.expressions():
            for path in paths_of(expression):
                segs = segments(path)
                if len(segs) > 1 and isinstance(segs[1], str) and segs[0] in rows:
                    out.append((int(path.token.start_index), str(segs[0]), rows[str(segs[0])], segs[1]))
        if isinstance(node, AssignNode):
            assigned: Any = node.expression  # (a FilteredExpression: a value and its filters)
            left = assigned.left if not assigned.filters else None
            segs = segments(left) if isinstance(left, LiquidPath) else []
            if len(segs) == 3 and segs[0] == "catalogs" and isinstance(segs[1], str):
                rows[str(node.name)] = segs[1]
            else:
                rows.pop(str(node.name), None)  # assigned anew: no longer a row
    return out


def _row_or_field(name: str, keys: tuple[Any, ...], table: Mapping[Any, Mapping[str, Any]],
                  memo: dict[str, set[str]], dotted: bool = False) -> tuple[str, str] | None:
    """What is wrong with reading ``keys`` (row id, field) of catalog ``name``, and a hint: a row id written in the journey
    that the catalog has not (``catalogs.products.sku-1.title`` in a condition reads row 'sku', minus 1), a
    field no row has; None when nothing is, or when the catalog has no row at all (its file was refused, and
    told). ``dotted``: the id is written ``catalogs.<name>.<id>`` in a condition, where a dash subtracts."""
    have = _fields(memo, name, table)
    if not have:
        return None
    rid = keys[0] if keys else None
    if isinstance(rid, (str, int)) and rid not in table:
        close = difflib.get_close_matches(str(rid), [k for k in table if isinstance(k, str)], n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (f"row {rid!r} of catalog {name!r}, which has no row of that id{hint}", "" if not dotted else
                f" (an id of other characters than letters, digits and _ goes in brackets: catalogs.{name}['sku-1'])")
    field = keys[1] if len(keys) > 1 else None
    if isinstance(field, str) and field not in have:
        close = difflib.get_close_matches(field, sorted(have), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; its fields are {', '.join(sorted(have))}"
        return f"field {field!r} of catalog {name!r}, which no row has{hint}", ""
    return None


def _fields(memo: dict[str, set[str]], name: str, table: Mapping[Any, Mapping[str, Any]]) -> set[str]:
    if name not in memo:
        memo[name] = catalog_fields(table)
    return memo[name]
