"""The ``update`` step in the engine: traits written at the decision time, in the call that reaches the step,
within the profile's limits; a branch after it reads them; holdouts are updated too; a template that cannot
render writes nothing and the instance goes on."""

from __future__ import annotations

import textwrap

from cjo_stream.engine import Engine
from cjo_stream.journeys.source import load_yaml
from cjo_stream.journeys.stages import compile_stages
from cjo_stream.profile import LIMITED_TRAITS, MAX_TRAITS, new_profile
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev, journey

WINBACK = """
journey: winback
entry: {event: churn_signal}
steps:
  - id: remember_offer
    update:
      traits:
        winback_coupon: "{{ event.properties.coupon }}"
        winback_offered: true
        offers: 2
        churn_risk: null
  - id: check
    branch:
      - when: profile.traits.winback_offered == true
        next: offer
      - else: plain
  - id: offer
    send: {channel: email, content: {subject: "Your code {{ profile.traits.winback_coupon }}"}}
    next: end
  - id: plain
    send: {channel: email, content: {subject: "We miss you"}}
"""


def _customer(sim: Simulator) -> None:
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", "churn_risk": 0.8}))


def test_the_update_writes_a_template_of_the_entry_event_literals_and_removes_a_null() -> None:
    sim = Simulator(engine(WINBACK))
    _customer(sim)
    sim.handle(ev("churn_signal", T0 + 60, props={"coupon": "SAVE20"}))
    traits = sim.profiles["u1"].traits
    assert traits["winback_coupon"] == "SAVE20"
    assert traits["winback_offered"] is True and traits["offers"] == 2  # as given, not as text
    assert "churn_risk" not in traits
    assert traits["email"] == "a@example.com"  # the rest of the profile is left as it was


def test_a_branch_after_the_update_takes_the_updated_way_in_the_same_call() -> None:
    sim = Simulator(engine(WINBACK))
    _customer(sim)
    sim.handle(ev("churn_signal", T0 + 60, props={"coupon": "SAVE20"}))
    (cmd,) = sim.commands
    assert cmd.step == "offer" and cmd.content == {"subject": "Your code SAVE20"}
    # without the update the branch goes the other way: the trait is the update's doing
    no_update = WINBACK.replace("        winback_offered: true\n", "")
    sim2 = Simulator(engine(no_update))
    _customer(sim2)
    sim2.handle(ev("churn_signal", T0 + 60, props={"coupon": "SAVE20"}))
    assert [c.step for c in sim2.commands] == ["plain"]


def test_an_update_after_a_wait_renders_the_kept_entry_event_at_the_timers_time() -> None:
    text = WINBACK.replace("steps:\n", "steps:\n  - id: later\n    wait: 1d\n").replace(
        "        offers: 2\n", "        offered_at: \"{{ now }}\"\n")
    e = engine(text)
    p = new_profile("u1")
    e.process(p, ev("identify", T0 - 60, type="identify", traits={"email": "a@example.com"}), T0 - 60)
    (timer,) = e.process(p, ev("churn_signal", T0, props={"coupon": "LATER"}), T0).timers
    assert "winback_coupon" not in p.traits  # not yet: the instance waits
    res = e.fire(p, timer, timer.due)
    assert p.traits["winback_coupon"] == "LATER"
    assert p.traits["offered_at"] == "2026-03-03T10:00:00.000Z"  # the decision time, as a send's decided_at
    assert [c.step for c in res.commands] == ["offer"]


def test_a_holdout_customer_is_updated_though_sent_nothing() -> None:
    sim = Simulator(engine(WINBACK.replace("entry:", "holdout: 99.99\nentry:")))
    _customer(sim)
    sim.handle(ev("churn_signal", T0 + 60, props={"coupon": "SAVE20"}))
    assert sim.commands == [] and [s.reason for s in sim.skips] == ["holdout"]
    assert sim.profiles["u1"].traits["winback_coupon"] == "SAVE20"


def test_a_template_that_fails_on_the_data_writes_nothing_and_the_instance_goes_on() -> None:
    text = WINBACK.replace('"{{ event.properties.coupon }}"',
                           '"{{ event.properties.total | divided_by: event.properties.count }}"')
    sim = Simulator(engine(text))
    _customer(sim)
    sim.handle(ev("churn_signal", T0 + 60, props={"total": 10, "count": 0}))
    traits = sim.profiles["u1"].traits
    assert "winback_offered" not in traits and traits["churn_risk"] == 0.8  # none of the step's traits
    assert [c.step for c in sim.commands] == ["plain"]  # went on
    assert sim.skips == []  # no send was skipped: a skip record is a message decided against
    assert sim.funnel.steps[("winback", "remember_offer")]["skipped:render_error"] == 1


