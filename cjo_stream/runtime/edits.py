"""Journey versions edited in place since a worker's last start, told at start.

A journey file edited without a new ``version`` changes the journey for the customers already in it
(README, "Versions"): an author who did not mean that found out from the customers (a walkthrough). The
worker keeps a fingerprint of each journey version it loaded in its data directory and, at the next start,
names the versions whose files now say something else. A warning, not a refusal: an in-place fix of a
typo in a message is a normal thing to deploy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import orjson
import yaml

from cjo_stream.journeys.model import Journey

__all__ = ["FILE", "edited_since_last_start", "fingerprints"]

#: in the worker's data directory
FILE = "loaded-journeys.json"


def _fingerprint(path: str) -> str | None:
    """Of what a journey file says (its YAML data: comments and layout aside), or None if unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError):
        return None
    text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(text).hexdigest()[:32]


def fingerprints(journeys: Iterable[Journey]) -> dict[str, str]:
    """``"<journey>@<version>"`` to the fingerprint of its file, for the journeys loaded from files."""
    out = {}
    for j in journeys:
        if j.source and (fp := _fingerprint(j.source)) is not None:
            out[f"{j.id}@{j.version}"] = fp
    return out


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
