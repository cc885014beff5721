"""The abandoned-cart journey as one plain function, for the peers a user would write in another framework.

The plain Faust peer's journey (cjo_stream/bench/plain_faust.py): per-customer state, one reminder for
a cart left longer than the wait once the email is known, a "converted" message for an order after a
reminder. Quix Streams and Bytewax plug it into their own stateful operator (state per
message key). Neither has wall-clock timers in that operator, so the reminder is decided at the
customer's next event (at event time, so a replay decides the same) rather than by a periodic scan.

Also here: the progress line every peer appends for the bench (``BENCH_PROGRESS``), so each peer is
measured the same way, from the first processed event to the last.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

import orjson

WAIT_S = 3600.0
State = dict[str, Any]


def step(state: State | None, ev: dict[str, Any], wait_s: float = WAIT_S) -> tuple[State, list[State]]:
    """One event through the journey: the customer's new state and the messages to send."""
    state = dict(state or {})
    out: list[State] = []
    now = datetime.fromisoformat(ev["timestamp"]).timestamp()
    cid = ev.get("userId") or ev.get("anonymousId") or ""
    name = ev.get("event") or ev.get("type")
    cart_at = state.get("cart_at")
    if cart_at is not None and now - cart_at > wait_s and state.get("email"):
        out.append({"customer": cid, "to": state["email"], "product": state.get("product")})
        state["reminded"] = True
        del state["cart_at"]
    state["seen"] = ev.get("timestamp")
    if ev.get("type") == "identify":
        state["email"] = (ev.get("traits") or {}).get("email", state.get("email"))
    if name == "cart_item_added":
        state["cart_at"] = now
        state["product"] = (ev.get("properties") or {}).get("product_name")
    elif name in ("checkout_started", "order_completed", "cart_emptied"):
        state.pop("cart_at", None)
        if name == "order_completed" and state.pop("reminded", None):
            out.append({"customer": cid, "converted": True})
    return state, out


class Progress:
    """Events handled so far, appended as ``{"n", "t", "cpu"}`` to ``BENCH_PROGRESS`` every 0.5 s (and at
    ``BENCH_EXPECT`` events), so the bench measures each peer in its own process the same way."""

    def __init__(self) -> None:
        self.path = os.environ.get("BENCH_PROGRESS", "/tmp/cjo-bench-peer.progress")
        self.expect = int(os.environ.get("BENCH_EXPECT", "0"))
        self.n = 0
        self.next = 0.0

    def tick(self) -> None:
        self.n += 1
        now = time.time()
        if now >= self.next or self.n == self.expect:
            self.next = now + 0.5
            with open(self.path, "ab") as f:
                f.write(orjson.dumps({"n": self.n, "t": now, "cpu": time.process_time()}) + b"\n")
