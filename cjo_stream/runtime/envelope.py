"""A watch on the local broker's envelope: one line, once, when decisions start falling behind.

The local broker (Tansu, memory storage) keeps every record batch and lists a partition's batches on
each fetch that finds new data, so it slows down as it fills (README, "The local broker's limits").
``make demo`` runs on it for as long as the user leaves it open; rather than let latency drift
unexplained, the demo feeds the worker's own ``/metrics`` to :class:`Watch` and says why, once.
"""

from __future__ import annotations

from cjo_stream import promtext

#: Decision latency (p99 over a window) past which the demo says so, and in how many windows running.
THRESHOLD_S = 1.0
WINDOWS = 2

MESSAGE = ("note: decisions now take {p99:.1f} s (p99) after {minutes:.0f} min on the local broker, which keeps "
           "every record in memory and slows down as it fills (README, \"The local broker's limits\"); restart "
           "the demo to start afresh, and run anything longer on Apache Kafka or Redpanda")


class Watch:
    """Fed the worker's ``/metrics`` text now and then; returns the warning line once, when the p99 of
    ``cjo_decision_latency_seconds`` between scrapes stayed above ``threshold`` for ``windows`` scrapes."""

    def __init__(self, threshold: float = THRESHOLD_S, windows: int = WINDOWS) -> None:
        self.threshold = threshold
        self.windows = windows
        self._before: list[tuple[float, float]] | None = None
        self._over = 0
        self.warned = False

    def check(self, text: str, minutes: float) -> str | None:
        now = promtext.buckets(text, "cjo_decision_latency_seconds")
        before, self._before = self._before, now
        if self.warned or before is None:
            return None
        p99 = promtext.quantile(0.99, before, now)
        if p99 is None:
            return None  # no decision in this window: nothing to judge
        self._over = self._over + 1 if p99 > self.threshold else 0
        if self._over < self.windows:
            return None
        self.warned = True
        return MESSAGE.format(p99=p99, minutes=minutes)
