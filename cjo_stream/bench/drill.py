"""The restart drill: two live workers under demo traffic, killed or restarted, against ``replay`` of the same events.

    python -m cjo_stream.bench.drill --scenario kill      # one SIGKILL (and restart) of a worker
    python -m cjo_stream.bench.drill --scenario rolling   # two rolling restarts (SIGTERM), then a SIGKILL

On a fresh local broker (Tansu) two ``cjo-stream worker`` processes run the demo journeys (``topologies/demo``:
waits of 10 and 20 s, so a restart's seconds matter) while ``cjo-stream generate`` produces demo-like traffic in
real time. The scenario's incidents happen during the traffic; each stopped worker is started again at once with
its data directory. After the traffic the workers run on until every wait has ended, then every delivery command
on the topics is read and compared by ``delivery_id`` with what ``cjo-stream replay --topic`` decides over the
input topic: commands live sent and replay does not, the reverse, and ids live sent twice (a SIGKILL redoes
the decisions it cut off: at-least-once, the same command again, which adapters drop by its id). Each difference is
listed with the customer's events near its decision and the incident nearest to it; the workers' stage-1 lines
(rebalances, partitions held by a killed worker) give the timeline. Everything is kept in ``--out``.

Minutes long and timing-dependent (it is a drill, not a test): the figures go to the README by hand, with the
machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson

from cjo_stream.argtypes import non_negative_float, positive_float, positive_int
from cjo_stream.bench.drill_compare import Diff, Written, after_wait, compare, kinds, near, nearest
from cjo_stream.bench.procs import Proc, spawn_worker, wait_health
from cjo_stream.config import Settings
from cjo_stream.events import parse_ts
from cjo_stream.kafka.local_broker import LocalBroker, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHANNELS = ["email", "sms", "push", "in_app", "webhook", "slack", "crm"]
APP_ID = "drill"
PARTITIONS = 4  # as `make demo`: two workers hold two input partitions each
#: incidents per scenario: (seconds into the traffic, action, worker); each stopped worker starts again at once
PLANS: dict[str, list[tuple[float, str, int]]] = {
    "kill": [(45.0, "kill", 1)],
    "rolling": [(25.0, "stop", 0), (35.0, "stop", 1), (80.0, "kill", 0)],
    "none": [],  # the control: what differs from replay with no restart at all
}
_STAGE1 = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}).*?(stage 1: .*|stage groups joined.*|stopped in .*)$")


def _log(msg: str) -> None:
    print(f"[drill {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _env(bootstrap: str, out: str, name: str, **extra: str) -> dict[str, str]:
    # (CJO_PURE_PYTHON kept: the drill of a tree without its compiled modules, cjo_stream/native.py)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_") or k == "CJO_PURE_PYTHON"}
    env.update(CJO_BROKER=bootstrap, CJO_APP_ID=APP_ID, CJO_PARTITIONS=str(PARTITIONS), CJO_STORE="rocksdb",
               CJO_DATA_DIR=os.path.join(out, f"{name}-data"), CJO_TOPOLOGIES=os.path.join(ROOT, "topologies", "demo"),
               CJO_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1", **extra)
    return env


class Workers:
    """The drill's workers: started, stopped, killed and started again with their data directories."""

    def __init__(self, bootstrap: str, out: str, settings: dict[str, str], n: int = 2) -> None:
        self.out = out
        self.envs = [_env(bootstrap, out, f"worker{i}", CJO_WEB_PORT=str(free_port()), **settings) for i in range(n)]
        self.procs: list[Proc | None] = [None] * n
        self.starts = [0] * n
        self.marks: dict[str, float] = {}

    def start(self, i: int) -> None:
        self.starts[i] += 1
        log = os.path.join(self.out, f"worker{i}-{self.starts[i]}.log")
        proc = spawn_worker(self.envs[i], log, ROOT)
        self.procs[i] = proc
        wait_health(proc, f"http://127.0.0.1:{self.envs[i]['CJO_WEB_PORT']}", 180.0)

    def incident(self, action: str, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        name = f"worker {i} {'SIGKILL' if action == 'kill' else 'SIGTERM'}"
        self.marks[name] = time.time()
        _log(name)
        if action == "kill":
            proc.kill()
            proc.stop()  # (closes its log)
        else:
            proc.stop(grace=30.0)
            self.marks[f"worker {i} stopped"] = time.time()
        self.start(i)
        self.marks[f"worker {i} ready again"] = time.time()
        _log(f"worker {i} ready again")

    def stop_all(self) -> None:
        for p in self.procs:
            if p is not None:
                p.stop(grace=30.0)


def _logs(out: str) -> list[tuple[float, str, str]]:
    """The workers' stage-1 lines (rebalances, partitions held elsewhere, stops), by time."""
    rows = []
    for name in sorted(os.listdir(out)):
        if not name.endswith(".log") or not name.startswith("worker"):
            continue
        with open(os.path.join(out, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                m = _STAGE1.match(line.rstrip())
                if m:
                    at = time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S")) + int(m[2]) / 1000
                    rows.append((at, name.removesuffix(".log"), m[3][:160]))
    return sorted(rows)


async def _read(bootstrap: str, topics: list[str]) -> list[Any]:
    """Every record of ``topics`` from the beginning (read to the end as the local broker reports it)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from cjo_stream.kafka.reading import read_to_end

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                         auto_offset_reset="earliest")
    await c.start()
    try:
        await c.topics()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        out: list[Any] = []
        await read_to_end(c, tps, out.extend)
        return out
    finally:
        await c.stop()


def _written(records: list[Any]) -> list[Written]:
    out = []
    for r in records:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            e = orjson.loads(r.value)
            ids = tuple(str(e[k]) for k in ("userId", "anonymousId") if e.get(k))
            out.append(Written(r.partition, r.offset, r.timestamp / 1000, parse_ts(e["timestamp"]),
                               str(e.get("event") or e.get("type")), ids))
    return out


def _replay(bootstrap: str, topic: str, path: str) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "replay", "--topic", topic, "--broker", bootstrap,
                        "--topologies", os.path.join(ROOT, "topologies", "demo"), "--commands", path],
                       capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"replay failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def report(diff: Diff, events: list[Written], marks: dict[str, float], t0: float,
           stage1: list[tuple[float, str, str]]) -> str:
    """The drill's findings as text: totals, differences by kind, each difference in context, the timeline."""
    lines = [f"live sent {diff.live:,} distinct delivery ids, replay {diff.replay:,}; matched {diff.matched:,}; "
             f"live only {len(diff.live_only)}, replay only {len(diff.replay_only)}, "
             f"sent again {sum(n - 1 for n in diff.duplicates.values())} (same delivery_id, "
             f"{len(diff.unequal)} of them not the same command)"]
    for (side, step, by), n in sorted(kinds(diff).items()):
        lines.append(f"  {side:<12} {step:<32} decided by {by:<6} {n}")
    for side, cmds in (("live only", diff.live_only), ("replay only", diff.replay_only)):
        for c in cmds:
            decided = parse_ts(c["decided_at"])
            inc = nearest(decided, marks)
            lines.append(f"- {side}: {c['journey']}/{c['step']} customer {c['customer_id']} decided at "
                         f"+{decided - t0:.1f} s by {'a timer' if after_wait(c) else c['triggered_by']}"
                         + (f"; {inc[1]:+.1f} s from {inc[0]}" if inc else ""))
            for e in near(c, decided, events):
                lines.append(f"    {e.name:<20} happened {e.at - decided:+7.3f} s from the decision, written "
                             f"{e.written - decided:+7.3f} s, partition {e.partition} offset {e.offset}")
    lines.append("timeline (seconds from the first event):")
    rows = [(at, "drill", name) for name, at in marks.items()] + stage1
    for at, who, what in sorted(rows):
        lines.append(f"  +{at - t0:6.1f} s {who:<10} {what}")
    return "\n".join(lines)


def run(scenario: str, seconds: float, rate: float, customers: int, seed: int, tail: float, out: str,
        worker_settings: dict[str, str] | None = None) -> Diff:
    os.makedirs(out, exist_ok=True)
    settings = Settings(app_id=APP_ID)
    with LocalBroker() as broker:
        workers = Workers(broker.bootstrap, out, worker_settings or {})
        try:
            for i in range(len(workers.procs)):
                workers.start(i)
            _log(f"{len(workers.procs)} workers ready on {broker.bootstrap}; traffic: {rate:g} events/s for "
                 f"{seconds:g} s ({customers} customers a simulated month, seed {seed})")
            gen = Proc([sys.executable, "-m", "cjo_stream.cli", "generate", "--customers", str(customers), "--rate",
                        str(rate), "--duration", str(seconds), "--seed", str(seed)],
                       _env(broker.bootstrap, out, "generator"), os.path.join(out, "generator.log"), cwd=ROOT)
            t0 = time.time() + 0.5  # (the generator stamps its first event half a second after it starts)
            for at, action, i in PLANS[scenario]:  # (none: the control)
                time.sleep(max(0.0, t0 + at - time.time()))
                workers.incident(action, i)
            gen.proc.wait(seconds + 120)
            gen.stop()
            _log(f"traffic done; the workers run {tail:g} s more (every wait ends)")
            time.sleep(tail)
            live = [orjson.loads(r.value) for r in
                    asyncio.run(_read(broker.bootstrap, [settings.delivery_topic(c) for c in CHANNELS]))]
            events = _written(asyncio.run(_read(broker.bootstrap, [settings.input_topic])))
        finally:
            workers.stop_all()
        _log(f"{len(events):,} events, {len(live):,} live commands; replaying the input topic")
        replayed = _replay(broker.bootstrap, settings.input_topic, os.path.join(out, "replay.jsonl"))
    with open(os.path.join(out, "live.jsonl"), "wb") as f:
        f.writelines(orjson.dumps(c) + b"\n" for c in live)
    with open(os.path.join(out, "events.jsonl"), "wb") as f:  # where each input event was written, and when
        f.writelines(orjson.dumps(e) + b"\n" for e in events)
    diff = compare(live, replayed)
    text = report(diff, events, workers.marks, min((e.at for e in events), default=t0), _logs(out))
    with open(os.path.join(out, "report.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"scenario": scenario, "rate": rate, "seed": seed, "events": len(events), "live": diff.live, "replay": diff.replay,
                   "live_only": len(diff.live_only), "replay_only": len(diff.replay_only),
                   "duplicates": sum(n - 1 for n in diff.duplicates.values()), "unequal": len(diff.unequal),
                   "load": os.getloadavg()}, f)
    print(text)
    return diff


def main(argv: list[str] | None = None) -> int:
    from cjo_stream.cli import _Parser  # a mistake told in one line, as the CLI's

    ap = _Parser(prog="python -m cjo_stream.bench.drill", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=sorted(PLANS), default="kill",
                    help="kill: one SIGKILL at 45 s; rolling: SIGTERM at 25 s and 35 s, SIGKILL at 80 s; none: no "
                         "incident, the control (default kill)")
    ap.add_argument("--seconds", type=positive_float, default=120.0, help="seconds of traffic (default 120)")
    ap.add_argument("--rate", type=positive_float, default=160.0,
                    help="events per second (default 160: ~1,100 commands in 2 min; make demo's 40 gives a quarter)")
    ap.add_argument("--customers", type=positive_int, default=3000,
                    help="new customers per simulated month (default 3000: with 300, as make demo, at 160 events/s no "
                         "wait's event comes in the seconds before it times out, so no restart can change a decision)")
    ap.add_argument("--seed", type=int, default=7,
                    help="the generator's (default 7): one seed and rate give the same events at the same times from "
                         "the start, so a scenario and its control (none) can be compared event by event")
    ap.add_argument("--tail", type=non_negative_float, default=45.0,
                    help="seconds the workers run after the traffic (default 45: the 20 s waits, a held timer)")
    ap.add_argument("--set", action="append", default=[], metavar="CJO_NAME=VALUE",
                    help="a worker setting (repeatable), e.g. CJO_COMMIT_INTERVAL_MS=1000 as make demo's")
    ap.add_argument("--out", help="directory for logs, commands and the report (default: a new temporary one)")
    args = ap.parse_args(argv)
    if args.seconds <= max((at for at, _, _ in PLANS[args.scenario]), default=0.0):
        print(f"--seconds {args.seconds:g}: the {args.scenario} scenario's incidents need longer traffic",
              file=sys.stderr)
        return 2
    bad = [kv for kv in args.set if not re.fullmatch(r"CJO_[A-Z0-9_]+=.*", kv)]
    if bad:
        print(f"--set {bad[0]!r}: give CJO_NAME=VALUE", file=sys.stderr)
        return 2
    out = args.out or tempfile.mkdtemp(prefix=f"cjo-drill-{args.scenario}-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the workers' process groups are stopped on the way out
    _log(f"{args.scenario} drill; logs, commands and report in {out}; load {os.getloadavg()[0]:.2f}")
    diff = run(args.scenario, args.seconds, args.rate, args.customers, args.seed, args.tail, out,
               dict(kv.split("=", 1) for kv in args.set))
    _log(f"done; report in {out}/report.txt")
    # a command sent again with its delivery_id is at-least-once (README "Crashes and rebalances"; adapters drop it)
    return 0 if not (diff.live_only or diff.replay_only or diff.unequal) else 1


if __name__ == "__main__":
    sys.exit(main())
