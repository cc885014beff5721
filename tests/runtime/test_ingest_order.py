"""Stage 1 forwards a fetch in event-time order: events of one customer that producers spread over partitions
(no key, a random key) reach the customer in the order they happened, so a send reads the address the
``identify`` just before it gave (runtime.ingest)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.runtime.decoded import Decoded
from cjo_stream.runtime.ingest import Ingest
from tests.runtime.conftest import collect
from tests.runtime.test_aliases import InputRec

T0 = 1_790_000_000.0


class Out:
    def __init__(self, s: Settings) -> None:
        self.partitioner = Partitioner(s.partitions)
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
            headers: Any = ()) -> None:
        self.sent.append((topic, key, value))


def rec(partition: int, offset: int, **fields: Any) -> InputRec:
    return InputRec("cjo.touchpoints", partition, offset, None, orjson.dumps(fields), [])


@pytest.mark.parametrize("kept", [False, True])
def test_a_fetch_is_forwarded_in_event_time_order_stable_and_dead_letters_stay_out(kept: bool) -> None:
    s = Settings(partitions=4)
    out = Out(s)
    ingest = Ingest(s, Decoded(owned=range(4)) if kept else None)
    records = [  # partition 0 then partition 1, as a fetch holds them
        rec(0, 0, messageId="t", type="track", event="signed_up", userId="u1", timestamp=format_ts(T0 + 0.002)),
        rec(0, 1, messageId="a", type="track", event="a", userId="u2", timestamp=format_ts(T0 + 5)),
        InputRec("cjo.touchpoints", 0, 2, None, b"{not json", []),
        rec(0, 3, messageId="b", type="track", event="b", userId="u2", timestamp=format_ts(T0 + 5)),  # same time as a
        rec(1, 0, messageId="i", type="identify", userId="u1", timestamp=format_ts(T0 + 0.001),
            traits={"email": "u1@example.com"}),
        rec(1, 1, messageId="c", type="track", event="c", userId="u3", timestamp=format_ts(T0 - 60)),
    ]
    ingest.process(records, out)  # type: ignore[arg-type]
    forwarded = [orjson.loads(v or b"")["messageId"] for t, _, v in out.sent if t == s.internal_topic]
    assert forwarded == ["c", "i", "t", "a", "b"]
    assert [t for t, _, _ in out.sent].count(s.dlq_topic) == 1 and ingest.forwarded == 5
    if kept:  # the events kept for stage 2 are the very values forwarded
        assert {id(v) for t, _, v in out.sent if t == s.internal_topic} == set(ingest.decoded.by_id)  # type: ignore[union-attr]


@pytest.mark.broker
async def test_unkeyed_producers_sign_ups_get_their_welcome_mail_live(spawn: Any, worker_env: dict[str, str],
                                                                       tmp_path: Any) -> None:
    """Each identify and the sign-up tracked a millisecond after it go to different partitions (a producer
    without keys): every sign-up gets its welcome e-mail (20 of 30 were skipped no_address before)."""
    topo = tmp_path / "topologies" / "journeys"
    topo.mkdir(parents=True)
    (topo / "welcome.yaml").write_text(
        "journey: welcome\nentry: {event: signed_up}\nsteps:\n"
        "  - id: hello\n    send: {channel: email, content: {subject: Welcome, body: Hi}}\n")
    bootstrap = worker_env["CJO_BROKER"]
    rng = random.Random(7)
    now = time.time()
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await p.start()
    try:
        from cjo_stream.kafka.topics import ensure_topics

        await ensure_topics(Settings(bootstrap=bootstrap, partitions=4), ["cjo.touchpoints"])
        futs = []
        for i in range(30):
            t = now + i * 0.01
            first, second = rng.sample(range(4), 2)  # never the same partition
            futs.append(await p.send("cjo.touchpoints", orjson.dumps({
                "messageId": f"i-{i}", "type": "identify", "userId": f"u{i}", "timestamp": format_ts(t),
                "traits": {"email": f"u{i}@example.com"}}), partition=first))
            futs.append(await p.send("cjo.touchpoints", orjson.dumps({
                "messageId": f"s-{i}", "type": "track", "event": "signed_up", "userId": f"u{i}",
                "timestamp": format_ts(t + 0.001)}), partition=second))
        await asyncio.gather(*futs)
    finally:
        await p.stop()
    w = spawn(CJO_TOPOLOGIES=str(tmp_path / "topologies"))  # started after: the backlog is fetched whole
    w.wait_ready()
    got = await collect(bootstrap, ["cjo.delivery.email", "cjo.delivery.skipped"], lambda rs: len(rs) >= 30,
                        timeout=60)
    await asyncio.sleep(1)
    got = await collect(bootstrap, ["cjo.delivery.email", "cjo.delivery.skipped"], lambda rs: False, timeout=2)
    assert sorted(r.topic for r in got) == ["cjo.delivery.email"] * 30, \
        sorted(orjson.loads(r.value).get("reason", "") for r in got if r.topic == "cjo.delivery.skipped")
