"""An ``update`` step's ``consent:`` withdraws a channel's or a topic's consent as a customer's ``unsubscribed``
event of the decision time does: the same profile fields and times (a later ``subscribed`` wins, an earlier one
arriving late does not), ``Result.consent_changed`` for the adapters, and every later send skipped ``no_consent``.
Holdout and global-control customers keep their consent: no last mail asked them, and none is withdrawn."""

from __future__ import annotations

import textwrap

from cjo_stream.engine import Engine
from cjo_stream.journeys.loader import load_journey_text
from cjo_stream.profile import MAX_TRAITS, consent_of, new_profile
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, policies

POLICY = "topics: {newsletter: opt_out}\n"

SUNSET = """
journey: sunset
entry: {{event: sunset_due}}
{extra}
steps:
  - id: last_chance
    send: {{channel: email, content: {{subject: "Still want our mail?"}}}}
  - id: wait_click
    wait_for: {{event: message_clicked, timeout: 7d}}
    on_event: end
    on_timeout: suppress
  - id: suppress
    update: {{consent: {{{consent}}}, traits: {{sunset: true}}}}
  - id: after
    send: {{channel: email, content: {{subject: never sent}}}}
"""

OTHER = """
journey: {jid}
re_entry: always
entry: {{event: {jid}}}
steps:
  - id: s
    send: {{channel: email, {topic}content: {{subject: {jid}}}}}
"""


def _engine(consent: str = "email: false", extra: str = "", policy: str = POLICY) -> Engine:
    pol = policies(policy)
    texts = [SUNSET.format(consent=consent, extra=extra), OTHER.format(jid="promo", topic=""),
             OTHER.format(jid="news", topic="topic: newsletter, ")]
    return Engine([load_journey_text(textwrap.dedent(t), "j.yaml", pol) for t in texts], pol)


def _customer(e: Engine, cid: str = "u1") -> Simulator:
    sim = Simulator(e)
    sim.handle(ev("identify", T0, cid, type="identify", traits={"email": f"{cid}@example.com"}))
    return sim


def test_the_sunset_withdraws_email_at_the_timers_time_and_every_later_mail_is_skipped_no_consent() -> None:
    e = _engine()
    p = new_profile("u1")
    e.process(p, ev("identify", T0, type="identify", traits={"email": "a@example.com"}), T0)
    res = e.process(p, ev("sunset_due", T0 + 60), T0 + 60)
    assert [c.step for c in res.commands] == ["last_chance"] and not res.consent_changed
    (timer,) = res.timers
    res = e.fire(p, timer, timer.due)
    assert res.consent_changed and p.traits["sunset"] is True
    assert p.consent == {"email": False} and p.consent_at == {"email": timer.due}  # as an unsubscribed of that time
    assert [(s.step, s.reason) for s in res.skips] == [("after", "no_consent")]
    res = e.process(p, ev("promo", timer.due + 60), timer.due + 60)  # another journey's mail
    assert res.commands == [] and [(s.journey, s.reason) for s in res.skips] == [("promo", "no_consent")]


def test_a_click_in_time_keeps_the_customer_subscribed() -> None:
    sim = _customer(_engine())
    sim.handle(ev("sunset_due", T0 + 60))
    sim.handle(ev("message_clicked", T0 + 3600, props={"channel": "email"}))
    sim.advance(T0 + 30 * 86400)
    sim.handle(ev("promo", T0 + 30 * 86400))
    assert sim.profiles["u1"].consent == {} and [c.journey for c in sim.commands] == ["sunset", "promo"]


def test_a_later_subscribed_wins_and_an_earlier_one_arriving_late_does_not() -> None:
    sim = _customer(_engine())
    sim.handle(ev("sunset_due", T0 + 60))
    withdrawn_at = T0 + 60 + 7 * 86400
    sim.advance(withdrawn_at + 10)
    p = sim.profiles["u1"]
    assert consent_of(p, "email") is False
    sim.handle(ev("subscribed", withdrawn_at - 5, props={"channel": "email"}))  # before the sunset, told late
    assert consent_of(p, "email") is False
    sim.handle(ev("subscribed", withdrawn_at + 20, props={"channel": "email"}))  # the customer said yes again
    assert consent_of(p, "email") is True
    sim.handle(ev("promo", withdrawn_at + 30))
    assert [c.journey for c in sim.commands] == ["sunset", "promo"]


