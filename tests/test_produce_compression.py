"""`cjo-stream produce` writes its record batches with `CJO_COMPRESSION`'s codec, as the README says: a new user
sending compressed input the way a real producer does (lz4, zstd, snappy) needs no other client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from cjo_stream.config import Settings
from cjo_stream.kafka.batches import CODECS, BatchReader, _batches
from cjo_stream.kafka.local_broker import LocalBroker

ROOT = Path(__file__).resolve().parent.parent


async def _codecs(settings: Settings, topic: str, partitions: int) -> dict[str, int]:
    reader = BatchReader(settings)
    seen: dict[str, int] = {}
    try:
        for p in range(partitions):
            data, _ = await reader.fetch(TopicPartition(topic, p), 0)
            for batch, _size in _batches(data):
                codec = CODECS.get(batch.compression_type, "?")
                seen[codec] = seen.get(codec, 0) + 1
    finally:
        await reader.close()
    return seen


@pytest.mark.parametrize("codec", ["lz4", "snappy"])
def test_produce_writes_batches_with_the_configured_codec(codec: str) -> None:
    with LocalBroker() as broker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
        env.update(CJO_BROKER=broker.bootstrap, CJO_PARTITIONS="2", CJO_COMPRESSION=codec)
        done = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "produce", "--events",
                               str(ROOT / "schemas" / "examples" / "touchpoints.jsonl")],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        settings = Settings(bootstrap=broker.bootstrap)
        seen = asyncio.run(_codecs(settings, settings.input_topic, 2))
    assert seen and set(seen) == {codec}, seen
