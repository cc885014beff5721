"""A customer's time zone that is none, told by a live worker.

The engine times a customer whose ``timezone`` trait (or ``context.timezone``) names no zone of the tz
database in ``default_timezone`` without a word; ``simulate`` and ``replay`` say so after a run, and a
worker did not at all, so a CRM import writing ``America/NewYork`` moved every live ``wait_until`` by
hours unseen. The worker logs each such name once (only names that look like one: a trait may hold any
text) and counts them in ``cjo_unknown_timezones``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from cjo_stream.events import format_ts
from cjo_stream.promtext import sums
from tests.runtime.conftest import event_line, keyed, produce

JOURNEY = """
journey: morning
entry: {event: signed_up}
steps:
  - id: at_nine
    wait_until: "09:00"
  - id: hello
    send: {channel: in_app, content: {body: "Good morning"}}
"""


async def test_a_worker_tells_zone_names_that_are_none(spawn: Any, worker_env: dict[str, str], tmp_path: Any) -> None:
    topo = tmp_path / "topologies"
    (topo / "journeys").mkdir(parents=True)
    (topo / "journeys" / "morning.yaml").write_text(JOURNEY)
    w = spawn(CJO_TOPOLOGIES=str(topo))
    w.wait_ready()
    now = format_ts(time.time())
    lines = [event_line(messageId=f"m{i}", type="track", event="signed_up", userId=f"u{i}", timestamp=now,
                        traits=traits)
             for i, traits in enumerate([{"timezone": "America/NewYork"}, {"timezone": "Ada Lovelace, Flat 3"},
                                         {"timezone": "Europe/Berlin"}, {"timezone": "America/NewYork"}])]
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lines))
    deadline = time.monotonic() + 60
    while sums(httpx.get(f"{w.url}/metrics").text).get("cjo_unknown_timezones", 0.0) < 2:
        assert time.monotonic() < deadline and w.proc.poll() is None, w.log()
        await asyncio.sleep(0.3)
    told = " ".join(line for line in w.log().splitlines() if "does not have" in line)  # a line a batch
    assert told.count("'America/NewYork' (did you mean 'America/New_York'?)") == 1, told  # each name once
    assert told.count("(not shown)") == 1 and "Ada" not in w.log() and "default_timezone UTC" in told, told
    assert sums(httpx.get(f"{w.url}/metrics").text)["cjo_unknown_timezones"] == 2