def test_a_subscribed_newer_than_the_decision_time_already_applied_wins() -> None:
    """A late trigger decides at its own time: a ``subscribed`` stamped after it, applied before, stays."""
    text = """
    journey: sunset
    entry: {event: sunset_due}
    steps:
      - id: suppress
        update: {consent: {email: false}, traits: {sunset: true}}
    """
    e = Engine([load_journey_text(textwrap.dedent(text), "j.yaml")])
    p = new_profile("u1")
    e.process(p, ev("subscribed", T0 + 100, props={"channel": "email"}), T0 + 100)
    res = e.process(p, ev("sunset_due", T0 + 50), T0 + 50)  # late, within the allowed lateness
    assert p.traits["sunset"] is True and not res.consent_changed
    assert p.consent == {"email": True} and p.consent_at == {"email": T0 + 100}


def test_a_topic_withdrawn_stops_its_sends_only() -> None:
    sim = _customer(_engine(consent="newsletter: false"))
    sim.handle(ev("sunset_due", T0 + 60))
    at = T0 + 8 * 86400
    sim.advance(at)
    sim.handle(ev("news", at + 1))
    sim.handle(ev("promo", at + 2))
    assert [c.journey for c in sim.commands] == ["sunset", "sunset", "promo"]  # (the sunset's own `after` mail too)
    assert [(s.journey, s.reason) for s in sim.skips] == [("news", "no_consent")]


def test_every_channel_withdrawn_by_all() -> None:
    sim = _customer(_engine(consent="all: false"))
    sim.handle(ev("sunset_due", T0 + 60))
    sim.advance(T0 + 8 * 86400)
    assert consent_of(sim.profiles["u1"], "sms") is False and consent_of(sim.profiles["u1"], "email") is False


def test_holdout_and_global_control_customers_keep_their_consent() -> None:
    e = _engine(extra="holdout: 50", policy=POLICY + "global_control: {percent: 50}\n")
    kept = {"holdout": 0, "global_control": 0, "withdrawn": 0}
    for i in range(40):
        cid = f"c{i}"
        p = new_profile(cid)
        e.process(p, ev("identify", T0, cid, type="identify", traits={"email": "x@example.com"}), T0)
        res = e.process(p, ev("sunset_due", T0 + 60, cid), T0 + 60)
        holdout = p.instances["sunset"].holdout
        control = [s.reason for s in res.skips] == ["global_control"]
        for t in res.timers:
            res = e.fire(p, t, t.due)
        assert p.traits["sunset"] is True  # the traits are written for everyone
        if holdout or control:
            assert p.consent == {} and not res.consent_changed, cid
            kept["holdout" if holdout else "global_control"] += 1
        else:
            assert p.consent == {"email": False} and res.consent_changed, cid
            kept["withdrawn"] += 1
    assert all(kept.values()), kept


def test_a_due_timers_withdrawal_is_reported_by_the_event_whose_call_fired_it() -> None:
    """The event's own bits (a trait left out for the limit) do not reset what the timer's update step told."""
    e = _engine()
    p = new_profile("u1")
    full = {f"t{k}": k for k in range(MAX_TRAITS - 2)} | {"email": "a@example.com"}
    e.process(p, ev("identify", T0, type="identify", traits=full), T0)
    e.process(p, ev("sunset_due", T0 + 60), T0 + 60)  # the update writes `sunset`: the profile is full
    later = T0 + 8 * 86400
    res = e.process(p, ev("identify", later, type="identify", traits={"one_too_many": 1}), later)
    assert res.limited and "sunset" not in p.instances and p.consent == {"email": False}
    assert res.consent_changed


def test_a_scheduled_entry_withdraws_in_its_own_call() -> None:
    text = """
    journey: sunset
    entry: {schedule: {every: 1d, at: "09:00"}, when: "not (days_since(profile.last.message_opened) <= 180)"}
    steps:
      - id: suppress
        update: {consent: {email: false}}
    """
    e = Engine([load_journey_text(textwrap.dedent(text), "j.yaml")])
    p = new_profile("u1")
    e.process(p, ev("identify", T0, type="identify", traits={"email": "a@example.com"}), T0)
    res = e.schedule(p, "sunset", T0 + 86400)
    assert res.consent_changed and p.consent == {"email": False}


def test_a_step_that_writes_nothing_withdraws_nothing() -> None:
    """``not_a_number`` (an increment of a text trait) skips the whole step, its withdrawal included."""
    text = """
    journey: sunset
    entry: {event: sunset_due}
    steps:
      - id: suppress
        update: {consent: {email: false}, increment: {sunsets: 1}}
    """
    e = Engine([load_journey_text(textwrap.dedent(text), "j.yaml")])
    p = new_profile("u1")
    e.process(p, ev("identify", T0, type="identify", traits={"sunsets": "three"}), T0)
    res = e.process(p, ev("sunset_due", T0 + 60), T0 + 60)
    assert [t.reason for t in res.transitions if t.kind == "skipped"] == ["not_a_number"]
    assert p.consent == {} and not res.consent_changed
