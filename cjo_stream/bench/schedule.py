"""``make bench`` section: a scheduled journey's scan over 1,000,000 stored profiles while events flow.

A worker (one process, 8 partitions) restores ``customers`` profiles seeded into its changelog (made by
the real engine, :func:`cjo_stream.bench.seed.waiting_customers`) with the example journeys plus one
scheduled daily for an audience of 11 % of them (an entry and a rendered email each); each partition's
schedule marks are seeded before the last midnight, so the first scan offers that occurrence to every
profile. Half the bench's input waits on the input topic, so event processing and the scan start
together; the other half is produced when the scan has ended. It reports the scan's rate (profiles/s,
and the time to scan them all) and the events/s processed while the scan ran, next to the same
worker's events/s on the second half, with no scan running.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from typing import Any

import httpx
import msgspec
import orjson

from cjo_stream.bench.procs import spawn_worker, wait_health
from cjo_stream.bench.seed import produce_fast, waiting_customers
from cjo_stream.config import Settings
from cjo_stream.events import parse_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.promtext import sums
from cjo_stream.runtime.schedules import SCHEDULES_KEY, Marks

JOURNEY = "bench_scheduled"
SCHEDULED = f"""
journey: {JOURNEY}
entry:
  schedule: {{every: 1d}}
  when: starts_with(profile.customer_id, "bench-c1")
steps:
  - id: hello
    send: {{channel: email, content: {{subject: "Hi {{{{ profile.traits.first_name }}}}", body: "We miss you"}}}}
"""
PARTITIONS = 8
_ENTERED = re.compile(r'^cjo_journey_transitions_total\{[^}]*journey="' + JOURNEY + r'"[^}]*kind="entered"[^}]*\} (\S+)',
                      re.M)


def _topologies(root: str, tmp: str) -> str:
    """The example topologies plus the scheduled journey, in a directory of their own."""
    path = os.path.join(tmp, "scan-topologies")
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(os.path.join(root, "topologies"), path, ignore=shutil.ignore_patterns("demo"))
    with open(os.path.join(path, "journeys", f"{JOURNEY}.yaml"), "w") as f:
        f.write(SCHEDULED)
    return path


def scan_section(tmp: str, customers: int, lines: list[bytes], root: str) -> dict[str, Any]:
    """Seed, start a worker, follow its metrics until every partition's scan ended and the input is in."""
    from cjo_stream.bench.runner import INPUT, log, produce_all, worker_env

    app_id = "bench-scan"
    topo = _topologies(root, tmp)
    first_ts = min(parse_ts(orjson.loads(x)["timestamp"]) for x in lines[:1000])
    with LocalBroker() as broker:
        s = Settings(bootstrap=broker.bootstrap, partitions=PARTITIONS, app_id=app_id)
        asyncio.run(ensure_topics(s, [s.profiles_changelog], compacted=[s.profiles_changelog],
                                  partitions={s.profiles_changelog: PARTITIONS}))
        part = Partitioner(PARTITIONS)
        # offered up to a minute before the (UTC) midnight before the input's first event: the first scan
        # (by the event clock while the input is behind) finds that occurrence due for every profile, and
        # the next one is a day away, so each partition scans once
        midnight = first_ts // 86400 * 86400
        marks = msgspec.msgpack.encode(Marks({JOURNEY: midnight - 60}))
        t0 = time.perf_counter()

        def records() -> Any:
            for p in range(PARTITIONS):
                if not os.environ.get("BENCH_SCAN_OFF"):
                    yield SCHEDULES_KEY, marks, p
            for key, prof, _, _ in waiting_customers(load_topology(topo), customers, lambda i: first_ts + 86400):
                yield key, prof, part(key)

        produce_fast(broker.bootstrap, s.profiles_changelog, records())
        half = len(lines) // 2
        n1 = asyncio.run(produce_all(s, INPUT, lines[:half], PARTITIONS))
        log(f"scan: seeded {customers:,} profiles and {n1:,} input events in {time.perf_counter() - t0:.0f} s")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = spawn_worker(worker_env(broker.bootstrap, app_id, os.path.join(tmp, app_id), port,
                                       CJO_TOPOLOGIES=topo, CJO_LOG_LEVEL="INFO"),
                            os.path.join(tmp, f"{app_id}.log"), root)
        stall = [0.0]  # the longest a /metrics answer took (the worker's loop busy for that long)

        def sample() -> tuple[float, float, float, float, float]:
            """(time, events consumed, profiles scanned, scans ended, entries into the scheduled journey)"""
            while True:
                if not proc.alive():
                    raise RuntimeError(f"worker exited:\n{proc.tail()}")
                t_ask = time.perf_counter()
                try:
                    text = httpx.get(f"{url}/metrics", timeout=30.0).text
                except httpx.HTTPError:
                    continue  # a busy worker: ask again
                stall[0] = max(stall[0], time.perf_counter() - t_ask)
                m = sums(text)
                return (time.perf_counter(), m.get("cjo_events_consumed_total", 0.0)
                        + m.get("cjo_events_duplicate_total", 0.0), m.get("cjo_schedule_profiles_scanned_total", 0.0),
                        m.get("cjo_schedule_scan_seconds_count", 0.0), sum(float(v) for v in _ENTERED.findall(text)))

        def until(done: Any, what: str) -> list[tuple[float, float, float, float, float]]:
            got: list[tuple[float, float, float, float, float]] = []
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                got.append(sample())
                if done(got[-1]):
                    return got
                time.sleep(0.25)
            raise RuntimeError(f"{what} within 900 s:\n{proc.tail()}")

        try:
            wait_health(proc, url, 900.0)
            # phase 1: the first half of the input and every partition's scan, together
            series = until(lambda x: x[3] >= PARTITIONS and x[1] >= n1, "scan and first half not done")
            # phase 2: the second half, with no scan running (same worker, same state): the baseline
            n2 = asyncio.run(produce_all(s, INPUT, lines[half:], PARTITIONS))
            after = until(lambda x: x[1] >= n1 + n2, "second half not consumed")
        finally:
            proc.stop()
    return {**_summary(series, customers, n1), "longest_metrics_answer": stall[0],
            "events_per_s_without_scan": (after[-1][1] - after[0][1]) / max(after[-1][0] - after[0][0], 1e-9)}


