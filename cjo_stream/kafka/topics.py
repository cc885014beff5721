"""Topic creation: every process creates the topics it uses if they are missing (idempotent)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from cjo_stream.config import Settings

#: How long ``cjo.consent-changes`` keeps a record: the longest built-in command expiry (7 days: in-app,
#: CRM) and a day. A change matters only to commands decided before it, and those are sent or expired by
#: then (an adapter drops from its table what is older than its own sent-record keeps ids).
CONSENT_CHANGES_RETENTION_S = 8 * 86400


def consent_changes_config() -> dict[str, str]:
    """``cjo.consent-changes``: compacted (a customer's latest change) and deleted past the retention, so
    an erased customer's id does not stay in it for good."""
    return {"cleanup.policy": "compact,delete", "retention.ms": str(CONSENT_CHANGES_RETENTION_S * 1000)}


async def ensure_topics(settings: Settings, names: Iterable[str], compacted: Iterable[str] = (),
                        partitions: dict[str, int] | None = None,
                        configs: dict[str, dict[str, str]] | None = None) -> None:
    """Create missing topics (idempotent). Changelog-like topics are created compacted; ``configs``
    gives other topic settings by name (applied at creation only: an existing topic keeps its own)."""
    compacted = set(compacted)
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = []
        for name in names:
            if name in existing:
                continue
            cfg = {"cleanup.policy": "compact"} if name in compacted else {}
            cfg.update((configs or {}).get(name, {}))
            n = (partitions or {}).get(name, settings.partitions)
            new.append(NewTopic(name, num_partitions=n, replication_factor=settings.replication, topic_configs=cfg))
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            for _ in range(50):  # metadata propagates asynchronously on some brokers
                if {t.name for t in new} <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def partition_counts(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    """Partitions of each of ``names`` that exists (missing topics are left out)."""
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        wanted = set(names) & set(await admin.list_topics())
        if not wanted:
            return {}
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(sorted(wanted))
                if t.get("error_code", 0) == 0}
    finally:
        await admin.close()
