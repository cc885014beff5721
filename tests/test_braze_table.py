"""The README's "Coming from Braze Canvas" table writes journey YAML a migrator copies: each complete snippet
in it (an entry, a goal, a wait) must load as written."""

from __future__ import annotations

import re
from pathlib import Path

from cjo_stream.journeys.loader import load_journey_text

ROOT = Path(__file__).resolve().parents[1]


def _snippets() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Coming from Braze Canvas", 1)[1].split("\n\n")[2]
    cells = [row.split(" | ")[1] for row in table.splitlines()[2:]]
    found = [s for cell in cells for s in re.findall(r"`([a-z_]+: [^`]+)`", cell) if "..." not in s]
    # a wait_until's value written alone in the delay row (`{at: "09:00", days: [mon]}`)
    return found + [f"wait_until: {s}" for cell in cells for s in re.findall(r"`(\{at: [^`]+)`", cell)]


def test_the_tables_snippets_load() -> None:
    snippets = _snippets()
    tops = [s for s in snippets if s.split(":")[0] in ("entry", "goal", "re_entry", "holdout", "status")]
    steps = [s for s in snippets if s.split(":")[0] in ("wait", "wait_until", "update")]
    assert len(tops) >= 4 and len(steps) >= 4, snippets
    assert any(s.startswith("update:") for s in steps), snippets  # the User Update step's row
    assert "status: paused" in tops and "status: live" in tops, snippets  # stopping a Canvas
    assert any(s.startswith("wait_until: {at:") for s in steps), snippets  # a delay until a day of the week
    for top in tops:
        entry = "" if top.startswith("entry:") else "entry: {event: Signed Up}\n"
        load_journey_text(f"journey: t\n{entry}{top}\nsteps:\n  - id: s\n    wait: 1h\n", "t.yaml")
    for i, step in enumerate(steps):
        load_journey_text(f"journey: t\nentry: {{event: x}}\nsteps:\n  - id: s{i}\n    {step}\n", "t.yaml")
