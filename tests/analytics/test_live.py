"""Live: broker + worker + analytics service fed by ``cjo-stream generate``, read by headless Chromium.

The topology is the repo's, lifecycle stages included: the worker writes stage moves as journey events
and the service's stage flow must equal the simulator's too, through the same crashes.

One scenario, one broker (each step needs the previous one's state): the page (logged in with a token)
fills itself while traffic flows; the worker is killed mid-stream and restarted (it replays records: the
journey events come again and must count once); the analytics service is killed and restarted (its store
and offsets), then restarted on an empty volume (rebuilt from its changelog). Every time the API must
equal what the simulator computes for the same generated input, and the page must show the API's numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from cjo_stream.analytics.offline import reports, stage_flow
from cjo_stream.engine import Engine
from cjo_stream.events import format_ts
from cjo_stream.generator import generate_events
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import ROOT, WorkerProc

pytestmark = pytest.mark.broker

TOKEN = "analyst-secret-0123456789abcdef"
READER = "reader-secret-0123456789abcdef0"
CUSTOMERS, RATE, DURATION, SEED = 300, 1500.0, 4.0, 3


class AnalyticsProc:
    def __init__(self, env: dict[str, str], log_path: str) -> None:
        self.env, self.log_path = env, log_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AnalyticsProc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child's
        self.proc = subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", "analytics", "--web-port",
                                      str(self.port)], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.2)
        raise AssertionError("analytics not ready:\n" + self.log())

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]


def _get(url: str, token: str = TOKEN) -> Any:
    r = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _expected(start: float) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    """What the simulator computes for the input ``cjo-stream generate`` produces (same generator, seed, times):
    the overview, each journey's report and the stage flow."""
    topo = load_topology(os.path.join(ROOT, "topologies"))
    assert topo.stages is not None
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    events = generate_events(customers=CUSTOMERS, seed=SEED, start=start, duration=DURATION, rate=RATE)
    sim.run_lines(orjson.dumps(e) for _, e in zip(range(int(RATE * DURATION)), events, strict=False))
    sim.finish(start + DURATION)  # no timer is due yet (the shortest wait is an hour): live, none fires either
    rows, reps = reports(sim.analytics, topo.journeys)
    flow = stage_flow(sim.analytics, topo.stages.names)
    return json.loads(json.dumps(rows)), json.loads(json.dumps(reps)), json.loads(json.dumps(flow))


