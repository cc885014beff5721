"""Why instances ended ``expired``: a journey edited in place ends the instances standing at a step that is gone
(``step_unavailable``) or whose version is no longer loaded and whose step the current one lacks
(``version_unavailable``), and others reach ``max_duration``. The exit points of the report, the page (the
service's and ``simulate``/``replay --html``) and the text report (``simulate``/``replay``) say which: they showed
``expired`` at the step, with no explanation (a walkthrough)."""

from __future__ import annotations

from typing import Any

from cjo_stream.analytics import page, report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import definitions, render_html, render_text
from cjo_stream.analytics.records import JourneyEvent, journey_events
from cjo_stream.engine import Engine, Result
from cjo_stream.journeys.model import Journey
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, journey

V1 = """
journey: b
version: 1
entry: {event: go}
max_duration: 1d
steps:
  - id: wf
    wait_for: {event: buy, timeout: 2h}
    on_event: thanks
    on_timeout: later
  - {id: later, wait: 2d}
  - {id: thanks, send: {channel: in_app, content: {body: thanks}}}
"""
RENAMED = V1.replace("id: wf", "id: waitevt")  # still version 1: an edit in place
V2 = RENAMED.replace("version: 1", "version: 2")


def simulate() -> tuple[Simulator, list[JourneyEvent], list[Journey]]:
    """u1, u2 at `wf` when it is renamed in place; u3 at `wf` of version 1 when only version 2 (without `wf`) is
    loaded; u4 enters the renamed journey and waits past its max_duration."""
    written: list[JourneyEvent] = []

    def write(res: Result) -> None:  # the journey events a worker writes for the analytics service
        written.extend(journey_events(res, res.profile.customer_id, sim.engine.policies.default_timezone,
                                      (0, len(written) + 1)))

    sim = Simulator(Engine([journey(V1)]), on_result=write)
    for u in ("u1", "u2", "u3"):
        sim.handle(ev("go", T0, u))
    sim.engine = Engine([journey(RENAMED)])  # a worker restarted on the edited file
    sim.handle(ev("buy", T0 + 60, "u1"))
    sim.handle(ev("buy", T0 + 60, "u2"))
    sim.engine = Engine([journey(V2)])  # version 1 removed: u3 stands at `wf`, which version 2 has not
    sim.handle(ev("buy", T0 + 120, "u3"))
    sim.engine = Engine([journey(RENAMED)])
    sim.handle(ev("go", T0 + 600, "u4"))
    sim.advance(T0 + 3 * 86400)
    sim.finish()
    return sim, written, [journey(RENAMED)]


def exit_points(buckets: Any, defs: list[Journey]) -> list[dict[str, Any]]:
    return report.journey_report(buckets, definitions(defs), "b")["exit_points"]  # type: ignore[no-any-return]


EXPECTED = [{"step": "wf", "kind": "expired", "reason": "step_unavailable", "count": 2},
            {"step": "later", "kind": "expired", "reason": "max_duration", "count": 1},
            {"step": "wf", "kind": "expired", "reason": "version_unavailable", "count": 1}]


def test_exit_points_say_why_instances_expired() -> None:
    sim, _, defs = simulate()
    assert exit_points(sim.analytics.buckets, defs) == EXPECTED
    steps = {s["id"]: s for s in report.journey_report(sim.analytics.buckets, definitions(defs), "b")["steps"]}
    assert steps["wf"]["exits"] == {"expired": 3}  # the drop-off and the ways of ending stay as they were
    assert steps["wf"]["exit_reasons"] == {"expired": {"step_unavailable": 2, "version_unavailable": 1}}
    assert steps["later"]["exit_reasons"] == {"expired": {"max_duration": 1}}
    assert steps["thanks"]["exit_reasons"] == {}


def test_the_service_folds_the_same_reasons_from_journey_events() -> None:
    sim, written, defs = simulate()
    assert {(e.step, e.reason) for e in written if e.kind == "expired"} == \
        {("wf", "step_unavailable"), ("wf", "version_unavailable"), ("later", None)}
    live = Analytics()
    live.apply_all(written)
    assert exit_points(live.buckets, defs) == EXPECTED


def test_the_page_and_the_text_report_show_the_reasons() -> None:
    sim, _, defs = simulate()
    html = render_html(sim.analytics, defs)  # simulate --html, replay --html
    exits = html[html.index("<h2>Exit points</h2>"):]
    exits = exits[:exits.index("</table>")]
    assert "<th>why</th>" in exits
    assert ("<td>wf</td><td>expired</td><td>step_unavailable: its step was removed or renamed by an edit without a "
            "new version</td><td data-k=\"exits.wf.expired.step_unavailable\" data-v=\"2\">2</td><td>50.0%</td>") in exits
    assert "version_unavailable: its version is no longer loaded and the current one lacks its step" in exits
    assert "max_duration: the journey&#x27;s max_duration passed" in exits
    rep = report.journey_report(sim.analytics.buckets, definitions(defs), "b")
    assert page.journey_html(rep, definitions(defs)).count("exits.wf.expired.") == 2  # the service's page
    lines = render_text(sim.analytics, defs).splitlines()  # simulate --report, replay
    assert next(x for x in lines if x.startswith("  wf ")).endswith(
        "expired:3 (step_unavailable 2, version_unavailable 1)")
    assert next(x for x in lines if x.startswith("  later ")).endswith("expired:1 (max_duration)")
