"""Frequency caps, quiet hours, consent, missing addresses, holdout, internal channels."""

from __future__ import annotations

import pytest

from cjo_stream.events import parse_ts
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

SEND = """
journey: {jid}
re_entry: always
entry: {{event: {trigger}}}
steps:
  - id: s
    send: {{channel: {channel}, content: {{body: hi}}}}
"""

POLICY = """
frequency_caps:
  - {channel: email, max: 2, per: 1d}
  - {channel: all, max: 3, per: 7d}
quiet_hours:
  - {channels: [sms, push], start: "21:00", end: "08:00"}
default_timezone: UTC
consent: opt_out
"""

TRAITS = {"email": "a@example.com", "phone": "+15550100", "push_token": "tok"}


def send_journey(channel: str, jid: str = "j", trigger: str = "go") -> str:
    return SEND.format(jid=jid, channel=channel, trigger=trigger)


def reasons(sim: Simulator) -> list[str]:
    return [s.reason for s in sim.skips]


def test_frequency_cap_per_channel_and_across_channels() -> None:
    sim = Simulator(engine(send_journey("email"), send_journey("push", "p", "push_go"), policy=POLICY))
    sim.handle(ev("identify", T0, type="identify", traits=TRAITS))
    for k in range(3):
        sim.handle(ev("go", T0 + k * 60))
    assert len(sim.commands) == 2 and reasons(sim) == ["frequency_cap"]
    # a day later the email window has room again, but the 7-day "all" cap (3) is hit after one more send
    sim.handle(ev("push_go", T0 + 86400 + 60))
    sim.handle(ev("go", T0 + 86400 + 120))
    assert [c.channel for c in sim.commands] == ["email", "email", "push"]
    assert reasons(sim) == ["frequency_cap", "frequency_cap"]


def test_quiet_hours_defer_to_end_of_quiet_period_in_customer_zone() -> None:
    sim = Simulator(engine(send_journey("sms"), policy=POLICY))
    sim.handle(ev("identify", T0, type="identify", traits={**TRAITS, "timezone": "Europe/Berlin"}))
    late = T0 + 11 * 3600  # 21:00 UTC = 22:00 in Berlin (CET)
    sim.handle(ev("go", late))
    assert sim.commands == [] and sim.funnel.steps[("j", "s")]["deferred"] == 1
    sim.finish()
    (cmd,) = sim.commands
    assert cmd.decided_at == "2026-03-03T07:00:00.000Z"  # 08:00 Berlin


def test_email_is_not_subject_to_sms_quiet_hours() -> None:
    sim = Simulator(engine(send_journey("email"), policy=POLICY))
    sim.handle(ev("identify", T0, type="identify", traits=TRAITS))
    sim.handle(ev("go", T0 + 12 * 3600))
    assert len(sim.commands) == 1


def test_consent_opt_out_and_opt_in() -> None:
    sim = Simulator(engine(send_journey("email"), policy=POLICY))
    sim.handle(ev("identify", T0, type="identify", traits={**TRAITS, "consent.email": False}))
    sim.handle(ev("go", T0))
    assert reasons(sim) == ["no_consent"]
    sim.handle(ev("subscribed", T0 + 1, props={"channel": "email"}))
    sim.handle(ev("go", T0 + 2))
    assert len(sim.commands) == 1
    sim.handle(ev("unsubscribed", T0 + 3, props={"channel": "email"}))
    sim.handle(ev("go", T0 + 4))
    assert reasons(sim) == ["no_consent", "no_consent"]

    opt_in = Simulator(engine(send_journey("email"), policy=POLICY.replace("opt_out", "opt_in")))
    opt_in.handle(ev("identify", T0, type="identify", traits=TRAITS))
    opt_in.handle(ev("go", T0))
    assert reasons(opt_in) == ["no_consent"]
    opt_in.handle(ev("identify", T0 + 1, type="identify", traits={"consent": {"email": True}}))
    opt_in.handle(ev("go", T0 + 2))
    assert len(opt_in.commands) == 1


