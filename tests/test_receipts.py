"""Receipts as touchpoint events: which repeats are one event (the workers' duplicate check keys on the id)."""

from __future__ import annotations

import orjson

from cjo_stream.commands import Receipt
from cjo_stream.events import decode_event
from cjo_stream.receipts import receipt_event, receipt_message_id
from cjo_stream.simulator import Simulator
from tests.conftest import engine

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
