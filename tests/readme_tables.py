"""The README's "Coming from ..." tables, read as the tests that check each row need them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def table_rows(heading: str) -> dict[str, str]:
    """The rows of the table under ``### <heading>``: the other tool's column -> ours, with a cell's escaped ``\\|``
    as the ``|`` it shows."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split(f"### {heading}", 1)[1].split("\n\n")[2]
    rows = {}
    for row in table.splitlines()[2:]:
        cells = re.split(r"(?<!\\) \| ", row.strip("| "))
        rows[cells[0].replace("\\|", "|")] = cells[1].replace("\\|", "|")
    return rows


def table_row(heading: str, start: str) -> str:
    """Our column of the one row whose first cell starts with ``start``."""
    (ours,) = [v for k, v in table_rows(heading).items() if k.startswith(start)]
    return ours


def table_snippets(heading: str, kinds: tuple[str, ...]) -> list[str]:
    """Each `` `kind: ...` `` snippet of the table whose kind is one of ``kinds``, in the table's order."""
    return [s for ours in table_rows(heading).values() for s in re.findall(r"`([a-z_]+: [^`]+)`", ours)
            if s.split(":")[0] in kinds]
