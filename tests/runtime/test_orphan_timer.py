"""Live: a cart whose checkout the customer's profile already holds (it arrived first, or under the other
id) ends its wait at once, and leaves no timer behind. A walkthrough's state API showed a pending
``wait_for`` timer for such an ended instance: the engine listed it as both set and cancelled in one
call, and the worker applies cancellations first."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cjo_stream.events import format_ts
from tests.runtime.conftest import ROOT, event_line, keyed, produce

pytestmark = pytest.mark.broker


def _state(url: str, cid: str) -> dict[str, Any] | None:
    r = httpx.get(f"{url}/customers/{cid}", timeout=5)
    return r.json() if r.status_code == 200 else None  # type: ignore[no-any-return]


async def test_a_checkout_applied_before_its_cart_leaves_no_pending_timer(spawn: Any, worker_env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    topo = tmp_path / "topologies"
    shutil.copytree(Path(ROOT) / "tests" / "runtime" / "topologies", topo)
    cart = topo / "journeys" / "quick_cart.yaml"
    cart.write_text(cart.read_text().replace("timeout: 3s", "timeout: 10m"))  # never due during the test
    w = spawn(CJO_TOPOLOGIES=str(topo))
    w.wait_ready()
    t = time.time()
    cart_line = {"type": "track", "event": "cart_item_added", "timestamp": format_ts(t),
                 "properties": {"cart_value": 50, "product_name": "Lamp"}}
    lines = [  # one id: the checkout arrives before the cart it follows
        event_line(messageId="k1", type="track", event="checkout_started", userId="one", timestamp=format_ts(t + 2)),
        event_line(messageId="c1", userId="one", **cart_line),
        # across ids: the checkout under the user id, the cart under the anonymous one, then the link
        event_line(messageId="k2", type="track", event="checkout_started", userId="two", timestamp=format_ts(t + 2)),
        event_line(messageId="c2", anonymousId="anon-two", **cart_line),
        event_line(messageId="i2", type="identify", userId="two", anonymousId="anon-two", timestamp=format_ts(t + 1),
                   traits={"email": "two@example.com"})]
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lines))
    deadline = time.monotonic() + 30
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        states = {cid: _state(w.url, cid) for cid in ("one", "two")}
        if all(s is not None and s["profile"]["counters"].get("cart_item_added") == 1
               and s["profile"]["counters"].get("checkout_started") == 1 for s in states.values()):
            break
        time.sleep(0.2)
    for cid, s in states.items():
        assert s is not None and s["profile"]["counters"].get("cart_item_added") == 1, (cid, s)
        assert s["active_journeys"] == [] and s["pending_timers"] == [], (cid, s)
