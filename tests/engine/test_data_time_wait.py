"""``wait_until: {time: <expression>, before|after, at?, if_missing?}``: until a moment the data names, the appointment
reminder "a day before, at 09:00" and the renewal notice "7 days before the date" (Customer.io's wait until a date
attribute, Dittofeed's user-property delay, AJO's custom wait). Before, the nearest form was a daily scheduled entry
testing ``days_until(...) == 1``: whole days only, and not a step inside a journey."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cjo_stream.analytics.graph import _kind_line, edges
from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from cjo_stream.simulator import Simulator
from cjo_stream.timefmt import format_ts, parse_ts
from tests.conftest import T0, engine, ev
from tests.test_cli_errors import run

REMIND = """
journey: appointment
entry: {event: appointment_booked}
steps:
  - id: day_before
    wait_until: {time: event.properties.starts_at, before: 1d, at: "09:00"}
  - id: remind
    send: {channel: in_app, content: {body: "Tomorrow at {{ event.properties.starts_at | date: '%H:%M' }}"}}
"""

RENEWAL = """
journey: renewal
entry: {event: identify}
re_entry: always
steps:
  - id: week_before
    wait_until: {time: profile.traits.renews_on, before: 7d, if_missing: unknown}
  - id: notice
    send: {channel: in_app, content: {body: "renews {{ profile.traits.renews_on }}"}}
    next: end
  - id: unknown
    send: {channel: in_app, content: {body: "when do you renew?"}}
"""


def _sent(sim: Simulator) -> list[tuple[str, str, str]]:
    return [(c.customer_id, c.decided_at, c.content["body"]) for c in sim.commands]


def test_a_day_before_at_nine_in_the_customers_zone() -> None:
    """T0 is Monday 2 March 2026, 10:00 UTC; the appointment is Thursday 14:00 UTC."""
    sim = Simulator(engine(REMIND))
    sim.handle(ev("identify", T0 - 60, "ber", type="identify", traits={"timezone": "Europe/Berlin"}))
    for who in ("utc", "ber"):
        sim.handle(ev("appointment_booked", T0, who, props={"starts_at": "2026-03-05T14:00:00Z"}))
    sim.finish()
    assert _sent(sim) == [("ber", "2026-03-04T08:00:00.000Z", "Tomorrow at 14:00"),  # 09:00 in Berlin
                          ("utc", "2026-03-04T09:00:00.000Z", "Tomorrow at 14:00")]


def test_a_moment_passed_goes_on_at_once_and_no_time_takes_if_missing_or_ends() -> None:
    sim = Simulator(engine(REMIND))
    # booked at 10:00 for 15:00 the same day: a day before has passed: reminded at once
    sim.handle(ev("appointment_booked", T0, "late", props={"starts_at": "2026-03-02T15:00:00Z"}))
    sim.handle(ev("appointment_booked", T0, "none", props={}))  # no time: the instance ends (default if_missing)
    sim.handle(ev("appointment_booked", T0, "text", props={"starts_at": "soon"}))  # no time either
    sim.finish()
    assert _sent(sim) == [("late", format_ts(T0), "Tomorrow at 15:00")]


def test_a_date_from_the_profile_is_read_again_at_each_event_so_a_change_moves_the_wait() -> None:
    """A bare date is the start of that day in the customer's zone; the trait is read again at their events: the
    renewal moved by a week moves the notice (once, at the new time); a customer with no date takes if_missing."""
    sim = Simulator(engine(RENEWAL))
    sim.handle(ev("identify", T0, "moved", type="identify", traits={"renews_on": "2026-03-20"}))
    sim.handle(ev("page_viewed", T0 + 3600, "moved", traits={"renews_on": "2026-03-27"}))  # on a track's traits
    sim.handle(ev("identify", T0, "missing", type="identify", traits={"plan": "pro"}))
    sim.finish()
    sent = _sent(sim)
    assert ("moved", "2026-03-20T00:00:00.000Z", "renews 2026-03-27") in sent
    assert [t for c, t, _ in sent if c == "moved"] == ["2026-03-20T00:00:00.000Z"], sent
    assert ("missing", format_ts(T0), "when do you renew?") in sent


def test_a_date_closer_than_the_shift_goes_on_at_once() -> None:
    """Renewing in 3 days, 7 days before has passed: the notice goes now, not never."""
    sim = Simulator(engine(RENEWAL))
    sim.handle(ev("identify", T0, "a", type="identify", traits={"renews_on": "2026-03-05"}))  # under 7 days: at once
    sim.finish()
    assert _sent(sim) == [("a", format_ts(T0), "renews 2026-03-05")]


@pytest.mark.parametrize(("step", "told"), [
    ("wait_until: {time: profile.counters.order_completed, before: 1d}",
     "time: 'profile.counters.order_completed' is never a time: it is profile.counters.order_completed (a count"),
    ("wait_until: {time: event.properties.at, before: 1d, after: 2h}", "before: and after: move the moment one way"),
    ("wait_until: {time: event.properties.at, days: [mon]}", "days: does not go with time:"),
    ("wait_until: {time: event.properties.at, if_missing: nowhere}", "unknown step 'nowhere'"),
    ('wait_until: {at: "09:00", before: 1d}', "before: goes with time:"),
    ("wait_until: {time: event.properties.at, before: 1 day}", "bad duration '1 day'"),
    ("wait_until: {time: profile.trait.at}", "profile has no field 'trait'"),
])
def test_mistakes_are_refused_at_their_line(step: str, told: str) -> None:
    text = REMIND.replace('wait_until: {time: event.properties.starts_at, before: 1d, at: "09:00"}', step)
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(text, "appointment.yaml")
    assert "appointment.yaml:6:" in str(e.value) and told in str(e.value), str(e.value)


def test_the_map_says_what_it_waits_for_and_where_no_time_goes() -> None:
    j = load_journey_text(RENEWAL, "renewal.yaml")
    assert _kind_line(j, "week_before") == "wait until profile.traits.renews_on − 7d"
    assert _kind_line(load_journey_text(REMIND, "a.yaml"), "day_before") == \
        "wait until event.properties.starts_at − 1d, at 09:00"
    assert _kind_line(load_journey_text(REMIND.replace("entry:", "timezone: Europe/Berlin\nentry:"), "a.yaml"),
                      "day_before") == "wait until event.properties.starts_at − 1d, at 09:00 Europe/Berlin"
    labels = {dst: label for src, dst, label, _ in edges(j) if src == "week_before"}
    assert labels == {"notice": "", "unknown": "no time"}


def test_a_journeys_own_zone_places_a_bare_date_and_at() -> None:
    """With ``timezone:`` the journey's clock reads the moment: 09:00 in Berlin the day before, for a customer in
    New York too (the journey's zone, not theirs)."""
    sim = Simulator(engine(REMIND.replace("entry:", "timezone: Europe/Berlin\nentry:")))
    sim.handle(ev("identify", T0 - 60, "ny", type="identify", traits={"timezone": "America/New_York"}))
    sim.handle(ev("appointment_booked", T0, "ny", props={"starts_at": "2026-03-05T14:00:00Z"}))
    sim.finish()
    assert _sent(sim) == [("ny", "2026-03-04T08:00:00.000Z", "Tomorrow at 14:00")]


def test_validate_and_simulate_as_a_user_runs_them(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "appointment.yaml").write_text(REMIND.replace("in_app", "email"))
    checked = run("validate", str(tmp_path))
    assert checked.returncode == 0 and "warning" not in checked.stderr, checked.stderr
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in (
        {"messageId": "1", "type": "identify", "userId": "a", "timestamp": "2026-03-02T09:00:00Z",
         "traits": {"email": "a@example.com", "timezone": "America/New_York"}},
        {"messageId": "2", "type": "track", "event": "appointment_booked", "userId": "a",
         "timestamp": "2026-03-02T10:00:00Z", "properties": {"starts_at": "2026-03-06T15:30:00-05:00"}},
    )) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(events))
    assert p.returncode == 0, p.stderr
    (cmd,) = [orjson.loads(line) for line in p.stdout.splitlines()]
    # 09:00 in New York on 5 March (EST, UTC-5): 14:00 UTC
    assert cmd["decided_at"] == "2026-03-05T14:00:00.000Z" and parse_ts(cmd["decided_at"]) > T0, cmd



