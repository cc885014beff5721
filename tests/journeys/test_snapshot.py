"""An instance keeps only the parts of its entry event its steps can read, and renders exactly as before."""

from __future__ import annotations

import textwrap
from typing import Any

import msgspec
import pytest

from cjo_stream.engine import Engine
from cjo_stream.engine.core import _snapshot_view
from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.snapshot import KEEP_ALL, snapshot_spec
from cjo_stream.journeys.templates import Template
from cjo_stream.profile import Instance
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, journey

PROPS: dict[str, Any] = {
    "order_id": "o-1", "revenue": 120.5, "coupon": None, "size": "XL",
    "products": [{"name": "Shoe", "category": "shoes", "price": 80.0, "sku": "s-1"},
                 {"name": "Sock", "category": "socks", "price": 5.0, "sku": "s-2"}],
    "shipping": {"city": "Berlin", "zip": "10115", "street": "Unter den Linden 1"},
    "notes": "long free text the journey never reads " * 10,
}

TEMPLATES = [
    "{{ event.properties.products.first.name }} / {{ event.properties.products.first.category }}",
    "{{ event.properties.products[0].price }} {{ event.properties.shipping.city }}",
    "{{ event.properties.products.last.name }}",  # last: the whole list is kept
    "{{ event.properties.products | size }} items",
    "{% for p in event.properties.products %}{{ p.sku }},{% endfor %}",
    "{{ event.properties.shipping.size }} {{ event.properties.size }}",  # size: a key here, kept whole
    "{% assign e = event %}{{ e.properties.order_id }} {{ e.userId }}",  # alias: everything kept
    "{% assign k = 'revenue' %}{{ event.properties[k] }}",  # computed key: properties kept whole
    "{{ event.context.channel }} {{ event.messageId }} {{ event.event }} {{ event.timestamp }}",
    "{{ event.properties.missing.deeper | default: 'none' }} {{ event.traits.plan }}",
]


def _view() -> dict[str, Any]:
    e = ev("order_completed", T0, props=PROPS, traits={"plan": "pro", "email": "a@example.com"},
           context={"channel": "web", "ip": "10.0.0.1"})
    return e.view()


@pytest.mark.parametrize("src", TEMPLATES)
def test_template_renders_the_same_from_the_snapshot(src: str) -> None:
    tpl = Template(src)
    view = _view()
    spec = snapshot_spec(tpl.paths("event"))
    j = journey("journey: j\nentry: {event: order_completed}\nsteps:\n  - {id: w, wait: 1h}\n")
    snap = spec.take(view)
    stored = msgspec.msgpack.decode(msgspec.msgpack.encode(snap))
    inst = Instance(journey="j", version=1, instance_id="i", step="w", entered_at=T0, entry_event=stored)
    assert tpl.render({"event": _snapshot_view(inst, j)}) == tpl.render({"event": view})


def test_unread_parts_are_not_stored() -> None:
    spec = snapshot_spec(Template(TEMPLATES[0]).paths("event"))
    snap = spec.take(_view())
    assert snap == {"properties": {"products": [{"name": "Shoe", "category": "shoes"}]}}
    assert snapshot_spec([]).take(_view()) == {}
    assert snapshot_spec([()]) is KEEP_ALL


def test_example_journeys_keep_only_what_their_steps_read() -> None:
    by_id = {j.id: j for j in load_topology("topologies").journeys}
    assert by_id["winback"].snapshot.tree == {}
    assert by_id["post_purchase"].snapshot.tree == {
        "properties": {"products": {"first": {"name": None, "category": None}}, "order_id": None}}


def test_branch_after_a_timer_reads_the_kept_values() -> None:
    text = textwrap.dedent("""
    journey: big_order
    entry: {event: order_completed}
    steps:
      - {id: w, wait: 1h}
      - id: check
        branch:
          - when: event.properties.shipping.city == 'Berlin' and event.properties.revenue > 100
            next: thanks
          - else: end
      - id: thanks
        send: {channel: in_app, content: {body: "Danke! {{ event.properties.products.first.name }}"}}
    """)
    j = journey(text)
    sim = Simulator(Engine([j]))
    sim.handle(ev("order_completed", T0, props=PROPS))
    inst = sim.profiles["u1"].instances["big_order"]
    assert inst.entry_event == {"properties": {
        "shipping": {"city": "Berlin"}, "revenue": 120.5, "products": [{"name": "Shoe"}]}}
    sim.finish()
    assert [c.content["body"] for c in sim.commands] == ["Danke! Shoe"]
