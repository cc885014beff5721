"""``python -m cjo_stream.bench.stall_watch``: what the stall watch's looks cost the local broker as it fills.

A worker looks at the input partitions other workers hold twice a second (:mod:`cjo_stream.runtime.stalls`). The
local broker (Tansu) lists every record batch of a partition to answer ListOffsets, so a look that asks for ends
costs it more the more batches the partitions hold. This fills a fresh broker's topic with one-record batches to
each ``--levels`` count a partition; at each, while an owner commits moving offsets of all partitions but
``--idle`` of them (a live worker reading them; the idle ones are read to their end), it measures the broker's CPU
for ``--window`` seconds each: with no looks, with the looks as they were before (the end, the start and one
OffsetFetch a partition, every look) and with the worker's looks now (:func:`look`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cjo_stream.argtypes import non_negative_int, positive_float, positive_int
from cjo_stream.bench.procs import cpu_seconds
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.runtime.stalls import Stalls, committed_offsets

Look = Callable[[AIOKafkaConsumer, list[TopicPartition], Stalls[TopicPartition]], Awaitable[None]]


async def look_before(c: AIOKafkaConsumer, tps: list[TopicPartition], stalls: Stalls[TopicPartition]) -> None:
    """A look as the worker made it before the twenty-fourth session."""
    ends, starts, done = await asyncio.gather(c.end_offsets(tps), c.beginning_offsets(tps),
                                              asyncio.gather(*(c.committed(tp) for tp in tps)))
    committed: dict[TopicPartition, int | None] = {
        tp: starts[tp] if off is None else off for tp, off in zip(tps, done, strict=True)}
    stalls.observe(time.time(), committed, ends)


async def look(c: AIOKafkaConsumer, tps: list[TopicPartition], stalls: Stalls[TopicPartition]) -> None:
    """A look as the worker makes it (``StreamWorker._stalls_loop``)."""
    committed = await committed_offsets(c, tps)
    wanted = stalls.wanted(committed)
    fresh = [tp for tp in wanted if committed[tp] is None]
    ends = await c.end_offsets(wanted) if wanted else {}
    starts = await c.beginning_offsets(fresh) if fresh else {}
    stalls.observe(time.time(), committed, ends, starts)


async def run(partitions: int, levels: list[int], idle: int, window: float) -> None:
    with LocalBroker() as broker:
        assert broker.proc is not None
        pid = broker.proc.pid
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic("watched", partitions, 1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
        owner = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g", enable_auto_commit=False)
        watcher = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g", enable_auto_commit=False)
        for client in (producer, owner, watcher):
            await client.start()
        tps = [TopicPartition("watched", p) for p in range(partitions)]
        owner.assign(tps)
        held = 0
        read = 0
        try:
            for level in levels:
                while held < level:
                    n = min(500, level - held)
                    sent = []
                    for tp in tps:
                        for _ in range(n):
                            batch = producer.create_batch()
                            batch.append(key=None, value=b"x" * 100, timestamp=None)
                            batch.close()
                            sent.append(await producer.send_batch(batch, tp.topic, partition=tp.partition))
                    await asyncio.gather(*sent)
                    held += n
                stop = asyncio.Event()

                async def commits(stop: asyncio.Event = stop, end: int = held) -> None:
                    nonlocal read
                    while not stop.is_set():  # every 0.1 s, as a worker commits (CJO_COMMIT_INTERVAL_MS)
                        read += 1
                        await owner.commit({tp: end if tp.partition < idle else read for tp in tps})
                        await asyncio.sleep(0.1)

                committing = asyncio.create_task(commits())
                await asyncio.sleep(2.0)
                cpu: dict[str, float] = {}
                looks: tuple[tuple[str, Look | None], ...] = (("none", None), ("before", look_before), ("now", look))
                for name, fn in looks:
                    stalls: Stalls[TopicPartition] = Stalls()
                    c0, t0 = cpu_seconds(pid), time.monotonic()
                    while time.monotonic() - t0 < window:
                        if fn is not None:
                            await fn(watcher, tps, stalls)
                        await asyncio.sleep(0.5)
                    cpu[name] = 100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
                stop.set()
                await committing
                print(f"{partitions} partitions ({idle} idle), {held:,} batches a partition: broker CPU "
                      f"{cpu['none']:.1f} % without looks, {cpu['before']:.1f} % with the looks before "
                      f"(+{cpu['before'] - cpu['none']:.1f}), {cpu['now']:.1f} % with the looks now "
                      f"(+{cpu['now'] - cpu['none']:.1f}); load {os.getloadavg()[0]:.2f}", flush=True)
        finally:
            for client in (watcher, owner, producer):
                await client.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cjo_stream.bench.stall_watch", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=positive_int, default=8, help="partitions held elsewhere (default 8)")
    ap.add_argument("--levels", default="0,10000,30000",
                    help="record batches a partition at each measurement, comma-separated (default 0,10000,30000)")
    ap.add_argument("--idle", type=non_negative_int, default=1, help="partitions read to their end, no commits (default 1)")
    ap.add_argument("--window", type=positive_float, default=15.0, help="seconds per measurement (default 15)")
    args = ap.parse_args(argv)
    try:
        levels = sorted(int(x) for x in args.levels.split(","))
    except ValueError:
        ap.error(f"--levels {args.levels!r}: use counts such as 0,10000,30000")
    asyncio.run(run(args.partitions, levels, min(args.idle, args.partitions), args.window))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
