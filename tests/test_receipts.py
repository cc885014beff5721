"""Receipts as touchpoint events: which repeats are one event (the workers' duplicate check keys on the id)."""

from __future__ import annotations

from pathlib import Path

import orjson

from cjo_stream.commands import Receipt
from cjo_stream.events import decode_event
from cjo_stream.receipts import receipt_event, receipt_line, receipt_message_id
from cjo_stream.simulator import Simulator
from tests.conftest import engine
from tests.test_cli_errors import run

CLICKS = """
journey: clicks
entry: {event: message_clicked, when: "event.properties.attributes.url == 'https://shop.example/b'"}
steps:
  - {id: note, send: {channel: in_app, content: {body: b}}}
"""


def receipt(status: str, url: str | None = None, at: str = "2026-03-02T10:00:00Z") -> Receipt:
    return Receipt(delivery_id="d1", customer_id="u1", channel="email", status=status, at=at,  # type: ignore[arg-type]
                   attributes={"url": url} if url else {})


def test_a_click_on_another_link_is_an_event_of_its_own() -> None:
    """Every receipt of a delivery and status had one id: a click on a second link was dropped as a duplicate
    of the first, and a journey waiting for that link never saw it (a walkthrough)."""
    a, b = receipt("clicked", "https://shop.example/a"), receipt("clicked", "https://shop.example/b")
    assert receipt_message_id(a) != receipt_message_id(b)
    again = receipt("clicked", "https://shop.example/a", at="2026-03-02T10:05:00Z")  # the same link again
    assert receipt_message_id(again) == receipt_message_id(a)
    assert receipt_message_id(receipt("opened")) == receipt_message_id(receipt("opened", at="2026-03-02T11:00:00Z"))
    assert receipt_message_id(receipt("sent")) == "receipt:d1:sent"
    sim = Simulator(engine(CLICKS))
    for r in (a, b):
        sim.handle(decode_event(receipt_event(r)))
    assert sim.duplicates == 0 and [c.content["body"] for c in sim.commands] == ["b"]
    assert orjson.loads(receipt_event(b))["properties"]["attributes"] == {"url": "https://shop.example/b"}


def test_receipt_lines_of_an_events_file_are_read_as_their_events(tmp_path: Path) -> None:
    """``simulate`` refused the lines of ``tail --receipts`` (``missing_field``: no messageId) while its notes asked
    for receipts in the input; they are now the events the workers make of them, line for line."""
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "policies.yaml").write_text("channels:\n  myco_whatsapp: {address: whatsapp}\n")
    (topo / "journeys" / "wa.yaml").write_text(
        "journey: wa\nentry: {event: signed_up}\nsteps:\n"
        "  - id: hello\n    send: {channel: myco_whatsapp, content: {body: hi}}\n"
        "  - id: wait\n    wait_for: {event: message_opened, when: \"event.properties.journey == journey.id and event.properties.channel == 'myco_whatsapp'\", "
        "timeout: 1h}\n    on_event: thanks\n    on_timeout: end\n"
        "  - id: thanks\n    send: {channel: crm, content: {status: engaged}}\n")
    receipt = {"delivery_id": "d1", "customer_id": "c1", "channel": "myco_whatsapp", "status": "opened",
               "at": "2026-12-01T10:00:30Z", "journey": "wa", "step": "hello"}
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(orjson.dumps(e).decode() for e in [
        {"messageId": "m1", "type": "identify", "userId": "c1", "timestamp": "2026-12-01T10:00:00Z",
         "traits": {"whatsapp": "+4915100001"}},
        {"messageId": "m2", "type": "track", "event": "signed_up", "userId": "c1", "timestamp": "2026-12-01T10:00:00Z"},
        receipt, {**receipt, "customer_id": ""}]) + "\n")
    p = run("simulate", "--topologies", str(topo), "--events", str(events))
    assert p.returncode == 0, p.stderr
    assert [orjson.loads(line)["channel"] for line in p.stdout.splitlines()] == ["myco_whatsapp", "crm"]
    # a line that is no readable receipt is told by the event rules, at its own line number
    assert f"{events}:4: skipped bad event (missing_field)" in p.stderr
    assert receipt_line(b"{}") is None
    got = receipt_line(orjson.dumps(receipt))
    assert got is not None and got.name.startswith("message_") and got.user_id == receipt["customer_id"]
