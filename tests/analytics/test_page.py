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
        nodes = set(page.eval_on_selector_all("svg g.node[id*='-step-']", "els => els.map(e => e.id)"))
        for j in topo.journeys:
            assert {f"{j.id}-step-{s}" for s in j.steps} <= nodes, j.id
        assert len(page.query_selector_all("div.map svg")) == len(topo.journeys)
        # each journey's tables and map nodes have ids of their own (steps, exits, node1... repeated per journey)
        ids = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
        assert len(ids) == len(set(ids)) and "abandoned_cart-steps" in ids and "welcome-steps" in ids
        remind = page.text_content("g#abandoned_cart-step-remind")
        assert remind is not None and f"{reps['abandoned_cart']['steps'][1]['sent']} sent" in remind
        assert not errors
        browser.close()


AB = """\
journey: ab
entry: {event: signup}
steps:
  - id: pick
    split:
      - {variant: a, weight: 40, next: mail}
      - {variant: b, weight: 40, next: mail}
      - {variant: control, weight: 20, next: end}
  - id: mail
    send: {channel: email, content: {subject: hi}}
"""


def test_arms_to_the_same_step_are_one_edge_with_their_count(tmp_path: Any) -> None:
    """Two arms into one step were drawn as two edges each labelled with both arms' count (the fold counts
    per from and to): a 3-arm split of 30 showed 24 + 24 + 6."""
    import re

    import orjson

    from cjo_stream.analytics import graph
    from cjo_stream.analytics.offline import render_html
    from cjo_stream.events import format_ts
    from tests.conftest import T0

    (tmp_path / "t" / "journeys").mkdir(parents=True)
    (tmp_path / "t" / "journeys" / "ab.yaml").write_text(AB)
    topo = load_topology(str(tmp_path / "t"))
    (j,) = topo.journeys
    assert [(s, d, label) for s, d, label, _ in graph.edges(j) if s == "pick"] == [
        ("pick", "mail", "a 40%\nb 40%"), ("pick", graph.FINISH, "control 20%")]
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.run_lines(orjson.dumps({"messageId": f"m{i}", "type": "track", "event": "signup", "userId": f"u{i}",
                                "timestamp": format_ts(T0 + i)}) for i in range(30))
    sim.finish()
    _, reps = reports(sim.analytics, topo.journeys)
    mail = next(s for s in reps["ab"]["steps"] if s["id"] == "mail")["reached"]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", render_html(sim.analytics, topo.journeys))
    assert texts[texts.index("b 40%") + 1] == str(mail) and texts[texts.index("control 20%") + 1] == str(30 - mail)
    assert 0 < mail < 30
