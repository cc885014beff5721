"""A worker stopped before its start finished stops (SIGTERM during a start that cannot finish)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import Any

from aiokafka import TopicPartition

from cjo_stream.config import Settings
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.runtime.worker import StreamWorker
from tests.runtime.conftest import ROOT


async def test_a_worker_stopped_while_it_reads_the_global_tables_stops(broker: LocalBroker, tmp_path: Any,
                                                                       caplog: Any) -> None:
    """Seen after a local broker restart: start() never finished reading the global tables, stage 2 was
    assigned meanwhile and its listener waited for them inside the consumer's group coordinator, whose
    close ``stop()`` awaits. SIGTERM then hung the worker (and Faust printed the start's error)."""
    caplog.set_level(logging.INFO, logger="cjo_stream.worker")
    topology = load_topology(os.path.join(ROOT, "tests", "runtime", "topologies"))
    w = StreamWorker(Settings(bootstrap=broker.bootstrap, partitions=4, store="rocksdb", data_dir=str(tmp_path)),
                     topology)

    async def tables_never_read() -> None:  # as the start after the broker's restart: never caught up
        c = w.globals_consumer
        c.assign([TopicPartition(w.s.workers_topic, 0)])
        while True:  # (until stop() stops the consumer, as it stops the real read)
            await c.getmany(timeout_ms=200)

    w._catch_up_globals = tables_never_read  # type: ignore[method-assign]
    start = asyncio.create_task(w.start())
    deadline = time.monotonic() + 60
    while not (getattr(w, "customers", None) is not None and w.customers.assignment()):  # its listener waits
        assert time.monotonic() < deadline and not start.done(), "stage 2 was never assigned"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    await asyncio.wait_for(w.stop(), 30)
    assert time.monotonic() - t0 < 20
    done, _ = await asyncio.wait([start], timeout=30)  # (generous: a loaded CI machine took over 5 s once)
    assert done  # the start ends as well: it is cut short, not left waiting
    assert not w.parts  # nothing taken, and the log does not say otherwise
    assert "partitions" in caplog.text and "not taken" in caplog.text, caplog.text[-2000:]
    assert "assigned partitions" not in caplog.text


async def test_a_start_that_cannot_read_the_global_tables_says_so(broker: LocalBroker, tmp_path: Any,
                                                                  monkeypatch: Any, caplog: Any) -> None:
    """The worker sat "starting" with nothing in its log at any level; it now warns what it is waiting for."""
    from cjo_stream.runtime import worker as worker_module

    async def never_caught_up(c: Any, tps: list[TopicPartition], *_: Any) -> None:
        while True:  # (until stop() stops the consumer)
            await c.getmany(*tps, timeout_ms=200)

    monkeypatch.setattr(worker_module, "read_to_end", never_caught_up)
    monkeypatch.setattr(worker_module, "_GLOBALS_PATIENCE", 0.5)
    topology = load_topology(os.path.join(ROOT, "tests", "runtime", "topologies"))
    w = StreamWorker(Settings(bootstrap=broker.bootstrap, partitions=4, store="rocksdb", data_dir=str(tmp_path)),
                     topology)
    start = asyncio.create_task(w.start())
    deadline = time.monotonic() + 60
    while "still reading the global tables" not in caplog.text:
        assert time.monotonic() < deadline and not start.done(), caplog.text[-2000:]
        await asyncio.sleep(0.1)
    assert re.search(r"still reading the global tables after \d+ s \((cjo\.workers\[\d+\] at \d+ of \d+|no records yet)",
                     caplog.text), caplog.text[-2000:]
    while not w.customers.assignment():  # groups joined first: a stop during the joins cancels the consumers'
        await asyncio.sleep(0.1)  # starts, which here left Python 3.11's recursion count off (a later compile failed)
    await asyncio.wait_for(w.stop(), 30)
    await asyncio.wait([start], timeout=30)  # (generous: a loaded CI machine took over 5 s once)
    assert start.done()
