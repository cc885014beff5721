"""Adapter throughput (commands/s): webhook adapter → local HTTP receiver, through the real broker.

Measures the whole adapter path — fetch, sent-record check, HMAC signing, HTTP POST on loopback,
sent-record and receipt produce, offset commit — with the rate limiter off. It runs on an isolated
topic (``cjo.delivery.bench-<id>``) and consumer group, so it can share a broker with other benchmarks.
``python -m cjo_stream.bench.adapter [N]`` starts a local broker when ``CJO_BROKER`` is not set.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable

import msgspec
from aiohttp import web

from cjo_stream.adapters.base import utc_now_iso
from cjo_stream.adapters.retry import RetryPolicy
from cjo_stream.adapters.runner import AdapterRunner
from cjo_stream.adapters.sentlog import sent_topic
from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
from cjo_stream.commands import DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import free_port
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.topics import ensure_topics


async def _receiver() -> tuple[web.AppRunner, str, list[int]]:
    hits = [0]

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        hits[0] += 1
        return web.Response(status=200, text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook", hits


async def adapter_throughput(bootstrap: str, n: int, concurrency: int = 16, seed_ids: int = 0,
                             broker_cpu: Callable[[], float] | None = None) -> dict[str, float]:
    """Deliver ``n`` webhook commands; ``commands_per_s`` is measured from partition assignment (after
    the sent-record of the assigned partitions is read) to the last sent-record and receipt being
    acknowledged. ``seed_ids``: ids already on the sent-record (``make bench``, "sent" section).

    Over the same window, CPU seconds a command: ``cpu_per_command`` of this process (the adapter, its
    RocksDB threads and the HTTP receiver) and, given ``broker_cpu`` (the broker's CPU seconds so far),
    ``broker_cpu_per_command`` — unlike the rate, neither depends on what else the machine runs."""
    run_id = uuid.uuid4().hex[:8]
    source = f"bench-{run_id}"
    settings = Settings(bootstrap=bootstrap, partitions=4)
    topic = settings.delivery_topic(source)
    await ensure_topics(settings, [topic, sent_topic(source)])
    if seed_ids:
        from cjo_stream.bench.seed import produce_fast, sent_ids

        await asyncio.to_thread(produce_fast, bootstrap, sent_topic(source), sent_ids(seed_ids, 4))
    producer = make_producer(settings, linger_ms=20)
    await producer.start()
    try:
        now = utc_now_iso()
        futures = []
        for i in range(n):
            cmd = DeliveryCommand(delivery_id=f"{run_id}-{i}", customer_id=f"c{i % 997}", journey="bench",
                                  journey_version=1, step="notify", channel="webhook", to=None,
                                  content={"text": f"event {i}"}, triggered_by=f"m{i}", decided_at=now,
                                  instance_id=f"i{i}")
            futures.append(await producer.send(topic, msgspec.json.encode(cmd), key=cmd.customer_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    site, url, hits = await _receiver()
    channel = WebhookChannel(WebhookConfig(url=url, signing_key=b"bench-key", timeout=10))
    runner = AdapterRunner(settings, channel, name=source, sources=[source], group=f"cjo-bench-{run_id}",
                           concurrency=concurrency, batch_max=1000, retry=RetryPolicy(max_attempts=3),
                           session_timeout_ms=2000)
    task = asyncio.create_task(runner.serve())
    try:
        while not runner.assigned:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        t0, cpu0, broker0 = time.perf_counter(), time.process_time(), broker_cpu() if broker_cpu else 0.0
        while runner.outcomes["sent"] < n:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        broker = broker_cpu() - broker0 if broker_cpu else float("nan")
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
        await site.cleanup()
    return {"commands": float(n), "seconds": seconds, "commands_per_s": n / seconds,
            "concurrency": float(concurrency), "http_requests": float(hits[0]), "cpu_per_command": cpu / n,
            "broker_cpu_per_command": broker / n}


def main(argv: list[str]) -> int:
    import argparse

    from cjo_stream.argtypes import positive_int

    parser = argparse.ArgumentParser(prog="python -m cjo_stream.bench.adapter", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("n", nargs="?", type=positive_int, default=5000, metavar="N",
                        help="delivery commands to send (default 5000)")
    n = parser.parse_args(argv).n  # `--help` and `x` were a ValueError traceback
    bootstrap = os.environ.get("CJO_BROKER")
    if bootstrap:
        result = asyncio.run(adapter_throughput(bootstrap, n))
    else:
        from cjo_stream.kafka.local_broker import LocalBroker

        with LocalBroker() as broker:
            result = asyncio.run(adapter_throughput(broker.bootstrap, n))
    print(f"adapter throughput (webhook → local HTTP receiver): {result['commands_per_s']:,.0f} commands/s "
          f"({int(result['commands'])} commands in {result['seconds']:.2f}s, concurrency {int(result['concurrency'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
