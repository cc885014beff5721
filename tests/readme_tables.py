"""The README's "Coming from ..." tables, read as the tests that check each row need them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


def load_snippet(snippet: str, tops: tuple[str, ...], entry_event: str, i: int = 0) -> None:
    """Load one snippet as a migrator pastes it: a journey key (one of ``tops``) in a journey entering on
    ``entry_event`` (unless it is the entry), or a step followed by the steps its ``next``/``else`` name."""
    from cjo_stream.journeys.loader import load_journey_text

    if snippet.split(":")[0] in tops:
        entry = "" if snippet.startswith("entry:") else f"entry: {{event: {entry_event}}}\n"
        load_journey_text(f"journey: t\n{entry}{snippet}\nsteps:\n  - id: s\n    wait: 1h\n", "t.yaml")
        return
    targets = [t for t in re.findall(r"(?:next|else): ([a-z_]+)", snippet) if t != "end"]
    rest = "".join(f"  - id: {t}\n    wait: 1h\n    next: end\n" for t in dict.fromkeys(targets))
    load_journey_text(f"journey: t\nentry: {{event: x}}\nsteps:\n  - id: s{i}\n    {snippet}\n{rest}", "t.yaml")


def table_snippets(heading: str, kinds: tuple[str, ...]) -> list[str]:
    """Each `` `kind: ...` `` snippet of the table whose kind is one of ``kinds``, in the table's order."""
    return [s for ours in table_rows(heading).values() for s in re.findall(r"`([a-z_]+: [^`]+)`", ours)
            if s.split(":")[0] in kinds]


def row_snippet(heading: str, start: str, kind: str, n: int = 0) -> str:
    """The ``n``-th snippet of ``kind`` (``entry``, ``branch``, ...) in the row starting ``start``."""
    return re.findall(rf"`({kind}: [^`]+)`", table_row(heading, start))[n]


def track(mid: str, who: str, at: str, event: str, **props: object) -> dict[str, Any]:
    """A Segment track call, as a row's events file holds it."""
    return {"messageId": mid, "type": "track", "userId": who, "timestamp": at, "event": event, "properties": props}


def identify(mid: str, who: str, at: str, **traits: object) -> dict[str, Any]:
    """A Segment identify call."""
    return {"messageId": mid, "type": "identify", "userId": who, "timestamp": at, "traits": traits}


def mail_step(step: str, subject: str, nxt: str = "") -> str:
    """A journey's e-mail step ``step`` with ``subject`` (then ``next: nxt``), as YAML lines of its ``steps``."""
    return (f"  - id: {step}\n    send: {{channel: email, content: {{subject: \"{subject}\", body: x}}}}\n"
            + (f"    next: {nxt}\n" if nxt else ""))
