"""The sent-record stays bounded: partitioned like the commands, bounded by time, on disk, tail-only restarts."""

from __future__ import annotations

from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cjo_stream.adapters.expiry import ExpiryPolicy
from cjo_stream.adapters.sentlog import DEFAULT_MARGIN, SentLog, retention
from cjo_stream.config import Settings
from cjo_stream.kafka.producer import make_producer


async def topic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        res = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    return {name: value for name, value, *_ in res[0].resources[0][4]}


def test_retention_is_the_longest_expiry_of_the_channels_plus_a_margin() -> None:
    expiry = ExpiryPolicy()
    assert retention(expiry.longest(["email"])) == 3 * 86400 + DEFAULT_MARGIN
    assert retention(expiry.longest(["email", "sms", "in_app"])) == 7 * 86400 + DEFAULT_MARGIN
    never = ExpiryPolicy({**expiry.defaults, "sms": None})
    assert retention(never.longest(["email", "sms"])) is None  # a channel that never expires: kept forever


async def test_ids_follow_their_command_partition_and_a_restart_reads_only_the_tail(
        settings: Settings, tmp_path: Path) -> None:
    s = Settings(bootstrap=settings.bootstrap, partitions=4)
    topic = "cjo.adapter.email.sent"
    keep = retention(ExpiryPolicy().longest(["email"]))
    producer = make_producer(s)
    await producer.start()
    try:
        writer = SentLog(s, topic, producer, keep=keep)
        await writer.start()
        await writer.catch_up(range(4))
        for p in range(4):
            for i in range(5):
                await (await writer.record(f"d-{p}-{i}", "2026-11-30T00:00:00Z", None, p))
        await writer.close()

        # created compact,delete with the derived retention
        cfg = await topic_configs(s.bootstrap, topic)
        assert keep is not None
        assert cfg["cleanup.policy"] == "compact,delete" and int(cfg["retention.ms"]) == int(keep * 1000)

        # an adapter owning command partition 1 reads (and knows) only partition 1's ids
        state = str(tmp_path / "sent")
        one = SentLog(s, topic, producer, keep=keep, state_dir=state)
        await one.start()
        assert await one.catch_up([1]) == 5
        assert one.owns(1) and not one.owns(2)
        assert all(one.contains(f"d-1-{i}", 1) for i in range(5))
        assert not one.contains("d-2-0", 2) and not one.contains("d-1-0", 0)
        await one.close()

        # two more ids for partition 1, then a restart with the same state directory: only those are read
        writer = SentLog(s, topic, producer, keep=keep)
        await writer.start()
        await writer.catch_up([1])
        for i in (5, 6):
            await (await writer.record(f"d-1-{i}", "2026-11-30T00:00:00Z", None, 1))
        await writer.close()
        again = SentLog(s, topic, producer, keep=keep, state_dir=state)
        await again.start()
        assert await again.catch_up([1]) <= 3  # the tail (the local store kept the rest), not all 7
        assert all(again.contains(f"d-1-{i}", 1) for i in range(7))
        # a tombstone allows one resend
        await (await producer.send(topic, None, key=b"d-1-3", partition=1))
        await again.catch_up()
        assert not again.contains("d-1-3", 1) and again.contains("d-1-4", 1)
        await again.close()

        # the same state directory against a topic made anew (here: another topic, with one id): the
        # checkpoint lies past its end, so the store is not its copy and is read anew
        other = "cjo.adapter.email.sent.v2"
        renewed = SentLog(s, other, producer, keep=keep, state_dir=state)
        await renewed.start()  # creates the topic
        await (await producer.send(other, b"{}", key=b"new-1", partition=1))
        assert await renewed.catch_up([1]) == 1
        assert renewed.contains("new-1", 1) and not renewed.contains("d-1-4", 1)
        await renewed.close()
    finally:
        await producer.stop()


async def test_a_restart_after_batched_writes_reads_only_the_tail(settings: Settings, tmp_path: Path) -> None:
    """Ids written many to a record batch (as a busy adapter writes them): the local broker reports the
    partition's end as the last batch's base offset + 1, and a checkpoint must not look past it."""
    s = Settings(bootstrap=settings.bootstrap, partitions=2)
    topic = "cjo.adapter.webhook.sent"
    producer = make_producer(s)
    await producer.start()
    try:
        state = str(tmp_path / "sent")
        log = SentLog(s, topic, producer, state_dir=state)
        await log.start()
        await log.catch_up([0])
        for b in range(4):  # four batches of 50 ids
            batch = producer.create_batch()
            for i in range(50):
                batch.append(key=f"d-{b}-{i}".encode(), value=b"{}", timestamp=None)
            await (await producer.send_batch(batch, topic, partition=0))
        assert await log.catch_up() == 200
        await log.close()

        again = SentLog(s, topic, producer, state_dir=state)
        await again.start()
        assert await again.catch_up([0]) <= 50  # at most the last batch again, not all 200
        assert all(again.contains(f"d-{b}-{i}", 0) for b in range(4) for i in range(50))
        await again.close()
    finally:
        await producer.stop()