def _flow_agrees(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """The live stage flow is the simulator's, but for anonymous ids linked before their own first event
    reached their partition (cross-partition order; the worker's restart makes it likely): live, their
    events were applied to the customer they were linked to, so they were never customers of their own
    and add neither a new customer nor a merge. Every customer ends in the same stage (nets equal)."""
    def nets(f: dict[str, Any]) -> dict[str, int]:
        return {r["stage"]: r["net"] for r in f["stages"]}

    if got["new_customers"] == want["new_customers"]:
        return got == want  # no such id: exactly the simulator's
    return (nets(got) == nets(want) and got["new_customers"] < want["new_customers"]
            and got["new_customers"] - got["merged_away"] == want["new_customers"] - want["merged_away"])


def _wait_equal(url: str, rows: list[dict[str, Any]], flow: dict[str, Any], timeout: float = 120.0,
                exact: bool = False) -> dict[str, Any]:
    """Wait until the API shows ``rows`` and ``flow`` (``exact``: the same flow, else one that agrees)."""
    deadline = time.monotonic() + timeout
    got: Any = None
    moves: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            got = _get(f"{url}/analytics/journeys")["journeys"]
            moves = _get(f"{url}/analytics/stages")
            if got == rows and (moves == flow if exact else _flow_agrees(moves, flow)):
                return moves  # type: ignore[no-any-return]
        time.sleep(0.5)
    diff = [(w["journey"], k, g.get(k), w[k]) for g, w in zip(got or [], rows, strict=False) for k in w if g.get(k) != w[k]]
    assert got == rows, diff
    raise AssertionError(f"stage flow {moves} != {flow}")


def _path(obj: Any, dotted: str, rep: dict[str, Any]) -> Any:
    """The report value a page element's ``data-k`` names (lists are addressed by their ids)."""
    head, _, rest = dotted.partition(".")
    if head == "steps":
        sid, _, field = rest.partition(".")
        return next(s for s in rep["steps"] if s["id"] == sid)[field]
    if head == "experiments":
        split, variant, field = rest.split(".")
        ex = next(e for e in rep["experiments"] if e["split"] == split)
        return next(a for a in ex["arms"] if a["variant"] == variant)[field]
    if head == "arms":  # a split arm's engagement: split.variant.channel.field
        split, variant, channel, field = rest.split(".")
        ex = next(e for e in rep["experiments"] if e["split"] == split)
        arm = next(a for a in ex["arms"] if a["variant"] == variant)
        return next(e for e in arm["engagement"] if e["channel"] == channel)[field]
    if head == "exits":  # step.kind, or step.kind.reason (an expired one's why)
        step, kind, *why = rest.split(".")
        return next(e["count"] for e in rep["exit_points"]
                    if e["step"] == step and e["kind"] == kind and e["reason"] == (why[0] if why else None))
    if head == "stages":  # rep: the stage flow
        stage, _, field = rest.partition(".")
        return next(r for r in rep["stages"] if r["stage"] == stage)[field]
    if head == "stage_moves":
        frm, to = rest.split(".")
        return next(m["count"] for m in rep["moves"] if (m["from"] or "") == frm and (m["to"] or "") == to)
    if head == "topics":
        topic, _, field = rest.partition(".")
        return next(t for t in rep["topics"] if t["topic"] == topic)[field]
    if head == "channels":
        ch, _, field = rest.partition(".")
        return next(c for c in rep["channels"] if c["channel"] == ch)[field]
    for part in dotted.split("."):
        obj = obj[part]
    return obj


def _shown(page: Any) -> dict[str, Any]:
    values = page.eval_on_selector_all("[data-k]", "els => els.map(e => [e.dataset.k, e.dataset.v])")
    return {k: (None if v is None else float(v)) for k, v in values}  # no value: no data-v


@pytest.fixture
def stack(tmp_path: Any) -> Iterator[dict[str, Any]]:
    with LocalBroker() as b:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
        env.update(CJO_BROKER=b.bootstrap, CJO_DATA_DIR=str(tmp_path / "data"), CJO_PARTITIONS="4",
                   CJO_TOPOLOGIES=os.path.join(ROOT, "topologies"), PYTHONUNBUFFERED="1",
                   CJO_API_TOKENS=f"analyst:analytics:{TOKEN} reader:read:{READER}")
        procs: dict[str, Any] = {"env": env, "tmp": tmp_path}
        try:
            yield procs
        finally:
            for p in procs.values():
                if hasattr(p, "kill"):
                    p.kill()


def test_page_api_and_simulator_agree_through_crashes(stack: dict[str, Any], chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    env, tmp = stack["env"], stack["tmp"]
    worker = stack["worker"] = WorkerProc(env, free_port(), str(tmp / "worker.log")).start()
    worker.wait_ready()
    analytics = stack["analytics"] = AnalyticsProc({**env, "CJO_DATA_DIR": str(tmp / "analytics")},
                                                   str(tmp / "analytics.log")).start()
    url = analytics.url
    # the API needs the analytics scope
    assert httpx.get(f"{url}/analytics/journeys").status_code == 401
    assert httpx.get(f"{url}/analytics/journeys", headers={"Authorization": f"Bearer {READER}"}).status_code == 403
    # events stamped from now on (as `generate` does by default): journeys enter and wait; no timer fires
    # during the test, so the order in which live events and timers meet cannot differ from the simulator's
    start = round(time.time() - 2.0, 3)
    rows, reps, flow = _expected(start)
    assert sum(r["entered"] for r in rows) > 100 and sum(r["active"] for r in rows) > 50
    assert flow["new_customers"] > 100 and len(flow["moves"]) >= 3  # the worker writes stage moves too

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/")
        page.fill("input[name=token]", TOKEN)  # the login form: the token becomes an HttpOnly cookie
        page.click("button[type=submit]")
        page.wait_for_selector("table#journeys")

        gen = subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", "generate", "--customers", str(CUSTOMERS),
                                "--rate", str(RATE), "--duration", str(DURATION), "--seed", str(SEED),
                                "--start", format_ts(start)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(2.0)
        worker.kill()  # mid-stream: it replays what it had not committed, journey events included
        worker.start()
        assert gen.wait(60) == 0
        worker.wait_ready()
        live_flow = _wait_equal(url, rows, flow)

        # the page, never reloaded, caught up by itself and shows the API's numbers (the stage flow's too)
        def page_matches() -> bool:
            shown = _shown(page)
            return (all(shown.get(f"journeys.{r['journey']}.entered") == r["entered"] for r in rows)
                    and all(shown.get(f"stages.{r['stage']}.entered") == r["entered"] for r in live_flow["stages"]))

        deadline = time.monotonic() + 20
        while not page_matches() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert page_matches()
        stage_keys = 0
        for key, value in _shown(page).items():
            if key.startswith(("stages.", "stage_moves.")):
                assert value == _path(live_flow, key, live_flow), key
                stage_keys += 1
                continue
            jid, field = key.split(".", 2)[1:]
            assert value == _path(next(r for r in rows if r["journey"] == jid), field, {}), key
        assert stage_keys == 3 * len(live_flow["stages"]) + len(live_flow["moves"])

        for jid, expected in reps.items():
            api = _get(f"{url}/analytics/journeys/{jid}")
            assert api == expected, jid  # the live service computes what the simulator computes
            page.goto(f"{url}/journeys/{jid}")
            if expected["drawn_version"] is not None:
                svg_steps = page.eval_on_selector_all(f"svg g.node[id^='{jid}-step-']", "els => els.map(e => e.id)")
                assert sorted(svg_steps) == sorted(f"{jid}-step-{s['id']}" for s in api["steps"])
            shown = _shown(page)
            assert shown, jid
            for key, value in shown.items():
                want = _path(api, key, api)
                assert value == (None if want is None else float(want)), (jid, key)
        browser.close()

    # analytics crashes: its store and offsets agree, nothing is lost or counted twice
    analytics.kill()
    analytics.start()
    _wait_equal(url, rows, live_flow, timeout=30, exact=True)
    # ... and a new volume: the state comes back from the changelog
    analytics.kill()
    shutil.rmtree(tmp / "analytics")
    analytics.start()
    _wait_equal(url, rows, live_flow, timeout=30, exact=True)
    assert _get(f"{url}/analytics/journeys/welcome") == reps["welcome"]
