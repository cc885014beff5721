"""What a journey file says, as a fingerprint: its YAML data, comments, layout and ``status`` aside.

Two loaded definitions of one journey version cannot be compared as objects (their conditions are compiled
functions); their files can. ``replay --compare`` and a worker's start (runtime.edits) use it to tell a
journey version edited in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import orjson
import yaml

from cjo_stream.journeys.model import Journey

__all__ = ["file_fingerprint", "fingerprints"]


def file_fingerprint(path: str) -> str | None:
    """Of the YAML data in ``path``, or None if it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if isinstance(data, dict) and "status" in data:  # pausing or resuming is no edit of the definition (README,
        data = {k: v for k, v in data.items() if k != "status"}  # "Pausing a journey"): not told as one
    text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(text).hexdigest()[:32]


def fingerprints(journeys: Iterable[Journey]) -> dict[str, str]:
    """``"<journey>@<version>"`` to the fingerprint of its file, for the journeys loaded from files."""
    out = {}
    for j in journeys:
        if j.source and (fp := file_fingerprint(j.source)) is not None:
            out[f"{j.id}@{j.version}"] = fp
    return out
