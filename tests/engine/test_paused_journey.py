"""``status: paused``: an incident's stop of a journey's sends that keeps its customers where they are.

While paused nobody enters (by event, schedule or hand-over); instances go on through their waits, and a send
they reach is held (a ``deferred`` transition, reason ``journey_paused``, told once), not decided; a goal or an
``exit_on`` still ends them. Deployed live again (same version), each held customer gets the send with the
content as it is then, and goes on from there."""

from __future__ import annotations

from cjo_stream.engine import Engine
from cjo_stream.engine.core import PAUSED_RECHECK
from cjo_stream.engine.result import Result
from cjo_stream.engine.transition import Transition
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, journey

CART = """
journey: cart
status: {status}
entry: {{event: added}}
goal: {{event: bought}}
steps:
  - id: wait_a_bit
    wait: 1h
  - id: mail
    send: {{channel: email, content: {{subject: "Use code {code}"}}}}
  - id: later
    wait: 1d
  - id: again
    send: {{channel: email, content: {{subject: "Still there? {code}"}}}}
"""

MAIL = {"email": "a@example.com"}


def cart(status: str, code: str = "BAD10") -> str:
    return CART.format(status=status, code=code)


def sim_of(*texts: str) -> tuple[Simulator, list[Transition]]:
    seen: list[Transition] = []
    sim = Simulator(Engine([journey(t) for t in texts]), on_result=lambda r: seen.extend(r.transitions))
    return sim, seen


def redeploy(sim: Simulator, *texts: str) -> None:
    """A rolling restart on edited files: the same profiles, timers and clock, other definitions."""
    sim.engine = Engine([journey(t) for t in texts])


def test_nobody_enters_a_paused_journey() -> None:
    sim, seen = sim_of(cart("paused"))
    sim.handle(ev("identify", T0, type="identify", traits=MAIL))
    sim.handle(ev("added", T0 + 1))
    sim.finish()
    assert sim.profiles["u1"].instances == {} and not [t for t in seen if t.kind == "entered"]
    # and a live one is entered by the same events (the test would pass vacuously otherwise)
    sim, seen = sim_of(cart("live"))
    sim.handle(ev("identify", T0, type="identify", traits=MAIL))
    sim.handle(ev("added", T0 + 1))
    assert [t.kind for t in seen if t.kind == "entered"] == ["entered"]


def test_a_send_reached_while_paused_is_held_once_and_nothing_is_sent() -> None:
    sim, seen = sim_of(cart("live"))
    sim.handle(ev("identify", T0, type="identify", traits=MAIL))
    sim.handle(ev("added", T0 + 1))
    redeploy(sim, cart("paused"))  # paused while the customer waits before the mail
    sim.advance(T0 + 10 * 3600)  # the wait ends at T0+1h; ten rechecks pass
    assert sim.commands == [] and sim.skips == []
    held = [(t.kind, t.step, t.reason) for t in seen if t.kind == "deferred"]
    assert held == [("deferred", "mail", "journey_paused")]  # told once, not at every recheck
    inst = sim.profiles["u1"].instances["cart"]
    assert (inst.step, inst.waiting, inst.version) == ("mail", "paused", 1)  # where it was, on its version
    assert sim.funnel.steps[("cart", "mail")]["deferred"] == 1


def test_the_goal_still_converts_a_held_customer() -> None:
    sim, seen = sim_of(cart("paused").replace("status: paused", "status: live"))
    sim.handle(ev("identify", T0, type="identify", traits=MAIL))
    sim.handle(ev("added", T0 + 1))
    redeploy(sim, cart("paused"))
    sim.advance(T0 + 2 * 3600)  # held at the mail
    sim.handle(ev("bought", T0 + 3 * 3600))
    assert [t.kind for t in seen if t.kind in ("converted", "expired", "ended")] == ["converted"]
    assert sim.profiles["u1"].instances == {} and sim.commands == []


def test_resumed_the_held_customer_gets_the_fixed_content_and_goes_on() -> None:
    sim, seen = sim_of(cart("live"))
    sim.handle(ev("identify", T0, type="identify", traits=MAIL))
    sim.handle(ev("added", T0 + 1))
    redeploy(sim, cart("paused"))
    sim.advance(T0 + 5 * 3600)
    redeploy(sim, cart("live", code="GOOD10"))  # content fixed, live again, no version bump
    sim.advance(T0 + 5 * 3600 + PAUSED_RECHECK)  # the next recheck sends it
    (mail,) = sim.commands
    assert mail.step == "mail" and mail.content["subject"] == "Use code GOOD10" and mail.journey_version == 1
    sim.finish()
    assert [c.step for c in sim.commands] == ["mail", "again"]  # and it went on to the rest of the journey
    assert [t.kind for t in seen if t.kind == "entered"] == ["entered"]  # never entered again


