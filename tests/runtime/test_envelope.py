"""The demo's watch on the local broker: one line, once, when decisions stay slow (runtime.envelope)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from cjo_stream import metrics
from cjo_stream.runtime.envelope import Watch


def scrapes(latencies_per_window: list[list[float]]) -> list[str]:
    """The worker's /metrics text after each window of decisions (the worker's own histogram buckets)."""
    reg = CollectorRegistry()
    h = Histogram("cjo_decision_latency_seconds", "d", registry=reg,
                  buckets=metrics.DECISION_LATENCY._upper_bounds[:-1])  # noqa: SLF001 - the same buckets
    out = [generate_latest(reg).decode()]
    for window in latencies_per_window:
        for s in window:
            h.observe(s)
        out.append(generate_latest(reg).decode())
    return out


def test_it_warns_once_after_two_slow_windows_running_and_not_for_one() -> None:
    fast, slow = [0.02] * 200, [0.02] * 150 + [3.0] * 50
    texts = scrapes([fast, slow, fast, [], slow, slow, slow, slow])
    watch = Watch(threshold=1.0, windows=2)
    said = [watch.check(t, minutes=i) for i, t in enumerate(texts)]
    assert said[:6] == [None] * 6  # one slow window, then fast, an empty one, then the first of two slow
    assert said[6] is not None and "p99" in said[6] and "Apache Kafka" in said[6] and "after 6 min" in said[6]
    assert said[7:] == [None, None]  # once
