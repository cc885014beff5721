"""``python -m cjo_stream.bench.analytics_rows STORE``: the memory a row of the analytics cache costs.

The analytics service keeps up to ``CJO_ANALYTICS_CACHE_ROWS`` rows in memory (analytics/state.py RowCache);
what that cap means in MiB depends on its rows. This decodes every row of a stopped service's store (a
directory ``<data dir>/<app id>/analytics/analytics-0``; ``python -m cjo_stream.bench.deployment`` leaves one
under its work dir) into a dict as the cache holds them, key text to decoded row, and prints the rows by kind
and this process's RSS growth per row: what the service's memory grows by for each row it keeps.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
from typing import Any

from cjo_stream.analytics import state
from cjo_stream.bench.procs import rss

ROWS = (b"i:", b"d:", b"r:", b"f:")  # instances, deliveries, receipts waiting, customers' sends (not buckets)


def measure(path: str) -> tuple[collections.Counter[str], int]:
    """Rows by kind and the RSS bytes they took, decoded."""
    from cjo_stream.kv import RocksKV, memory_budget

    kv = RocksKV(path, memory_budget(8 << 20), counted=False, wal=False)
    raw = [(k, v) for k, v in kv.items() if k[:2] in ROWS]  # read first: its bytes are not counted below
    kinds = collections.Counter(k[:1].decode() for k, _ in raw)
    gc.collect()
    before = rss(os.getpid())
    cache: dict[str, Any] = {}
    for k, v in raw:
        key = k.decode()
        cache[key] = state.decode_row(key, v)
    return kinds, rss(os.getpid()) - before


def main(argv: list[str] | None = None) -> int:
    from cjo_stream.cli import _Parser  # a mistake told in one line, as the CLI's

    ap = _Parser(prog="python -m cjo_stream.bench.analytics_rows", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="a stopped analytics service's store directory (…/analytics/analytics-0)")
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.store, "CURRENT")):
        ap.error(f"{args.store}: no RocksDB store there (a directory …/analytics/analytics-0 of a stopped service)")
    kinds, grew = measure(args.store)
    n = sum(kinds.values())
    if not n:
        ap.error(f"{args.store}: the store holds no rows")
    names = {"i": "instances", "d": "deliveries", "r": "receipts waiting", "f": "customers' sends"}
    print(f"{n:,} rows ({', '.join(f'{what} {kinds[k]:,}' for k, what in names.items() if kinds[k])}): "
          f"RSS +{grew / 2**20:.1f} MiB, {grew / n:.0f} bytes a row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
