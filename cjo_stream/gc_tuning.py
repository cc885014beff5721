"""The cyclic garbage collector's settings for long batch loops (workers, replay, the soak's stages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cjo_stream.errors import UsageError


def gc_thresholds(spec: str) -> list[int] | None:
    """``CJO_GC_THRESHOLD`` parsed (None: Python's defaults); a bad value is a UsageError."""
    if not spec or spec.lower() in ("off", "default"):
        return None
    try:
        thresholds = [int(x) for x in spec.split(",")]
    except ValueError:
        thresholds = []
    # gc.set_threshold takes C ints: a larger value passed here raised OverflowError after the broker connected
    if not 1 <= len(thresholds) <= 3 or any(not 0 <= t <= 2**31 - 1 for t in thresholds):
        raise UsageError(f"CJO_GC_THRESHOLD={spec!r}: use up to three integers like 50000,50,100, or 'off'")
    return thresholds


def tune_gc(spec: str) -> None:
    """Freeze start-up objects and make the cyclic GC run less often (``CJO_GC_THRESHOLD``).

    The batch step allocates many short-lived objects that reference counting frees; with Python's
    default threshold (700) the cyclic collector still runs every few hundred events and rescans
    Faust's and the journeys' long-lived objects each time. ``gc.freeze()`` moves those out of its
    sight and a gen-0 threshold of 50,000 makes collections rare: +18-20 % events/s in ``make bench``
    (measured side by side on the same input). Memory held by cyclic garbage grows only briefly.
    """
    import gc

    thresholds = gc_thresholds(spec)
    if thresholds is None:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for a loop that makes no reference cycles (a replay over files and its final
    timers: ``tests/replay/test_replay_gc.py`` checks that it leaves no cyclic garbage).

    Even at ``tune_gc``'s threshold the young collections rescanned every profile object that had changed, which
    was ~4 % of a replay's CPU (0.44 s of ~12 s over the bench input, measured with ``gc.callbacks``) and
    finds nothing there. At the end what the loop left alive is frozen (moved out of the collector's sight
    without a scan): re-enabled, the collector would otherwise scan all of it at the next allocation.
    """
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was:
            gc.enable()
