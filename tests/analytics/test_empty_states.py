"""The page with no receipts yet: open-rate charts say so (a blank chart under "max 1.0%" looked broken),
and a channel's receipt cells show "–", not a 0.0 % delivery rate (a walkthrough)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_cli_errors import EVENTS, run


def test_a_page_without_receipts_says_so(tmp_path: Path) -> None:
    events = tmp_path / "no-receipts.jsonl"
    events.write_bytes(b"\n".join(ln for ln in Path(EVENTS).read_bytes().splitlines() if b'"message_' not in ln))
    page = tmp_path / "page.html"
    p = run("simulate", "--events", str(events), "--html", str(page))
    assert p.returncode == 0, p.stderr
    html = page.read_text()
    assert "no opens recorded yet" in html and "max 1.0%" not in html
    email = re.search(r"<tr><td>email</td>(.*?)</tr>", html)
    assert email is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", email.group(1))
    assert cells[2:] == ["–"] * 5 and cells[0] != "0", cells  # sent counted; no receipt: no rates


def test_the_empty_charts_note_fits_its_chart(tmp_path: Path) -> None:
    """The sends-per-week chart is 10 bars narrow: its note was cut at "receipts come fro" (a walkthrough).
    Each line of the note must fit the SVG's width at 11 px text, ~0.6 em a character, from x=30."""
    events = tmp_path / "no-receipts.jsonl"
    events.write_bytes(b"\n".join(ln for ln in Path(EVENTS).read_bytes().splitlines() if b'"message_' not in ln))
    page = tmp_path / "page.html"
    assert run("simulate", "--events", str(events), "--html", str(page)).returncode == 0
    charts = re.findall(r"<svg width='(\d+)'[^>]*aria-label='open rate[^']*'>(.*?)</svg>", page.read_text())
    noted = [(int(w), body) for w, body in charts if "no opens recorded yet" in body]
    assert len(noted) >= 2, charts  # by local hour and by sends per week
    for width, body in noted:
        note = re.search(r"<text [^>]*fill='#5a6478'>(.*)</text>", body)
        assert note is not None, body
        lines = [re.sub(r"<[^>]+>", "", ln) for ln in re.split(r"<tspan[^>]*>", note.group(1))]
        assert all(30 + len(ln) * 11 * 0.6 <= width for ln in lines), (width, lines)
