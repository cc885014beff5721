"""``make bench``, send cost: the pure engine over a send-heavy event list, no broker, no I/O.

The send-heavy topology (``cjo_stream/bench/send_heavy``: an in-app card per product view and cart
addition, a CRM webhook per checkout, a welcome e-mail per sign-up; no caps) makes about a third of
the generated events a rendered send. :class:`~cjo_stream.engine.Engine` runs over the decoded list
(one profile per id, fresh each run), timed alone in this process's CPU time (a shared machine's other
work counts less than in wall time); the same list through an engine without journeys (the profile
fold only) gives what the sends add, per send. Median of ``runs``. Also runnable alone:
``python -m cjo_stream.bench.sends`` (the A/B of an engine change without a broker).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

from cjo_stream.engine import Engine
from cjo_stream.events import Event, InvalidEvent, decode_event
from cjo_stream.journeys.loader import load_topology
from cjo_stream.profile import Profile, new_profile

HERE = os.path.dirname(os.path.abspath(__file__))
SEND_HEAVY = os.path.join(HERE, "send_heavy")
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "topologies")


@dataclass
class EngineRun:
    label: str
    events: int
    sends: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.events / self.median if self.median > 0 else 0.0


def decoded(lines: Iterable[bytes]) -> list[Event]:
    out = []
    for raw in lines:
        try:
            out.append(decode_event(raw))
        except InvalidEvent:
            continue
    return out


def engine_pass(engine: Engine, events: list[Event]) -> int:
    """Every event through ``engine`` at its own time, one fresh profile per id; the commands decided."""
    profiles: dict[str, Profile] = {}
    sends = 0
    for ev in events:
        cid = ev.user_id or ev.anonymous_id or ""
        p = profiles.get(cid)
        if p is None:
            p = profiles[cid] = new_profile(cid)
        sends += len(engine.process(p, ev, ev.ts).commands)
    return sends


def time_engine(label: str, engine: Engine, events: list[Event], runs: int) -> EngineRun:
    seconds, sends = [], 0
    for _ in range(max(1, runs)):
        t0 = time.process_time()
        sends = engine_pass(engine, events)
        seconds.append(time.process_time() - t0)
    return EngineRun(label, len(events), sends, seconds)


def send_cost_section(lines: Iterable[bytes], runs: int = 3) -> list[EngineRun]:
    """The send-heavy engine, the example journeys and the bare profile fold over the same events."""
    events = decoded(lines)
    heavy, examples = load_topology(SEND_HEAVY), load_topology(EXAMPLES)
    return [time_engine("send-heavy journeys", Engine(heavy.journeys, heavy.policies), events, runs),
            time_engine("example journeys", Engine(examples.journeys, examples.policies), events, runs),
            time_engine("no journeys (profile fold only)", Engine([]), events, runs)]


def print_send_cost(rows: list[EngineRun]) -> None:
    base = rows[-1]
    print(f"\nSend cost: the pure engine in-process over {base.events:,} decoded events (no broker, no decode; CPU "
          f"time, median of {len(base.seconds)}):")
    print(f"  {'journeys':<34} {'sends':>7} {'% of events':>11} {'events/s':>9} {'µs/event':>9} {'µs/send':>8}"
          f"  runs (events/s)")
    for r in rows:
        # only the send-heavy journeys do little else than send
        per_send = (r.median - base.median) / r.sends * 1e6 if r.sends and r is rows[0] else float("nan")
        runs = ", ".join(f"{r.events / s:,.0f}" for s in r.seconds)
        print(f"  {r.label:<34} {r.sends:>7,} {r.sends / r.events:>11.1%} {r.rate:>9,.0f} "
              f"{r.median / r.events * 1e6:>9.1f} {per_send:>8.1f}  {runs}")
    print("  (µs/send: what the send-heavy journeys add over the bare profile fold, per command decided)")


def main(argv: list[str] | None = None) -> int:
    import orjson

    from cjo_stream.generator import generate_events

    ap = argparse.ArgumentParser(prog="python -m cjo_stream.bench.sends", description=__doc__)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--days", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    lines = [orjson.dumps(e) for e in generate_events(customers=args.customers, seed=2026, start=1_767_225_600.0,
                                                       duration=args.days * 86400)]
    print_send_cost(send_cost_section(lines, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
