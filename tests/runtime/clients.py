"""Other ways of writing to Kafka than our own producer: librdkafka (confluent-kafka) and raw batches.

librdkafka is the client under most Go/.NET/Node/Python stacks and Kafka Connect's peers; a raw produce
request writes exactly the record batch a test needs (a corrupt one, or one stamped LogAppendTime as a
Kafka broker stamps batches of such a topic) — the local Tansu broker stores batches as they come.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer
from confluent_kafka import TopicPartition as CTopicPartition

Record = tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]  # key, value, headers

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def rdkafka_produce(bootstrap: str, topic: str, records: Sequence[Record], *, compression: str = "none",
                    partition: int | None = None, linger_ms: int = 20, transactional_id: str | None = None) -> None:
    """Produce with librdkafka; records sent together land in one compressed batch per partition.
    With ``transactional_id``, in one transaction, committed (as an exactly-once upstream writes)."""
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "compression.type": compression, "linger.ms": linger_ms,
                            "log_level": 3}
    if transactional_id is not None:
        conf["transactional.id"] = transactional_id
    p = Producer(conf)
    if transactional_id is not None:
        p.init_transactions(30)
        p.begin_transaction()
    errors: list[Any] = []

    def done(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for key, value, headers in records:
        kw: dict[str, Any] = {"key": key, "value": value, "headers": list(headers), "on_delivery": done}
        if partition is not None:
            kw["partition"] = partition
        p.produce(topic, **kw)
    if transactional_id is not None:
        p.commit_transaction(30)  # flushes first
    assert p.flush(30) == 0, "librdkafka could not deliver everything within 30 s"
    assert not errors, errors


def rdkafka_consume(bootstrap: str, topics: Sequence[str], until: Callable[[list[Any]], bool],
                    timeout: float) -> list[Any]:
    """Read every partition of ``topics`` from the beginning with librdkafka (no group: assigned)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "interop-reader", "enable.auto.commit": False,
                  "log_level": 3})
    try:
        meta = c.list_topics(timeout=10)
        c.assign([CTopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in meta.topics[t].partitions])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(out):
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out.append(m)
        return out
    finally:
        c.close()


def raw_batch(records: Sequence[Record], *, compression: str = "none", log_append_time: int | None = None,
              corrupt: bool = False) -> bytes:
    """One v2 record batch. ``log_append_time``: stamped as a broker stamps a LogAppendTime topic's batches
    (timestamp-type attribute bit and max timestamp; CRC recomputed). ``corrupt``: a payload byte flipped
    after the CRC was computed."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=CODECS[compression], is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    now = int(time.time() * 1000)
    for i, (key, value, headers) in enumerate(records):
        b.append(i, timestamp=now, key=key, value=value, headers=list(headers))
    buf = bytearray(b.build())
    if log_append_time is not None:
        attrs = struct.unpack_from(">h", buf, 21)[0]
        struct.pack_into(">h", buf, 21, attrs | 0x08)  # timestamp type: LogAppendTime
        struct.pack_into(">q", buf, 35, log_append_time)  # max timestamp: what consumers see for every record
        struct.pack_into(">I", buf, 17, calc_crc32c(bytes(buf[21:])))
    if corrupt:
        buf[-2] ^= 0xFF
    return bytes(buf)


def control_batch(*, commit: bool = True, producer_id: int = 4242) -> bytes:
    """A transaction's end marker as a broker writes it: a v2 batch with the transactional and control attributes
    and one control record (key: version 0, type 1 commit / 0 abort; value: version 0, coordinator epoch 0).
    The local broker cannot run transactions (``InitProducerId`` fails), so tests write the marker themselves."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=True, producer_id=producer_id,
                                  producer_epoch=0, base_sequence=-1, batch_size=1 << 20)
    b.append(0, timestamp=int(time.time() * 1000), key=struct.pack(">hh", 0, 1 if commit else 0),
             value=struct.pack(">hi", 0, 0), headers=[])
    buf = bytearray(b.build())
    attrs = struct.unpack_from(">h", buf, 21)[0]
    struct.pack_into(">h", buf, 21, attrs | 0x20)  # control batch
    struct.pack_into(">I", buf, 17, calc_crc32c(bytes(buf[21:])))
    return bytes(buf)


async def raw_produce(bootstrap: str, topic: str, partition: int, batch: bytes) -> int:
    """Write ``batch`` as it is with one Produce request; returns its base offset."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        await client.set_topics([topic])
        node = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        resp = await client.send(node, ProduceRequest(None, -1, 10_000, [(topic, [(partition, batch)])]))
        (_, [(p, error_code, offset, *_)]), = resp.topics
        assert error_code == 0, f"the broker refused the batch: error {error_code}"
        return int(offset)
    finally:
        await client.close()
