"""Catalogs: rows of data journeys look up by id at decision time (Braze's Catalogs, Customer.io's Collections).

Why: a back-in-stock or price-drop mail names the product, its picture and its price, while the event says only
its ``sku``. Without a lookup, every producer had to copy the catalog into each event. A catalog is a file of
the topology, ``catalogs/<name>.jsonl`` (one JSON object per line, each with an ``id``), loaded with the
journeys: ``{{ catalogs.products[event.properties.sku].title }}`` in a template, and
``catalogs.products[event.properties.sku].in_stock == true`` in a condition. Loaded with the topology, it
is the same in a worker, ``simulate`` and ``replay`` (the engine stays deterministic); a changed file
takes effect when the workers next load the topology, as a journey's content does.

An id is text or a whole number. An event's ``sku`` may come as ``123`` or ``"123"``, so a row is found
under both forms.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from cjo_stream.journeys.source import SourceError

#: Rows over every catalog of a topology: each worker holds them all in memory (~1 KiB a row of ten fields).
MAX_ROWS: Final = 200_000
#: A catalog file's size: a larger one is a database's job, not a topology's.
MAX_BYTES: Final = 64 * 1024 * 1024
_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_BOM: Final = b"\xef\xbb\xbf"
#: a first line of a JSON array of objects, or of pretty-printed JSON (``[`` or ``{`` alone)
_EXPORT: Final = re.compile(rb"^\s*(\[\s*\{|[\[{]\s*$)")
#: bad rows told in a file before the rest is left unchecked: a file of another format is one mistake
_MAX_BAD: Final = 20

Catalogs = Mapping[str, Mapping[Any, Mapping[str, Any]]]


def catalog_files(root: str) -> list[str]:
    """The catalog files of a topologies directory, sorted."""
    return sorted(glob.glob(os.path.join(root, "catalogs", "*")))


def load_catalogs(root: str, problems: list[SourceError]) -> dict[str, dict[Any, dict[str, Any]]]:
    """``<root>/catalogs/<name>.jsonl``, each as ``{id: row}``; every problem appended as ``file:line: reason``.
    A file refused whole is an empty catalog of its name: the problems refuse the topology, and the journeys
    reading it were each told "no catalog 'products'; the topology has none" besides (ten lines for one)."""
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    rows = 0
    for path in catalog_files(root):
        name, ext = os.path.splitext(os.path.basename(path))
        if os.path.isdir(path) or name.startswith("."):
            continue
        if ext != ".jsonl":
            problems.append(SourceError(path, 1, "a catalog is a .jsonl file (one JSON object per line, each with an "
                                                 "`id`): convert it, or move it out of catalogs/"))
            out.setdefault(name, {})  # (told here: the journeys reading it are not told "no catalog" too)
            continue
        if not _NAME.match(name):
            fixed = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
            hint = f": rename it {fixed}.jsonl" if _NAME.match(fixed) else ""
            problems.append(SourceError(path, 1, f"catalog name {name!r}: lower-case letters, digits and _, starting "
                                                 f"with a letter (templates read it as catalogs.<name>){hint}"))
            if hint:
                out.setdefault(fixed, {})  # (the journeys reading catalogs.gift_cards: told to rename, not "no catalog")
            continue
        if os.path.getsize(path) > MAX_BYTES:
            problems.append(SourceError(path, 1, f"a catalog file may be at most {MAX_BYTES // 2**20} MiB: every "
                                                 "worker holds it in memory; keep the fields journeys read"))
            out[name] = {}
            continue
        table: dict[Any, dict[str, Any]] = {}
        first_line: dict[str, int] = {}
        bad = 0
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                if n == 1:
                    line = line.removeprefix(_BOM)  # (Excel and Notepad write one: JSON lines' text, all the same)
                if not line.strip():
                    continue
                if not first_line and not bad and _EXPORT.match(line):
                    # a JSON array or a pretty-printed export: one problem, not one a line (thousands)
                    problems.append(SourceError(path, n, "a catalog is JSON lines, one object on each line, not "
                                                         "a JSON array or pretty-printed JSON (jq -c '.[]' turns "
                                                         "an array into lines)"))
                    break
                row = _row(line, path, n, problems)
                if row is None:
                    bad += 1
                    if bad == _MAX_BAD:
                        problems.append(SourceError(path, n, f"{_MAX_BAD} bad rows: the rest of the file is not "
                                                             "checked"))
                        break
                    continue
                key = str(row["id"])
                if key in first_line:
                    problems.append(SourceError(path, n, f"id {key!r} is also on line {first_line[key]}: each row "
                                                         "has an id of its own"))
                    continue
                first_line[key] = n
                table[key] = row
                if key.isdigit() and (key == "0" or key[0] != "0"):  # `123` and "123" find it; "0123" only as text
                    table[int(key)] = row
                rows += 1
        if rows > MAX_ROWS:
            problems.append(SourceError(path, 1, f"the catalogs have more than {MAX_ROWS:,} rows in all: every "
                                                 "worker holds them in memory; keep the rows journeys read"))
            out[name] = {}
            return out
        out[name] = table
    return out


def _row(line: bytes, path: str, n: int, problems: list[SourceError]) -> dict[str, Any] | None:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        told = "a comma after the row: a line holds one object, and nothing after it" \
            if line.rstrip().endswith((b"},", b"} ,")) else e.msg
        problems.append(SourceError(path, n, f"not JSON: {told}"))
        return None
    if not isinstance(row, dict):
        problems.append(SourceError(path, n, "a row is a JSON object ({\"id\": ..., ...})"))
        return None
    rid = row.get("id")
    if type(rid) is float and rid.is_integer():  # `42.0`, as pandas writes an integer column with gaps: row 42
        row["id"] = rid = int(rid)
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
        told = "" if rid is None else f", not {orjson.dumps(rid).decode()[:40]}"
        problems.append(SourceError(path, n, f"a row needs an `id`: text or a whole number{told}"))
        return None
    return row


def catalog_rows(table: Mapping[Any, Mapping[str, Any]]) -> int:
    """How many rows ``table`` has (a row whose id is a whole number is under two keys)."""
    return len({id(row) for row in table.values()})


def catalog_fields(table: Mapping[Any, Mapping[str, Any]]) -> set[str]:
    """Every field some row of ``table`` has."""
    out: set[str] = set()
    for row in table.values():
        out.update(row)
    return out
