"""``consent:`` per channel in ``policies.yaml``: a Klaviyo migrator's SMS goes only to those who said yes to texts,
while mail goes to everyone who did not say no (``consent: {sms: opt_in}``); ``all`` names the rest's."""

from __future__ import annotations

import pytest

from cjo_stream.journeys.source import SourceError
from tests.conftest import T0, ev, policies
from tests.engine.test_consent_all import _run


def test_sms_opt_in_mail_opt_out() -> None:
    """Mail goes to a customer who said nothing, a text only after a yes to texts."""
    policy = "consent: {sms: opt_in}"
    assert _run(policy=policy) == (["mail"], [("text", "no_consent")])
    assert _run(ev("subscribed", T0 + 5, props={"channel": "sms"}), policy=policy) == (["mail", "text"], [])
    assert _run(ev("subscribed", T0 + 5, props={"channel": "all"}), policy=policy) == (["mail", "text"], [])
    assert _run(ev("unsubscribed", T0 + 5, props={"channel": "email"}), policy=policy) == (
        [], [("mail", "no_consent"), ("text", "no_consent")])


def test_all_names_the_channels_not_named() -> None:
    assert _run(policy="consent: {all: opt_in, email: opt_out}") == (["mail"], [("text", "no_consent")])
    assert _run(policy="consent: {all: opt_in}") == _run(policy="consent: opt_in") == (
        [], [("mail", "no_consent"), ("text", "no_consent")])


@pytest.mark.parametrize(("text", "said"), [
    ("consent: {webhook: opt_in}", "consent of channel 'webhook': name 'all' or one of"),
    ("consent: {whatsapp: opt_in}", "['email', 'in_app', 'push', 'sms']"),
    ("consent: {sms: maybe}", "one of: opt_in, opt_out"),
])
def test_a_channel_without_consent_or_a_mode_of_none_is_refused(text: str, said: str) -> None:
    with pytest.raises(SourceError) as e:
        policies(text)
    assert said in str(e.value), e.value


def test_a_declared_channel_can_be_opt_in() -> None:
    p = policies("channels: {whatsapp: {address: phone}}\nconsent: {whatsapp: opt_in}")
    assert p.opt_in_channels == frozenset({"whatsapp"})
