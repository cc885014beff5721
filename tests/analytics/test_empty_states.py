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
