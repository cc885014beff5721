"""Analytics of a channel declared in policies.yaml (docs/adapters.md, "Your own channel"): a customer-facing
one has the open rate by the customer's local hour of sending and by sends per customer per week, as sms has
(they were left out: the fold and the workers' journey events knew the built-in channels only); an internal one
has neither, as webhook. The same in the simulator's fold, the workers' journey events and the service's fold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cjo_stream.analytics import report
from cjo_stream.analytics.offline import definitions
from cjo_stream.analytics.records import JourneyEvent, journey_events
from cjo_stream.analytics.service import AnalyticsService
from cjo_stream.config import Settings
from cjo_stream.engine import Engine, Result
from cjo_stream.journeys.loader import Topology, load_topology
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev

POLICIES = """\
default_timezone: Europe/Berlin
channels:
  myco_whatsapp: {address: whatsapp}
  fraud_check: {customer_facing: false}
"""
JOURNEY = """\
journey: wa
re_entry: always
entry: {event: go}
steps:
  - id: hello
    send: {channel: myco_whatsapp, content: {body: "hi"}}
  - id: check
    send: {channel: fraud_check, to: "https://fraud.internal/check", content: {body: x}}
"""


def topology(tmp_path: Path) -> Topology:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "wa.yaml").write_text(JOURNEY)
    (tmp_path / "policies.yaml").write_text(POLICIES)
    return load_topology(str(tmp_path))


def run(engine: Engine, on_result: Callable[[Result], None] | None = None) -> Simulator:
    sim = Simulator(engine, on_result=on_result)
    for u in ("u1", "u2"):
        sim.handle(ev("identify", T0 - 3600, u, type="identify", traits={"whatsapp": f"+49{u}"}))
    for day in range(3):  # u1 three times in a week (at 11:00 Berlin), u2 once
        sim.handle(ev("go", T0 + day * 86400, "u1"))
    sim.handle(ev("go", T0 + 3600, "u2"))
    opened = [c for c in sim.commands if c.channel == "myco_whatsapp"][:2]
    for c in opened:
        sim.handle(ev("message_opened", T0 + 3 * 86400, c.customer_id,
                      props={"channel": c.channel, "delivery_id": c.delivery_id}))
    sim.finish()
    return sim


def figures(buckets: Any, topo: Topology) -> dict[str, Any]:
    rep = report.journey_report(buckets, definitions(topo.journeys), "wa")
    return {c["channel"]: c for c in rep["channels"]}


def test_a_declared_customer_facing_channel_has_local_hour_and_frequency_figures(tmp_path: Path) -> None:
    topo = topology(tmp_path)
    sim = run(Engine(topo.journeys, topo.policies))
    chans = figures(sim.analytics.buckets, topo)
    wa, fraud = chans["myco_whatsapp"], chans["fraud_check"]
    assert wa["sent"] == 4 and wa["opened"] == 2
    hours = {h["hour"]: (h["sent"], h["opened"]) for h in wa["by_local_hour"] if h["sent"]}
    assert hours == {11: (3, 2), 12: (1, 0)}  # T0 is 11:00 in Berlin (the policies' zone)
    week = {f["sends_per_week"]: (f["sent"], f["opened"]) for f in wa["by_sends_per_week"] if f["sent"]}
    assert week == {1: (2, 1), 2: (1, 1), 3: (1, 0)}  # u1 opened its first two
    assert fraud["sent"] == 4 and fraud["by_local_hour"] == [] and fraud["by_sends_per_week"] == []


def test_workers_journey_events_and_the_services_fold_count_them_alike(tmp_path: Path) -> None:
    """The live path: a worker writes each send's local hour (records.journey_events with the engine's
    customer-facing channels), the analytics service folds them with the topology's."""
    topo = topology(tmp_path)
    engine = Engine(topo.journeys, topo.policies)
    written: list[JourneyEvent] = []

    def write(res: Result) -> None:  # as runtime.customers does, one internal-topic record per engine call
        written.extend(journey_events(res, res.profile.customer_id, topo.policies.default_timezone,
                                      (0, len(written) + 1), engine.customer_channels))

    sim = run(engine, write)
    sent = {e.channel: e.local_hour for e in written if e.kind == "sent"}
    assert sent == {"myco_whatsapp": 12, "fraud_check": None}  # u2's, the last: 12:00 Berlin
    svc = AnalyticsService(Settings(store="memory"), topo)
    svc.fold.apply_all(written)
    live = figures(svc.fold.buckets, topo)["myco_whatsapp"]
    offline = figures(sim.analytics.buckets, topo)["myco_whatsapp"]
    assert live["by_local_hour"] == [{**h, "opened": 0, "open_rate": 0.0 if h["sent"] else None}
                                     for h in offline["by_local_hour"]]  # (receipts are not journey events here)
    assert [f["sent"] for f in live["by_sends_per_week"]] == [f["sent"] for f in offline["by_sends_per_week"]]
    assert svc.new_fold().customer_channels == topo.policies.customer_channels >= {"myco_whatsapp", "email"}
