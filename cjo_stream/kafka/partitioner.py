"""Key -> partition, as Kafka's Java client computes it (murmur2), cached for the hot path."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


class Partitioner:
    """Java-compatible murmur2 key partitioning with a bounded cache (aiokafka's murmur2 is pure Python)."""

    def __init__(self, partitions: int, cache_size: int = 200_000) -> None:
        self.partitions = partitions
        self._cache: dict[bytes, int] = {}
        self._max = cache_size

    def __call__(self, key: bytes) -> int:
        p = self._cache.get(key)
        if p is None:
            p = (murmur2(key) & 0x7FFFFFFF) % self.partitions
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[key] = p
        return p
