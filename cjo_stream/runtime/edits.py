"""Journey versions edited in place since a worker's last start, told at start.

A journey file edited without a new ``version`` changes the journey for the customers already in it
(README, "Versions"): an author who did not mean that found out from the customers (a walkthrough). The
worker keeps a fingerprint of each journey version it loaded in its data directory and, at the next start,
names the versions whose files now say something else. A warning, not a refusal: an in-place fix of a
typo in a message is a normal thing to deploy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import orjson

from cjo_stream.journeys.fingerprint import fingerprints
from cjo_stream.journeys.model import Journey

__all__ = ["FILE", "edited_since_last_start"]

#: in the worker's data directory
FILE = "loaded-journeys.json"


def edited_since_last_start(data_dir: str, journeys: Iterable[Journey]) -> list[tuple[str, int]]:
    """The journey versions loaded now and at the last start from this data directory, whose files differ;
    then records what is loaded now. A missing or unreadable record is a first start (nothing to tell)."""
    now = fingerprints(journeys)
    path = os.path.join(data_dir, FILE)
    try:
        with open(path, "rb") as f:
            before = orjson.loads(f.read())
        if not isinstance(before, dict):
            before = {}
    except (OSError, ValueError):
        before = {}
    changed = sorted(k for k, fp in now.items() if isinstance(before.get(k), str) and before[k] != fp)
    kept = {k: v for k, v in before.items() if isinstance(v, str) and k not in now}  # versions not loaded now
    try:
        os.makedirs(data_dir, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(orjson.dumps({**kept, **now}, option=orjson.OPT_SORT_KEYS))
        os.replace(tmp, path)
    except OSError:
        pass  # (the data directory was checked writable; a full disk shows elsewhere first)
    out = []
    for key in changed:
        jid, _, version = key.rpartition("@")
        out.append((jid, int(version)))
    return out
