"""``goal: {event, within: 3d}``: a conversion counts only within the window after the entry (Braze's conversion
deadline, Customer.io's conversion window). Without it a purchase a month after a cart reminder was the
reminder's conversion in every report."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.analytics.graph import dot_source
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev
from tests.test_cli_errors import run

CART = """
journey: cart
entry: {{event: cart_item_added}}
goal: {{event: order_completed{within}}}
exit_on: [{{event: account_closed}}]
max_duration: 30d
steps:
  - id: wait
    wait: 20d
  - id: nudge
    send: {{channel: email, content: {{subject: "still there?", body: x}}}}
"""


def _ends(within: str, order_after: float) -> list[str]:
    sim = Simulator(engine(CART.format(within=within)))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    sim.handle(ev("cart_item_added", T0 + 1))
    sim.handle(ev("order_completed", T0 + 1 + order_after))
    sim.handle(ev("account_closed", T0 + 1 + order_after + 60))
    counts = sim.funnel.journeys["cart"]
    return [k for k in ("converted", "exited") for _ in range(counts.get(k, 0))]


def test_a_goal_converts_within_its_window_and_not_after() -> None:
    day = 86400.0
    assert _ends(", within: 3d", 2 * day) == ["converted"]
    # four days on: no conversion, the instance goes on (the exit ends it) rather than ending converted
    assert _ends(", within: 3d", 4 * day) == ["exited"]
    assert _ends("", 4 * day) == ["converted"]  # no window: while the instance runs


def test_a_window_past_max_duration_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "cart.yaml").write_text(CART.format(within=", within: 40d"))
    p = run("validate", str(tmp_path))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert (f"{tmp_path / 'journeys' / 'cart.yaml'}:4: goal within 40d is longer than max_duration 30d: the "
            "instance ends before the window closes") in p.stderr, p.stderr


def test_the_journey_map_shows_the_window() -> None:
    (j,) = engine(CART.format(within=", within: 3d")).versions.values()
    assert "goal: order_completed (within 3d)" in dot_source(j)[0]
    (j,) = engine(CART.format(within="")).versions.values()
    assert "within" not in dot_source(j)[0]
