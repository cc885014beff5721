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
    assert row.split()[:4] == ["hold", "4", "0", "4"]  # reached, waiting, drop-off
    assert row.endswith("converted:2, ended:1, exited:1"), row
