"""``simulate --report`` and ``replay`` list a journey's steps in its file's order: sorted by name, a reminder's
row came before the wait it follows and ``offer`` first (an analyst walkthrough)."""

from __future__ import annotations

from cjo_stream.engine.funnel import Funnel, step_order
from cjo_stream.engine.transition import Transition
from tests.conftest import journey
from tests.test_cli_errors import run

J = """
journey: j
entry: {event: go}
steps:
  - {id: wait_checkout, wait: 1h}
  - {id: remind, send: {channel: in_app, content: {body: r}}}
  - {id: offer, send: {channel: in_app, content: {body: o}}}
"""


def _rows(text: str) -> list[str]:
    return [ln.split()[1] for ln in text.splitlines() if ln.startswith("j ") and len(ln.split()) > 2
            and ln.split()[1].isidentifier() and not ln.split()[1].isdigit()]


def test_steps_are_listed_in_the_journeys_order_and_unknown_ones_after_by_name() -> None:
    f = Funnel()
    f.add([Transition("j", "step", step=s) for s in ("offer", "remind", "zz_old", "wait_checkout", "aa_old")])
    assert _rows(f.render(step_order([journey(J)]))) == ["wait_checkout", "remind", "offer", "aa_old", "zz_old"]
    assert _rows(f.render()) == ["aa_old", "offer", "remind", "wait_checkout", "zz_old"]  # no order given: by name


def test_simulate_report_lists_the_example_journeys_steps_in_file_order() -> None:
    p = run("simulate", "--events", "schemas/examples/touchpoints.jsonl", "--report")
    assert p.returncode == 0, p.stderr
    cart = [ln.split()[1] for ln in p.stderr.splitlines() if ln.startswith("abandoned_cart ") and len(ln.split()) >= 6
            and not ln.split()[1].isdigit()]
    assert cart[:3] == ["wait_checkout", "remind", "wait_a_day"], cart
