"""Send-time optimisation: ``wait_until: {best_time, default, within}`` learns each customer's best local
hour from their opens and clicks, falls back to ``default``, and never waits beyond ``within``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjo_stream.engine.besttime import HALF_LIFE, MIN_EVENTS, best_time_due, record
from cjo_stream.engine.clock import next_time_of_day
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import JourneyLoadError
from cjo_stream.profile import decode_profile, encode_profile, new_profile, profile_to_dict
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev, journey

BERLIN = ZoneInfo("Europe/Berlin")

DIGEST = """
journey: digest
entry: {event: digest_ready}
re_entry: always
steps:
  - id: best_time
    wait_until: {best_time: email, default: "10:00", within: 24h}
  - id: send
    send: {channel: email, content: {subject: "Your digest", body: "Hi"}}
"""

ADDR = {"email": "a@example.com", "timezone": "Europe/Berlin"}


def local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, BERLIN)


def opened(at: float, channel: str = "email") -> object:
    return ev("message_opened", at, props={"channel": channel, "delivery_id": "d"})


def sim_with_opens(hours_ago: list[float], channel: str = "email") -> Simulator:
    sim = Simulator(engine(DIGEST))
    sim.handle(ev("identify", T0 - 40 * 86400, type="identify", traits=ADDR))
    for h in hours_ago:
        sim.handle(opened(T0 - h * 3600, channel))  # type: ignore[arg-type]
    return sim


# ------------------------------------------------------------------ loader
@pytest.mark.parametrize(("wait_until", "reason"), [
    # an internal channel, or none at all: the choices listed are the customer-facing channels only (they
    # listed every channel, and picking webhook from them was then refused)
    ('{best_time: webhook, default: "10:00"}', "best_time: 'webhook' is an internal channel, without opens or clicks "
                                               "to learn from: use a customer-facing one (email, in_app, push, sms)"),
    ('{best_time: whatsapp, default: "10:00"}', "best_time: unknown channel 'whatsapp': use a customer-facing one "
                                                "(email, in_app, push, sms), or declare it under `channels:` in "
                                                "policies.yaml"),
    ('{best_time: emial, default: "10:00"}', "best_time: unknown channel 'emial' (did you mean 'email'?)"),
    ('{best_time: email, default: "25:00"}', "bad time of day"),
    ('{best_time: email, default: "10:00", within: soon}', "bad duration"),
    ('{best_time: email, default: "10:00", within: 8d}', "longer than 7d"),
    ('{best_time: email, default: "10:00", at: "09:00"}', "at: and best_time: are two kinds of wait_until"),
    ('{best_time: email, default: "10:00", days: weekdays}', "days: goes with at:"),
    ('{best_time: email, default: "10:00", colour: red}', "unknown field `colour`"),
    ('{best_time: email}', "missing required key `default`"),
    ('{best_time: fax, default: "10:00"}', "best_time"),
])
def test_bad_best_time_is_refused_with_file_and_line(wait_until: str, reason: str) -> None:
    text = DIGEST.replace('{best_time: email, default: "10:00", within: 24h}', wait_until)
    with pytest.raises(JourneyLoadError) as e:
        journey(text, "digest.yaml")
    (problem,) = e.value.problems
    assert (problem.file, problem.line) == ("digest.yaml", 7), str(problem)
    assert reason in problem.reason, problem.reason


# ------------------------------------------------------------------ engine and simulator
def test_default_time_until_five_opens_then_the_customers_best_hour() -> None:
    # T0 is 11:00 in Berlin; opens at 19:xx local on four evenings: not enough yet
    evenings = [d * 24 + 16 - 0.25 for d in range(1, 5)]  # 16 h before T0 minus ... = 19:15 local
    sim = sim_with_opens(evenings)
    assert all(local(T0 - h * 3600).hour == 19 for h in evenings)
    sim.handle(ev("digest_ready", T0))
    (inst,) = sim.profiles["u1"].instances.values()
    assert inst.due is not None and (local(inst.due).hour, local(inst.due).minute) == (10, 0)  # tomorrow 10:00
    assert inst.due - T0 == 23 * 3600
    sim.finish()
    sim2 = sim_with_opens([*evenings, 5 * 24 + 16 - 0.25])  # the fifth open
    sim2.handle(ev("digest_ready", T0))
    (inst2,) = sim2.profiles["u1"].instances.values()
    assert inst2.due is not None and local(inst2.due).hour == 19 and inst2.due - T0 == 8 * 3600
    sim2.finish()
    (cmd,) = sim2.commands
    assert cmd.decided_at == format_ts(T0 + 8 * 3600)  # sent at 19:00 Berlin the same day


def test_recent_habits_outweigh_old_ones() -> None:
    old = [d * 24 + 16 - 0.25 + 3 for d in range(60, 70)]  # ten opens at 16:xx two months ago
    recent = [d * 24 + 16 - 0.25 for d in range(1, 7)]  # six at 19:xx last week
    sim = sim_with_opens(old + recent)
    sim.handle(ev("digest_ready", T0))
    (inst,) = sim.profiles["u1"].instances.values()
    assert inst.due is not None and local(inst.due).hour == 19


def test_other_channels_and_unwatched_customers_are_not_learnt() -> None:
    sim = sim_with_opens([1, 2, 3, 4, 5, 6], channel="sms")
    assert set(sim.profiles["u1"].engagement) == set()  # no best_time step uses sms
    sim = sim_with_opens([1, 2, 3, 4, 5, 6])
    p = sim.profiles["u1"]
    assert set(p.engagement) == {"email"} and p.engagement["email"][0] == 6
    assert profile_to_dict(p)["engagement"]["email"]["events"] == 6
    assert decode_profile(encode_profile(p)).engagement == p.engagement
    bare = msgspec.structs.replace(p, engagement={})
    assert len(encode_profile(p)) - len(encode_profile(bare)) <= 45  # about 40 bytes per channel learnt


def test_within_caps_the_wait_and_picks_the_best_reachable_hour() -> None:
    p = new_profile("u1")
    for d in range(1, 8):  # habit: 19:xx (strong), and a few at 12:xx
        record(p, "email", T0 - d * 86400 + 8 * 3600 + 600, 19)
    for d in range(1, 3):
        record(p, "email", T0 - d * 86400 + 3600 + 600, 12)
    assert local(best_time_due(p, "email", T0, BERLIN, (10, 0), 86400)).hour == 19
    # within 4h: 19:00 is 8 h away, 12:00 one hour away: the best hour in reach
    assert best_time_due(p, "email", T0, BERLIN, (10, 0), 4 * 3600) == T0 + 3600
    # within 30m: nothing learnt is in reach, the default (10:00) neither: wait the whole 30m
    assert best_time_due(p, "email", T0, BERLIN, (10, 0), 1800) == T0 + 1800


def test_late_receipt_counts_less() -> None:
    p = new_profile("u1")
    record(p, "email", T0, 8)
    record(p, "email", T0 - HALF_LIFE, 9)  # arrives after, happened a half-life before
    _, last, hours = p.engagement["email"]
    assert last == int(T0) and hours[8] == 16 and hours[9] == 8


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 23), st.floats(0, 90 * 86400)), max_size=40),
       st.floats(0, 400 * 86400), st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
                                                   "Australia/Lord_Howe"]),
       st.integers(60, 7 * 86400), st.integers(0, 23), st.integers(0, 59))
def test_best_time_never_exceeds_within(opens: list[tuple[int, float]], offset: float, zone: str, within: int,
                                        dh: int, dm: int) -> None:
    p = new_profile("u1")
    for hour, ago in sorted(opens, key=lambda o: -o[1]):
        record(p, "email", T0 - ago, hour)
    now = T0 + offset
    due = best_time_due(p, "email", now, ZoneInfo(zone), (dh, dm), float(within))
    assert now < due <= now + within
    if len(opens) < MIN_EVENTS:  # the default, unless it is out of reach
        assert due == min(next_time_of_day(now, ZoneInfo(zone), dh, dm), now + within)
    else:  # a learnt hour (on the hour, customer's clock), else the default if in reach, else cut at `within`
        assert (due in (now + within, next_time_of_day(now, ZoneInfo(zone), dh, dm))
                or datetime.fromtimestamp(due, ZoneInfo(zone)).minute == 0)


def test_simulator_learns_from_engagement_lines_in_the_input_file(tmp_path: object) -> None:
    import orjson

    lines = [orjson.dumps({"messageId": "i", "type": "identify", "userId": "u1", "timestamp": format_ts(T0 - 30 * 86400),
                           "traits": ADDR})]
    for d in range(1, 7):
        lines.append(orjson.dumps({"messageId": f"o{d}", "type": "track", "event": "message_clicked", "userId": "u1",
                                   "timestamp": format_ts(T0 - d * 86400 + 8 * 3600 + 60),
                                   "properties": {"channel": "email"}}))
    lines.append(orjson.dumps({"messageId": "go", "type": "track", "event": "digest_ready", "userId": "u1",
                               "timestamp": format_ts(T0)}))
    sim = Simulator(engine(DIGEST))
    sim.run_lines(lines)
    sim.finish()
    (cmd,) = sim.commands
    assert local(datetime.fromisoformat(cmd.decided_at).timestamp()).hour == 19


# ------------------------------------------------------------------ a channel of your own (policies.yaml)
WA_POLICIES = """
channels:
  myco_whatsapp: {address: whatsapp}
  fraud_check: {customer_facing: false}
