"""The text report (``simulate --report``, ``replay``) tells each step's conversions, as the page does: a step's
drop-off counts every way of ending there, conversions too, and the row showed only ``ended:6, exited:1`` beside
``drop-off 25`` (a walkthrough: 18 conversions at a closing wait, nowhere in the text)."""

from __future__ import annotations

from cjo_stream.analytics.offline import render_text
from cjo_stream.engine import Engine
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, journey

J = """
journey: wb
entry: {event: go}
goal: {event: buy}
exit_on: [{event: stop}]
steps:
  - {id: hold, wait: 1d}
"""


def test_a_step_row_names_its_conversions_beside_its_other_endings() -> None:
    sim = Simulator(Engine([journey(J)]))
    for u in ("u1", "u2", "u3", "u4"):
        sim.handle(ev("go", T0, u))
    sim.handle(ev("buy", T0 + 60, "u1"))
    sim.handle(ev("buy", T0 + 60, "u2"))
    sim.handle(ev("stop", T0 + 60, "u3"))
    sim.finish()  # u4's wait ends: ended
    text = render_text(sim.analytics, [journey(J)])
    row = next(ln for ln in text.splitlines() if ln.startswith("  hold "))
    assert row.split()[:5] == ["hold", "4", "0", "0", "4"]  # reached, waiting, continued, drop-off
    assert row.endswith("converted:2, ended:1, exited:1"), row


def test_a_step_row_tells_how_many_went_on_as_the_page_and_the_api_do() -> None:
    """The page and the API have each step's ``continued``; the text had reached, waiting and drop-off only, so
    how many went on from a step (reached minus the others, when none is waiting) was left to arithmetic."""
    two = J.replace("  - {id: hold, wait: 1d}\n", "  - {id: hold, wait: 1d}\n  - {id: after, wait: 1d}\n")
    sim = Simulator(Engine([journey(two)]))
    for u in ("u1", "u2", "u3"):
        sim.handle(ev("go", T0, u))
    sim.handle(ev("buy", T0 + 60, "u1"))
    sim.advance(T0 + 86400 + 60)  # u2 and u3 go on to `after`, and wait there
    lines = render_text(sim.analytics, [journey(two)]).splitlines()
    assert next(ln for ln in lines if ln.startswith("  step ")).split()[:5] == [
        "step", "reached", "waiting", "continued", "drop-off"]
    assert next(ln for ln in lines if ln.startswith("  hold ")).split()[:5] == ["hold", "3", "0", "2", "1"]
    assert next(ln for ln in lines if ln.startswith("  after ")).split()[:5] == ["after", "2", "2", "0", "0"]
