"""A goal with a conversion window (`goal: {event, within}`): the analytics count only the goal events within it,
and say the window (the API's `goal_within_s`, the page's conversion-rate card, the text report's journey line),
where a rate read without it looked low beside another tool's unwindowed one (an analyst's walkthrough)."""

from __future__ import annotations

from pathlib import Path

import orjson

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import definitions
from tests.conftest import journey
from tests.test_cli_errors import run

JOURNEY = """\
journey: news
entry: {event: signed_up}
goal: {event: order_completed, within: 2d}
max_duration: 10d
steps:
  - {id: letter, send: {channel: email, content: {subject: News, body: hi}}}
  - {id: w, wait: 5d}
"""


def test_goal_events_after_the_window_are_no_conversions_and_the_window_is_shown(tmp_path: Path) -> None:
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "journeys" / "news.yaml").write_text(JOURNEY)
    events = []
    for u in "abcd":
        events.append({"messageId": f"su-{u}", "type": "track", "event": "signed_up", "userId": u,
                       "timestamp": "2026-03-01T10:00:00Z", "properties": {}})
    # a after 1 day, b after 47 h: converted; c after 2 days and 1 hour, d never: not
    for u, at in (("a", "2026-03-02T10:00:00Z"), ("b", "2026-03-03T09:00:00Z"), ("c", "2026-03-03T11:00:00Z")):
        events.append({"messageId": f"o-{u}", "type": "track", "event": "order_completed", "userId": u,
                       "timestamp": at, "properties": {}})
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(map(orjson.dumps, events)) + b"\n")
    page = tmp_path / "page.html"
    p = run("simulate", "--topologies", str(topo), "--events", str(path), "--report", "--html", str(page))
    assert p.returncode == 0, p.stderr
    (row,) = [ln for ln in p.stderr.splitlines() if ln.startswith("news ") and "%" in ln]
    assert row.split()[1:5] == ["4", "0", "2", "50.0%"], row  # entered, active, converted, rate
    assert "\n== news  (goal: order_completed within 2.0d of entry)\n" in p.stderr, p.stderr
    assert "converted:2, ended:2" in p.stderr  # c's late order ended nothing: c waited out the 5 days
    assert "order_completed within 2.0d of entry" in page.read_text()


def test_the_api_gives_the_window_in_seconds() -> None:
    for text, within in ((JOURNEY, 172800.0), (JOURNEY.replace(", within: 2d", ""), None)):
        defs = definitions([journey(text)])
        (row,) = report.overview(Analytics().buckets, defs)
        assert row["goal_within_s"] == report.journey_report(Analytics().buckets, defs, "news")["totals"][
            "goal_within_s"] == within
