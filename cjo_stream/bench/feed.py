"""Touchpoint events from the project's generator as JSON lines on stdout, for a reader in another process.

The broker-less soak (:mod:`cjo_stream.bench.soak_stages`) reads them through a pipe: the generator keeps
every active customer's script in memory, and that memory is not the worker's, so it runs apart, as
``cjo-stream generate`` does beside a live worker. The events are those of ``cjo-stream generate
--customers N --rate R --seed S`` (customers keep arriving), event ``n`` stamped ``start + n / rate``; the
reader takes each when its time comes. Writing blocks while the pipe is full, so this runs only a pipe's
worth ahead of the reader.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys

import orjson

from cjo_stream.generator import generate_events


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cjo_stream.bench.feed", description=__doc__)
    ap.add_argument("--customers", type=int, default=20_000, help="new customers per 30 simulated days")
    ap.add_argument("--rate", type=float, required=True, help="events per second of event time")
    ap.add_argument("--start", type=float, required=True, help="event time of the first event (epoch seconds)")
    ap.add_argument("--count", type=int, required=True, help="how many events")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    out = sys.stdout.buffer
    events = generate_events(customers=args.customers, seed=args.seed, start=args.start, duration=math.inf,
                             rate=args.rate)
    try:
        for e in itertools.islice(events, args.count):
            out.write(orjson.dumps(e) + b"\n")
        out.flush()
    except BrokenPipeError:  # the reader stopped early (a soak ended with Ctrl-C): nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
    return 0


if __name__ == "__main__":
    sys.exit(main())
