"""The offline report: ``simulate --report`` and ``--html``, the page read back by headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from cjo_stream.analytics.offline import reports, stage_flow
from cjo_stream.engine import Engine
from cjo_stream.journeys.loader import load_topology
from cjo_stream.jsonl import jsonl_lines
from cjo_stream.simulator import Simulator
from tests.analytics.test_live import _path, _shown

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENTS = os.path.join(ROOT, "schemas", "examples", "touchpoints.jsonl")


def test_simulate_writes_the_report_and_a_self_contained_page(tmp_path: Any, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    out = tmp_path / "journeys.html"
    r = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "simulate", "--topologies",
                        os.path.join(ROOT, "topologies"), "--events", EVENTS, "--report", "--html", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "split cross_sell" in r.stderr and "holdout 10.0%" in r.stderr and "95% interval" in r.stderr
    assert "== lifecycle stages" in r.stderr and "  moves: (new) -> awareness " in r.stderr
    html = out.read_text()
    assert "<script" not in html and "http://" not in html.split("</style>")[0]  # nothing to fetch

    topo = load_topology(os.path.join(ROOT, "topologies"))
    assert topo.stages is not None
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    sim.run_lines(jsonl_lines(EVENTS))
    sim.finish()
    rows, reps = reports(sim.analytics, topo.journeys)
    flow = stage_flow(sim.analytics, topo.stages.names)
    assert flow is not None and len(flow["moves"]) >= 5
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.as_uri())
        shown = _shown(page)
        checked = 0
        for key, value in shown.items():
            if key.startswith("journeys."):
                jid, field = key.split(".", 2)[1:]
                want = _path(next(x for x in rows if x["journey"] == jid), field, {})
                assert value == (None if want is None else float(want)), key
                checked += 1
            elif key.startswith(("stages.", "stage_moves.")):  # the lifecycle stage flow
                assert value == _path(flow, key, flow), key
                checked += 1
        assert checked == 8 * len(rows) + 3 * len(topo.stages.names) + len(flow["moves"])
        assert [r.split("\t")[0] for r in page.eval_on_selector_all(
            "table#stages tr", "els => els.slice(1).map(e => e.innerText)")] == list(topo.stages.names)
        # one map per journey, a node per step with its count
        nodes = set(page.eval_on_selector_all("svg g.node[id^=step-]", "els => els.map(e => e.id)"))
        for j in topo.journeys:
            assert {f"step-{s}" for s in j.steps} <= nodes, j.id
        assert len(page.query_selector_all("div.map svg")) == len(topo.journeys)
        remind = page.text_content("g#step-remind")
        assert remind is not None and f"{reps['abandoned_cart']['steps'][1]['sent']} sent" in remind
        assert not errors
        browser.close()
