"""Each send step shows its receipts with their share of its sends, on the page and in the text report:
an e-mail A/B test's arms are two steps, and only the channels' totals were shown (a walkthrough)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from tests.test_cli_errors import EVENTS, run


def test_a_steps_receipts_are_shown_with_their_share_of_its_sends(tmp_path: Path) -> None:
    first = run("simulate", "--events", EVENTS)
    assert first.returncode == 0, first.stderr
    cmds = [orjson.loads(x) for x in first.stdout.splitlines()]
    sends = Counter((c["journey"], c["step"]) for c in cmds)
    (journey, step), n = max(sends.items(), key=lambda kv: (kv[1], kv[0]))
    mine = [c for c in cmds if (c["journey"], c["step"]) == (journey, step)]
    assert n >= 4
    receipts: list[bytes] = []
    for i, c in enumerate(mine):
        for status in ("delivered",) + (("opened",) if i < 2 else ()) + (("opened",) if i == 0 else ()):
            receipts.append(orjson.dumps({  # one customer opens twice: counted once
                "messageId": f"r-{i}-{status}-{len(receipts)}", "type": "track", "event": f"message_{status}",
                "userId": c["customer_id"], "timestamp": "2030-01-01T00:00:00Z",
                "properties": {"delivery_id": c["delivery_id"], "journey": journey, "step": step,
                               "channel": c["channel"]}}))
    events = tmp_path / "with-receipts.jsonl"
    events.write_bytes(Path(EVENTS).read_bytes().rstrip(b"\n") + b"\n" + b"\n".join(receipts) + b"\n")
    page = tmp_path / "page.html"
    p = run("simulate", "--events", str(events), "--report", "--html", str(page))
    assert p.returncode == 0, p.stderr
    want = f"delivered {n} (100.0%), opened 2 ({2 / n * 100:.1f}%)"
    (row,) = [ln for ln in p.stderr.splitlines() if ln.startswith(f"  {step} ") and "delivered" in ln]
    assert row.rstrip().endswith(want), row
    assert want in page.read_text()


def test_a_channel_whose_opens_come_without_deliveries_shows_no_delivery_rate(tmp_path: Path) -> None:
    """The SMTP adapter reports `sent`; `delivered` comes only from a provider's callback. With opens and no
    delivered receipt the channel row said "delivered 0 (0.0%)" beside "opened 100%" (a walkthrough): it is
    "–" there, as for a channel with no receipt at all."""
    import re

    first = run("simulate", "--events", EVENTS)
    assert first.returncode == 0, first.stderr
    emails = [c for c in map(orjson.loads, first.stdout.splitlines()) if c["channel"] == "email"]
    assert len(emails) >= 2
    receipts = [orjson.dumps({"messageId": f"o-{i}", "type": "track", "event": "message_opened",
                              "userId": c["customer_id"], "timestamp": "2030-01-01T00:00:00Z",
                              "properties": {"delivery_id": c["delivery_id"], "journey": c["journey"],
                                             "step": c["step"], "channel": "email"}})
                for i, c in enumerate(emails[:2])]
    events = tmp_path / "opens-only.jsonl"
    events.write_bytes(Path(EVENTS).read_bytes().rstrip(b"\n") + b"\n" + b"\n".join(receipts) + b"\n")
    page = tmp_path / "page.html"
    assert run("simulate", "--events", str(events), "--html", str(page)).returncode == 0
    rows = [dict(re.findall(r'<td data-k="channels\.email\.(\w+)"[^>]*>([^<]*)</td>', row))
            for row in re.findall(r"<tr><td>email</td>(.*?)</tr>", page.read_text())]
    opened = [cells for cells in rows if cells["opened"] != "–"]  # the journeys those deliveries were of
    assert opened, rows
    for cells in opened:
        assert cells["delivered"] == "–", cells
        assert cells["opened"].endswith("%)") and not cells["opened"].startswith("0 "), cells
        assert cells["bounced"] == "0 (0.0%)", cells  # no bounce is a rate: only the unreported status is blank