SLOT = """
journey: slot
entry: {event: booked}
steps:
  - id: day_before
    wait_until: {time: profile.traits.slot_at, before: 1d}
  - id: remind
    send: {channel: in_app, content: {body: "see you at {{ profile.traits.slot_at }}"}}
"""


def test_a_trait_moved_by_an_event_that_arrives_late_moves_the_wait_as_in_order() -> None:
    """Two sources: a CRM's identify moving the slot is timed half a second before the booking but arrives after
    it (as the live check in tests/runtime/test_data_time_live.py first sent it). The profile took the new slot, but
    the wait passed the event over (from before the instance began) and reminded a day before the old slot, which
    the customer no longer has; had it arrived in order, the reminder is a day before the new one."""
    first, moved = "2026-03-05T14:00:00.000Z", "2026-03-06T14:00:00.000Z"
    known = ev("identify", T0, type="identify", traits={"slot_at": first})
    crm = ev("identify", T0 + 0.5, type="identify", traits={"slot_at": moved})
    booked = ev("booked", T0 + 1)
    outcomes = []
    for events in ([known, crm, booked], [known, booked, crm]):  # in order, and the CRM's late
        sim = Simulator(engine(SLOT))
        for e in events:
            sim.handle(e)
        sim.finish()
        outcomes.append(_sent(sim))
    assert outcomes[0] == [("u1", "2026-03-05T14:00:00.000Z", f"see you at {moved}")]
    assert outcomes[1] == outcomes[0]
    # moved to within the day: in order, the booking is reminded at once; late, at the booking's time too
    soon = format_ts(T0 + 3600)
    crm = ev("identify", T0 + 0.5, type="identify", traits={"slot_at": soon})
    sim = Simulator(engine(SLOT))
    for e in (known, booked, crm):
        sim.handle(e)
    sim.finish()
    assert _sent(sim) == [("u1", format_ts(T0 + 1), f"see you at {soon}")]
