"""The bench's scale-out run measures what two worker processes did: every event, both processes, all applied."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from cjo_stream.bench.concurrency import run_concurrent
from cjo_stream.bench.runner import INPUT, make_input, produce_all, worker_env
from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import LocalBroker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_concurrency_run_counts_every_event_once_over_both_processes(tmp_path: os.PathLike[str]) -> None:
    tmp = str(tmp_path)
    lines, _ = make_input(8000, 800, seed=5)
    n = len(lines)
    with LocalBroker() as broker:
        def feed(opened: threading.Event) -> None:
            # once both processes answer, the first eighth; the rest in parts 0.3 s apart once the window has
            # opened on it: while the group joins, the whole input could pile up and be consumed between two
            # polls of a loaded machine, and a window that opens on the last event measures nothing
            settings = Settings(bootstrap=broker.bootstrap, partitions=8, compression="none")
            step = -(-n // 8)
            for i in range(0, n, step):
                assert asyncio.run(produce_all(settings, INPUT, lines[i:i + step], 8)) == len(lines[i:i + step])
                if i == 0:
                    assert opened.wait(120), "the workers consumed none of the first part in 120 s"
                time.sleep(0.3)

        run = run_concurrent(worker_env(broker.bootstrap, "t-conc", os.path.join(tmp, "t-conc"), 0), 2, n, tmp,
                             "t-conc", ROOT, feed=feed)
    # the window opens at the first poll that saw an event: those before it are not in the rate
    assert run.before + run.events == n
    assert run.applied >= n  # stage 2 applied every event (plus identity link records) before the window closed
    assert sum(run.per_process) == run.events
    assert len(run.per_process) == 2 and run.processes == 2
    assert run.seconds > 0 and run.cpu > 0 and run.rss > 0
