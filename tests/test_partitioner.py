"""The partitioner agrees with Kafka's murmur2 whatever its cache holds, and its cache stays bounded."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2

from cjo_stream.kafka import partitioner
from cjo_stream.kafka.partitioner import Partitioner


def test_our_murmur2_is_kafkas() -> None:
    """Every length (each tail of 0-3 bytes, the precomputed unpackers and past them), random and
    high bytes (Java reads signed bytes), against aiokafka's transcription of the Java client."""
    rnd = random.Random(2)
    keys = [bytes(rnd.randrange(256) for _ in range(n)) for n in [*range(80), 255, 256, 257, 1000] for _ in range(5)]
    keys += [b"\xff" * n for n in range(9)] + ["é-ü-\u00ff".encode() * 3]
    assert [partitioner.murmur2(k) for k in keys] == [murmur2(k) for k in keys]


def test_cached_partitions_match_murmur2_and_the_cache_is_bounded() -> None:
    part = Partitioner(8, cache_size=100)
    keys = [f"u-{i % 700}".encode() for i in range(5000)]  # more distinct keys than the cache holds
    assert [part(k) for k in keys] == [(murmur2(k) & 0x7FFFFFFF) % 8 for k in keys]
    assert len(part._cache) + len(part._old) <= 100  # noqa: SLF001 - the bound is the point


def test_recent_keys_survive_a_generation_change() -> None:
    part = Partitioner(4, cache_size=4)
    part(b"hot")
    for k in (b"a", b"b"):
        part(k)
    part(b"hot")  # found in the old generation: moves to the young one
    part(b"c")
    assert b"hot" in part._cache or b"hot" in part._old  # noqa: SLF001
