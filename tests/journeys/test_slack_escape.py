"""``| slack_escape``: customer data in a Slack text is shown as written, not read as Slack's links or mentions."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.templates import Template

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("value", "text"), [
    ("<!channel> urgent", "&lt;!channel&gt; urgent"),  # a mention of everyone in the channel
    ("<https://evil.example|your invoice>", "&lt;https://evil.example|your invoice&gt;"),  # a disguised link
    ("Smith & Sons", "Smith &amp; Sons"), ("O'Brien \"Bob\"", "O'Brien \"Bob\""),  # quotes as written (not HTML's)
    (42, "42"), (None, ""),
])
def test_slacks_three_control_characters_are_escaped_and_nothing_else(value: object, text: str) -> None:
    data = {"profile": {"traits": {"company": value}}}
    fast = Template("{{ profile.traits.company | slack_escape }}")
    slow = Template("{% assign c = profile.traits.company %}{{ c | slack_escape }}")  # python-liquid's own render
    assert fast.render(data) == slow.render(data) == text


def test_the_example_lead_alert_escapes_the_customers_data_in_its_slack_text() -> None:
    """The shipped journey a team copies posts a lead's name and company to a sales channel."""
    for where in ("topologies", "topologies/demo"):
        _check_lead_alert(where)


def _check_lead_alert(where: str) -> None:
    topo = load_topology(str(ROOT / where))
    (j,) = [j for j in topo.journeys if j.id == "lead_alert"]
    send = j.steps["alert_sales"].send
    assert send is not None and send.channel == "slack"
    text = dict(send.content)["text"]
    data = {"profile": {"traits": {"company": "<!channel>", "first_name": "<@U1>", "last_name": "&",
                                   "email": "<mailto:x@example.com|boss>"}},
            "event": {"traits": {"lead_score": 91}}}
    out = text.render(data)
    assert "<" not in out and ">" not in out and "&lt;!channel&gt;" in out, out
