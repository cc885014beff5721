"""Reading our own ``/metrics`` (Prometheus text format): sums per metric family, histogram buckets and
``histogram_quantile`` over the increase between two scrapes. Used by the benchmarks and the demo's
watch on the local broker (no Prometheus server needed for either)."""

from __future__ import annotations

import contextlib


def sums(text: str) -> dict[str, float]:
    """Every sample of each metric family summed over its labels (``name`` -> total)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        with contextlib.suppress(ValueError):
            out[name] = out.get(name, 0.0) + float(value)
    return out


def by_label(text: str, name: str) -> dict[str, float]:
    """Samples of a metric with a single label, by that label's value."""
    out: dict[str, float] = {}
    prefix = name + "{"
    for line in text.splitlines():
        if line.startswith(prefix):
            name_labels, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError, IndexError):
                out[name_labels.split('"')[1]] = float(value)
    return out


def buckets(text: str, name: str) -> list[tuple[float, float]]:
    """Cumulative ``(le, count)`` buckets of an unlabelled histogram."""
    out: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), float(line.rpartition(" ")[2])))
    return out


def quantile(q: float, before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float | None:
    """``histogram_quantile`` over the increase between two scrapes (linear within a bucket)."""
    prev = dict(before)
    inc = [(le, c - prev.get(le, 0.0)) for le, c in after]
    total = inc[-1][1] if inc else 0.0
    if total <= 0:
        return None
    rank = q * total
    lo, lo_count = 0.0, 0.0
    for le, count in inc:
        if count >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((rank - lo_count) / (count - lo_count) if count > lo_count else 1.0)
        lo, lo_count = le, count
    return lo