def test_a_paused_scheduled_journey_and_a_hand_over_into_a_paused_one_enter_nobody() -> None:
    scheduled = """
    journey: weekly
    status: paused
    entry: {schedule: {every: 1d}}
    steps:
      - {id: s, send: {channel: in_app, content: {body: hi}}}
    """
    sim, seen = sim_of(scheduled)
    sim.handle(ev("seen", T0))
    sim.advance(T0 + 3 * 86400)
    assert not [t for t in seen if t.kind == "entered"]
    sim, seen = sim_of(scheduled.replace("status: paused", "status: live"))
    sim.handle(ev("seen", T0))
    sim.advance(T0 + 3 * 86400)
    assert [t.kind for t in seen if t.kind == "entered"]  # live, the same occurrences enter

    assert handed_over("paused") == [] and handed_over("live") == ["second"]


def handed_over(status: str) -> list[str]:
    """The journeys a hand-over (``enter: second``) entered, ``second`` having ``status``."""
    source = """
    journey: first
    entry: {event: go}
    steps:
      - {id: hand, enter: second}
    """
    target = """
    journey: second
    status: {status}
    entry: {{event: handed_over}}
    steps:
      - {{id: s, send: {{channel: in_app, content: {{body: hi}}}}}}
    """
    sim, seen = sim_of(source, target.format(status=status))
    sim.handle(ev("go", T0))
    return [t.journey for t in seen if t.kind == "entered" and t.journey == "second"]


def test_holdout_customers_are_held_too() -> None:
    """The control group waits as the treated customers do: their timing, and so the comparison, stay the same."""
    text = cart("paused").replace("goal:", "holdout: 99.9\ngoal:")
    sim, seen = sim_of(text.replace("status: paused", "status: live"))
    sim.handle(ev("identify", T0, type="identify", traits=MAIL))
    sim.handle(ev("added", T0 + 1))
    redeploy(sim, text)
    sim.advance(T0 + 2 * 3600)
    assert sim.skips == [] and [t.reason for t in seen if t.kind == "deferred"] == ["journey_paused"]


def test_one_timer_per_held_send_decides_as_the_rechecks_do() -> None:
    """``simulate`` and ``replay`` (no status change during a run) hold a send with one timer to max_duration:
    the same transitions, at the same times, as a worker's recheck every 15 minutes, with a 2,880th of the wakes."""
    text = cart("live").replace("goal:", "max_duration: 30d\ngoal:")
    outcomes = []
    for recheck in (PAUSED_RECHECK, float("inf")):
        seen: list[Transition] = []
        calls: list[Result] = []
        sim = Simulator(Engine([journey(text)]), on_result=calls.append)
        sim.handle(ev("identify", T0, type="identify", traits=MAIL))
        sim.handle(ev("added", T0 + 1))
        sim.engine = Engine([journey(text.replace("status: live", "status: paused"))], paused_recheck=recheck)
        held_from = len(calls)
        sim.finish()
        for r in calls:
            seen.extend(r.transitions)
        outcomes.append(([(t.kind, t.step, t.reason, t.at) for t in seen], len(calls) - held_from))
    (rechecked, wakes), (once, one) = outcomes
    assert rechecked == once and rechecked[-1][:3] == ("expired", "mail", None)
    assert wakes > 2000 and one < 10, (wakes, one)


def test_a_schedules_occurrences_during_the_pause_are_not_made_up_at_resume() -> None:
    text = """
    journey: daily
    status: {status}
    re_entry: always
    entry: {{schedule: {{every: 1d, at: "09:00"}}}}
    steps:
      - {{id: s, send: {{channel: in_app, content: {{body: hi}}}}}}
    """
    sim, seen = sim_of(text.format(status="paused"))
    sim.handle(ev("seen", T0))  # Monday 10:00: Tuesday's, Wednesday's and Thursday's 09:00 come round paused
    sim.advance(T0 + 3 * 86400 + 3600)  # Thursday 11:00
    redeploy(sim, text.format(status="live"))
    sim.handle(ev("seen", T0 + 3 * 86400 + 7200))
    sim.advance(T0 + 4 * 86400 + 3600)  # Friday 11:00: Friday's 09:00 enters
    assert [c.decided_at for c in sim.commands] == ["2026-03-06T09:00:00.000Z"]
