"""A privacy walkthrough's finding: a withdrawal that names no single channel withdrew nothing.

``unsubscribed`` without ``properties.channel`` was ignored, ``channel: all`` was stored under a key no
send read (the state API showed ``"all": false`` while mail went on), ``channel: "Email"`` under a key
other than the journeys' ``email``, and traits ``consent: false`` nowhere. Each now withdraws what it
says; a later consent for one channel gives that channel back.
"""

from __future__ import annotations

from typing import Any

import pytest

from cjo_stream.profile import new_profile
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

MAIL_AND_SMS = """
journey: cartj
entry: {event: cart}
re_entry: always
steps:
  - id: mail
    send: {channel: email, content: {subject: "x", body: "y"}}
  - id: text
    send: {channel: sms, content: {body: "y"}}
"""
CONTACT = {"email": "k@example.com", "phone": "+14155550100"}


def _run(*events: Any, policy: str = "consent: opt_out") -> tuple[list[str], list[tuple[str, str]]]:
    """Sends (step) and skips (step, reason) of a cart after ``events``."""
    sim = Simulator(engine(MAIL_AND_SMS, policy=policy))
    sim.handle(ev("identify", T0, type="identify", traits=CONTACT))
    for e in events:
        sim.handle(e)
    sim.handle(ev("cart", T0 + 600))
    sim.finish()
    return [c.step for c in sim.commands], [(s.step, s.reason) for s in sim.skips]


@pytest.mark.parametrize("props", [{}, {"channel": None}, {"channel": "all"}, {"channel": "ALL"}, {"channel": 7}, {"channel": []}])
def test_an_unsubscribe_naming_no_single_channel_withdraws_every_channel(props: dict[str, Any]) -> None:
    assert _run(ev("unsubscribed", T0 + 5, props=props)) == ([], [("mail", "no_consent"), ("text", "no_consent")])


def test_a_bare_consent_trait_is_for_every_channel() -> None:
    off = ev("identify", T0 + 5, type="identify", traits={"consent": False})
    assert _run(off) == ([], [("mail", "no_consent"), ("text", "no_consent")])


@pytest.mark.parametrize("channel", ["Email", " email ", "EMAIL"])
def test_a_channel_is_named_in_any_case(channel: str) -> None:
    assert _run(ev("unsubscribed", T0 + 5, props={"channel": channel})) == (["text"], [("mail", "no_consent")])


def test_a_list_of_channels() -> None:
    assert _run(ev("unsubscribed", T0 + 5, props={"channel": ["email", "sms"]})) == (
        [], [("mail", "no_consent"), ("text", "no_consent")])


def test_a_later_consent_for_one_channel_gives_that_channel_back() -> None:
    out = ev("unsubscribed", T0 + 5)
    back = ev("subscribed", T0 + 10, props={"channel": "email"})
    assert _run(out, back) == (["mail"], [("text", "no_consent")])
    # in either order of arrival: the later event time wins
    assert _run(back, out) == (["mail"], [("text", "no_consent")])
    # and a withdrawal of everything after it takes it away again
    assert _run(back, ev("unsubscribed", T0 + 20, props={"channel": "all"})) == (
        [], [("mail", "no_consent"), ("text", "no_consent")])


def test_opt_in_for_every_channel_and_one_withdrawn() -> None:
    policy = "consent: opt_in"
    assert _run(policy=policy) == ([], [("mail", "no_consent"), ("text", "no_consent")])
    assert _run(ev("subscribed", T0 + 5, props={"channel": "all"}), policy=policy) == (["mail", "text"], [])
    assert _run(ev("subscribed", T0 + 5, props={"channel": "all"}), ev("unsubscribed", T0 + 6, props={"channel": "sms"}),
                policy=policy) == (["mail"], [("text", "no_consent")])
    # a consent given must say for what: a subscribe naming no channel gives none
    assert _run(ev("subscribed", T0 + 5), policy=policy) == ([], [("mail", "no_consent"), ("text", "no_consent")])


def test_a_receipt_naming_no_channel_withdraws_every_channel() -> None:
    assert _run(ev("message_unsubscribed", T0 + 5, props={"delivery_id": "d1"})) == (
        [], [("mail", "no_consent"), ("text", "no_consent")])


def test_the_state_shows_what_applies() -> None:
    from cjo_stream.profile import apply_event, consent_of

    p = new_profile("u1")
    apply_event(p, ev("unsubscribed", T0, props={"channel": "Email"}))
    apply_event(p, ev("identify", T0 + 1, type="identify", traits={"consent": {"all": False, "push": True}}))
    assert p.consent == {"email": False, "all": False, "push": True}
    assert [consent_of(p, ch) for ch in ("email", "sms", "push", "in_app")] == [False, False, True, False]
    p.consent_at.clear()  # a profile stored before consent times: a withdrawal wins where they differ
    assert consent_of(p, "push") is False
