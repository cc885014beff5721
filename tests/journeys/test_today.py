"""``{{ today }}`` is the decision time's UTC date, and no render reads the wall clock.

python-liquid answers ``today`` (and ``now`` when the data lacks it) from the wall clock, so a
simulation, a replay and a live worker wrote other text on other days, and a replay of last month
rendered today's date. The decision times below are long past: the wall clock would give another date.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cjo_stream.journeys.decision_time import DecisionTime
from cjo_stream.journeys.loader import load_journey_text
from cjo_stream.journeys.templates import Template
from cjo_stream.simulator import Simulator
from cjo_stream.timefmt import parse_ts
from tests.conftest import engine, ev

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("cjo-stream"))

PAST = parse_ts("2001-09-09T23:30:00Z")  # in UTC+14 (Pacific/Kiritimati) it is already 10 Sep
DATA = {"event": {"properties": {"x": 1}}, "profile": {"traits": {}}, "journey": {"id": "j"},
        "now": DecisionTime(PAST)}


@pytest.mark.parametrize(("source", "text"), [
    ("{{ today }}", "2001-09-09"),
    ("{{ today | date: '%d %b' }}", "09 Sep"),
    ("{{ today | date: '%Y-%m-%d %H:%M' }}", "2001-09-09 00:00"),
    ("{{ 'today' | date: '%d %b' }}", "09 Sep"),
    ("Sent {{ today | append: '!' }} at {{ now }}", "Sent 2001-09-09! at 2001-09-09T23:30:00.000Z"),
    ("{% if event.properties.x %}on {{ today }}{% endif %}", "on 2001-09-09"),
    ("{% if today %}{{ today | date: '%b' }} {{ now | date: '%H:%M' }}{% endif %}", "Sep 23:30"),
    ("{% unless nope %}{% case event.properties.x %}{% when 1 %}{{ today }}{% endcase %}{% endunless %}",
     "2001-09-09"),
    ("{% for i in (1..2) %}{{ today }};{% endfor %}", "2001-09-09;2001-09-09;"),
    ("{% assign d = today | date: '%d' %}{{ d }}", "09"),
    ("{% capture c %}{{ now }}{% endcapture %}{{ c | slice: 0, 10 }}", "2001-09-09"),
    ("{{ ['today'] }}", "2001-09-09"),  # a computed key: it may name anything, so the date is there too
])
def test_today_is_the_decision_times_utc_date(source: str, text: str) -> None:
    assert Template(source).render(DATA) == text


@pytest.mark.parametrize("source", [
    "{{ today }}", "{{ now }}", "{{ today | date: '%d %b' }}", "{% if 1 %}{{ now }}{{ today }}{% endif %}",
    "{% for i in (1..1) %}{{ now }}{{ today }}{% endfor %}", "{% if now or today %}x{% endif %}",
    "{{ now | default: 'none' }}",
])
def test_without_a_decision_time_there_is_no_date_not_the_wall_clock(source: str) -> None:
    # a caller without `now` (a preview of a template): empty, or the default, never the day it runs
    text = Template(source).render({"event": {}})
    assert text in ("", "none"), text


@pytest.mark.parametrize("now", [1e20, float("nan"), "2001-09-09T23:30:00Z", True])
def test_a_decision_time_that_is_no_date_gives_no_date(now: object) -> None:
    assert Template("{{ today }}|{{ today | date: '%d %b' }}").render({"now": now}) == "|"


def test_a_journey_template_may_name_today() -> None:
    load_journey_text(textwrap.dedent(JOURNEY), "j.yaml")  # was refused: unknown variable 'today'


JOURNEY = """\
journey: dated
version: 1
entry: {event: go}
steps:
  - id: note
    send:
      channel: in_app
      content:
        day: "{{ today }}"
        short: "{{ today | date: '%d %b' }}"
        branch: "{% if event.properties.x > 0 %}{{ today | date: '%A' }}{% else %}-{% endif %}"
"""


def test_simulated_sends_write_the_decision_date() -> None:
    sim = Simulator(engine(JOURNEY))
    sim.handle(ev("go", PAST, user="u1", props={"x": 1}))
    sim.handle(ev("go", PAST + 3600, user="u2", props={"x": 0}))  # past midnight UTC: the next day
    content = {c.customer_id: c.content for c in sim.commands}
    assert content == {"u1": {"day": "2001-09-09", "short": "09 Sep", "branch": "Sunday"},
                       "u2": {"day": "2001-09-10", "short": "10 Sep", "branch": "-"}}


def test_the_cli_simulation_writes_the_utc_decision_date_on_any_host(tmp_path: Path) -> None:
    topo = tmp_path / "topologies"
    (topo / "journeys").mkdir(parents=True)
    (topo / "journeys" / "dated.yaml").write_text(JOURNEY)
    events = tmp_path / "events.jsonl"
    events.write_text('{"messageId":"m1","timestamp":"2001-09-09T23:30:00Z","type":"track","event":"go",'
                      '"userId":"u1","properties":{"x":1}}\n')
    env = {**os.environ, "TZ": "Pacific/Kiritimati"}
    p = subprocess.run([CLI, "simulate", "--topologies", str(topo), "--events", str(events)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    (cmd,) = [json.loads(line) for line in p.stdout.splitlines()]
    assert cmd["content"] == {"day": "2001-09-09", "short": "09 Sep", "branch": "Sunday"}


@pytest.mark.parametrize(("text", "shown"), [("10:00", "2001-09-09 10:00"), ("Sep 1", "2001-09-01 00:00"),
                                             ("2026-03-01T10:00:00Z", "2026-03-01 10:00"), ("garbage", "garbage")])
def test_date_fills_what_a_text_leaves_out_from_the_decision_time(text: str, shown: str) -> None:
    """`"10:00" | date` rendered today's date (dateutil fills in the wall clock): a replay of 2020 wrote 2026
    (a security review). What the text leaves out comes from the decision time's UTC date."""
    t = Template("{{ event.properties.t | date: '%Y-%m-%d %H:%M' }}")
    assert t.render({**DATA, "now": DecisionTime(PAST), "event": {"properties": {"t": text}}}) == shown


def test_the_readmes_days_since_recipe_and_its_guard_for_a_customer_who_never_had_the_event() -> None:
    """README's ``{{ now | minus: profile.last.order_completed | divided_by: 86400 | floor }}`` gave a customer who
    never ordered the days since 1970 (nil counts as 0), unsaid (a new user's walkthrough): the README says so and
    gives the guard, which renders nothing for them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    recipe = "{{ now | minus: profile.last.order_completed | divided_by: 86400 | floor }}"
    assert f"`{recipe}`" in readme
    guard = re.search(r"`(\{% if profile\.last\.order_completed %\})\.\.\.(\{% endif %\})`", readme)
    assert guard, "README gives no guard for a customer who never had the event"
    now = parse_ts("2026-03-05T18:30:00Z")
    never = {"profile": {"last": {}}, "now": DecisionTime(now)}
    ordered = {"profile": {"last": {"order_completed": now - 3 * 86400 - 60}}, "now": DecisionTime(now)}
    assert Template(recipe).render(never) == str(int(now // 86400))  # what the README warns of
    guarded = Template(guard.group(1) + recipe + guard.group(2))
    assert guarded.render(never) == ""
    assert guarded.render(ordered) == "3"
    assert f"`{int(now // 86400)}`" in readme
