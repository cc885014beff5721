"""Throttles in the workers: each partition holds its share of a deployment-wide limit, durably.

Stage-2 partitions with in-memory stores (no broker): a burst of entries spread over the partitions
sends at most the journey's ``max`` in a window across all of them, the rest go out in later windows,
and a partition opened again on its stores (a restart) still knows what its window has used.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.engine import Engine
from cjo_stream.events import format_ts
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kv import MemoryKV
from cjo_stream.runtime.aliases import Links
from cjo_stream.runtime.customers import KIND_EVENT, THROTTLES_KEY, CustomerPartition
from tests.conftest import T0, journey
from tests.runtime.fakes import Commands, Rec

PROMO = """
journey: promo
entry: {event: signed_up}
steps:
  - id: sms
    send: {channel: sms, content: {body: "hi"}, throttle: {max: 8, per: 1h}}
"""
N = 4


def partitions(stores: list[tuple[MemoryKV, MemoryKV, MemoryKV]], s: Settings) -> list[CustomerPartition]:
    engine = Engine([journey(PROMO)], throttle_share=1 / N)  # as the worker makes it
    return [CustomerPartition(p, engine, s, prof, timers, Links(links, s.aliases_topic, p))
            for p, (prof, timers, links) in enumerate(stores)]


def entries(first: int, n: int, at: float) -> list[tuple[bytes, bytes]]:
    return [(f"c{i:03d}".encode(), orjson.dumps({
        "messageId": f"m{i}", "type": "identify", "userId": f"c{i:03d}", "timestamp": format_ts(at),
        "traits": {"phone": f"+1555{i:04d}"}})) for i in range(first, first + n)] + [
        (f"c{i:03d}".encode(), orjson.dumps({
            "messageId": f"s{i}", "type": "track", "event": "signed_up", "userId": f"c{i:03d}",
            "timestamp": format_ts(at + 0.001)})) for i in range(first, first + n)]


def feed(parts: list[CustomerPartition], recs: list[tuple[bytes, bytes]], offsets: list[int], out: Commands) -> None:
    route = Partitioner(N)
    by_part: dict[int, list[Rec]] = {}
    for key, value in recs:
        p = route(key)
        by_part.setdefault(p, []).append(Rec(key, value, offsets[p], [("k", KIND_EVENT)]))
        offsets[p] += 1
    for p, batch in by_part.items():
        parts[p].process(batch, T0 + 5, out, metrics.BatchCounts())  # type: ignore[arg-type]


def test_a_burst_sends_the_deployment_wide_max_and_a_restart_keeps_the_windows() -> None:
    s = Settings(partitions=N)
    stores = [(MemoryKV(), MemoryKV(), MemoryKV()) for _ in range(N)]
    parts, offsets, out = partitions(stores, s), [0] * N, Commands("cjo.delivery.sms")
    feed(parts, entries(0, 60, T0), offsets, out)
    sent = Counter(Partitioner(N)(c["customer_id"].encode()) for c in out.commands)
    # each of the 4 partitions may send 8 / 4 = 2 in the hour that its first send opened
    assert len(out.commands) == 8 and set(sent.values()) == {2}, sent
    assert all(prof.get(THROTTLES_KEY) is not None for prof, _, _ in stores)  # stored with the profiles
    assert sum(len(t) for _, t, _ in stores) == 60 - 8  # the rest wait for the next window, as timers
    assert sum(p.customers() for p in parts) == 60

    # a restart: the partitions open again on the same stores; more entries in the same hour wait too
    again, out2 = partitions(stores, s), Commands("cjo.delivery.sms")
    feed(again, entries(60, 20, T0 + 60), offsets, out2)
    assert out2.commands == []


def test_a_worker_gives_each_partition_its_share_of_a_throttle(tmp_path: Any) -> None:
    from cjo_stream.journeys.loader import Topology
    from cjo_stream.journeys.policies import Policies
    from cjo_stream.runtime.worker import StreamWorker

    topo = Topology(journeys=[journey(PROMO)], policies=Policies())
    w = StreamWorker(Settings(partitions=8, store="memory", data_dir=str(tmp_path)), topo)
    assert w.engine.throttle_share == 1 / 8
