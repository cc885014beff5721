"""What an adapter's consent-withdrawal table costs: reading N consent changes at start, and a lookup.

Writes N records to ``cjo.consent-changes`` on a local broker (one customer each: every ``--erased-every``-th
an erasure, the rest a withdrawal of e-mail), then times :meth:`Withheld.start` for an e-mail adapter (the
whole topic read into its store), one :meth:`Withheld.why` (``timeit``), and what the table left in the
process: objects the collector tracks and resident memory. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import timeit

import msgspec
from aiokafka import AIOKafkaProducer

from cjo_stream.adapters.withheld import Withheld
from cjo_stream.commands import ConsentChange, DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.kafka.topics import consent_changes_config, ensure_topics


def _rss_mib() -> float:
    """Resident memory (MiB; Linux's /proc, else NaN)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return float("nan")


def _cid(i: int) -> str:
    return f"customer-{i:09d}"


async def _produce(settings: Settings, n: int, erased_every: int) -> None:
    topic = settings.consent_changes_topic
    await ensure_topics(settings, [topic], configs={topic: consent_changes_config()})
    p = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await p.start()
    try:
        at = format_ts(time.time())
        for i in range(n):
            erased = i % erased_every == 0
            change = ConsentChange(customer_id=_cid(i), at=at, withdrawn=[] if erased else ["email"], erased=erased)
            await p.send(topic, msgspec.json.encode(change), key=_cid(i).encode())
        await p.flush()
    finally:
        await p.stop()


def _lookup_us(w: Withheld, cid: str) -> float:
    cmd = DeliveryCommand(delivery_id="d", customer_id=cid, journey="j", journey_version=1, step="s",
                          channel="email", to=None, content={}, triggered_by="e", decided_at=format_ts(0),
                          instance_id="i")
    return min(timeit.repeat(lambda: w.why(cmd, 0), number=20_000, repeat=5)) / 20_000 * 1e6


async def run(bootstrap: str, n: int, erased_every: int) -> dict[str, float]:
    settings = Settings(bootstrap=bootstrap, partitions=2)
    await _produce(settings, n, erased_every)
    w = Withheld(settings, keep=4 * 86400.0, channels=["email"])
    gc.collect()
    objects, rss = len(gc.get_objects()), _rss_mib()
    t0 = time.perf_counter()
    await w.start()
    seconds = time.perf_counter() - t0
    try:
        gc.collect()
        return {"records": float(n), "read": float(w.folded), "start_s": seconds, "objects": float(len(gc.get_objects()) - objects),
                "rss_mib": _rss_mib() - rss, "why_withdrawn_us": _lookup_us(w, _cid(1)),
                "why_absent_us": _lookup_us(w, "nobody")}
    finally:
        await w.close()


def main(argv: list[str]) -> int:
    import argparse

    from cjo_stream.argtypes import positive_int

    parser = argparse.ArgumentParser(prog="python -m cjo_stream.bench.withheld", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("n", nargs="?", type=positive_int, default=200_000, metavar="N",
                        help="consent changes on the topic (default 200000)")
    parser.add_argument("--erased-every", type=positive_int, default=100, metavar="K",
                        help="every K-th change is an erasure (default 100)")
    args = parser.parse_args(argv)
    from cjo_stream.kafka.local_broker import LocalBroker

    with LocalBroker() as broker:
        r = asyncio.run(run(broker.bootstrap, args.n, args.erased_every))
    print(f"withheld table: start() read {int(r['records']):,} changes in {r['start_s']:.2f} s "
          f"({r['start_s'] / r['records'] * 1e6:.1f} µs a record); why() {r['why_withdrawn_us']:.1f} µs "
          f"(withdrawn), {r['why_absent_us']:.1f} µs (absent); after start: {r['objects']:+,.0f} gc objects, "
          f"RSS {r['rss_mib']:+.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