def _summary(series: list[tuple[float, float, float, float, float]], customers: int, events: int) -> dict[str, Any]:
    start = next(x for x in series if x[2] > 0)
    end = next(x for x in series if x[3] >= PARTITIONS)
    # events processed while the scan ran: from its first page until it ended or the input was all in
    both_end = next((x for x in series if x[1] >= events), end)
    if both_end[0] > end[0]:
        both_end = end
    overlap = both_end[0] - start[0]
    return {"profiles": customers, "scanned": end[2], "scan_seconds": end[0] - start[0],
            "entered": series[-1][4], "events": events,
            "overlap_seconds": overlap,
            "events_during_scan": both_end[1] - start[1],
            "events_per_s_during_scan": (both_end[1] - start[1]) / overlap if overlap > 0 else None}


def print_scan(r: dict[str, Any], topology_rate: float) -> None:
    rate = r["scanned"] / r["scan_seconds"] if r["scan_seconds"] else 0.0
    print(f"\nScheduled entry scan: {r['profiles']:,} stored profiles, one worker (8 partitions), a daily journey "
          "for the 11 % whose id starts with 'bench-c1' (an audience: entry and rendered email each):")
    print(f"  scan: {r['scanned']:,.0f} profiles in {r['scan_seconds']:.1f} s ({rate:,.0f} profiles/s), "
          f"{r['entered']:,.0f} entered")
    during = r["events_per_s_during_scan"]
    alone = (f"; the same worker after the scan, on the input's second half: {r['events_per_s_without_scan']:,.0f} "
             f"events/s (the throughput section's topology: {topology_rate:,.0f} events/s)")
    if during is None:
        print(f"  events while the scan ran: none measured{alone}")
    else:
        print(f"  events while the scan ran: {during:,.0f} events/s ({r['events_during_scan']:,.0f} events over "
              f"{r['overlap_seconds']:.1f} s){alone}")