"""
WA_DIGEST = DIGEST.replace("best_time: email", "best_time: myco_whatsapp").replace(
    'send: {channel: email, content: {subject: "Your digest", body: "Hi"}}',
    'send: {channel: myco_whatsapp, content: {body: "Your digest"}}')


def test_best_time_takes_a_declared_customer_facing_channel_and_learns_from_its_opens() -> None:
    """A channel declared in policies.yaml is customer-facing like sms (consent, caps, quiet hours), and its
    adapter reports opens and clicks: best_time was refused for it (the spec's enum of built-in channels)."""
    from cjo_stream.engine import Engine
    from cjo_stream.journeys.loader import load_journey_text
    from tests.conftest import policies

    pol = policies(WA_POLICIES)
    j = load_journey_text(WA_DIGEST, "digest.yaml", pol)
    assert j.steps["best_time"].best_time is not None and j.steps["best_time"].best_time.channel == "myco_whatsapp"
    sim = Simulator(Engine([j], pol))
    sim.handle(ev("identify", T0 - 40 * 86400, type="identify", traits={"whatsapp": "+4915100000", **ADDR}))
    for d in range(1, 7):  # six opens at 19:15 Berlin on the declared channel, one on e-mail at another hour
        sim.handle(opened(T0 - d * 86400 + 8 * 3600 + 900, "myco_whatsapp"))  # type: ignore[arg-type]
    sim.handle(opened(T0 - 3600, "email"))  # type: ignore[arg-type]
    assert set(sim.profiles["u1"].engagement) == {"myco_whatsapp"}
    sim.handle(ev("digest_ready", T0))
    sim.finish()
    (cmd,) = sim.commands
    assert cmd.channel == "myco_whatsapp" and local(datetime.fromisoformat(cmd.decided_at).timestamp()).hour == 19


@pytest.mark.parametrize(("channel", "reason"), [
    ("fraud_check", "best_time: 'fraud_check' is an internal channel, without opens or clicks to learn from: use a "
                    "customer-facing one (email, in_app, push, sms, declared myco_whatsapp)"),
    ("myco_whatsap", "best_time: unknown channel 'myco_whatsap' (did you mean 'myco_whatsapp'?): use a "
                     "customer-facing one (email, in_app, push, sms, declared myco_whatsapp), or declare it under "
                     "`channels:` in policies.yaml"),
])
def test_best_time_refuses_a_declared_internal_channel_and_names_the_closest(channel: str, reason: str) -> None:
    from cjo_stream.journeys.loader import load_journey_text
    from tests.conftest import policies

    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(WA_DIGEST.replace("best_time: myco_whatsapp", f"best_time: {channel}"), "digest.yaml",
                          policies(WA_POLICIES))
    (problem,) = e.value.problems
    assert (problem.line, problem.reason) == (7, reason), str(problem)

