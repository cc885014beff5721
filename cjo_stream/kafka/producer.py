"""The producer every process uses: large record batches, acks from all in-sync replicas."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from cjo_stream.config import Settings


def make_producer(settings: Settings, **extra: object) -> AIOKafkaProducer:
    """A producer with the deployment's codec (``CJO_COMPRESSION``) and linger (``CJO_LINGER_MS``: how long
    a record sent on its own waits for others to share its record batch); ``extra`` overrides any argument.

    The worker's own outputs do not wait for it: its outbox closes each batch when the batch step ends.
    """
    kw = settings.kafka_kwargs()
    kw.update(linger_ms=settings.linger_ms, max_batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024, acks="all",
              compression_type=None if settings.compression == "none" else settings.compression)
    kw.update(extra)
    return AIOKafkaProducer(**kw)
