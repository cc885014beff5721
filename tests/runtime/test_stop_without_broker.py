"""A worker whose broker went away still stops promptly on SIGTERM (an orchestrator waits 30 s, then kills)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from cjo_stream.kafka.local_broker import LocalBroker


def test_sigterm_after_the_broker_is_gone_stops_the_worker_within_its_grace(broker: LocalBroker,
                                                                              spawn: Any) -> None:
    w = spawn()
    w.wait_ready()
    broker.stop()  # the whole cluster unreachable
    time.sleep(1.0)
    t0 = time.monotonic()
    os.killpg(w.proc.pid, signal.SIGTERM)
    w.proc.wait(60)
    took = time.monotonic() - t0
    # the loops' own grace (15 s) at most, plus a few seconds for the bounded farewells; it took 43 s when
    # the workers-table tombstone and the producer's flush each waited out the request timeout
    assert took < 25.0, f"stopped after {took:.1f} s"
