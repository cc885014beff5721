"""A worker, an adapter and the analytics service as users start them, on one broker: each ``/metrics``
lists the families its role moves and no other's (an adapter's listed ``cjo_events_late_total 0``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from cjo_stream.kafka.local_broker import free_port
from cjo_stream.metrics import Role
from tests.runtime.conftest import ROOT
from tests.test_metrics_roles import families, moved, ours


def _start(args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``cjo-stream <args> --web-port P``, once its ``/health`` answers 200."""
    port = free_port()
    with log.open("ab") as f:
        p = subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", *args, "--web-port", str(port)], cwd=ROOT,
                             env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert p.poll() is None, log.read_text(errors="replace")[-3000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return p, url
        time.sleep(0.2)
    raise AssertionError(f"{args[0]} not ready:\n" + log.read_text(errors="replace")[-3000:])


def test_each_process_serves_its_roles_families_only(spawn: Any, worker_env: dict[str, str], tmp_path: Path) -> None:
    worker = spawn()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        worker.wait_ready()
        adapter, adapter_url = _start(["adapter", "--channel", "console"], worker_env, tmp_path / "adapter.log")
        procs.append(adapter)
        analytics, analytics_url = _start(["analytics"], {**worker_env, "CJO_DATA_DIR": str(tmp_path / "analytics")},
                                          tmp_path / "analytics.log")
        procs.append(analytics)
        urls: dict[Role, str] = {"worker": worker.url, "adapter": adapter_url, "analytics": analytics_url}
        pages = {role: httpx.get(f"{url}/metrics", timeout=10).text for role, url in urls.items()}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
    assert "cjo_events_late_total" not in pages["adapter"] and "cjo_analytics_" not in pages["adapter"]
    assert "cjo_delivery_outcomes_total" not in pages["worker"] and "cjo_analytics_" not in pages["worker"]
    assert "cjo_events_late_total" not in pages["analytics"] and "cjo_delivery_outcomes" not in pages["analytics"]
    for role, text in pages.items():
        assert ours(families(text)) == moved()[role], role
        assert f'cjo_up{{role="{role}"}} 1.0' in text and "process_resident_memory_bytes" in text
        # every role keeps RocksDB stores under CJO_ROCKSDB_MEMORY_MB (an adapter: its sent-record), and shows them
        assert 'cjo_rocksdb_memory_bytes{kind="block_cache"}' in text, role
