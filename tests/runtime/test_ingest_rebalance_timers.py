"""While stage 1 rebalances, timers go by the event time applied, not by the wall clock.

From a rebalance's start to its assignment stage 1 reads nothing (3-4 s on the local broker at each worker start
and stop), while events keep coming: a timer fired by the wall clock then decided before events that happened
before it was due (an SRE drill: a wait timed out though its event had come, 1 of 1,004 commands against
``replay``). Here a consumer joins the worker's stage-1 group, as a second worker does: throughout the window in
which the worker's stage 1 is revoked and not yet assigned it counts as behind (so timers go by the event time
applied, tests/runtime/test_backlog.py), and after it, caught up, it does not.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from cjo_stream.config import Settings
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.runtime.worker import StreamWorker
from tests.runtime.conftest import ROOT, until

pytestmark = pytest.mark.broker



async def test_stage_1_counts_as_behind_from_a_rebalance_to_its_assignment(broker: LocalBroker, tmp_path: Any) -> None:
    topology = load_topology(os.path.join(ROOT, "tests", "runtime", "topologies"))
    s = Settings(bootstrap=broker.bootstrap, partitions=4, store="rocksdb", data_dir=str(tmp_path))
    w = StreamWorker(s, topology)
    await w.start()
    other = AIOKafkaConsumer(s.input_topic, s.receipts_topic, bootstrap_servers=broker.bootstrap,
                             group_id=w.ingest_group, enable_auto_commit=False)
    polling: asyncio.Task[Any] | None = None
    try:
        await until(lambda: w.ingest_consumer.assignment() and not w.ingest_behind, "stage 1 never caught up")
        samples: list[bool] = []

        async def poll() -> None:
            await other.start()  # joins the group (returns once assigned): the worker's stage 1 is revoked meanwhile
            while True:
                await other.getmany(timeout_ms=100)

        polling = asyncio.create_task(poll())
        await until(lambda: w.ingest_rebalancing, "the worker's stage 1 was never revoked")
        while w.ingest_rebalancing:  # the window: revoked (its listener called), not assigned yet; stage 1's loop
            samples.append(w.ingest_behind)  # fetches on meanwhile, and must not take its empty fetches for
            await asyncio.sleep(0.02)  # being caught up
        assert len(samples) > 10 and all(samples), samples
        await until(lambda: w.ingest_consumer.assignment() and not w.ingest_behind,
                     "stage 1 never caught up after the rebalance")  # (nothing waits: the wall clock again)
    finally:
        if polling is not None:
            polling.cancel()
        await other.stop()
        await w.stop()
