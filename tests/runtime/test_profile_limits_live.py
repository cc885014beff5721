"""Live: valid events cannot grow a stored profile without bound. New trait keys beyond the limit are left
out and counted, and a profile over the size bound is shrunk before its changelog record is written
(a walkthrough's producer made 8 MB records, beyond Kafka's 1 MB default)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from cjo_stream.events import format_ts
from cjo_stream.profile import MAX_PROFILE_BYTES, MAX_TRAITS
from tests.runtime.conftest import collect, event_line, keyed, produce

pytestmark = pytest.mark.broker


async def test_traits_beyond_the_limits_are_left_out_counted_and_the_changelog_stays_small(
        spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn()
    w.wait_ready()
    t = time.time()
    lines = [event_line(messageId=f"keys-{n}", type="identify", userId="grower", timestamp=format_ts(t + n),
                        traits={f"k{n}_{i}": i for i in range(600)}) for n in range(3)]  # 1,800 keys
    lines += [event_line(messageId=f"big-{n}", type="identify", userId="heavy", timestamp=format_ts(t + n),
                         traits={f"blob{n}": "x" * 200_000}) for n in range(4)]  # 800 KB of values
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lines))
    deadline = time.monotonic() + 30
    grower = heavy = None
    while time.monotonic() < deadline:
        g, h = (httpx.get(f"{w.url}/customers/{c}", timeout=5) for c in ("grower", "heavy"))
        if g.status_code == h.status_code == 200 and g.json()["profile"]["counters"].get("identify") == 3 \
                and h.json()["profile"]["counters"].get("identify") == 4:
            grower, heavy = g.json()["profile"], h.json()["profile"]
            break
        time.sleep(0.2)
    assert grower is not None and heavy is not None
    assert len(grower["traits"]) == MAX_TRAITS and "k0_0" in grower["traits"] and "k1_399" in grower["traits"]
    assert "k1_400" not in grower["traits"] and not any(k.startswith("k2_") for k in grower["traits"])
    assert 0 < len(heavy["traits"]) < 4  # the largest values went, to stay within the bound

    metrics = httpx.get(f"{w.url}/metrics", timeout=5).text
    assert 'cjo_profile_limited_total{what="traits"} 2.0' in metrics  # the second identify and the third
    assert 'cjo_profile_limited_total{what="size"}' in metrics
    records = await collect(worker_env["CJO_BROKER"], ["cjo.profiles-changelog"], lambda rs: False, timeout=3)
    mine = [r for r in records if r.key in (b"grower", b"heavy")]
    assert mine and max(len(r.value) for r in mine if r.value) <= MAX_PROFILE_BYTES
