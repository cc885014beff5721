"""Subscription topics (policies ``topics:``; Braze's subscription groups, Customer.io's topics): a send of a
topic needs the customer's consent to it as well as the channel's, and an unsubscribe from the newsletter stops
the newsletter, not every e-mail. Before, an ``unsubscribed`` naming a topic named no channel, so it withdrew
every channel: order updates stopped too."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cjo_stream.adapters.web import Engagement, to_receipt
from cjo_stream.engine.core import Engine
from cjo_stream.events import decode_event, format_ts
from cjo_stream.journeys.loader import load_journey_text
from cjo_stream.receipts import receipt_event
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, policies
from tests.test_cli_errors import run

POLICY = """
topics: {newsletter: opt_out, offers: opt_in}
"""

SEND = """
journey: {jid}
re_entry: always
entry: {{event: {trigger}}}
steps:
  - id: s
    send: {{channel: email, {topic}content: {{subject: hi, body: there}}}}
"""


def _sim(policy: str = POLICY) -> Simulator:
    pol = policies(policy)
    texts = [SEND.format(jid="news", trigger="news", topic="topic: newsletter, "),
             SEND.format(jid="offer", trigger="offer", topic="topic: offers, "),
             SEND.format(jid="order", trigger="order", topic="")]
    return Simulator(Engine([load_journey_text(textwrap.dedent(t), f"{t[10:15]}.yaml", pol) for t in texts], pol))


def _sent(sim: Simulator, *names: str, at: float) -> list[str]:
    before = len(sim.commands)
    for i, n in enumerate(names):
        sim.handle(ev(n, at + i))
    return [c.journey for c in sim.commands[before:]]


def test_a_topic_unsubscribe_stops_that_topic_alone_and_an_opt_in_topic_needs_a_subscribe() -> None:
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    # newsletter is opt_out (sent until the customer says no), offers opt_in (only after a subscribe)
    assert _sent(sim, "news", "offer", "order", at=T0 + 10) == ["news", "order"]
    assert [(s.journey, s.reason) for s in sim.skips] == [("offer", "no_consent")]
    sim.handle(ev("subscribed", T0 + 20, props={"topic": "offers"}))
    sim.handle(ev("unsubscribed", T0 + 21, props={"topic": "newsletter", "channel": "email"}))
    assert _sent(sim, "news", "offer", "order", at=T0 + 30) == ["offer", "order"]  # e-mail itself still allowed
    profile = sim.profiles["u1"]
    assert profile.consent == {"offers": True, "newsletter": False}
    assert sim.engine.withdrawn(profile) == [] and sim.engine.withdrawn_topics(profile) == ["newsletter"]
    assert [c.topic for c in sim.commands] == ["newsletter", None, "offers", None]


def test_the_channel_and_every_channel_still_hold_a_topic_back() -> None:
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    sim.handle(ev("subscribed", T0 + 1, props={"topic": ["offers", "newsletter"]}))
    sim.handle(ev("unsubscribed", T0 + 2, props={"channel": "email"}))
    assert _sent(sim, "news", "offer", "order", at=T0 + 10) == []
    sim.handle(ev("subscribed", T0 + 20, props={"channel": "email"}))
    assert _sent(sim, "news", "offer", at=T0 + 30) == ["news", "offer"]
    sim.handle(ev("unsubscribed", T0 + 40))  # naming nothing: every channel and topic
    assert _sent(sim, "news", "offer", "order", at=T0 + 50) == []
    assert sim.engine.withdrawn_topics(sim.profiles["u1"]) == ["newsletter", "offers"]


def test_a_receipt_unsubscribe_from_a_topics_message_withdraws_the_topic_and_a_complaint_the_channel() -> None:
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    sim.handle(ev("message_unsubscribed", T0 + 1, props={"channel": "email", "topic": "newsletter"}))
    assert _sent(sim, "news", "order", at=T0 + 10) == ["order"]
    sim.handle(ev("message_complained", T0 + 20, props={"channel": "email", "topic": "newsletter"}))
    assert _sent(sim, "order", at=T0 + 30) == []


def test_a_transactional_send_with_a_topic_is_refused_and_so_is_an_undeclared_topic(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "policies.yaml").write_text(POLICY)
    (tmp_path / "journeys" / "a.yaml").write_text(SEND.format(jid="a", trigger="x", topic="topic: newsleter, "))
    (tmp_path / "journeys" / "b.yaml").write_text(
        SEND.format(jid="b", trigger="x", topic="topic: offers, transactional: true, "))
    p = run("validate", str(tmp_path))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    a, b = tmp_path / "journeys" / "a.yaml", tmp_path / "journeys" / "b.yaml"
    assert (f"{a}:7: unknown topic 'newsleter' (did you mean 'newsletter'?): declare it under `topics:` in "
            "policies.yaml") in p.stderr, p.stderr
    assert f"{b}:7: a transactional send is held back by no consent, a topic's included" in p.stderr, p.stderr


@pytest.mark.parametrize(("text", "reason"), [
    ("topics: {email: opt_in}", "topic 'email' is the name of a channel"),
    ("topics: {News-Letter: opt_in}", "topic name 'News-Letter': lower-case letters"),
    ("topics: {newsletter: maybe}", "topics.newsletter: Invalid enum value 'maybe' (one of: opt_in, opt_out)"),
])
def test_policies_refuse_a_topic_named_as_a_channel_or_badly(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "policies.yaml").write_text(text + "\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"{tmp_path / 'policies.yaml'}:1:" in p.stderr and reason in p.stderr, p.stderr


def test_an_adapters_unsubscribe_receipt_carries_the_topic_to_the_profile() -> None:
    """The path live: the email adapter's callback (an unsubscribe link's ``{topic}``) -> its receipt -> the
    ``message_unsubscribed`` event the workers make of it -> the topic's consent, the channel's untouched."""


    receipt = to_receipt(Engagement(delivery_id="d1", customer_id="u1", event="unsubscribed", topic="newsletter",
                                    at=format_ts(T0 + 1)))
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    sim.handle(decode_event(receipt_event(receipt)))
    assert sim.profiles["u1"].consent == {"newsletter": False}
    assert _sent(sim, "news", "order", at=T0 + 10) == ["order"]


BRANCH = """
journey: weekly
re_entry: always
entry: {event: weekly}
steps:
  - id: ask
    branch:
      - {when: "profile.consent.newsletter == false", next: note}
      - else: news
  - id: news
    send: {channel: email, topic: newsletter, content: {subject: "This week", body: x}}
    next: end
  - id: note
    update: {traits: {left_newsletter: true}}
"""


def _branching() -> Simulator:
    pol = policies(POLICY)
    return Simulator(Engine([load_journey_text(textwrap.dedent(BRANCH), "weekly.yaml", pol)], pol))


@pytest.mark.parametrize(("said", "seen", "took"), [
    ({}, None, "news"),  # nothing said: null, as a channel's consent (the topic's default is no consent given)
    ({"consent.newsletter": False}, False, "note"),
    ({"consent": False}, False, "note"),  # every channel and topic: null before, and the send was skipped
])
def test_a_branch_on_a_topics_consent_sees_what_its_send_reads(said: dict[str, bool], seen: bool | None,
                                                                took: str) -> None:
    sim = _branching()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", **said}))
    sim.handle(ev("weekly", T0 + 1))
    p = sim.profiles["u1"]
    assert ("left_newsletter" in p.traits, [c.step for c in sim.commands], [s.reason for s in sim.skips]) == (
        took == "note", ["news"] if took == "news" else [], [])
    assert p.view(None, sim.engine.topics)["consent"].get("newsletter") is seen
    assert sim.engine._subscribed(p, "newsletter") is (seen is not False)
