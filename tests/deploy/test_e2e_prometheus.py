"""End to end: a real Prometheus (Debian package) scrapes a real worker (and adapter) on the local broker;
PromQL over the scraped series returns the counts a known input must produce, and the rules of
deploy/prometheus/rules.yml load and evaluate without errors on real data."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cjo_stream.events import format_ts
from cjo_stream.kafka.local_broker import free_port
from tests.deploy import promql
from tests.deploy.conftest import DEPLOY, ROOT, require_binary
from tests.deploy.test_grafana import dashboard_exprs
from tests.runtime.conftest import event_line, produce

pytestmark = pytest.mark.broker

ADAPTER_COMMANDS = ROOT / "cjo_stream" / "adapters" / "commands.py"


def carts(prefix: str, n: int, now: float) -> list[bytes]:
    """``n`` customers: identify (with an email address) + cart_item_added worth 50 (enters quick_cart)."""
    out = []
    for i in range(n):
        uid = f"{prefix}-{i}"
        out.append(event_line(messageId=f"{prefix}-id-{i}", type="identify", userId=uid, timestamp=format_ts(now),
                              traits={"email": f"{uid}@example.com"}))
        out.append(event_line(messageId=f"{prefix}-cart-{i}", type="track", event="cart_item_added", userId=uid,
                              timestamp=format_ts(now), properties={"cart_value": 50, "product_name": "Lamp"}))
    return out


class Prometheus:
    """A prometheus server process on a loopback port, scraping every second."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, jobs: dict[str, list[str]]) -> Prometheus:
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
            "rule_files": [str(DEPLOY / "prometheus" / "rules.yml")],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                               for job, targets in jobs.items()],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.enable-lifecycle"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready after 30 s:\n{self.log()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        body = r.json()
        assert body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]  # type: ignore[no-any-return]

    def value(self, expr: str) -> float | None:
        res = self.query(expr)
        return float(res[0]["value"][1]) if res else None

    def wait_for(self, expr: str, ok: Callable[[float | None], bool], timeout: float, what: str = "") -> float | None:
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = self.value(expr)
            if ok(v):
                return v
            time.sleep(0.5)
        raise AssertionError(f"{what or expr}: last value {v!r} after {timeout}s")


class AdapterProc:
    def __init__(self, env: dict[str, str], channel: str, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        log = open(log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cjo_stream.cli", "adapter", "--channel", channel, "--web-port", str(self.port)],
            cwd=ROOT, env={**env, "CJO_WEB_PORT": str(self.port)}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, list[str]]], Prometheus]]:
    binary = require_binary("prometheus")
    started: list[Prometheus] = []

    def start(jobs: dict[str, list[str]]) -> Prometheus:
        p = Prometheus(binary, tmp_path / f"prom-{len(started)}")
        p.workdir.mkdir()
        started.append(p)
        return p.start(jobs)

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def adapters(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], AdapterProc]]:
    procs: list[AdapterProc] = []

    def start(channel: str) -> AdapterProc:
        a = AdapterProc(worker_env, channel, tmp_path / f"adapter-{channel}.log")
        procs.append(a)
        return a

    yield start
    for a in procs:
        a.stop()


