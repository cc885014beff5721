"""The funnel's variant table counts every instance of an arm, holdout and global control included, while the
analytics' split table just below it (``simulate --report``) leaves them out: a walkthrough saw ``control 14 11``
and ``control 10 7`` for one arm, and nothing said why. The header says what the funnel's counts hold."""

from __future__ import annotations

from cjo_stream.engine.funnel import Funnel
from cjo_stream.engine.transition import Transition


def test_the_variant_table_says_it_counts_holdout_and_global_control() -> None:
    f = Funnel()
    f.add([Transition("j", "entered"), Transition("j", "holdout"), Transition("j", "variant", variant="control")])
    header = next(ln for ln in f.render().splitlines() if ln.split()[:2] == ["journey", "variant"])
    assert header.endswith("(holdout and global control included)")
    assert ["j", "control", "1", "0"] in [ln.split() for ln in f.render().splitlines()]
