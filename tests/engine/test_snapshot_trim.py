"""A parked instance keeps its entry snapshot only while a step it can still reach reads ``event.*``
(or hands over): past the last such step it was stored for nothing, in every in-flight profile."""

from __future__ import annotations

from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

JOURNEY = """
journey: cart
entry: {event: cart_item_added}
steps:
  - id: first_wait
    wait: 1h
  - id: remind
    send: {channel: email, content: {subject: "You left {{ event.properties.product_name }} behind"}}
  - id: second_wait
    wait: 1d
  - id: branchy
    branch:
      - when: profile.traits.vip == true
        next: late_read
      - else: nudge
  - id: nudge
    send: {channel: email, content: {subject: "Still there?"}}
  - id: third_wait
    wait: 1d
  - id: late_read
    send: {channel: email, content: {subject: "About {{ event.properties.product_name }}"}}
"""


def test_the_snapshot_goes_once_no_reachable_step_reads_it() -> None:
    e = engine(JOURNEY)
    j = e.current["cart"]
    # late_read reads event and is reachable from every step up to branchy (and from nudge/third_wait
    # through the list's order: third_wait continues to late_read)
    assert j.keeps_event == frozenset({"first_wait", "remind", "second_wait", "branchy", "nudge", "third_wait",
                                       "late_read"})
    plain = engine(JOURNEY.replace("About {{ event.properties.product_name }}", "About it"))
    k = plain.current["cart"]
    assert k.keeps_event == frozenset({"first_wait", "remind"})  # after the reminder nothing reads it

    s = Simulator(plain)
    s.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com"}))
    s.handle(ev("cart_item_added", T0 + 1, props={"product_name": "Lamp", "cart_value": 30}))
    p = s.profiles["u1"]
    assert p.instances["cart"].entry_event == {"properties": {"product_name": "Lamp"}}  # remind still ahead
    s.finish(T0 + 2 * 3600)
    assert [c.content["subject"] for c in s.commands] == ["You left Lamp behind"]
    inst = p.instances["cart"]
    assert inst.step == "second_wait" and inst.entry_event == {}  # parked past the last reader

    kept = Simulator(e)
    kept.handle(ev("identify", T0, type="identify", traits={"email": "u@example.com", "vip": True}))
    kept.handle(ev("cart_item_added", T0 + 1, props={"product_name": "Lamp"}))
    kept.finish(T0 + 2 * 3600)
    assert kept.profiles["u1"].instances["cart"].entry_event == {"properties": {"product_name": "Lamp"}}
    kept.finish()
    assert [c.content["subject"] for c in kept.commands] == ["You left Lamp behind", "About Lamp"]
