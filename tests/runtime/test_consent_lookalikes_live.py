"""A consent-lookalike event name, told by a live worker.

Only events named exactly ``unsubscribed`` withdraw consent; Segment's title case ``Unsubscribed`` changes
none, so its sender goes on being messaged. ``simulate`` and ``replay`` print a note on such names; a worker
said nothing. It now logs each such name once (the name only) and counts their events in
``cjo_consent_lookalike_events_total{event}``; ordinary names, and the real ``unsubscribed``, are neither.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from cjo_stream.events import format_ts
from cjo_stream.promtext import by_label, sums
from tests.runtime.conftest import event_line, keyed, produce

LOOKALIKE = "cjo_consent_lookalike_events_total"


async def consumed_at_least(w: Any, n: float) -> str:
    """The worker's metrics text once its customer stage has applied ``n`` events."""
    deadline = time.monotonic() + 60
    while True:
        text = httpx.get(f"{w.url}/metrics").text
        if sums(text).get("cjo_events_consumed_total", 0.0) >= n:
            return text
        assert time.monotonic() < deadline and w.proc.poll() is None, w.log()
        await asyncio.sleep(0.3)


async def test_a_worker_tells_an_event_named_as_a_consent_event_that_is_none(spawn: Any, worker_env: dict[str, str]
                                                                             ) -> None:
    w = spawn()
    w.wait_ready()
    now = format_ts(time.time())
    ordinary = [event_line(messageId=f"o{i}", type="track", event=name, userId=f"u{i}", timestamp=now,
                           properties={"channel": "email"})
                for i, name in enumerate(["Order Completed", "unsubscribed", "product_viewed"])]
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(ordinary))
    text = await consumed_at_least(w, 3)
    assert by_label(text, LOOKALIKE) == {}, text  # the real consent event and ordinary ones: no series
    assert "change no consent" not in w.log()

    lookalikes = [event_line(messageId=f"l{i}", type="track", event="Unsubscribed", userId=f"u{i}", timestamp=now,
                             properties={"channel": "email", "email": f"jane{i}@example.com"})
                  for i in range(2)]
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lookalikes))
    text = await consumed_at_least(w, 5)
    assert by_label(text, LOOKALIKE) == {"Unsubscribed": 2.0}, text
    told = [line for line in w.log().splitlines() if "change no consent" in line]
    assert len(told) == 1, told  # once a name, though two events (each batch publishes its counts)
    assert "events named 'Unsubscribed' change no consent: only events named exactly 'unsubscribed' withdraw it" \
        in told[0], told
    assert "jane" not in w.log() and "u0" not in told[0]  # the name only: no payload, no customer
