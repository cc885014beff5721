"""Since when each paused journey version has been paused, as the worker's data directory remembers it.

A journey file says ``status: paused``, not since when: a pause left in by mistake held its customers' sends
for good and told nobody (an on-call walkthrough). So the worker records in its data directory the time it
first started with each journey version paused, forgets it once that version is live again or gone, and
serves it as ``cjo_journey_paused_since_timestamp_seconds{journey, version}`` (the ``CjoJourneyPausedLong``
alert, the dashboard's paused journeys) and in ``GET /journeys`` (``paused_since``).

It is the first start *from this data directory* with the pause: a worker on a new volume counts from its own
start, so read the earliest over the workers (``min by (journey, version)``). The worker processes of one
``--concurrency`` worker share the directory and read the one record.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import NamedTuple

import orjson

from cjo_stream.journeys.model import Journey

__all__ = ["FILE", "PAUSED_LONG", "Pauses", "paused_since", "recorded"]

#: A pause this old is told (a warning at start, the CjoJourneyPausedLong alert): an incident's pause lasts
#: hours, a hold is planned; one forgotten holds its customers' sends for good.
PAUSED_LONG = 86400.0

#: in the worker's data directory: {"<journey>@<version>": epoch seconds}
FILE = "paused-journeys.json"


def recorded(data_dir: str) -> dict[str, float]:
    """The record as it is on disk (empty when missing or unreadable)."""
    try:
        with open(os.path.join(data_dir, FILE), "rb") as f:
            raw = orjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: float(v) for k, v in raw.items()
            if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class Pauses(NamedTuple):
    since: dict[tuple[str, int], float]  # each loaded paused version: since when
    resumed: list[tuple[str, int, float]]  # (journey, version, paused since) paused at the last start, live now


def paused_since(data_dir: str, journeys: Iterable[Journey], now: float) -> Pauses:
    """Since when each loaded journey version that is paused has been, by this data directory's record (``now``
    for one paused since this start), and the versions paused at the last start that are loaded live now; then
    records exactly the paused ones (a version live again or gone is forgotten: paused again later, it counts
    from then)."""
    journeys = list(journeys)
    before = recorded(data_dir)
    since = {(j.id, j.version): before.get(f"{j.id}@{j.version}", now) for j in journeys if j.paused}
    resumed = sorted((j.id, j.version, before[key]) for j in journeys
                     if not j.paused and (key := f"{j.id}@{j.version}") in before)
    record = {f"{jid}@{version}": at for (jid, version), at in since.items()}
    if record != before:
        path = os.path.join(data_dir, FILE)
        try:
            os.makedirs(data_dir, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
            os.replace(tmp, path)
        except OSError:
            pass  # (the data directory was checked writable; a full disk shows elsewhere first)
    return Pauses(since, resumed)
