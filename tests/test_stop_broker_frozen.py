"""A worker, an adapter and the analytics service stop promptly on SIGTERM while the broker does not answer.

A broker that is gone refuses connections (test_stop_without_broker, test_broker_loss_logs); one that is
there but silent (a network partition, a frozen host: here SIGSTOP) made aiokafka's consumer.stop() wait
for its coordinator's request in flight, the 40 s request timeout, and a producer's stop for its flush:
the worker stopped in 48 s, an adapter in 50 s and the analytics service in 40 s, past a pod's 30 s grace.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cjo_stream.kafka.local_broker import LocalBroker, free_port
from tests.test_broker_loss_logs import _start, _worker_ready, worker_env

#: What each process logs once it serves (the worker: its /health answers with partitions instead).
_READY = {"adapter": "sent-record: read", "analytics": "input offsets restored"}


@pytest.mark.parametrize("what", ["worker", "adapter", "analytics"])
def test_sigterm_while_the_broker_does_not_answer_stops_within_a_pods_grace(tmp_path: Path, what: str) -> None:
    broker = LocalBroker().start()
    assert broker.proc is not None
    env = {**worker_env(broker.bootstrap, tmp_path), "CJO_LOG_LEVEL": "info"}
    port = free_port()
    args = {"worker": ["worker", "--web-port", str(port)],
            "adapter": ["adapter", "--channel", "console", "--web-port=-1"],
            "analytics": ["analytics", "--web-port", str(port), "--store", "rocksdb"]}[what]
    log = tmp_path / "log"
    with log.open("wb") as f:
        p = _start(args, env, f)
    frozen = False
    try:
        deadline = time.monotonic() + 60
        while not (_worker_ready(port) if what == "worker" else _READY[what] in log.read_text()):
            assert p.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1.0)  # (its consumers' fetches and heartbeats under way)
        os.kill(broker.proc.pid, signal.SIGSTOP)
        frozen = True
        time.sleep(1.0)
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGTERM)
        try:
            code = p.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - t0
    finally:
        if frozen:
            os.kill(broker.proc.pid, signal.SIGCONT)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
        broker.stop()
    text = log.read_text(errors="replace")
    assert code == 0, text[-4000:]
    # each client's stop is given up after 5 s (the worker has four consumers and a producer, stopped in two
    # rounds, plus its bounded farewells): it was 40-50 s, the request timeout, before
    assert took < 25.0, f"stopped after {took:.1f} s\n{text[-4000:]}"
    assert "Traceback" not in text and "Unclosed" not in text, text[-4000:]
    if what == "worker":
        assert "did not answer its stop within 5 s" in text, text[-4000:]
        # its LeaveGroup unsent, the member ids stay recorded for the next run on this directory to remove
        recorded = list((tmp_path / "data").rglob("group-members.json"))
        assert recorded and any(json.loads(r.read_text())["members"] for r in recorded), recorded
