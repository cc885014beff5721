"""Customer data written unescaped into an e-mail's ``html`` or a Slack message: ``validate`` warns at the output's
line with the filter that makes it text. Liquid does not escape, so a first name typed as ``<a href=...>`` went into
the mail as a link from the company's domain (README, Security, said so; nothing said so at the line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.templates import Template

MAIL = """journey: welcome
entry: {event: signed_up}
steps:
  - id: mail
    send:
      channel: email
      content:
        subject: "Hi {{ profile.traits.first_name }}"
        body: "Hi {{ profile.traits.first_name }}"
        html: |
          <p>Hi HTML</p>
          <p>Welcome aboard.</p>
"""


def _warnings(tmp_path: Path, html: str, journey: str = MAIL) -> list[str]:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "j.yaml").write_text(journey.replace("HTML", html))
    return [w.replace(f"{tmp_path}/", "") for w in load_topology(str(tmp_path)).warnings]


def test_a_trait_written_into_html_as_it_is_is_warned_about_at_its_line(tmp_path: Path) -> None:
    warnings = _warnings(tmp_path, "{{ profile.traits.first_name | default: 'there' }}")
    assert warnings == [
        "journeys/j.yaml:11: warning: step mail's html writes profile.traits.first_name as HTML: what the customer "
        "typed there goes into the mail as markup; write it as text with {{ profile.traits.first_name | escape }} "
        "(README, Security)"]
    # what it warns about is real: the markup goes into the mail, and the filter it names makes it text
    typed = {"profile": {"traits": {"first_name": '<a href="https://evil.example">Reset your password</a>'}}}
    assert '<a href="https://evil.example">' in Template("{{ profile.traits.first_name }}").render(typed)
    assert "&lt;a href=" in Template("{{ profile.traits.first_name | escape }}").render(typed)


@pytest.mark.parametrize("html", [
    "{{ profile.traits.first_name | escape }}",
    "{{ profile.traits.first_name | default: 'there' | escape }}",
    "{{ profile.traits.first_name | escape_once }}",
    "{{ event.properties.total | times: 1.2 | round }}",  # a number filter's result is a number
    "{{ event.properties.items | size }} items",
    "<a href='https://shop.example/?q={{ event.properties.query | url_encode }}'>again</a>",
    "{{ journey.id }} {{ profile.counters.order_completed }} {{ profile.last.order_completed | date: '%d %b' }}",
    "{{ catalogs.products[event.properties.sku].title }}",  # the company's rows, not the customer's text
    "{% for item in event.properties.items %}{{ item.name | escape }}{% endfor %}",
    "{% assign name = profile.traits.first_name | escape %}{{ name }}",
    # escaped, then a filter that keeps text text given the company's words: a missing name is 'there'
    "{{ profile.traits.first_name | escape | default: 'there' }}",
    "{{ profile.traits.first_name | escape | upcase | append: '!' }}",
    "{{ event.properties.review | escape | newline_to_br }}",
])
def test_what_is_escaped_or_is_not_the_customers_text_is_told_nothing(tmp_path: Path, html: str) -> None:
    (tmp_path / "catalogs").mkdir()
    (tmp_path / "catalogs" / "products.jsonl").write_text('{"id": "s1", "title": "Socks"}\n')
    assert _warnings(tmp_path, html) == []


@pytest.mark.parametrize(("html", "told"), [
    ("{{ event.properties.review }}", "writes event.properties.review as HTML"),
    ("{{ event.context.page.title | upcase }}", "writes event.context.page.title as HTML"),
    ("{{ 'Dear ' | append: profile.traits.title }}", "writes profile.traits.title as HTML"),
    ("{{ profile.traits.birthday | date: '%d %B' }}", "writes profile.traits.birthday as HTML"),  # no date: as is
    ("{% for item in event.properties.items %}{{ item.name }}{% endfor %}",
     "writes item.name (event.properties.items) as HTML: what the customer typed there goes into the mail as "
     "markup; write it as text with {{ item.name | escape }}"),
    ("{% assign who = profile.traits.first_name | capitalize %}{{ who }}", "writes who (profile.traits.first_name)"),
    ("{% echo profile.traits.first_name %}", "writes profile.traits.first_name as HTML"),
    # after the escape, their data again, or a filter that turns text back into markup
    ("{{ profile.traits.nickname | escape | default: profile.traits.first_name }}",
     "writes profile.traits.first_name as HTML"),
    ("{{ profile.traits.first_name | escape | url_decode }}", "writes profile.traits.first_name as HTML"),
])
def test_each_way_of_writing_their_data_unescaped_is_told(tmp_path: Path, html: str, told: str) -> None:
    warnings = _warnings(tmp_path, html)
    assert len(warnings) == 1 and told in warnings[0], warnings


def test_the_line_is_the_outputs_own_in_a_block_and_each_output_is_told(tmp_path: Path) -> None:
    html = "{{ profile.traits.first_name | escape }}</p>\n          <p>{{ event.properties.note }}</p>\n" \
           "          <p>{{ profile.traits.city }}"
    warnings = _warnings(tmp_path, html)
    assert [w.split(" warning: ")[0] for w in warnings] == ["journeys/j.yaml:12:", "journeys/j.yaml:13:"], warnings
    assert "event.properties.note" in warnings[0] and "profile.traits.city" in warnings[1]


SLACK = """journey: lead
entry: {event: identify}
steps:
  - id: alert
    send: {channel: slack, content: {text: "Lead: TEXT"}}
"""


def test_a_slack_message_is_told_its_own_escape(tmp_path: Path) -> None:
    warnings = _warnings(tmp_path, "", SLACK.replace("TEXT", "{{ profile.traits.company }}"))
    assert warnings == [
        "journeys/j.yaml:5: warning: step alert's text writes profile.traits.company as Slack markup: what the "
        "customer typed there goes into the message as markup; write it as text with "
        "{{ profile.traits.company | slack_escape }} (README, Security)"]
    assert _warnings(tmp_path, "", SLACK.replace("TEXT", "{{ profile.traits.company | slack_escape }}")) == []


def test_plain_text_channels_and_an_e_mails_text_body_are_told_nothing(tmp_path: Path) -> None:
    """The text part is no markup, and a mail with no ``html`` gets its HTML part from the body escaped by the
    e-mail adapter; an SMS or a push is text."""
    journey = MAIL.replace("        html: |\n          <p>Hi HTML</p>\n          <p>Welcome aboard.</p>\n", "") + \
        "  - id: text\n    send: {channel: sms, content: {body: \"Hi {{ profile.traits.first_name }}\"}}\n"
    assert _warnings(tmp_path, "", journey) == []
