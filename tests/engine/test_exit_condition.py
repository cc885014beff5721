"""``exit_on: [{condition}]``: the instance ends ``exited`` once a condition on the profile holds, tested after
each event and as a timer wakes it (Customer.io's "exit when the person no longer matches", Klaviyo's flow
filters, checked before each step). Before, an exit needed the event carrying the change: a plan changed by a
``track`` call's traits, or by another journey's ``update`` step, left the customer in the journey, mailed."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.analytics.graph import dot_source
from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text, load_topology
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

PRO = """
journey: pro_tips
entry: {event: upgraded}
exit_on:
  - {event: account_closed}
  - {condition: "profile.traits.plan != 'pro'"}
  - {event: unsubscribed_tips}
steps:
  - id: day1
    wait: 1d
  - id: tip1
    send: {channel: in_app, content: {body: tip1}}
  - id: day2
    wait: 1d
  - id: tip2
    send: {channel: in_app, content: {body: tip2}}
"""

DAY = 86_400.0


def _sent(*events: tuple[str, float, dict[str, object]], text: str = PRO) -> tuple[list[str], dict[str, int]]:
    sim = Simulator(engine(text))
    sim.handle(ev("identify", T0, type="identify", traits={"plan": "pro"}))
    sim.handle(ev("upgraded", T0 + 1))
    for name, at, traits in events:
        sim.handle(ev(name, at, type="identify" if name == "identify" else "track", traits=traits))
    sim.finish()
    return [c.content["body"] for c in sim.commands], dict(sim.funnel.journeys["pro_tips"])


def test_a_condition_exit_ends_the_instance_at_the_event_that_makes_it_hold() -> None:
    sent, counts = _sent(("page_viewed", T0 + DAY + 60, {}), ("plan_changed", T0 + DAY + 120, {"plan": "free"}))
    assert sent == ["tip1"] and counts.get("exited") == 1
    # an event that leaves it false moves nothing
    sent, counts = _sent(("page_viewed", T0 + 60, {"plan": "pro"}))
    assert sent == ["tip1", "tip2"] and counts.get("ended") == 1 and not counts.get("exited")


def test_it_is_tested_as_a_timer_wakes_the_instance_too() -> None:
    """Another journey's update step changed the plan, with no event of the customer after it: the next step
    does not run (the condition is tested before it, as a Klaviyo flow filter is)."""
    other = """
journey: downgrade
entry: {event: payment_failed}
steps:
  - id: mark
    update: {traits: {plan: free}}
"""
    sim = Simulator(engine(PRO, other))
    sim.handle(ev("identify", T0, type="identify", traits={"plan": "pro"}))
    sim.handle(ev("upgraded", T0 + 1))
    # the pro_tips instance is offered this event before downgrade enters (entries come after), while the plan is
    # still pro: the wake a day later is what ends it
    sim.handle(ev("payment_failed", T0 + 60))
    assert sim.funnel.journeys["pro_tips"].get("exited") is None
    sim.finish()
    assert [c.content["body"] for c in sim.commands] == []
    assert sim.funnel.journeys["pro_tips"].get("exited") == 1


def test_a_condition_that_holds_as_the_customer_enters_ends_the_instance_before_its_first_step() -> None:
    """A free customer entering the pro tips: the first tip was sent, the exit came only at the next wake."""
    text = PRO.replace("  - id: day1\n    wait: 1d\n", "")  # the first tip at once
    for plan, sent, exited in (("free", [], 1), ("pro", ["tip1", "tip2"], None)):
        sim = Simulator(engine(text))
        sim.handle(ev("identify", T0, type="identify", traits={"plan": plan}))
        sim.handle(ev("upgraded", T0 + 1))
        sim.finish()
        assert [c.content["body"] for c in sim.commands] == sent
        assert sim.funnel.journeys["pro_tips"].get("entered") == 1
        assert sim.funnel.journeys["pro_tips"].get("exited") == exited
        # the report's step table: the first step reached, and the instance exited there (an ending at a step
        # it never reached read "reached 1, continued 1, drop-off 1")
        assert sim.funnel.steps[("pro_tips", "tip1")]["reached"] == 1


def test_the_event_exits_around_it_keep_their_lines(tmp_path: Path) -> None:
    """An exit_on event item after a condition item is warned about at its own line (its place in the list)."""
    text = PRO.replace("{event: unsubscribed_tips}", "{event: order_completed}").replace(
        "entry: {event: upgraded}", "entry: {event: upgraded}\ngoal: {event: order_completed}")
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "pro.yaml").write_text(text)
    (warning,) = [w for w in load_topology(str(tmp_path)).warnings if "exit_on 'order_completed'" in w]
    line = text.splitlines().index("  - {event: order_completed}") + 1
    assert warning.startswith(f"{tmp_path}/journeys/pro.yaml:{line}: warning: exit_on 'order_completed' is the "
                              "goal's event"), warning


@pytest.mark.parametrize(("item", "fragment"), [
    ('{condition: "event.traits.plan != \'pro\'"}', "an exit_on condition reads the profile, not event.traits.plan"),
    ('{event: identify, condition: "profile.traits.plan != \'pro\'"}',
     "an exit_on item has `event` (with its `when`) or `condition` (on the profile), not both"),
    ("{when: \"profile.traits.plan != 'pro'\"}", "an exit_on item needs `event` (with an optional `when`) or "
                                                "`condition` (on the profile)"),
])
def test_mistakes_are_refused_at_their_line(item: str, fragment: str) -> None:
    text = PRO.replace('{condition: "profile.traits.plan != \'pro\'"}', item)
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(text, "pro.yaml")
    assert f"pro.yaml:{text.splitlines().index(f'  - {item}') + 1}: " in str(e.value), str(e.value)
    assert fragment in str(e.value), str(e.value)


def test_the_map_names_the_condition_among_the_exits() -> None:
    (j,) = engine(PRO).versions.values()
    assert "exit: account_closed, unsubscribed_tips, profile.traits.plan != 'pro'" in dot_source(j)[0]
