"""Per subscription topic, a journey's sends, its skips by reason and its unsubscribes: the channel's row put the
newsletter and the order mail together, and no step row said its topic, so an analyst could not tell how many
newsletters the customers' topic consent held back (an analyst's walkthrough)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from tests.test_cli_errors import run

POLICIES = "consent: opt_out\ntopics: {newsletter: opt_out, offers: opt_in}\n"
JOURNEY = """\
journey: news
entry: {event: signed_up}
steps:
  - {id: letter, send: {channel: email, topic: newsletter, content: {subject: News, body: hi}}}
  - {id: offer, send: {channel: email, topic: offers, content: {subject: Offer, body: hi}}}
  - {id: order_mail, send: {channel: email, content: {subject: Order, body: hi}}}
  - {id: letter_again, send: {channel: email, topic: newsletter, content: {subject: More news, body: hi}}}
"""


def _event(mid: str, uid: str, name: str, at: str, **props: object) -> dict[str, object]:
    return {"messageId": mid, "type": "track", "event": name, "userId": uid, "timestamp": at, "properties": props}


def test_a_journeys_sends_and_skips_are_counted_per_topic(tmp_path: Path) -> None:
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "policies.yaml").write_text(POLICIES)
    (topo / "journeys" / "news.yaml").write_text(JOURNEY)
    users = ["a", "b", "c", "d"]
    events: list[dict[str, object]] = [{"messageId": f"id-{u}", "type": "identify", "userId": u, "timestamp": "2026-03-01T09:00:00Z",
               "traits": {"email": f"{u}@example.com"}} for u in users]
    events += [_event("un-b", "b", "unsubscribed", "2026-03-01T09:10:00Z", topic="newsletter"),  # leaves one topic
               _event("sub-c", "c", "subscribed", "2026-03-01T09:10:00Z", topic="offers")]  # joins the opt_in one
    events += [_event(f"su-{u}", u, "signed_up", "2026-03-01T10:00:00Z") for u in users]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(map(orjson.dumps, events)) + b"\n")
    first = run("simulate", "--topologies", str(topo), "--events", str(path))
    assert first.returncode == 0, first.stderr
    letter_a = next(c for c in map(orjson.loads, first.stdout.splitlines())
                    if c["customer_id"] == "a" and c["step"] == "letter")
    events.append(_event("r-a", "a", "message_unsubscribed", "2026-03-01T11:00:00Z",
                         delivery_id=letter_a["delivery_id"], journey="news", step="letter", channel="email"))
    path.write_bytes(b"\n".join(map(orjson.dumps, events)) + b"\n")
    page = tmp_path / "page.html"
    p = run("simulate", "--topologies", str(topo), "--events", str(path), "--report", "--html", str(page))
    assert p.returncode == 0, p.stderr
    # newsletter: 3 + 3 sent (b left it: 2 skipped), offers: c alone (3 never joined); the order mail has no topic
    assert "  channel email: sent 11, skipped 5" in p.stderr, p.stderr
    assert "  topic newsletter (letter, letter_again): sent 6, skipped no_consent=2, unsubscribed 1" in p.stderr
    assert "  topic offers (offer): sent 1, skipped no_consent=3\n" in p.stderr + "\n"
    html = page.read_text()
    cells = dict(re.findall(r'data-k="topics\.(\w+\.\w+)" data-v="(\d+)"', html))
    assert cells == {"newsletter.sent": "6", "newsletter.unsubscribed": "1", "offers.sent": "1",
                     "offers.unsubscribed": "0"}
    assert "<td>no_consent 2</td>" in html and "<td>no_consent 3</td>" in html
