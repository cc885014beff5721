"""A send after an ``update`` step that withdrew its channel's or topic's consent on the same path is skipped
``no_consent`` for every customer who walks there (a sunset flow's "sorry to see you go" mail after the
suppression): ``validate`` warns at the send's line, naming the update's."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.journeys.loader import load_topology
from tests.journeys.test_language2 import write

SUNSET = """\
journey: sunset
entry: {event: sunset_due}
steps:
  - id: suppress
    update:
      consent: {email: false, newsletter: false}
  - id: pick
    branch:
      - {when: "profile.traits.vip == true", next: goodbye_sms}
      - else: goodbye
  - id: goodbye
    send: {channel: email, content: {subject: "Sorry to see you go"}}
    next: later
  - id: goodbye_sms
    send: {channel: sms, content: {body: "Bye"}}
  - id: later
    wait: 30d
  - id: news
    send: {channel: push, topic: newsletter, content: {title: "News", body: "x"}}
  - id: receipt
    send: {channel: email, transactional: true, content: {subject: "You are unsubscribed"}}
"""


def _told(tmp_path: Path, text: str) -> list[str]:
    topo = write(tmp_path, {"sunset": text})
    (tmp_path / "policies.yaml").write_text("topics: {newsletter: opt_out}\n")
    return [w.split("/")[-1] for w in load_topology(topo).warnings if "withdrew the consent" in w]


def test_a_send_after_the_withdrawal_is_warned_at_its_line(tmp_path: Path) -> None:
    assert _told(tmp_path, SUNSET) == [
        "sunset.yaml:12: warning: step goodbye sends on email after step suppress (line 6) withdrew the consent of "
        "channel email on the same path: it is skipped no_consent for every customer; send it before the update, or "
        "mark it `transactional: true` if it is a confirmation the customer asked for",
        "sunset.yaml:19: warning: step news sends on push (topic newsletter) after step suppress (line 6) withdrew "
        "the consent of topic newsletter on the same path: it is skipped no_consent unless the customer subscribes "
        "again while it waits; send it before the update, or mark it `transactional: true` if it is a confirmation "
        "the customer asked for"]


def test_sends_before_it_or_of_other_channels_are_not_told(tmp_path: Path) -> None:
    text = SUNSET.replace("consent: {email: false, newsletter: false}", "consent: {in_app: false}")
    assert _told(tmp_path, text) == []


def test_every_channel_withdrawn_tells_each_customer_facing_send(tmp_path: Path) -> None:
    text = SUNSET.replace("consent: {email: false, newsletter: false}", "consent: {all: false}")
    assert [w.split(": warning: step ")[1].split(" ")[0] for w in _told(tmp_path, text)] == \
        ["goodbye", "goodbye_sms", "news"]


WELCOME_BACK = """\
journey: sunset
entry: {event: sunset_due}
steps:
  - id: suppress
    update:
      consent: {email: false}
  - id: come_back
    wait_for: {event: subscribed, timeout: 30d}
    on_event: welcome_back
    on_timeout: last_word
  - id: welcome_back
    send: {channel: email, content: {subject: "Welcome back"}}
    next: end
  - id: last_word
    send: {channel: email, content: {subject: "Sorry to see you go"}}
"""


def test_a_send_after_the_customer_subscribed_again_is_not_told(tmp_path: Path) -> None:
    """A "welcome back" mail on the way a wait_for's ``subscribed`` event (or a condition on their consent) takes
    goes out to everyone who walks there: it was told as skipped for them; the timeout's way is still told."""
    told = _told(tmp_path, WELCOME_BACK)
    assert [w.split(": warning: step ")[1].split(" ")[0] for w in told] == ["last_word"], told
    by_condition = WELCOME_BACK.replace("{event: subscribed, timeout: 30d}",
                                        "{condition: \"profile.consent.email == true\", timeout: 30d}") \
        .replace("on_event: welcome_back", "next: welcome_back")
    (tmp_path / "condition").mkdir()
    told = _told(tmp_path / "condition", by_condition)
    assert [w.split(": warning: step ")[1].split(" ")[0] for w in told] == ["last_word"], told
