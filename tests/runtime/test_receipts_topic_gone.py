"""A worker whose receipts topic is deleted stops with one line and exit 70, as for its input topic, so that its
supervisor starts it again on the topic as it is then (docs/operations.md, "Broker gone or restarted").

Found by deleting ``cjo.receipts`` under a running deployment: an adapter's next receipt made the topic again,
the worker's ingest group never took it back (8 minutes, 49 receipts unread, no commit), and ``/health`` said ok
all along, so unsubscribes and bounces were not applied.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from cjo_stream.kafka.local_broker import LocalBroker, free_port
from tests.runtime.conftest import ROOT, WorkerProc


async def _delete(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def test_a_deleted_receipts_topic_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    with LocalBroker() as b:
        env.update(CJO_BROKER=b.bootstrap, CJO_DATA_DIR=str(tmp_path / "data"), CJO_PARTITIONS="2",
                   CJO_TOPOLOGIES=os.path.join(ROOT, "tests", "runtime", "topologies"), PYTHONUNBUFFERED="1")
        w = WorkerProc(env, free_port(), str(tmp_path / "worker.log")).start()
        try:
            w.wait_ready()
            asyncio.run(_delete(b.bootstrap, "cjo.receipts"))
            deadline = time.monotonic() + 30
            assert w.proc is not None
            while w.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            log = w.log()
            assert w.proc.returncode == 70, log
            assert "worker: topic cjo.receipts no longer exists on the cluster" in log, log
            assert "Traceback" not in log, log
        finally:
            w.kill()
