"""``cjo-stream worker --concurrency N`` runs N processes that share the partitions and stop together."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from cjo_stream.config import Settings
from cjo_stream.runtime.supervisor import ConcurrencyError, child_env, stop_in_turn
from tests.runtime.conftest import ROOT, health


def test_two_processes_split_the_partitions_restart_and_stop_on_sigterm(spawn: Any, tmp_path: Any) -> None:
    topo = tmp_path / "topologies"  # with a journey file in a subfolder: a warning, shown once (not per process)
    shutil.copytree(os.path.join(ROOT, "tests", "runtime", "topologies"), topo)
    (topo / "journeys" / "old").mkdir()
    shutil.copy(next((topo / "journeys").glob("*.yaml")), topo / "journeys" / "old" / "parked.yaml")
    w = spawn(CJO_CONCURRENCY="2", CJO_TOPOLOGIES=str(topo))
    ports = [w.web_port, w.web_port + 1]
    deadline = time.monotonic() + 90
    owned: dict[int, list[int]] = {}
    while time.monotonic() < deadline:
        assert w.proc.poll() is None, w.log()
        states = {p: health(p) for p in ports}
        owned = {p: h["partitions"] for p, h in states.items() if h}
        if len(owned) == 2 and all(owned.values()) and sorted(sum(owned.values(), [])) == [0, 1, 2, 3]:
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"partitions not split between two processes: {owned}\n{w.log()}")
    assert not set(owned[ports[0]]) & set(owned[ports[1]])
    ids = {p: health(p)["worker_id"] for p in ports}  # type: ignore[index]
    assert len(set(ids.values())) == 2
    # a process that dies is started again (the default worker id ends with the pid)
    os.kill(int(ids[ports[1]].rsplit("-", 1)[1]), signal.SIGKILL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        h = health(ports[1])
        if h and h["worker_id"] != ids[ports[1]]:
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"the killed process was not started again\n{w.log()}")
    w.stop()
    assert w.proc.returncode == 0, w.log()
    assert all(health(p) is None for p in ports)
    assert w.log().count("in a subfolder are not loaded") == 1, w.log()


def test_a_shared_web_url_is_refused_with_what_to_do() -> None:
    with pytest.raises(ConcurrencyError, match="CJO_WEB_URL names a single process"):
        child_env(Settings(web_url="http://worker-0:6066"), 1)


def test_each_process_gets_its_own_port_and_id() -> None:
    s = Settings(web_port=7000, worker_id="node-a", partitions=12)
    envs = [child_env(s, i) for i in range(3)]
    assert [e["CJO_WEB_PORT"] for e in envs] == ["7000", "7001", "7002"]
    assert [e["CJO_WORKER_ID"] for e in envs] == ["node-a-0", "node-a-1", "node-a-2"]
    assert {e["CJO_PARTITIONS"] for e in envs} == {"12"} and {e["CJO_CONCURRENCY"] for e in envs} == {"1"}


_STOPS_SLOWLY = """
import signal, sys, time
log, name = sys.argv[1], sys.argv[2]
def stop(*_):
    with open(log, "a") as f:
        f.write(f"term {name}\\n")
    time.sleep(0.3)  # leaving the consumer groups, flushing the stores
    with open(log, "a") as f:
        f.write(f"exit {name}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with open(log, "a") as f:
    f.write(f"ready {name}\\n")
while True:
    time.sleep(1)
"""


def _ready(log: Any, n: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("ready ") == n:
            return
        time.sleep(0.05)
    raise AssertionError(log.read_text() if log.exists() else "no process started")


def test_processes_are_stopped_one_after_the_other(tmp_path: Any) -> None:
    """All at once, two workers leaving their groups together wedged a group on the local broker for good (README,
    "Quirks of the local broker"): each process is sent SIGTERM only once the one before it has exited."""
    log = tmp_path / "log"
    procs = [subprocess.Popen([sys.executable, "-c", _STOPS_SLOWLY, str(log), name]) for name in "abc"]
    _ready(log, 3)
    stop_in_turn(procs)
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert log.read_text().splitlines()[3:] == ["term a", "exit a", "term b", "exit b", "term c", "exit c"]


def test_a_process_that_does_not_stop_delays_the_next_by_the_gap_only(tmp_path: Any) -> None:
    log = tmp_path / "log"
    deaf = _STOPS_SLOWLY.replace("signal.signal(signal.SIGTERM, stop)", "signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    procs = [subprocess.Popen([sys.executable, "-c", deaf, str(log), "a"]),
             subprocess.Popen([sys.executable, "-c", _STOPS_SLOWLY, str(log), "b"])]
    _ready(log, 2)
    stop_in_turn(procs, gap=0.2, within=3.0)
    assert procs[0].returncode == -signal.SIGKILL and procs[1].returncode == 0
    assert log.read_text().splitlines()[2:] == ["term b", "exit b"]
