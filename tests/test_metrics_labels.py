"""Upstream data never makes Prometheus series of its own: ``context.channel`` as the ``source`` label is
a short token among the first few a process saw, anything else ``other`` (a walkthrough's producer put an
e-mail address, a 100 KB string and 300 distinct values there, each a series on the open ``/metrics``)."""

from __future__ import annotations

import logging

import pytest

from cjo_stream import metrics
from cjo_stream.metrics import REGISTRY, BatchCounts, SourceLabels


def _sources() -> set[str]:
    return {s.labels["source"] for m in REGISTRY.collect() if m.name == "cjo_events_consumed"
            for s in m.samples if s.name == "cjo_events_consumed_total"}


def test_values_are_short_tokens_among_the_first_few(caplog: pytest.LogCaptureFixture) -> None:
    label = SourceLabels(limit=3)
    assert [label(s) for s in ("web", "app", "web", "receipt", "unknown", "pos")] == \
        ["web", "app", "web", "receipt", "unknown", "pos"]
    with caplog.at_level(logging.WARNING, logger="cjo_stream.metrics"):
        assert label("crm") == "other" and label("email") == "other"  # beyond the first three
    assert label("app") == "app"  # the admitted ones stay
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 1 and "crm" not in told[0] and "more than 3 distinct" in told[0]  # once, no value
    fresh = SourceLabels()
    for bad in ("jane.doe@example.com", "x" * 100_000, "two words", "", "-web", "web\n", "a" * 33, "día"):
        assert fresh(bad) == "other", bad
    assert fresh("Mobile_App-2.ios") == "Mobile_App-2.ios" and not fresh.told


def test_a_batch_with_hostile_channels_adds_no_series_beyond_the_limit() -> None:
    b = BatchCounts()
    for i in range(300):
        b.consumed[("track", f"channel{i}")] += 1
    b.consumed[("track", "jane.doe@example.com")] += 1
    b.consumed[("track", "y" * 100_000)] += 1
    b.publish()
    sources = _sources()
    assert len(sources - {"receipt", "unknown", "other"}) <= metrics.MAX_SOURCES
    assert "other" in sources and not any("@" in s or len(s) > 32 for s in sources)
