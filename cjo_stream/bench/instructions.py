"""Instructions per event under valgrind's callgrind: a CPU measure that a busy machine does not move.

Wall-clock benchmarks on a shared 2-core machine move by ±20 % with other processes' load; the number
of instructions the interpreter executes for the same input does not (repeat runs agree within ~0.5 %).
So a change to the hot path can be judged here before ``make bench`` gives events/s on a quiet machine.

Each figure is the difference of two runs of the same command, over the first ``small`` and the first
``large`` events of the bench input, divided by ``large - small``: start-up and imports cancel out.

- **worker stages**: stage 1 (:class:`~cjo_stream.runtime.ingest.Ingest`) and stage 2
  (:class:`~cjo_stream.runtime.customers.CustomerPartition`, 8 partitions on RocksDB stores, due
  timers, metrics) in one process, fetches of 500, outputs counted and dropped: a worker without its
  Kafka IO (the broker-less soak's pipeline);
- **replay**: ``cjo-stream replay --events FILE``, the command a user runs, over the compressed
  timeline (as the throughput runs see it) and over the real one (timers fire, sends render).

``make instructions`` (needs ``valgrind``; a few minutes). Compare two trees by running it in each.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START = 1_780_000_000.0  # a fixed start: the same bytes every run


def run_stages(path: str, limit: int) -> None:
    """Stage 1 + stage 2 over the first ``limit`` lines of ``path``, in this process (the measured run).

    The broker-less soak's pipeline (:class:`~cjo_stream.bench.soak_stages.Stages`: the worker's stores,
    batch step, due timers and metrics, outputs counted and dropped), fed 500 records a fetch.
    """
    import gc

    from cjo_stream.bench.soak_stages import InputRecord, Stages
    from cjo_stream.config import Settings

    settings = Settings(partitions=8)
    with open(path, "rb") as f:
        lines = f.read().splitlines()[:limit]
    records = [InputRecord(settings.input_topic, 0, i, line) for i, line in enumerate(lines)]
    tmp = tempfile.mkdtemp(prefix="cjo-instructions-")
    stages = Stages(settings, tmp, receipts=False)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)  # the worker's settings (runtime/app.py)
    for i in range(0, len(records), 500):
        stages.take(records[i:i + 500])
        stages.drain(ingest_behind=False)
    stages.close()
    shutil.rmtree(tmp)
    print(f"{len(lines)} events; outputs {dict(stages.sink.dropped)}")


def _collected(argv: list[str], cwd: str) -> int:
    # a fixed hash seed: with a random one set and dict layouts differ from run to run (~±0.5 %)
    env = {**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], cwd=cwd,
                       capture_output=True, text=True, check=False, env=env)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode != 0 or m is None:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
    return int(m.group(1))


def per_event(argv_for: Any, small: int, large: int) -> float:
    """(instructions of the ``large`` run - those of the ``small`` run) / (large - small)."""
    return (_collected(argv_for(large), ROOT) - _collected(argv_for(small), ROOT)) / (large - small)


def write_inputs(directory: str, small: int, large: int, customers: int = 50_000) -> dict[str, dict[int, str]]:
    """The bench input's first events, compressed and real timeline, as files of ``small``/``large`` lines."""
    import orjson

    from cjo_stream.bench.runner import compress_timeline
    from cjo_stream.generator import generate_events

    real = [orjson.dumps(e) for e in generate_events(customers=customers, seed=2026, start=START, duration=5 * 86400)]
    paths: dict[str, dict[int, str]] = {}
    for name, lines in (("compressed", compress_timeline(real, 60.0)), ("real", real)):
        for n in (small, large):
            path = os.path.join(directory, f"{name}-{n}.jsonl")
            with open(path, "wb") as f:
                f.write(b"\n".join(lines[:n]) + b"\n")
            paths.setdefault(name, {})[n] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cjo_stream.bench.instructions", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=2_000)
    ap.add_argument("--large", type=int, default=12_000)
    ap.add_argument("--stages", nargs=2, metavar=("FILE", "N"), help=argparse.SUPPRESS)  # the measured child run
    args = ap.parse_args(argv)
    if args.stages:
        run_stages(args.stages[0], int(args.stages[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.large <= args.small:
        print("instructions: --large must be more than --small", file=sys.stderr)
        return 2
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="cjo-instructions-") as tmp:
        paths = write_inputs(tmp, args.small, args.large)
        rows = [
            ("worker stages (stage 1 + 2, RocksDB, no Kafka IO)",
             lambda n: [py, "-m", "cjo_stream.bench.instructions", "--stages", paths["compressed"][args.large], str(n)]),
            ("replay, compressed timeline",
             lambda n: [py, "-m", "cjo_stream.cli", "replay", "--events", paths["compressed"][n]]),
            ("replay, real timeline",
             lambda n: [py, "-m", "cjo_stream.cli", "replay", "--events", paths["real"][n]]),
        ]
        print(f"Instructions per event (callgrind; events {args.small:,}..{args.large:,} of the bench input):")
        for label, argv_for in rows:
            print(f"  {label:<52} {per_event(argv_for, args.small, args.large):>10,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
