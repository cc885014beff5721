"""``make soak``'s rows: the worker's RSS less its RocksDB memory, and its probe's tasks and gc objects.

RocksDB fills up to its budget, so a worker's RSS rising says little on its own; what must level off is the
rest. The probe file is the worker's own (the generator is started with the same settings and would
otherwise overwrite it with its own counts).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from cjo_stream.bench.procs import read_probe
from cjo_stream.bench.soak import Row, summary


def row(t: float, rss_mib: int, rocks_mib: int, tasks: float = 45.0, objs: float = 150_000.0) -> Row:
    return Row(t=t, worker_rss=rss_mib << 20, rocksdb=float(rocks_mib << 20), broker_rss=50 << 20, broker_cpu=10.0,
               worker_cpu=20.0, generator_cpu=20.0, events_per_s=1000.0, lag=0.0, p99=0.25, load=1.0,
               events=t * 1000, tasks=tasks, gc_objects=objs)


def test_a_row_shows_rss_less_rocksdb_tasks_and_gc_objects() -> None:
    r = row(60, 150, 40)
    assert r.rest == 110 << 20
    cells = r.line().split()
    assert cells[1:9] == ["150", "MiB", "40", "MiB", "110", "MiB", "45", "150k"], cells
    assert "—" in row(60, 150, 40, math.nan, math.nan).line()  # the probe has not written yet


def test_the_summary_gives_rss_less_rocksdb_from_the_warm_up_to_the_end() -> None:
    line = summary([row(30, 100, 24), row(300, 150, 40), row(600, 170, 55)], warmup=5, rate=1000)
    assert "worker_rss_mib=150->170 worker_rss_less_rocksdb_mib=110->115 " in line, line


def test_the_probe_file_is_read_and_nan_until_written(tmp_path: Path) -> None:
    path = tmp_path / "worker.probe.json"
    assert all(math.isnan(x) for x in read_probe(str(path)))
    path.write_text(json.dumps({"at": 1.0, "tasks": 44, "gc_objects": 133_000}))
    assert read_probe(str(path)) == (44.0, 133_000.0)
    path.write_text(json.dumps({"at": 1.0, "tasks": None, "gc_objects": 9}))  # Python 3.14: tasks out of reach
    tasks, objs = read_probe(str(path))
    assert math.isnan(tasks) and objs == 9.0
    path.write_text("{half")
    assert all(math.isnan(x) for x in read_probe(str(path)))