def test_an_unsubscribe_or_complaint_reported_on_a_message_withdraws_consent() -> None:
    """An adapter's `message_unsubscribed` receipt (a List-Unsubscribe click, an `/engagement` callback) left
    consent as it was, and the next e-mail went out (a walkthrough); a spam complaint likewise."""
    for status in ("unsubscribed", "complained"):
        sim = Simulator(engine(send_journey("email"), policy=POLICY))
        sim.handle(ev("identify", T0, type="identify", traits=TRAITS))
        sim.handle(ev("go", T0))
        (cmd,) = sim.commands
        sim.handle(ev(f"message_{status}", T0 + 60, props={"channel": "email", "delivery_id": cmd.delivery_id,
                                                          "status": status}))
        assert sim.profiles["u1"].consent == {"email": False}, status
        sim.handle(ev("go", T0 + 120))
        assert len(sim.commands) == 1 and reasons(sim) == ["no_consent"], status
        sim.handle(ev("message_opened", T0 + 180, props={"channel": "sms"}))  # other receipts: no change
        assert sim.profiles["u1"].consent == {"email": False}


def test_missing_address_skips_and_moves_on() -> None:
    two = """
    journey: two
    entry: {event: go}
    steps:
      - {id: mail, send: {channel: email, content: {body: a}}}
      - {id: inbox, send: {channel: in_app, content: {body: b}}}
    """
    sim = Simulator(engine(two))
    sim.handle(ev("go", T0))
    assert reasons(sim) == ["no_address"] and [c.step for c in sim.commands] == ["inbox"]


def test_holdout_enters_counts_conversions_never_sends() -> None:
    text = """
    journey: h
    holdout: 50
    entry: {event: go}
    goal: {event: buy}
    steps:
      - {id: w, wait: 1h}
      - {id: s, send: {channel: in_app, content: {body: hi}}}
    """
    sim = Simulator(engine(text))
    for i in range(400):
        sim.handle(ev("go", T0, f"c{i}"))
    sim.finish()
    held = sim.funnel.journeys["h"]["holdout"]
    assert 140 < held < 260
    assert len(sim.commands) == 400 - held and reasons(sim).count("holdout") == held
    held_ids = {s.customer_id for s in sim.skips}
    sim2 = Simulator(engine(text))
    for i in range(400):
        sim2.handle(ev("go", T0, f"c{i}"))
        sim2.handle(ev("buy", T0 + 1, f"c{i}"))
    assert sim2.funnel.journeys["h"]["converted"] == 400
    # holdout membership is sticky per (journey, customer)
    sim3 = Simulator(engine(text))
    for i in range(400):
        sim3.handle(ev("go", T0, f"c{i}"))
    sim3.finish()
    assert {s.customer_id for s in sim3.skips} == held_ids


def test_internal_channels_ignore_caps_quiet_hours_and_consent() -> None:
    slack = send_journey("slack").replace("content: {body: hi}", "content: {text: hi}")
    sim = Simulator(engine(slack, policy=POLICY))
    sim.handle(ev("identify", T0, type="identify", traits={"consent.email": False}))
    for k in range(5):
        sim.handle(ev("go", T0 + 12 * 3600 + k))
    assert len(sim.commands) == 5 and sim.skips == [] and sim.commands[0].to is None


DST_QUIET = """
quiet_hours:
  - {{channels: [sms], start: "21:00", end: "{end}"}}
default_timezone: UTC
"""


