"""A worker reads the topology's catalogs as ``simulate`` does (README, "Catalogs"), and a journey's profile
conditions (``wait_for: {condition}``, ``exit_on: [{condition}]``) move its instances there as offline: the
delivery commands on the topic name the product the event's ``sku`` points at."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.runtime.conftest import collect, event_line, keyed, produce, settings_for

pytestmark = pytest.mark.broker

JOURNEY = """journey: stock
re_entry: always
entry: {event: back_in_stock, when: "catalogs.products[event.properties.sku].in_stock == true"}
exit_on: [{condition: "profile.traits.blocked == true"}]
steps:
  - id: until_mailable
    wait_for: {condition: "profile.traits.email != null", timeout: 1d}
    next: mail
    on_timeout: end
  - id: mail
    send: {channel: email, content: {subject: "{{ catalogs.products[event.properties.sku].title }} is back", body: x}}
"""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_a_worker_looks_up_the_catalog_and_tests_profile_conditions(spawn: Any, worker_env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    root = tmp_path / "topo"
    (root / "journeys").mkdir(parents=True)
    (root / "journeys" / "stock.yaml").write_text(JOURNEY)
    (root / "catalogs").mkdir()
    (root / "catalogs" / "products.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in (
        {"id": "sku-1", "title": "Red shoes", "in_stock": True},
        {"id": 42, "title": "Blue hat", "in_stock": True},
        {"id": "sku-3", "title": "Green scarf", "in_stock": False})) + b"\n")
    w = spawn(CJO_TOPOLOGIES=str(root))
    s = settings_for(worker_env)
    w.wait_ready()

    def track(mid: str, who: str, sku: object) -> bytes:
        return event_line(messageId=mid, type="track", event="back_in_stock", userId=who, timestamp=_now(),
                          properties={"sku": sku})

    def identify(mid: str, who: str, **traits: object) -> bytes:
        return event_line(messageId=mid, type="identify", userId=who, timestamp=_now(), traits=traits)

    asyncio.run(produce(s.bootstrap, s.input_topic, keyed([
        identify("a1", "ann", email="ann@example.com"), track("a2", "ann", "sku-1"),   # mailable: at once
        track("b1", "bob", 42), identify("b2", "bob", email="bob@example.com"),         # waits for an address
        track("c1", "cid", 42), identify("c2", "cid", blocked=True),                    # exits while waiting
        identify("c3", "cid", email="cid@example.com"),
        identify("d1", "dan", email="dan@example.com"), track("d2", "dan", "sku-3"),   # out of stock: no entry
    ])))
    got = asyncio.run(collect(s.bootstrap, [s.delivery_topic("email")], lambda rs: len(rs) >= 2, 60))
    time.sleep(2)  # (a third command, if one were wrongly made, would be on its way by now)
    got = asyncio.run(collect(s.bootstrap, [s.delivery_topic("email")], lambda rs: len(rs) >= 3, 5))
    mails = sorted((c["customer_id"], c["content"]["subject"]) for c in (orjson.loads(r.value) for r in got))
    assert mails == [("ann", "Red shoes is back"), ("bob", "Blue hat is back")]
