"""The ceiling: a raw aiokafka ``getmany`` loop that decodes each event and updates a dict.

No state durability, no outputs: what Python can do per event on this broker at all. Run as a
subprocess by ``python -m cjo_stream.bench`` so its CPU time and peak RSS are its own; prints one JSON
line ``{"n", "seconds", "cpu", "rss_bytes"}`` measured from the end of the first batch to the last record.
"""

from __future__ import annotations

import asyncio
import os
import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream.bench.procs import peak_rss


async def run(bootstrap: str, topic: str, expect: int) -> dict[str, float]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                         max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024)
    await c.start()
    try:
        parts = c.partitions_for_topic(topic) or set()
        if not parts:
            await c.topics()
            parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        state: dict[str, dict[str, object]] = {}
        n = n0 = 0
        t0 = cpu0 = 0.0
        while n < expect:
            if n and not n0:  # the clock starts after the first batch: connection set-up is not throughput
                n0, t0, cpu0 = n, time.perf_counter(), time.process_time()
            data = await c.getmany(timeout_ms=1000, max_records=10_000)
            for recs in data.values():
                for r in recs:
                    try:
                        ev = orjson.loads(r.value)
                    except orjson.JSONDecodeError:
                        n += 1
                        continue
                    cid = ev.get("userId") or ev.get("anonymousId") if isinstance(ev, dict) else None
                    if cid:
                        s = state.setdefault(cid, {})
                        s[ev.get("event") or ev.get("type")] = ev.get("timestamp")
                    n += 1
        return {"n": n - n0, "seconds": time.perf_counter() - t0, "cpu": time.process_time() - cpu0,
                "rss_bytes": peak_rss(os.getpid())}
    finally:
        await c.stop()


def main() -> None:
    res = asyncio.run(run(os.environ["BENCH_BROKER"], os.environ["BENCH_TOPIC"], int(os.environ["BENCH_EXPECT"])))
    print(orjson.dumps(res).decode(), flush=True)


if __name__ == "__main__":
    main()
