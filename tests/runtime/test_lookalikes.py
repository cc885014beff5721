"""Event names that read as consent events and are none, as a worker's batch step counts and tells them
(``cjo_stream/runtime/lookalikes.py``): counted by name in bounded series, each name logged once, ordinary
names left alone. The live worker is tested in test_consent_lookalikes_live.py."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import orjson
import pytest

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.engine import Engine
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kv import MemoryKV
from cjo_stream.runtime import lookalikes
from cjo_stream.runtime.aliases import Links
from cjo_stream.runtime.customers import KIND_EVENT, CustomerPartition
from tests.runtime.fakes import Commands, Rec

T = 1_780_000_000.0


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This module's process-wide memory of names, as a new process has it."""
    lookalikes.ORDINARY.clear()  # (the batch step holds this very set: emptied, never replaced)
    monkeypatch.setattr(lookalikes, "_lookalikes", {})
    monkeypatch.setattr(lookalikes, "_labels", set())
    monkeypatch.setattr(lookalikes, "_told", set())
    monkeypatch.setattr(lookalikes, "_told_all", False)
    yield
    lookalikes.ORDINARY.clear()


def counted(event: str) -> float:
    return metrics.REGISTRY.get_sample_value("cjo_consent_lookalike_events_total", {"event": event}) or 0.0


def track(i: int, name: str) -> bytes:
    return orjson.dumps({"messageId": f"m-{i}", "type": "track", "event": name, "userId": "u-1",
                         "timestamp": format_ts(T + i)})


def test_the_batch_step_counts_lookalikes_and_learns_ordinary_names() -> None:
    topo = load_topology("topologies")
    s = Settings()
    part = CustomerPartition(0, Engine(topo.journeys, topo.policies, stages=topo.stages), s, MemoryKV(), MemoryKV(),
                             Links(MemoryKV(), s.aliases_topic, 0))
    names = ["product_viewed", "Unsubscribed", "unsubscribed", "Email Unsubscribed", "Unsubscribed",
             "message_unsubscribed", "product_viewed"]
    counts = metrics.BatchCounts()
    part.process([Rec(b"u-1", track(i, n), i, [("k", KIND_EVENT)]) for i, n in enumerate(names)], T + 99,
                 Commands(), counts)  # type: ignore[arg-type]
    assert counts.lookalikes == Counter({"Unsubscribed": 2, "Email Unsubscribed": 1})
    # the real consent event and a receipt are no lookalikes: known, so their next events cost one lookup
    assert lookalikes.ORDINARY == {"product_viewed", "unsubscribed", "message_unsubscribed"}


def test_each_name_is_logged_once_and_counted_by_name(caplog: pytest.LogCaptureFixture) -> None:
    before = counted("Unsubscribed")
    with caplog.at_level(logging.WARNING, logger="cjo_stream.runtime.lookalikes"):
        for _ in range(3):
            batch: Counter[str] = Counter()
            for name in ("Unsubscribed", "Unsubscribed", "Subscribed"):
                lookalikes.seen(name, batch)
            lookalikes.publish(batch)
    assert counted("Unsubscribed") - before == 6
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 2, told
    assert told[0].startswith("events named 'Unsubscribed' change no consent: only events named exactly "
                              "'unsubscribed' withdraw it") and "cjo_consent_lookalike_events_total" in told[0]
    assert told[1].startswith("events named 'Subscribed' change no consent") and "give it" in told[1]


def test_series_are_bounded_and_odd_names_are_other(caplog: pytest.LogCaptureFixture) -> None:
    batch: Counter[str] = Counter()
    long = "x" * 10_000 + " unsubscribed"
    for name in [long, "bad\nname_unsubscribed", *(f"list{i} unsubscribed" for i in range(30))]:
        lookalikes.seen(name, batch)
    with caplog.at_level(logging.WARNING, logger="cjo_stream.runtime.lookalikes"):
        lookalikes.publish(batch)
    values = {s.labels["event"] for m in metrics.REGISTRY.collect() if m.name == "cjo_consent_lookalike_events"
              for s in m.samples if s.name == "cjo_consent_lookalike_events_total"}
    assert len(values & {f"list{i} unsubscribed" for i in range(30)}) == lookalikes.LABELS_KEPT
    assert "other" in values and long not in values and "bad\nname_unsubscribed" not in values
    told = "\n".join(r.getMessage() for r in caplog.records)
    assert "x" * 10_000 not in told and "(10013 characters)" in told  # shortened
    assert "'bad\\nname_unsubscribed'" in told and "bad\nname" not in told  # one line each


def test_ordinary_names_are_kept_bounded() -> None:
    batch: Counter[str] = Counter()
    for i in range(lookalikes.ORDINARY_KEPT + 10):
        lookalikes.seen(f"name{i}", batch)
    assert not batch and len(lookalikes.ORDINARY) <= lookalikes.ORDINARY_KEPT


def test_logging_stops_after_so_many_names(caplog: pytest.LogCaptureFixture) -> None:
    batch: Counter[str] = Counter()
    for i in range(lookalikes.TOLD_KEPT + 50):
        lookalikes.seen(f"list{i} unsubscribed", batch)
    with caplog.at_level(logging.WARNING, logger="cjo_stream.runtime.lookalikes"):
        lookalikes.publish(batch)
        lookalikes.publish(Counter({"more unsubscribed": 1}))
    assert len(caplog.records) == lookalikes.TOLD_KEPT + 1
    assert caplog.records[-1].getMessage().startswith(f"more than {lookalikes.TOLD_KEPT} event names")