def test_new_traits_beyond_the_limit_are_left_out_and_reported_existing_ones_update() -> None:
    e = engine(WINBACK)
    p = new_profile("u1")
    full = {f"t{k}": k for k in range(MAX_TRAITS - 2)} | {"email": "a@example.com", "offers": 1}
    e.process(p, ev("identify", T0, type="identify", traits=full), T0)
    assert len(p.traits) == MAX_TRAITS
    res = e.process(p, ev("churn_signal", T0 + 60, props={"coupon": "SAVE20"}), T0 + 60)
    assert res.limited & LIMITED_TRAITS
    assert "winback_coupon" not in p.traits and "winback_offered" not in p.traits  # new keys: no room
    assert p.traits["offers"] == 2  # a key the profile has keeps updating
    assert len(p.traits) <= MAX_TRAITS
    # below the limit nothing is reported
    q = new_profile("u2")
    assert e.process(q, ev("churn_signal", T0, user="u2", props={"coupon": "X"}), T0).limited == 0


STAGES = """
stages:
  - {stage: active, when: "true"}
  - {stage: at_risk, when: profile.traits.winback_offered == true}
"""


def test_an_update_after_a_timer_moves_the_lifecycle_stage() -> None:
    stages = compile_stages(load_yaml(textwrap.dedent(STAGES), "stages.yaml"))
    text = WINBACK.replace("steps:\n", "steps:\n  - id: later\n    wait: 1h\n")
    e = Engine([journey(text)], stages=stages)
    p = new_profile("u1")
    (timer,) = e.process(p, ev("churn_signal", T0, props={"coupon": "C"}), T0).timers
    assert (p.stage or stages.default) == "active"
    res = e.fire(p, timer, timer.due)
    assert p.stage == "at_risk" and res.stage_moves == [("active", "at_risk")]


def test_the_limit_an_update_of_a_due_timer_hit_is_reported_by_the_event_that_fired_it() -> None:
    """A timer due before an event fires first in the event's call: what its update left out is reported with
    the call, also when the event itself changes something (a withdrawal) without hitting a limit."""
    text = WINBACK.replace("steps:\n", "steps:\n  - id: later\n    wait: 1h\n")
    e = engine(text)
    p = new_profile("u1")
    full = {f"t{k}": k for k in range(MAX_TRAITS - 1)} | {"email": "a@example.com"}
    e.process(p, ev("identify", T0, type="identify", traits=full), T0)
    e.process(p, ev("churn_signal", T0 + 1, props={"coupon": "C"}), T0 + 1)
    res = e.process(p, ev("unsubscribed", T0 + 7200, props={"channel": "email"}), T0 + 7200)
    assert res.consent_changed and "winback" not in p.instances  # the wait fired, the update ran
    assert "winback_coupon" not in p.traits and res.limited & LIMITED_TRAITS


COUNT = """
journey: count
re_entry: always
entry: {event: visit}
steps:
  - id: count
    update: {increment: {visits: 1, score: 0.5}}
  - id: check
    branch:
      - when: profile.traits.visits >= 3
        next: reward
      - else: end
  - id: reward
    send: {channel: email, content: {subject: "Visit {{ profile.traits.visits }}"}}
"""


def test_an_increment_counts_from_zero_keeps_a_number_and_a_branch_compares_it() -> None:
    sim = Simulator(engine(COUNT))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    for i in range(1, 4):
        sim.handle(ev("visit", T0 + i))
    traits = sim.profiles["u1"].traits
    assert traits["visits"] == 3 and type(traits["visits"]) is int and traits["score"] == 1.5
    assert [c.content for c in sim.commands] == [{"subject": "Visit 3"}]  # the third visit, compared as a number


def test_an_increment_of_a_trait_holding_no_number_writes_nothing_of_the_step() -> None:
    for held in ("3", True, [1]):
        sim = Simulator(engine(COUNT))
        sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", "visits": held}))
        sim.handle(ev("visit", T0 + 1))
        traits = sim.profiles["u1"].traits
        assert traits["visits"] == held and "score" not in traits, held  # all or nothing, as a render_error
        assert sim.funnel.steps[("count", "count")].get("skipped:not_a_number") == 1


def test_an_increment_past_the_64_bit_range_writes_nothing() -> None:
    sim = Simulator(engine(COUNT))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", "visits": 2**63 - 1}))
    sim.handle(ev("visit", T0 + 1))
    assert sim.profiles["u1"].traits["visits"] == 2**63 - 1
    assert sim.funnel.steps[("count", "count")].get("skipped:out_of_range") == 1


def test_a_float_increment_past_what_a_float_holds_writes_nothing() -> None:
    sim = Simulator(engine(COUNT.replace("score: 0.5", "score: 1.0e+308")))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", "score": 1.7e308}))
    sim.handle(ev("visit", T0 + 1))
    assert sim.profiles["u1"].traits["score"] == 1.7e308 and "visits" not in sim.profiles["u1"].traits
    assert sim.funnel.steps[("count", "count")].get("skipped:out_of_range") == 1
