"""``python -m cjo_stream.bench.deployment`` for half a minute: every process sampled, events flowing through to
the providers, the summary line readable, and nothing it started left running, also after Ctrl-C.

Run as a user runs it (``make soak-deployment`` runs the same module), in a child process whose processes are
found by the pids it prints.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import alive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = "python -m cjo_stream.bench.deployment"
NAMES = ["broker", "worker0", "worker1", "analytics", "email", "crm", "slack", "generator"]
pytestmark = pytest.mark.broker
#: columns before the processes': t, load, events/s, lag, folded/s, sent/s, analytics rows, analytics RocksDB MiB
FIXED = 8


def harness(tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cjo_stream.bench.deployment", *args]


def env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp)}


def pids_of(out: str) -> dict[str, int]:
    line = next(ln for ln in out.splitlines() if ln.startswith("processes: "))
    pairs = [p.rsplit(" ", 1) for p in line.removeprefix("processes: ").split(", ")]
    return {name: int(pid) for name, pid in pairs}


def gone(pids: dict[str, int], within: float = 10.0) -> list[str]:
    """The processes still alive after ``within`` s (none, if the harness stopped them all)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.2)
    return [n for n, p in pids.items() if alive(p)]


def test_a_short_run_samples_every_process_and_events_reach_the_providers(tmp_path: Path) -> None:
    p = subprocess.run(harness(tmp_path, "--minutes", "0.4", "--rate", "300", "--sample", "6", "--warmup", "0.1",
                               "--set", "CJO_ANALYTICS_CACHE_ROWS=1000"),
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env=env(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    pids = pids_of(p.stdout)
    assert list(pids) == NAMES
    head = next(ln for ln in p.stdout.splitlines() if ln.lstrip().startswith("t s"))
    assert head.split()[-8:] == NAMES
    rows = [ln.split() for ln in p.stdout.splitlines() if ln[:5].strip().isdigit()]
    assert len(rows) >= 3, p.stdout
    for row in rows:
        assert len(row) == FIXED + len(NAMES), row
        for name, cell in zip(NAMES, row[FIXED:], strict=True):
            fields = cell.split("/")
            # RSS MiB, CPU %, fds, threads; the Python processes also tasks and gc objects (their probes)
            assert len(fields) == (4 if name == "broker" else 6), (name, cell)
            rss, _, fds, threads = (int(f) for f in fields[:4])
            assert rss > 10 and fds > 0 and threads > 0, (name, cell)
    last = rows[-1]
    for name, cell in zip(NAMES[1:-1], last[FIXED + 1:-1], strict=True):  # every service has tasks running
        assert int(cell.split("/")[4]) > 0 and int(cell.split("/")[5].removesuffix("k")) > 10, (name, cell)
    assert max(float(r[2].replace(",", "")) for r in rows if r[2] != "—") > 100  # events/s the workers applied
    assert max(float(r[4].replace(",", "")) for r in rows if r[4] != "—") > 0  # journey events folded
    kept = [float(r[6].replace(",", "")) for r in rows if r[6] != "—"]  # rows the analytics keeps: to its cap
    assert kept and max(kept) > 0 and all(n <= 1000 for n in kept), kept
    assert max(float(r[7].replace(",", "")) for r in rows if r[7] != "—") > 0  # and its RocksDB memory
    summary = p.stdout.strip().splitlines()[-1]
    assert summary.startswith("deployment: "), summary
    result = dict(kv.split("=", 1) for kv in summary.removeprefix("deployment: ").split())
    assert float(result["rate"]) == 300 and 0.3 <= float(result["minutes"]) <= 0.5
    for name in NAMES:
        assert not math.isnan(float(result[f"{name}_rss_growth_pct"])), name
    assert float(result["events"]) > 2000
    assert int(result["sent"]) > 0 and int(result["delivered_smtp"]) > 0  # the email adapter sent to the stand-in
    assert not gone(pids), f"left running: {gone(pids)}"


def test_ctrl_c_stops_every_process_it_started(tmp_path: Path) -> None:
    proc = subprocess.Popen(harness(tmp_path, "--minutes", "5", "--rate", "100", "--sample", "3"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(tmp_path))
    out: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # the first row: everything is up
            line = proc.stdout.readline()
            out.append(line)
            if not line or line[:5].strip().isdigit():
                break
        pids = pids_of("".join(out))
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == f"{PROG}: interrupted"
    assert not gone(pids), f"left running: {gone(pids)}"


@pytest.mark.parametrize(("args", "fragment"), [
    (("--set", "ANALYTICS_CACHE_ROWS=5"), "--set 'ANALYTICS_CACHE_ROWS=5': use CJO_NAME=value"),
    (("--minutes", "0"), "argument --minutes: '0'"),
    (("--workers", "9"), "--workers 9: at most --partitions (8)"),
])
def test_a_mistake_is_one_line_before_anything_starts(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    p = subprocess.run(harness(tmp_path, *args), cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env=env(tmp_path))
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and fragment in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())  # no work dir: nothing was started


def test_a_setting_a_process_refuses_is_its_one_line(tmp_path: Path) -> None:
    """A process checks CJO_ANALYTICS_CACHE_ROWS at start (one line, exit 2); the harness says that line, at once,
    and stops the others."""
    p = subprocess.run(harness(tmp_path, "--minutes", "1", "--set", "CJO_ANALYTICS_CACHE_ROWS=10"), cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=env(tmp_path))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    line = p.stderr.strip()  # (every process checks every setting: whichever ended first is told)
    assert re.fullmatch(rf"{PROG}: error: the (worker\d|analytics|email|crm|slack) exited \(2\): "
                        r"CJO_ANALYTICS_CACHE_ROWS=10: must be 1000 or more \(rows .*\) \(log: .*\)", line), line


def test_a_service_whose_port_was_taken_before_it_bound_it_starts_again_on_another(tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A port is free when chosen; a test beside the run took one in the time the e-mail adapter took to bind it, and
    the whole run failed ("port ... is already in use"). The harness starts such a service again on another port."""
    import socket

    from cjo_stream.bench import deployment
    from cjo_stream.bench.standins import StandIns
    from cjo_stream.kafka.local_broker import LocalBroker, free_port

    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    taken = held.getsockname()[1]
    ports = iter([free_port(), taken])  # the analytics service's, then the one another program holds for e-mail
    monkeypatch.setattr(deployment, "free_port", lambda: next(ports, None) or free_port())
    monkeypatch.setattr(deployment, "CHANNELS", ("email",))
    with LocalBroker() as broker, StandIns() as standins:
        dep = deployment.Deployment(broker.bootstrap, standins, str(tmp_path), {}, 0, 2, 5.0)
        try:
            dep.start(timeout=120)
            assert dep.urls["email"] != f"http://127.0.0.1:{taken}" and dep.procs["email"].alive()
        finally:
            dep.stop(grace=10)
            held.close()
