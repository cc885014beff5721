"""Journey versions edited in place, and journeys removed, since a worker's last start, told at start.

A journey file edited without a new ``version`` changes the journey for the customers already in it
(README, "Versions"): an author who did not mean that found out from the customers (a walkthrough). The
worker keeps a fingerprint of each journey version it loaded in its data directory and, at the next start,
names the versions whose files now say something else. A warning, not a refusal: an in-place fix of a
typo in a message is a normal thing to deploy. A journey whose file is gone is named too: its customers'
instances end (``expired``, ``version_unavailable``) at their next event or timer, and stay in the state
API until then.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

import orjson

from cjo_stream.journeys.fingerprint import fingerprints
from cjo_stream.journeys.model import Journey

__all__ = ["FILE", "Changes", "changes_since_last_start"]

#: in the worker's data directory
FILE = "loaded-journeys.json"


class Changes(NamedTuple):
    edited: list[tuple[str, int]]  # (journey, version) loaded now and before, whose files differ
    removed: list[str]  # journeys loaded before of which no version is loaded now


def changes_since_last_start(data_dir: str, journeys: Iterable[Journey]) -> Changes:
    """What changed in the loaded journeys since the last start from this data directory; then records what
    is loaded now. A missing or unreadable record is a first start (nothing to tell). A removed journey is
    told once: its versions are forgotten (a file brought back is then a first load)."""
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
    loaded = {k.rpartition("@")[0] for k in now}
    removed = sorted({k.rpartition("@")[0] for k, v in before.items() if isinstance(v, str)} - loaded)
    # versions not loaded now, of journeys still loaded (an older version's file may come back)
    kept = {k: v for k, v in before.items() if isinstance(v, str) and k not in now and k.rpartition("@")[0] in loaded}
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
    return Changes(out, removed)
