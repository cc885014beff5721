"""Conversions per split arm when an instance passes two splits (an analyst's hand count).

The fold counted a conversion for the arm of the *last* split the instance took, by arm name alone
(``v|<variant>|converted``): in a journey with two splits the first split's arms showed 0 conversions
("0.00 % [0.0–13.3 %]" for an arm of which 14 of 25 converted), and two splits sharing arm names
(``control`` in both) mixed their conversions. Each conversion now counts for every arm it took.
"""

from __future__ import annotations

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import definitions
from cjo_stream.analytics.records import JourneyEvent
from cjo_stream.analytics.rows import InstanceRow
from cjo_stream.engine.result import Result
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

TWO_SPLITS = """\
journey: two
entry: {event: cart_item_added}
goal: {event: order_completed}
steps:
  - id: first
    split:
      - {variant: control, weight: 50, next: second}
      - {variant: treat, weight: 50, next: second}
  - id: second
    split:
      - {variant: control, weight: 50, next: hold}
      - {variant: treat, weight: 50, next: hold}
  - id: hold
    wait: 1h
"""



def _carts_then_orders(sim: Simulator) -> set[str]:
    """60 customers add to their carts, two in three of them buy (whatever their arms): who bought."""
    buyers = {f"u{i}" for i in range(60) if i % 3 != 1}
    for i in range(60):
        sim.handle(ev("cart_item_added", T0 + i, user=f"u{i}"))
    for i in range(60):
        if f"u{i}" in buyers:
            sim.handle(ev("order_completed", T0 + 600 + i, user=f"u{i}"))
    sim.finish()
    return buyers

def test_each_split_counts_the_conversions_of_its_own_arms() -> None:
    arm: dict[tuple[str, str], str] = {}  # (split, customer) -> the arm taken, from the variant records
    def record(res: Result) -> None:
        for t in res.transitions:
            if t.kind == "variant":
                arm[(t.step or "", res.profile.customer_id)] = t.variant or ""

    sim = Simulator(engine(TWO_SPLITS), on_result=record)
    buyers = _carts_then_orders(sim)
    rep = report.journey_report(sim.analytics.buckets, definitions(sim.engine.current.values()), "two")
    tables = {x["split"]: {a["variant"]: a for a in x["arms"]} for x in rep["experiments"]}
    assert set(tables) == {"first", "second"}
    differ = 0
    for split in ("first", "second"):
        for v in ("control", "treat"):
            mine = [c for (s, c), a in arm.items() if s == split and a == v]
            bought = sum(c in buyers for c in mine)
            assert (tables[split][v]["entered"], tables[split][v]["converted"]) == (len(mine), bought), (split, v)
            last = [c for (s, c), a in arm.items() if s == "second" and a == v]
            differ += sum(c in buyers for c in last) != bought  # counted by the last split's arm name
    assert differ  # the data tells the two countings apart


def test_a_row_stored_before_arms_counts_its_conversion_for_its_split() -> None:
    """An instance in flight across the upgrade: its row has ``split`` and ``variant`` but no ``arms``."""
    a = Analytics()
    a.rows["i:i1"] = InstanceRow("j", 1, int(T0 // 3600), T0, "hold", "treat", False, T0, False, "ab")
    a.apply(JourneyEvent(journey="j", version=1, kind="converted", instance="i1", customer_id="u1", at=T0 + 60,
                         step="hold", variant="treat"))
    (b,) = a.buckets.values()
    assert b.get("ac|ab|treat") == 1 and "v|treat|converted" not in b


def test_the_funnels_arm_table_counts_the_first_splits_conversions_too() -> None:
    """``simulate --report``'s variant table and ``replay --compare``'s arm rows (the engine's funnel, by arm
    name): the conversion transition names the last arm only, so arms ``a``/``b`` of the first split showed 0."""
    text = TWO_SPLITS.replace("control, weight: 50, next: second", "a, weight: 50, next: second").replace(
        "treat, weight: 50, next: second", "b, weight: 50, next: second").replace(
        "control, weight: 50, next: hold", "x, weight: 50, next: hold").replace("treat, weight: 50, next: hold",
                                                                                "y, weight: 50, next: hold")
    taken: dict[str, list[str]] = {}  # customer -> the arms taken, from the variant records

    def record(res: Result) -> None:
        for t in res.transitions:
            if t.kind == "variant":
                taken.setdefault(res.profile.customer_id, []).append(t.variant or "")

    sim = Simulator(engine(text), on_result=record)
    buyers = _carts_then_orders(sim)
    table = sim.funnel.variants
    for v in ("a", "b", "x", "y"):
        mine = [c for c, arms in taken.items() if v in arms]
        assert (table[("two", v)]["entered"], table[("two", v)]["converted"]) == \
            (len(mine), sum(c in buyers for c in mine)), v
    assert sum(c in buyers for c, arms in taken.items() if "a" in arms) > 0  # the first split's arms converted