@pytest.mark.parametrize(("zone", "end", "sent_at", "released_at"), [
    # spring forward (Berlin 2026-03-29, New York 2026-03-08: 02:00 -> 03:00): an end of 02:30 never shows,
    # the clock jumps to 03:00 and the send goes then, not at 03:30 (the offset before the change)
    ("Europe/Berlin", "02:30", "2026-03-28T22:00:00Z", "2026-03-29T01:00:00.000Z"),
    ("America/New_York", "02:30", "2026-03-08T04:00:00Z", "2026-03-08T07:00:00.000Z"),
    ("America/New_York", "02:00", "2026-03-08T04:00:00Z", "2026-03-08T07:00:00.000Z"),
    # kept as they were: an end at the gap's start; a fall-back night's second 01:10 released at the
    # second 01:30 (New York 2026-11-01: 02:00 -> 01:00), not a day later
    ("America/New_York", "01:30", "2026-11-01T06:10:00Z", "2026-11-01T06:30:00.000Z"),
])
def test_quiet_hours_end_across_dst_releases_at_the_first_instant_the_clock_shows_it(
        zone: str, end: str, sent_at: str, released_at: str) -> None:
    sim = Simulator(engine(send_journey("sms"), policy=DST_QUIET.format(end=end)))
    sim.handle(ev("identify", T0, type="identify", traits={**TRAITS, "timezone": zone}))
    sim.handle(ev("go", parse_ts(sent_at)))
    assert sim.commands == [] and sim.funnel.steps[("j", "s")]["deferred"] == 1
    sim.finish()
    (cmd,) = sim.commands
    assert cmd.decided_at == released_at


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Havana",
                                  "Europe/Dublin", "America/Santiago", "Asia/Tokyo"])
def test_placing_a_local_time_takes_the_shortcut_only_where_it_gives_the_exact_answer(zone: str) -> None:
    """``first_instant`` places a local time with one conversion on days the zone keeps one offset
    (``steady``), and exactly (a check, a bisection in a gap) otherwise: both agree on every day of two
    years, at times around each zone's transitions (02:30, 01:30, 00:15 — Havana moves at midnight, Lord
    Howe by 30 minutes, Dublin's winter offset is its "DST")."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from cjo_stream.journeys.wallclock import exact_instant, first_instant, steady

    tz = ZoneInfo(zone)
    day = datetime(2026, 1, 1)
    unsteady = 0
    for _ in range(730):
        unsteady += not steady(tz, day.toordinal())
        for hour, minute in ((2, 30), (1, 30), (0, 15), (3, 0), (23, 45)):
            wall = day.replace(hour=hour, minute=minute)
            assert first_instant(wall, tz) == exact_instant(wall, tz), wall
        day += timedelta(days=1)
    assert unsteady == (0 if zone == "Asia/Tokyo" else 8), unsteady  # two days around each of 4 changes


def test_quiet_hours_starting_when_they_end_are_refused() -> None:
    """``start: "21:00", end: "21:00"`` was taken as an empty window: nothing was ever quiet, without a word."""
    from cjo_stream.journeys.source import SourceError
    from tests.conftest import policies

    with pytest.raises(SourceError, match=r'policies.yaml:2: quiet hours start and end at the same time'):
        policies('quiet_hours:\n  - {channels: [sms], start: "21:00", end: "21:00"}\n')
    assert policies('quiet_hours:\n  - {channels: [sms], start: "21:00", end: "00:00"}\n').quiet_hours


FALLBACK = """
journey: fallback
re_entry: always
entry: {event: go}
steps:
  - id: pick
    branch:
      - when: profile.consent.email == false
        next: by_push
      - else: by_mail
  - id: by_push
    send: {channel: push, content: {body: hi}}
    next: end
  - id: by_mail
    send: {channel: email, content: {body: hi}}
"""


def test_a_push_fallback_on_profile_consent_sees_a_withdrawal_for_every_channel() -> None:
    """After traits ``consent: false`` and a later ``subscribed`` for push, the branch read
    ``profile.consent.email`` as null, took the e-mail branch, and that send was skipped: no message at all
    (a walkthrough). The branch reads consent as the send does."""
    sim = Simulator(engine(FALLBACK, policy=POLICY))
    sim.handle(ev("identify", T0, type="identify", traits={**TRAITS, "consent": False}))
    sim.handle(ev("subscribed", T0 + 1, props={"channel": "push"}))
    sim.handle(ev("go", T0 + 2))
    assert [c.channel for c in sim.commands] == ["push"] and reasons(sim) == []
    sim.handle(ev("subscribed", T0 + 3, props={"channel": "email"}))  # e-mail given back, later than all
    sim.handle(ev("go", T0 + 4))
    assert [c.channel for c in sim.commands] == ["push", "email"]
