"""A journey without a goal has no conversion rate: the report and the page showed ``0.0% [0.0–25.9%]``
for the welcome series, as if nobody converted (a walkthrough). The API says ``has_goal``."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import definitions
from cjo_stream.engine import Engine
from cjo_stream.journeys.loader import load_topology
from cjo_stream.simulator import Simulator
from tests.journeys.test_language2 import write
from tests.test_cli_errors import EVENTS, ROOT, run


def test_the_overview_gives_no_rate_for_a_journey_without_a_goal() -> None:
    topo = load_topology(str(ROOT / "topologies"))
    goals = {j.id: j.goal for j in topo.journeys}
    assert goals["welcome"] is None and goals["abandoned_cart"] is not None  # the examples have both kinds
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages), analytics=Analytics())
    sim.run_lines(EVENTS_LINES())
    sim.finish()
    rows = {r["journey"]: r for r in report.overview(sim.analytics.buckets, definitions(topo.journeys))}
    assert rows["welcome"]["entered"] > 0
    assert (rows["welcome"]["has_goal"], rows["welcome"]["conversion_rate"], rows["welcome"]["goal"]) == \
        (False, None, None)
    cart = rows["abandoned_cart"]
    assert cart["has_goal"] is True and cart["goal"] == "order_completed"
    assert cart["conversion_rate"] is not None and cart["conversion_rate"] > 0
    one = report.journey_report(sim.analytics.buckets, definitions(topo.journeys), "welcome")
    assert one["totals"]["has_goal"] is False and one["totals"]["conversion_interval"] is None


def test_the_text_report_and_the_page_say_no_goal(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    p = run("simulate", "--events", EVENTS, "--report", "--html", str(page))
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    table = lines[next(i for i, ln in enumerate(lines) if "95% interval" in ln):]  # the analytics overview
    welcome = next(ln for ln in table if ln.startswith("welcome "))
    cart = next(ln for ln in table if ln.startswith("abandoned_cart "))
    assert "no goal" in welcome and "%" not in welcome
    assert "no goal" not in cart and "%" in cart
    assert "no goal" in page.read_text()


def EVENTS_LINES() -> list[bytes]:  # noqa: N802
    return Path(EVENTS).read_bytes().splitlines()


def test_replay_compare_gives_no_rate_for_a_journey_without_a_goal() -> None:
    """`replay --compare` printed "conversion rate 0.0% 0.0%" (and "converted 0 0") for a journey with no goal,
    where `simulate --report` says "no goal" (a walkthrough)."""
    p = run("replay", "--events", EVENTS, "--compare", str(ROOT / "topologies"))
    assert p.returncode == 0, p.stderr
    rows = [ln.split() for ln in (p.stdout + p.stderr).splitlines() if ln.startswith(("  welcome ", "* welcome "))]
    assert any("entered" in r for r in rows), rows  # the journey is in the table
    assert not [r for r in rows if "conversion" in r or "converted" in r], rows
    cart = [ln for ln in (p.stdout + p.stderr).splitlines() if "abandoned_cart" in ln and "conversion rate" in ln]
    assert cart, p.stdout[-2000:]


SUBJECT_TEST = """\
journey: browse
entry: {event: product_viewed}
holdout: 10
steps:
  - id: subject_test
    split:
      - {variant: a, weight: 50, next: email_a}
      - {variant: b, weight: 50, next: email_b}
  - id: email_a
    send: {channel: email, content: {subject: "Still thinking about {{ event.properties.product_name }}?"}}
    next: end
  - id: email_b
    send: {channel: email, content: {subject: "{{ event.properties.product_name }} is waiting"}}
"""


def test_a_split_and_a_holdout_without_a_goal_give_no_rates(tmp_path: Path) -> None:
    """A subject-line test in a browse-abandonment journey (no goal) showed each arm ``0.00% [0.0–3.9%]`` and
    ``lift +0.00 pp``, and the holdout a lift, as if both subject lines had failed (a walkthrough): a journey
    without a goal has no conversion to compare, as its totals already said."""
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"browse": SUBJECT_TEST})
    page = tmp_path / "page.html"
    p = run("simulate", "--topologies", str(topologies), "--events", EVENTS, "--report", "--html", str(page))
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    split = next(i for i, ln in enumerate(lines) if ln.startswith("  split subject_test"))
    arms = lines[split + 1:split + 3]
    assert [a.split()[0] for a in arms] == ["a", "b"] and all("no goal" in a and "%" not in a.split("50%", 1)[1]
                                                              and "lift" not in a for a in arms), arms
    hold = next(ln for ln in lines if ln.startswith("  holdout 10"))
    assert "(no goal)" in hold and "lift" not in hold and "[" not in hold, hold
    html = page.read_text()
    table = html[html.index("browse-split-subject_test"):]
    table = table[:table.index("</table>")]
    assert "no goal" in table and "0.00%" not in table and " pp" not in table, table
    assert "This journey has no goal" in html
    topo = load_topology(str(topologies))
    sim = Simulator(Engine(topo.journeys, topo.policies), analytics=Analytics())
    sim.run_lines(EVENTS_LINES())
    sim.finish()
    rep = report.journey_report(sim.analytics.buckets, definitions(topo.journeys), "browse")
    (ex,) = rep["experiments"]
    assert ex["has_goal"] is False and ex["srm"] is not None  # the arms' counts are still checked
    assert {a["variant"]: (a["entered"] > 0, a["rate"], a["interval"], a["lift_abs"], a["p_value"])
            for a in ex["arms"]} == {"a": (True, None, None, None, None), "b": (True, None, None, None, None)}
    assert rep["holdout"]["has_goal"] is False and rep["holdout"]["treatment"]["lift_abs"] is None
    assert rep["holdout"]["holdout"]["entered"] > 0 and rep["holdout"]["holdout"]["rate"] is None
