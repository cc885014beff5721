"""``CJO_PROBE_FILE``: what grows inside a Python process, for a harness that watches it over time.

/proc tells a process's memory, threads and descriptors, not its live asyncio tasks or Python objects, which
are what a slow leak is made of. Off unless ``CJO_PROBE_FILE`` is set (``python -m
cjo_stream.bench.deployment`` sets it for every process it starts): then a daemon thread rewrites that file
every ``CJO_PROBE_SECONDS`` (default 10) with one JSON object of counts only, no ids or payloads:
``{"at": <epoch s>, "tasks": <asyncio tasks not done>, "gc_objects": <objects the collector tracks>}``.
Each look lists every tracked object (milliseconds to tens of ms), so it is for measuring, not for production.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

FILE = "CJO_PROBE_FILE"
SECONDS = "CJO_PROBE_SECONDS"


def _tasks() -> int | None:
    """Tasks not done, of every event loop, from asyncio's registry of tasks (where ``all_tasks`` looks; a copy,
    retried if the loop's thread changed it meanwhile); None where there is none (Python 3.14 keeps them in C)."""
    registry: Iterable[asyncio.Task[Any]] | None = (getattr(asyncio.tasks, "_all_tasks", None)
                                                      or getattr(asyncio.tasks, "_scheduled_tasks", None))
    for _ in range(100 if registry is not None else 0):
        try:
            return sum(not t.done() for t in list(registry or ()))
        except RuntimeError:  # the set changed size while copied
            continue
    return None


def _tracked() -> int:
    """Objects the collector tracks, counted in C without a bytecode in between: a list of them held while
    this thread gives up the interpreter lets another thread find a tuple it is building referenced twice, and
    that tuple's resize fails (a worker ended with ``SystemError: bad argument to internal function`` from
    ``tuple(genexpr)``). ``next(map(len, iter(f, None)))`` calls, measures and drops the list inside C."""
    return next(map(len, iter(gc.get_objects, None)))


def counts() -> dict[str, float | None]:
    """This process's live tasks, and the objects the collector tracks (frozen ones included: the worker
    freezes what it loaded at start, gc_tuning.py)."""
    return {"at": time.time(), "tasks": _tasks(), "gc_objects": _tracked() + gc.get_freeze_count()}


def _write(path: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(counts(), f)
    os.replace(tmp, path)  # a reader never sees half a file


def _run(path: str, every: float) -> None:
    while True:
        try:
            _write(path)
        except OSError:
            return  # a path that cannot be written: no probe (it is a measuring aid, never worth a crash)
        time.sleep(every)


def start_from_env() -> bool:
    """Start the probe thread if ``CJO_PROBE_FILE`` is set; whether it was."""
    path = os.environ.get(FILE, "").strip()
    if not path:
        return False
    try:
        every = max(0.5, float(os.environ.get(SECONDS, "") or 10.0))
    except ValueError:
        every = 10.0
    threading.Thread(target=_run, args=(path, every), name="cjo-probe", daemon=True).start()
    return True
