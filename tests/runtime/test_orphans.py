"""No orphans: a verb that starts processes takes them with it when it is SIGKILLed (or OOM-killed).

Each test starts the verb as a user would, notes the processes it started, SIGKILLs the verb alone
(not its process group: a kill from outside, the OOM killer, does not signal the group) and asserts
every one of them is gone and its port closed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from cjo_stream.kafka.local_broker import LocalBroker, free_port, free_port_block
from cjo_stream.lifetime import popen
from tests.processes import alive, descendants

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("cjo-stream"))


def assert_gone(pids: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    left = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:120] for p in pids if alive(p)}
    for p in left:  # clean up before failing
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    assert not left, f"left behind after the parent was SIGKILLed: {left}"


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def port_closed(port: int, timeout: float = 10.0) -> bool:
    """True once nothing accepts connections on the port (a killed process's other threads may
    still be closing its sockets for a moment after the main one is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@contextlib.contextmanager
def verb(*args: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[Any]]:
    with open(log, "wb") as f:
        proc = popen([CLI, *args], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def wait_for(what: str, check: object, proc: subprocess.Popen[Any], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen after {timeout} s:\n{log.read_text()[-3000:]}")


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_broker_verb_takes_tansu_with_it(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "broker.log"
    with verb("broker", "--port", str(port), env=clean_env(), log=log) as proc:
        # (a full suite once saw nothing listening after 30 s, and no log: now the verb's log says why)
        wait_for("the broker listening", lambda: listening(port), proc, log, 60)
        tansu = descendants(proc.pid)
        assert tansu and all(b"tansu" in Path(f"/proc/{p}/cmdline").read_bytes() for p in tansu)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert_gone(tansu, timeout=10)
        assert port_closed(port)


def test_worker_concurrency_processes_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    web = free_port_block(2)  # the first of two consecutive free ports
    with LocalBroker() as broker:
        env = clean_env(CJO_BROKER=broker.bootstrap, CJO_DATA_DIR=str(tmp_path / "data"), CJO_PARTITIONS="2",
                        CJO_TOPOLOGIES=str(ROOT / "tests" / "runtime" / "topologies"), CJO_STORE="memory")
        log = tmp_path / "worker.log"
        with verb("worker", "--concurrency", "2", "--web-port", str(web), env=env, log=log) as proc:
            wait_for("both worker processes healthy", lambda: healthy(web) and healthy(web + 1), proc, log, 120)
            workers = descendants(proc.pid)
            assert len(workers) == 2, workers
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            assert_gone(workers, timeout=60)  # SIGTERM: each stops cleanly, leaving its group
            assert port_closed(web) and port_closed(web + 1)


def test_worker_concurrency_stops_on_a_process_exit_a_restart_cannot_mend(tmp_path: Path) -> None:
    """A process refusing to start (here: its topics exist with 2 partitions, CJO_PARTITIONS says 4: exit 2)
    was started again every 2 s for ever, and the supervisor itself never failed (an operator's walkthrough)."""
    import asyncio

    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    web = free_port_block(2)
    with LocalBroker() as broker:
        s = Settings(bootstrap=broker.bootstrap, partitions=2)
        asyncio.run(ensure_topics(s, [s.internal_topic], partitions={s.internal_topic: 2}))
        env = clean_env(CJO_BROKER=broker.bootstrap, CJO_DATA_DIR=str(tmp_path / "data"), CJO_PARTITIONS="4",
                        CJO_TOPOLOGIES=str(ROOT / "tests" / "runtime" / "topologies"), CJO_STORE="memory")
        log = tmp_path / "worker.log"
        with verb("worker", "--concurrency", "2", "--web-port", str(web), env=env, log=log) as proc:
            try:
                code = proc.wait(120)
            except subprocess.TimeoutExpired:
                raise AssertionError("still running:\n" + log.read_text()[-3000:]) from None
        text = log.read_text()
        assert code == 2, text[-3000:]
        assert f"topic {s.internal_topic} has 2 partitions but CJO_PARTITIONS=4" in text, text[-3000:]
        assert "exited with 2: a restart cannot fix that" in text and "starting it again" not in text, text[-3000:]
        assert "Traceback" not in text, text[-3000:]


def test_demo_takes_broker_worker_adapter_and_generator_with_it(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with verb("demo", "--duration", "300", env=clean_env(), log=log) as proc:
        wait_for("the demo's live output", lambda: "as they are decided" in log.read_text(), proc, log, 150)
        children = descendants(proc.pid)
        names = b" ".join(Path(f"/proc/{p}/cmdline").read_bytes() for p in children)
        for part in (b"tansu", b"worker", b"adapter", b"generate"):
            assert part in names, f"{part!r} not among the demo's processes: {names!r}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert_gone(children, timeout=15)



def test_demo_stopped_by_sigterm_stops_everything_and_exits_0(tmp_path: Path) -> None:
    """The README's exit codes: `demo` stopped by SIGTERM exits 0 after a clean stop, as by Ctrl-C. It ended
    with 143 and no summary, its processes killed by the parent-death SIGKILL instead of stopped."""
    log = tmp_path / "demo.log"
    with verb("demo", "--duration", "300", env=clean_env(), log=log) as proc:
        wait_for("the demo's live output", lambda: "as they are decided" in log.read_text(), proc, log, 150)
        children = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(60)
        text = log.read_text()
        assert code == 0, text[-2000:]
        assert "stopping ..." in text and "demo done after" in text, text[-2000:]
        assert_gone(children, timeout=15)
