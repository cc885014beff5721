"""A journey's own time zone (``timezone:`` at its top level; AJO's journey time zone, Dittofeed's per-node zone,
Braze's company-time-zone sends): its waits, time windows, schedule and calendar functions read that zone for
every customer instead of each one's, while quiet hours and best send times stay on the customer's clock (they
protect and learn the customer's own night and habits)."""

from __future__ import annotations

import pytest

from cjo_stream.engine import Engine
from cjo_stream.events import parse_ts
from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev, journey

# T0: Monday 2026-03-02 10:00 UTC = 11:00 Berlin = 19:00 Tokyo = 05:00 New York

WAIT = """
journey: morning
{zone}
entry: {{event: go}}
steps:
  - id: nine
    wait_until: "09:00"
  - id: mail
    send: {{channel: email, content: {{subject: hi}}}}
"""


def sent_at(sim: Simulator) -> list[tuple[str, str]]:
    return sorted((c.customer_id, c.decided_at) for c in sim.commands)


def customers(sim: Simulator, **zones: str) -> None:
    for who, zone in zones.items():
        sim.handle(ev("identify", T0 - 60, who, type="identify", traits={"email": f"{who}@x.com", "timezone": zone}))


def test_wait_until_reads_the_journeys_zone_for_every_customer() -> None:
    sim = Simulator(Engine([journey(WAIT.format(zone="timezone: Asia/Tokyo"))]))
    customers(sim, ber="Europe/Berlin", ny="America/New_York")
    sim.handle(ev("go", T0, "ber"))
    sim.handle(ev("go", T0, "ny"))
    sim.finish()
    # 09:00 in Tokyo, Tuesday: 00:00 UTC, for both
    assert sent_at(sim) == [("ber", "2026-03-03T00:00:00.000Z"), ("ny", "2026-03-03T00:00:00.000Z")]
    sim = Simulator(Engine([journey(WAIT.format(zone=""))]))  # without it, each customer's own 09:00
    customers(sim, ber="Europe/Berlin", ny="America/New_York")
    sim.handle(ev("go", T0, "ber"))
    sim.handle(ev("go", T0, "ny"))
    sim.finish()
    assert sent_at(sim) == [("ber", "2026-03-03T08:00:00.000Z"), ("ny", "2026-03-02T14:00:00.000Z")]


def test_a_time_window_opens_on_the_journeys_clock() -> None:
    text = WAIT.format(zone="timezone: America/New_York").replace('wait_until: "09:00"',
                                                                  'wait_until: {at: "09:00", until: "17:00"}')
    sim = Simulator(Engine([journey(text)]))
    customers(sim, ber="Europe/Berlin")  # 11:00 in Berlin, inside its window; 05:00 in New York, outside
    sim.handle(ev("go", T0, "ber"))
    sim.finish()
    assert sent_at(sim) == [("ber", "2026-03-02T14:00:00.000Z")]  # 09:00 New York


def test_a_schedule_comes_round_at_the_journeys_time_for_every_customer() -> None:
    text = """
    journey: daily
    timezone: Asia/Tokyo
    entry: {schedule: {every: 1d, at: "09:00"}}
    steps:
      - {id: s, send: {channel: email, content: {subject: hi}}}
    """
    sim = Simulator(Engine([journey(text)]))
    customers(sim, ber="Europe/Berlin", ny="America/New_York")
    sim.advance(parse_ts("2026-03-03T06:00:00Z"))
    assert sent_at(sim) == [("ber", "2026-03-03T00:00:00.000Z"), ("ny", "2026-03-03T00:00:00.000Z")]


@pytest.mark.parametrize(("zone", "subjects"), [("timezone: Asia/Tokyo", ["evening", "tomorrow"]),
                                                ("", ["office", "today"])])
def test_day_of_week_hour_of_day_and_days_until_read_the_journeys_zone(zone: str, subjects: list[str]) -> None:
    text = f"""
    journey: slot
    {zone}
    entry: {{event: go}}
    steps:
      - id: clock
        branch:
          - {{when: "day_of_week() == 'mon' and hour_of_day() >= 9 and hour_of_day() < 17", next: office}}
          - {{else: evening}}
      - id: office
        send: {{channel: email, content: {{subject: office}}}}
        next: calendar
      - id: evening
        send: {{channel: email, content: {{subject: evening}}}}
      - id: calendar
        branch:
          - {{when: "days_until(event.properties.due) == 1", next: tomorrow}}
          - {{else: today}}
      - id: tomorrow
        send: {{channel: email, content: {{subject: tomorrow}}}}
        next: end
      - id: today
        send: {{channel: email, content: {{subject: today}}}}
    """
    sim = Simulator(Engine([journey(text)]))
    customers(sim, ber="Europe/Berlin")  # Monday 11:00 in Berlin (office hours); 19:00 in Tokyo
    # due Monday 16:00 UTC: Monday in Berlin (today), Tuesday 01:00 in Tokyo (tomorrow)
    sim.handle(ev("go", T0, "ber", props={"due": "2026-03-02T16:00:00Z"}))
    assert [c.content["subject"] for c in sim.commands] == subjects


def test_quiet_hours_keep_the_customers_night() -> None:
    """Tokyo's 09:00 is 01:00 in Berlin: inside a Berlin customer's quiet hours, so the send waits for their
    08:00, not the journey zone's."""
    policy = "quiet_hours:\n  - {channels: [email], start: \"21:00\", end: \"08:00\"}\n"
    sim = Simulator(engine(WAIT.format(zone="timezone: Asia/Tokyo"), policy=policy))
    customers(sim, ber="Europe/Berlin")
    sim.handle(ev("go", T0, "ber"))
    sim.finish()
    assert sent_at(sim) == [("ber", "2026-03-03T07:00:00.000Z")]  # 08:00 Berlin


def test_an_unknown_zone_is_refused_at_its_line_with_the_closest_name() -> None:
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(WAIT.format(zone="timezone: Europe/Berln").lstrip("\n"), "j.yaml")
    assert [str(p) for p in info.value.problems] == [
        "j.yaml:2: unknown time zone 'Europe/Berln': did you mean 'Europe/Berlin'?"]
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(WAIT.format(zone="timezone: Mars/Olympus").lstrip("\n"), "j.yaml")
    assert [str(p) for p in info.value.problems] == [
        "j.yaml:2: unknown time zone 'Mars/Olympus': use an IANA name like Europe/Berlin"]


def test_the_loaded_journey_holds_its_zone() -> None:
    assert journey(WAIT.format(zone="timezone: Europe/Berlin")).timezone is not None
    assert journey(WAIT.format(zone="")).timezone is None
