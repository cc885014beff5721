"""A worker and an adapter whose broker dies: aiokafka's connection errors are said once a minute, not ~190
and ~75 times a second (11,576 and 4,437 lines in 60 s), and both keep running until it is back (both then
exit 70, their topics gone with the broker's memory: test_broker_restart)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from cjo_stream.kafka.local_broker import LocalBroker, free_port

ROOT = Path(__file__).resolve().parent.parent


def _start(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", *args], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _worker_ready(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
        return r.status_code == 200 and bool(r.json()["partitions"])
    return False


def worker_env(bootstrap: str, tmp_path: Path) -> dict[str, str]:
    """A worker's environment on the test topologies, in memory, no CJO_* variable of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(CJO_BROKER=bootstrap, CJO_DATA_DIR=str(tmp_path / "data"), CJO_PARTITIONS="2",
               CJO_TOPOLOGIES=str(ROOT / "tests" / "runtime" / "topologies"), CJO_STORE="memory",
               PYTHONUNBUFFERED="1")
    return env


def run_until_ready(env: dict[str, str], log: Path, *flags: str) -> None:
    """Start a worker, wait until its /health answers ready (60 s at most), stop it with SIGTERM."""
    port = free_port()
    with log.open("wb") as f:
        p = _start(["worker", "--web-port", str(port), *flags], env, f)
    try:
        deadline = time.monotonic() + 60
        while not _worker_ready(port):
            assert p.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(30)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]


def test_worker_and_adapter_say_once_a_minute_that_the_broker_is_gone(tmp_path: Path) -> None:
    broker = LocalBroker().start()
    env = worker_env(broker.bootstrap, tmp_path)
    wlog, alog = tmp_path / "worker.log", tmp_path / "adapter.log"
    wport = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with wlog.open("wb") as wf, alog.open("wb") as af:
            procs.append(_start(["worker", "--web-port", str(wport)], env, wf))
            procs.append(_start(["adapter", "--channel", "console", "--web-port=-1"], env, af))
        deadline = time.monotonic() + 60
        while not (_worker_ready(wport) and "sent-record: read" in alog.read_text()):
            assert all(p.poll() is None for p in procs), wlog.read_text() + alog.read_text()
            assert time.monotonic() < deadline, wlog.read_text()[-3000:] + alog.read_text()[-3000:]
            time.sleep(0.2)
        before = {log: len(_lines(log)) for log in (wlog, alog)}
        assert broker.proc is not None
        broker.proc.kill()  # SIGKILL: the broker dies mid-run
        broker.proc.wait(5)
        time.sleep(8)
        for log, n in before.items():
            gone = _lines(log)[n:]
            # each of aiokafka's messages (failed connect, metadata, fetch, heartbeat, coordinator) once
            assert 1 <= len(gone) <= 12, f"{log.name}: {len(gone)} lines in 8 s:\n" + "\n".join(gone[:30])
            assert len({line.split(" ", 2)[2] for line in gone}) == len(gone), "\n".join(gone)
        assert all(p.poll() is None for p in procs), "a process exited while the broker was gone"
        broker = LocalBroker(broker.port).start()  # back on the same address, without any topic (memory storage)
        # their topics are gone: each exits 70 with one line, to be started again (test_broker_restart)
        assert procs[0].wait(60) == 70, wlog.read_text()[-3000:]
        assert procs[1].wait(60) == 70, alog.read_text()[-3000:]
        for log, n in before.items():
            assert len(_lines(log)) - n <= 20, "\n".join(_lines(log)[n:][:40])
            assert "Traceback" not in log.read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        broker.stop()


def test_an_adapter_stopped_while_its_broker_is_gone_exits_0_without_a_traceback(tmp_path: Path) -> None:
    """aiokafka's consumer.stop() re-raised the cancellation of a fetch sleeping out its retry backoff: the
    adapter ended on a CancelledError traceback (exit 1) and ~90 lines of 'Logging error' at exit; the
    sent-record's last look at the ends left 'Unclosed AIOKafkaConsumer'."""
    broker = LocalBroker().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(CJO_BROKER=broker.bootstrap, CJO_PARTITIONS="2", PYTHONUNBUFFERED="1")
    alog = tmp_path / "adapter.log"
    with alog.open("wb") as af:
        p = _start(["adapter", "--channel", "console", "--web-port=-1"], env, af)
    try:
        deadline = time.monotonic() + 60
        while "sent-record: read" not in alog.read_text():
            assert p.poll() is None and time.monotonic() < deadline, alog.read_text()
            time.sleep(0.2)
        assert broker.proc is not None
        broker.proc.kill()
        broker.proc.wait(5)
        time.sleep(2)  # its fetches fail and back off
        p.send_signal(signal.SIGTERM)
        code = p.wait(30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
        broker.stop()
    log = alog.read_text()
    assert code == 0, log[-4000:]
    assert "Traceback" not in log and "Logging error" not in log and "Unclosed" not in log, log[-4000:]


def test_a_worker_logging_at_debug_shows_the_kafka_clients_group_lines(tmp_path: Path) -> None:
    """A worker stuck joining its groups said nothing after 'Starting...' even with CJO_LOG_LEVEL=debug: the
    client's logger was held at ERROR whatever the level (an operator's walkthrough). At debug its group and
    coordinator lines (INFO) show; at the default level they do not. A flag given wins over the variable, as
    the README says of every flag (CJO_LOG_LEVEL won over --loglevel)."""
    with LocalBroker() as broker:
        for n, (level, flags, shown) in enumerate((("debug", [], True), ("info", [], False),
                                                    ("debug", ["--loglevel", "warn"], False))):
            env = {**worker_env(broker.bootstrap, tmp_path), "CJO_LOG_LEVEL": level,
                   "CJO_DATA_DIR": str(tmp_path / str(n))}
            log = tmp_path / f"{n}.log"
            run_until_ready(env, log, *flags)
            text = log.read_text(errors="replace")
            assert ("Joined group" in text or "Discovered coordinator" in text) is shown, text[-3000:]
