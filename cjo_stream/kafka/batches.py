"""Record batches as the broker holds them, read with a plain Fetch request instead of a consumer.

Why: when aiokafka cannot decode a batch it raises out of ``getmany`` without saying at which offset
(see :mod:`cjo_stream.kafka.guard`). A batch's header is never compressed, so reading the partition's
batches straight from the broker tells exactly which offsets the unreadable batch spans, its codec and
what is wrong with it, and lets the records before it be handed on. The bench uses the same reader to
count the bytes the broker holds per topic (the compression section).

The decoding itself is aiokafka's (``MemoryRecords``, the record batch classes); only the request is
ours, built with aiokafka's own version-negotiating ``FetchRequest``.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord

from cjo_stream.config import Settings

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def _codec(batch: Any) -> str:
    code = getattr(batch, "compression_type", None)
    if code is None:
        return "unknown codec"
    return CODECS.get(code, f"unknown codec {code}")


@dataclass
class Unreadable:
    """A record batch the client cannot decode: where it is, how it is compressed, what is wrong."""

    base_offset: int
    next_offset: int  # first offset after the batch: where a consumer resumes when it is skipped
    codec: str
    problem: str
    batch_start: int = -1  # the batch's own first offset: below base_offset when the read began inside it


@dataclass
class Scan:
    """What a partition holds from an offset on: the readable records, then the first unreadable batch."""

    records: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)
    unreadable: Unreadable | None = None
    size: int = 0  # bytes of the batches read (as stored: compressed)
    end: int = 0  # the offset after the last batch read


def _decode(batch: Any) -> tuple[list[Any], str]:
    """The batch's records, or why aiokafka cannot read it: a CRC mismatch, a codec, a decompression error.

    A batch can be iterated once (aiokafka's C batch keeps its read position), hence one pass for both.
    """
    if not batch.validate_crc():
        return [], "CRC mismatch (corrupt record batch)"
    try:
        return list(batch), ""
    except Exception as e:  # noqa: BLE001 - any failure to decode is the answer
        return [], f"{type(e).__name__}: {e}"


def _consumer_record(tp: TopicPartition, r: Any) -> ConsumerRecord[bytes, bytes]:
    """A decoded record shaped as aiokafka's consumer hands it out."""
    return ConsumerRecord(tp.topic, tp.partition, r.offset, r.timestamp, r.timestamp_type, r.key, r.value,
                          r.checksum, len(r.key) if r.key is not None else -1,
                          len(r.value) if r.value is not None else -1, tuple(r.headers))


class BatchReader:
    """Fetches raw record batches of any partition (leader lookup, one request per read)."""

    def __init__(self, settings: Settings, max_bytes: int = 4 * 1024 * 1024, max_wait_ms: int = 100) -> None:
        self.settings = settings
        self.max_bytes = max_bytes
        self.max_wait_ms = max_wait_ms
        self._client: AIOKafkaClient | None = None

    async def _connected(self, topic: str) -> AIOKafkaClient:
        if self._client is None:
            self._client = AIOKafkaClient(**self.settings.kafka_kwargs())
            await self._client.bootstrap()
        if topic not in self._client._topics:  # noqa: SLF001 - aiokafka has no public "is tracked"
            topics = {*self._client._topics, topic}  # noqa: SLF001
            await self._client.set_topics(topics)
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    async def fetch(self, tp: TopicPartition, offset: int) -> tuple[bytes, int]:
        """The raw bytes of the batches at ``offset`` and after (up to ``max_bytes``), and the high watermark."""
        client = await self._connected(tp.topic)
        node = client.cluster.leader_for_partition(tp)
        if node is None or node < 0:
            await client.force_metadata_update()
            node = client.cluster.leader_for_partition(tp)
            if node is None or node < 0:
                raise RuntimeError(f"no leader known for {tp.topic}[{tp.partition}]")
        # Tansu answers a fetch with max wait 0 with nothing at all, so wait (100 ms by default) for one byte
        req = FetchRequest(self.max_wait_ms, 1, self.max_bytes, 0,
                           [(tp.topic, [(tp.partition, offset, self.max_bytes)])])
        resp = await client.send(node, req)
        for _topic, partitions in resp.topics:
            for partition, error_code, highwater, *part_data in partitions:
                if partition != tp.partition:
                    continue
                if error_code:
                    raise for_code(error_code)(f"fetch {tp.topic}[{tp.partition}] at {offset}")
                return bytes(part_data[-1] or b""), highwater
        return b"", -1

    async def scan(self, tp: TopicPartition, offset: int, *, until_unreadable: bool = True,
                   max_reads: int = 4) -> Scan:
        """Read ``tp`` from ``offset``: readable records until the first unreadable batch (or the end).

        Reads up to ``max_reads`` times ``max_bytes``; with ``until_unreadable=False`` the records are not
        collected, only sizes (for counting a topic's bytes).
        """
        out = Scan(end=offset)
        for _ in range(max_reads):
            data, highwater = await self.fetch(tp, out.end)
            progressed = False
            for batch, size in _batches(data):
                nxt = batch.next_offset
                if nxt <= out.end:
                    continue  # a batch that ends before the offset asked for (brokers start at its batch)
                progressed = True
                out.size += size
                if until_unreadable:
                    records, problem = _decode(batch)
                    if problem:
                        base = getattr(batch, "base_offset", out.end)
                        out.unreadable = Unreadable(max(base, out.end), nxt, _codec(batch), problem, base)
                        return out
                    if not batch.is_control_batch:
                        out.records.extend(_consumer_record(tp, r) for r in records if r.offset >= out.end)
                out.end = nxt
            if not progressed or out.end >= highwater:
                break
        return out

    async def topic_bytes(self, topic: str) -> int:
        """Bytes of every record batch of ``topic`` as the broker holds them (compressed as produced)."""
        client = await self._connected(topic)
        total = 0
        for p in sorted(client.cluster.partitions_for_topic(topic) or ()):
            total += (await self.scan(TopicPartition(topic, p), 0, until_unreadable=False, max_reads=1_000_000)).size
        return total


def _batches(data: bytes) -> Iterator[tuple[Any, int]]:
    """The complete record batches in a fetched message set, with their sizes in bytes.

    aiokafka's ``MemoryRecords`` walks the batches (and drops a trailing partial one); the size is the
    batch header's length field plus the 12 bytes of offset and length before it.
    """
    records = MemoryRecords(data)
    pos = 0
    while records.has_next():
        batch = records.next_batch()
        if batch is None:
            return
        _, length = struct.unpack_from(">qi", data, pos)
        pos += 12 + length
        yield batch, 12 + length
