"""The broker-less soak runs the worker's stages on real RocksDB stores and reports in its one-line summary.

Runs the command as a user does, in a child process (it tunes the GC and makes the process's RocksDB budget,
which must not leak into the test process). A few seconds at a small rate; no timing is asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def soak(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # its work dir (the generator's log; the stores are removed at the end) goes under the test's tmp_path
    return subprocess.run([sys.executable, "-m", "cjo_stream.bench.soak", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp)})


def test_no_broker_soak_applies_events_and_prints_the_summary(tmp_path: Path) -> None:
    p = soak(tmp_path, "--no-broker", "--minutes", "0.05", "--rate", "300", "--interval", "1", "--warmup", "0.02", "--receipts")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    lines = p.stdout.splitlines()
    work = re.search(r"work dir (\S+)", lines[0])
    assert work and "no Kafka client, no broker" in lines[0], lines[0]
    assert work.group(1).startswith(str(tmp_path)), work.group(1)
    rows = [ln for ln in lines if re.match(r"\s+\d+\s+\d+ MiB", ln)]
    assert rows, p.stdout
    summary = lines[-1]
    m = re.fullmatch(r"soak: worker_rss_growth_pct=(-?[\d.]+) minutes=([\d.]+) rate=300 events=(\d+) "
                     r"events_per_s_min=\d+ worker_rss_mib=(\d+)->(\d+) rocksdb_mib=\d+->\d+ timers=(\d+) "
                     r"profiles=(\d+) commands=(\d+) cpu_pct_mean=\d+ load1_max=[\d.]+ \(no broker\)", summary)
    assert m, summary
    events, timers, profiles = int(m.group(3)), int(m.group(6)), int(m.group(7))
    assert 0 < events <= 300 * 3 + 500  # the generated events, plus the receipts of the commands decided
    assert 0 < profiles <= events and timers > 0  # customers stored, journeys waiting on timers
    assert int(m.group(4)) > 10 and int(m.group(5)) > 10  # a real process's resident memory, in MiB
    assert 0 < float(m.group(2)) < 1
    dropped = next(ln for ln in lines if ln.startswith("outputs counted and dropped: "))
    assert "profiles-changelog" in dropped and "timers-changelog" in dropped, dropped
    assert not os.path.exists(os.path.join(work.group(1), "stores"))  # the RocksDB stores are removed at the end


def test_broker_only_options_are_refused_with_one_line(tmp_path: Path) -> None:
    p = soak(tmp_path, "--receipts")
    assert p.returncode == 2 and "--receipts and --tracemalloc go with --no-broker" in p.stderr
    assert "Traceback" not in p.stderr
