"""``{unsubscribe_url}`` where nothing fills it in: the email adapter writes its link in a mail's body (``body``,
``text``, ``html``) only, so in an SMS, a push or a subject, or misspelt (``{unsubscribe-url}``), it went out as
written, braces and all, and ``validate`` said nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.journeys.loader import load_topology

JOURNEY = """journey: back
entry: {event: back_in_stock}
steps:
  - id: mail
    send:
      channel: email
      content:
        subject: "SUBJECT"
        body: "BODY"
  - id: text
    send: {channel: sms, content: {body: "SMS"}}
"""


def _warnings(tmp_path: Path, subject: str = "Back", body: str = "Unsubscribe: {unsubscribe_url}",
              sms: str = "Back! Reply STOP to opt out") -> list[str]:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    text = JOURNEY.replace("SUBJECT", subject).replace("BODY", body).replace("SMS", sms)
    (tmp_path / "journeys" / "back.yaml").write_text(text)
    return [w.replace(f"{tmp_path}/", "") for w in load_topology(str(tmp_path)).warnings]


def test_the_link_in_a_mails_body_is_told_nothing(tmp_path: Path) -> None:
    assert _warnings(tmp_path) == []
    assert _warnings(tmp_path, body="<a href='{unsubscribe_url}'>Unsubscribe</a> {{ profile.traits.email }}") == []


@pytest.mark.parametrize(("kw", "told"), [
    ({"sms": "Back! Stop: {unsubscribe_url}"},
     "journeys/back.yaml:11: warning: step text's body writes {unsubscribe_url}, which the email adapter fills in a "
     "mail's body (body, text, html) only: a message on sms shows it as written"),
    ({"subject": "Back {unsubscribe_url}"},
     "journeys/back.yaml:8: warning: step mail's subject writes {unsubscribe_url}, which the email adapter fills in "
     "a mail's body (body, text, html) only: a mail's subject shows it as written"),
    ({"body": "Unsubscribe: {unsubscribe-url}"},
     "journeys/back.yaml:9: warning: step mail's body writes {unsubscribe-url}, which nothing fills in: it goes out "
     "as written (the email adapter's link is {unsubscribe_url})"),
    ({"body": "Unsubscribe: {unsubscribe_link}"}, "step mail's body writes {unsubscribe_link}, which nothing fills in"),
])
def test_where_nothing_fills_it_in_it_is_warned_about_at_its_line(tmp_path: Path, kw: dict[str, str],
                                                                  told: str) -> None:
    warnings = _warnings(tmp_path, **kw)
    assert len(warnings) == 1 and told in warnings[0], warnings
