"""``cjo-stream skip``: let the workers past one record batch they cannot decode, deliberately.

The worker names the batch in its log and ``/health`` (topic, partition, first offset) and prints this
command; the request goes to ``<app_id>.skips`` (:mod:`cjo_stream.kafka.skips`), and the worker that owns
the partition seeks past the batch, commits that offset for its consumer group, logs and counts it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from cjo_stream.argtypes import positive_float
from cjo_stream.config import Settings


async def _describe(settings: Settings, topic: str, partition: int, offset: int) -> tuple[str, int | None]:
    """What the batch at ``offset`` is, as this process reads it, and its first offset when that is before
    ``offset`` (else None); raises ValueError for a bad address."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from cjo_stream.kafka.batches import BatchReader

    c = AIOKafkaConsumer(**settings.kafka_kwargs(), enable_auto_commit=False, group_id=None)
    await c.start()
    try:
        await c.topics()
        parts = c.partitions_for_topic(topic)
        if not parts:
            raise ValueError(f"topic {topic!r} does not exist on {settings.bootstrap}")
        if partition not in parts:
            raise ValueError(f"{topic} has partitions 0-{max(parts)}, not {partition}")
        tp = TopicPartition(topic, partition)
        first = (await c.beginning_offsets([tp]))[tp]
        end = (await c.end_offsets([tp]))[tp]
    finally:
        await c.stop()
    held = f"it holds offsets {first}-{end - 1}" if end > first else "it holds no records"  # (was "0--1")
    outside = ValueError(f"offset {offset} is not in {topic}[{partition}] ({held})")
    if offset < first:
        raise outside
    reader = BatchReader(settings)
    try:
        scan = await reader.scan(tp, offset, max_reads=1)
    finally:
        await reader.close()
    bad = scan.unreadable
    if bad is None and scan.end <= offset:
        # no batch holds it (the end offset alone cannot tell: the local broker reports it short)
        raise outside
    if bad is not None and bad.base_offset == offset:
        inside = bad.batch_start if 0 <= bad.batch_start < offset else None
        return f"offsets {bad.base_offset}-{bad.next_offset - 1}, {bad.codec}: {bad.problem}", inside
    return "this process can decode it; the worker that cannot may lack a codec library", None


def _cmd_skip(args: argparse.Namespace) -> int:
    from cjo_stream.kafka.connect import broker_ready
    from cjo_stream.kafka.skips import request_skip
    from cjo_stream.settings_args import settings_from

    if args.partition < 0 or args.offset < 0:
        print("error: --partition and --offset must be >= 0", file=sys.stderr)
        return 2
    s = settings_from(args)  # CJO_* values checked as for the other verbs (a bad one was a traceback)
    broker_ready(s, args)  # a broker that does not answer: exit 4 naming it (was a traceback, exit 70)
    try:
        what, starts = asyncio.run(_describe(s, args.topic, args.partition, args.offset))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    asyncio.run(request_skip(s, args.topic, args.partition, args.offset, args.reason or ""))
    print(f"skip requested for the record batch at {args.topic}[{args.partition}] offset {args.offset} ({what}) "
          f"on {s.skips_topic}; the worker that owns the partition resumes after it, commits and logs the skip "
          f"(check /health)")
    if starts is not None:
        # a request applies to the exact offset a consumer is stuck at, which is the batch's first offset: one
        # for a later offset of it (the last of the log's "offsets 3101-3102") was said to resume it, and did not
        print(f"note: that batch begins at offset {starts}, where a worker stuck on it stops (/health names it); a "
              f"request for offset {args.offset} frees only a consumer stuck there: cjo-stream skip --topic "
              f"{args.topic} --partition {args.partition} --offset {starts}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("skip", help="skip one record batch the workers cannot decode (named in their log and /health)")
    p.add_argument("--broker", help="bootstrap servers (default: $CJO_BROKER or 127.0.0.1:9092)")
    p.add_argument("--connect-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                   help="give up when the broker does not answer within this time (default 10; exit code 4)")
    p.add_argument("--topic", required=True, help="topic of the stuck partition, as /health names it")
    p.add_argument("--partition", type=int, required=True, help="the stuck partition")
    p.add_argument("--offset", type=int, required=True, help="first offset of the batch, as the worker reported it")
    p.add_argument("--reason", help="recorded with the request and logged by the worker that applies it")
    p.set_defaults(func=_cmd_skip)