async def test_prometheus_scrapes_the_worker_and_counts_a_known_input(
        spawn: Any, worker_env: dict[str, str], prometheus_factory: Any, adapters: Any) -> None:
    worker = spawn()
    worker.wait_ready()
    jobs = {"cjo-worker": [f"127.0.0.1:{worker.web_port}"]}
    adapter = None
    if ADAPTER_COMMANDS.exists():
        adapter = adapters("console")
        jobs["cjo-adapter"] = [f"127.0.0.1:{adapter.port}"]
    prom = prometheus_factory(jobs)
    try:
        prom.wait_for('up{job="cjo-worker"}', lambda v: v == 1, 20, "worker scraped")
        assert prom.value('cjo_up{job="cjo-worker", role="worker"}') == 1

        await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", [(None, x) for x in carts("prom", 10, time.time())])

        prom.wait_for('sum(cjo_journey_transitions_total{journey="quick_cart",kind="entered"})', lambda v: v == 10,
                      30, "10 customers entered quick_cart")
        assert prom.value('sum(cjo_events_consumed_total{type="identify"})') == 10
        assert prom.value('sum(cjo_events_consumed_total{type="track"})') == 10
        # the 3 s wait_for times out -> the reminder email; then 4 s later the in-app nudge
        prom.wait_for('sum(cjo_sends_total{channel="email"})', lambda v: v == 10, 30, "10 reminder emails")
        assert prom.value('sum(cjo_journey_step_reached_total{journey="quick_cart",step="remind"})') == 10
        prom.wait_for('sum(cjo_sends_total{channel="in_app", step="nudge"})', lambda v: v == 10, 30, "10 nudges")
        prom.wait_for('sum(cjo_journey_transitions_total{journey="quick_cart",kind="ended"})', lambda v: v == 10,
                      15, "10 instances ended")
        assert prom.value("sum(cjo_timer_lateness_seconds_count)") == 20  # both timeouts of each instance
        assert prom.value("sum(cjo_events_invalid_total)") in (None, 0)
        assert prom.value("sum(cjo_rebalances_total)") >= 1
        assert prom.value('count(cjo_state_restore_seconds_count{job="cjo-worker"})') == 1
        # each of the 10 customers' profiles was written by the batches that changed it (events, timeouts),
        # a few hundred bytes each: declared and never observed before (count 0)
        assert prom.value("sum(cjo_profile_size_bytes_count)") >= 10  # type: ignore[operator]
        assert prom.value('sum(cjo_profile_size_bytes_bucket{le="128.0"})') in (None, 0)
        assert prom.value('sum(cjo_profile_size_bytes_bucket{le="+Inf"})') == prom.value(
            "sum(cjo_profile_size_bytes_count)")
        assert prom.value("sum(cjo_profile_size_bytes_sum)") > 128 * prom.value(  # type: ignore[operator]
            "sum(cjo_profile_size_bytes_count)")

        # recording rules from deploy/prometheus/rules.yml evaluate on the real series
        # (their values may be 0 here: a labelled counter first scraped at its final value has no increase)
        prom.wait_for('count(cjo:journey_step_reached:rate5m{journey="quick_cart"})', lambda v: v == 4, 15,
                      "recording rule cjo:journey_step_reached:rate5m (wait_checkout, remind, wait_open, nudge)")
        prom.wait_for("count(cjo:events_consumed:rate1m)", lambda v: bool(v), 15, "cjo:events_consumed:rate1m")
        rules = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {g["name"] for g in rules} == {"cjo-stream.recording", "cjo-stream.alerts"}
        bad = [(r.get("name"), r.get("lastError")) for g in rules for r in g["rules"] if r.get("health") == "err"]
        assert not bad, f"rules failing on real data: {bad}"
        firing = [a["labels"]["alertname"] for a in
                  httpx.get(f"{prom.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"] if a["state"] == "firing"]
        assert not firing, f"alerts firing on a healthy run: {firing}"

        # every dashboard query runs against the real server
        for expr in dashboard_exprs():
            prom.query(promql.substitute_grafana(expr))

        if adapter is not None:
            prom.wait_for('up{job="cjo-adapter"}', lambda v: v == 1, 20, f"adapter scraped:\n{adapter.log()}")
            assert prom.value('cjo_up{job="cjo-adapter", role="adapter"}') == 1

        # state gauges: 10 profiles stored, no timer left (both timeouts fired, instances ended)
        profiles, timers = prom.value("sum(cjo_profiles)"), prom.value("sum(cjo_timers_pending)")

        # a crashed worker is seen down: the input of CjoWorkerDown / CjoNoWorkerRunning
        worker.kill()
        prom.wait_for('up{job="cjo-worker"}', lambda v: v == 0, 15, "worker seen down")
        assert prom.query('absent(up{job="cjo-worker"} == 1)')  # CjoNoWorkerRunning's condition holds

        assert (profiles, timers) == (10, 0)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- worker log:\n{worker.log()}\n--- prometheus log:\n{prom.log()}") from None
