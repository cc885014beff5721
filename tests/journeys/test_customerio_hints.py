"""A campaign pasted from Customer.io (or Dittofeed) is refused by ``cjo-stream validate`` with where each value lives
here, at its line (``cjo_stream/journeys/foreign_names.py``, ``liquid_hints.py``), and what the hint says to write
loads and renders the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cjo_stream.journeys.decision_time import DecisionTime
from cjo_stream.journeys.foreign_names import foreign_path
from cjo_stream.journeys.templates import Template, TemplateError
from tests.test_cli_errors import run, user_error

PASTED = """journey: onboarding
entry: {event: signed_up, when: "customer.plan == 'pro'"}
exit_on:
  - {event: refunded, when: "event.total > 5"}
steps:
  - id: welcome
    send:
      channel: email
      content:
        subject: "Hi {{customer.first_name | default: 'there'}}"
        body: "{% if customer.plan == 'pro' %}You spent {{event.total}}{% endif %} {{ event.propertes.x }}"
  - id: hook
    send: {channel: webhook, to: "https://example.com/h", content: {body: "{{ user.firstName }} {{ campaign.id }}"}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "onboarding.yaml").write_text(text)
    return tmp_path


def test_validate_tells_each_customerio_name_as_written_here(tmp_path: Path) -> None:
    err = user_error(run("validate", str(_write(tmp_path, PASTED))), 1)
    told: dict[int, str] = {}
    for m in re.finditer(r"onboarding\.yaml:(\d+): (.*)", err):
        told[int(m.group(1))] = told.get(int(m.group(1)), "") + m.group(2) + " / "
    assert "Customer.io's customer.plan is profile.traits.plan here" in told[2]
    assert "Customer.io's and Klaviyo's event.total is event.properties.total here" in told[4]
    assert "Customer.io's {{ customer.first_name }} is {{ profile.traits.first_name }} here" in told[10]
    assert "Customer.io's {{ customer.plan }} is {{ profile.traits.plan }} here" in told[11]
    assert "Customer.io's and Klaviyo's {{ event.total }} is {{ event.properties.total }} here" in told[11]
    assert "Dittofeed's {{ user.firstName }} is {{ profile.traits.firstName }} here" in told[13]
    assert "Customer.io's {{ campaign.id }} is {{ journey.id }} here" in told[13]
    # a misspelt field of ours is told as one, not as Customer.io's event data
    (typo,) = [line for line in err.splitlines() if "'propertes'" in line]
    assert "did you mean 'properties'?" in typo and "Customer.io" not in typo


def test_the_campaign_written_as_the_hints_say_loads_and_renders(tmp_path: Path) -> None:
    fixed = (PASTED.replace("customer.plan", "profile.traits.plan").replace("event.total", "event.properties.total")
             .replace("customer.first_name", "profile.traits.first_name").replace("propertes", "properties")
             .replace("user.firstName", "profile.traits.firstName").replace("campaign.id", "journey.id"))
    p = run("validate", str(_write(tmp_path, fixed)))
    assert p.returncode == 0, p.stderr
    tpl = Template("Hi {{ profile.traits.first_name | default: 'there' }}, {{ event.properties.total }}, "
                   "{{ profile.customer_id }}")
    data = {"profile": {"traits": {"first_name": "Ada"}, "customer_id": "u1"}, "event": {"properties": {"total": 42}}}
    assert tpl.render(data) == "Hi Ada, 42, u1"


@pytest.mark.parametrize(("root", "keys", "ours"), [
    ("customer", ("first_name",), "profile.traits.first_name"),
    ("customer", ("id",), "profile.customer_id"),
    ("customer", ("address", "city"), "profile.traits.address.city"),
    ("customer", ("first name",), "profile.traits['first name']"),
    ("event", ("total",), "event.properties.total"),
    ("trigger", ("coupon",), "event.properties.coupon"),
    ("user", ("firstName",), "profile.traits.firstName"),
    ("user", ("id",), "profile.customer_id"),  # Dittofeed's user id, no trait
    ("user", ("deviceToken",), "profile.traits.push_token"),
    ("tags", ("journeyId",), "journey.id"),
    ("campaign", ("name",), "journey.id"),
])
def test_a_name_of_theirs_and_ours(root: str, keys: tuple[str, ...], ours: str) -> None:
    found = foreign_path(root, keys)
    assert found is not None and found[1] == ours


@pytest.mark.parametrize(("root", "keys"), [("event", ("properties",)), ("event", ("propertes",)),
                                            ("event", ("timestamp",)), ("campaign", ("type",)), ("shop", ("name",))])
def test_a_name_of_no_tool_gets_no_hint(root: str, keys: tuple[str, ...]) -> None:
    assert foreign_path(root, keys) is None


@pytest.mark.parametrize(("source", "fragment"), [
    ("{{ now | add_day: 3 | date: '%d %b' }}", "| plus: 86400 per day"),
    ("{{ now | subtract_hour: 1 }}", "| minus: 3600 per hour"),
    ("{{ event.properties.total | currency }}", "for two decimals"),
    ("{{ event.properties.total | format_number }}", "no thousands separator filter"),
    ("{{ now | timezone: 'America/New_York' | date: '%H:%M' }}", "Customer.io's timezone filter is time_zone here"),
    ("{% unsubscribe_url %}", "List-Unsubscribe"),
    ("{% unsubscribe_link %}", "List-Unsubscribe"),
])
def test_a_customerio_filter_or_tag_says_what_to_write(source: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as e:
        Template(source)
    assert fragment in e.value.reason, e.value.reason


def test_the_date_arithmetic_the_hint_gives_renders_the_day_after() -> None:
    # 2026-03-05T18:30:00Z as the decision time: a day later is 06 Mar
    tpl = Template("{{ now | plus: 86400 | date: '%d %b' }}")
    assert tpl.render({"now": DecisionTime(1772735400.0)}) == "06 Mar"
