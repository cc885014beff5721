"""``make soak`` given a mistake: one error line and a non-zero exit, never a traceback, nothing left running.

Run as a user runs it (``python -m cjo_stream.bench.soak``, which ``make soak`` runs, in a child process).
A bad number used to pass argparse (``nan``, ``inf``, ``--tracemalloc -1``) and either start a soak that
could never end or end in a traceback; a ``--set`` value the worker refuses ended in a ``RuntimeError``
traceback with the worker's log pasted under it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = "python -m cjo_stream.bench.soak"


def soak(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # the timeout only ends a run that was not refused (the bug), so the test fails instead of hanging
    return subprocess.run([sys.executable, "-m", "cjo_stream.bench.soak", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TMPDIR": str(tmp)})


def one_error_line(p: subprocess.CompletedProcess[str], code: int, fragment: str) -> str:
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    assert p.returncode == code, f"exit {p.returncode}, expected {code}:\n{out}"
    errors = [ln for ln in p.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and errors[0] == p.stderr.strip().splitlines()[-1], p.stderr
    assert errors[0].startswith(f"{PROG}: error: ") and fragment in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize(("args", "fragment"), [
    (("--minutes", "-3"), "argument --minutes: '-3': must be a number above 0"),
    (("--rate", "abc"), "argument --rate: 'abc' is not a number"),
    (("--minutes", "nan"), "argument --minutes: 'nan'"),
    (("--rate", "inf"), "argument --rate: 'inf'"),
    (("--interval", "0"), "argument --interval: '0'"),
    (("--warmup", "-1"), "argument --warmup: '-1': must be a number, 0 or more"),
    (("--stop-p99-ms", "nan"), "argument --stop-p99-ms: 'nan'"),
    (("--customers", "0"), "argument --customers: '0': must be 1 or more"),
    (("--customers", "1000000000"), "argument --customers: '1000000000': at most 100,000,000 customers"),
    (("--partitions", "0"), "argument --partitions: '0': must be 1 or more"),
    (("--no-broker", "--tracemalloc", "-1"), "argument --tracemalloc: '-1': must be 0 or more"),
    (("--no-broker", "--tracemalloc", "70000"), "--tracemalloc: at most 65535 frames"),
])
def test_a_bad_number_is_refused_before_anything_starts(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    p = soak(tmp_path, *args)
    one_error_line(p, 2, fragment)
    assert p.stdout == ""  # no broker, worker or generator was started
    assert not list(tmp_path.iterdir())  # no work dir made


def test_a_setting_the_worker_refuses_is_its_one_line(tmp_path: Path) -> None:
    """The worker checks its settings at start (one line, exit 2); the soak says that line, not a traceback."""
    p = soak(tmp_path, "--minutes", "1", "--set", "CJO_COMMIT_INTERVAL_MS=soon")
    line = one_error_line(p, 1, "the worker exited (2): ")
    assert "CJO_COMMIT_INTERVAL_MS" in line and "(log: " in line and str(tmp_path) in line, line


def test_ctrl_c_stops_a_soak_with_one_line(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) while a broker-fed soak runs: 'interrupted', exit 130, no KeyboardInterrupt traceback
    (``--no-broker`` takes Ctrl-C as "stop here" and prints its summary, by design)."""
    import signal
    import time

    p = subprocess.Popen([sys.executable, "-m", "cjo_stream.bench.soak", "--minutes", "5", "--rate", "200",
                          "--interval", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        assert p.stdout is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the first row: the soak is under way
            line = p.stdout.readline()
            if not line or line.strip()[:1].isdigit():
                break
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert "Traceback" not in out + err, err
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "python -m cjo_stream.bench.soak: interrupted"
