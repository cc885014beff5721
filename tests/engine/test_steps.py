"""Every step type, goals, exits, re-entry and max duration, driven through the simulator's virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime

from cjo_stream.engine import Engine
from cjo_stream.events import format_ts, parse_ts
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev, journey

CART = """
journey: cart
version: 1
entry:
  event: cart_item_added
  when: event.properties.cart_value >= 20
goal: {event: order_completed}
exit_on:
  - event: cart_emptied
steps:
  - id: wait_checkout
    wait_for: {event: checkout_started, timeout: 1h}
    on_event: end
    on_timeout: remind
  - id: remind
    send:
      channel: email
      content:
        subject: "You left {{ event.properties.product_name }} behind"
        body: "Hi {{ profile.traits.first_name | default: 'there' }}!"
  - id: wait_a_day
    wait: 24h
  - id: vip_check
    branch:
      - when: profile.traits.vip == true
        next: offer
      - else: end
  - id: offer
    send: {channel: push, content: {title: "10% off"}}
"""

ADDR = {"email": "a@example.com", "push_token": "tok", "first_name": "Ada"}


def sim_for(*texts: str, policy: str | None = None) -> Simulator:
    return Simulator(engine(*texts, policy=policy))


def test_wait_for_timeout_sends_rendered_reminder_at_due_time() -> None:
    sim = sim_for(CART)
    sim.handle(ev("identify", T0, type="identify", traits=ADDR))
    sim.handle(ev("cart_item_added", T0 + 10, props={"cart_value": 30, "product_name": "Lamp"}))
    assert sim.commands == []
    sim.advance(T0 + 10 + 3599)
    assert sim.commands == []
    sim.advance(T0 + 10 + 3600)
    (cmd,) = sim.commands
    assert cmd.channel == "email" and cmd.to == "a@example.com" and cmd.step == "remind"
    assert cmd.content == {"subject": "You left Lamp behind", "body": "Hi Ada!"}
    assert cmd.decided_at == format_ts(T0 + 3610)


def test_wait_for_event_in_time_ends_and_stale_timer_is_ignored() -> None:
    sim = sim_for(CART)
    sim.handle(ev("identify", T0, type="identify", traits=ADDR))
    sim.handle(ev("cart_item_added", T0, props={"cart_value": 30}))
    sim.handle(ev("checkout_started", T0 + 600))
    sim.finish()
    assert sim.commands == []
    assert sim.funnel.journeys["cart"]["ended"] == 1
    assert "cart" not in sim.profiles["u1"].instances


def test_entry_condition_false_does_not_enter() -> None:
    sim = sim_for(CART)
    sim.handle(ev("cart_item_added", T0, props={"cart_value": 5}))
    sim.handle(ev("cart_item_added", T0, props={}))  # missing value is null, never an error
    assert sim.funnel.journeys["cart"]["entered"] == 0


def test_goal_converts_and_exit_exits() -> None:
    sim = sim_for(CART)
    sim.handle(ev("cart_item_added", T0, "a", props={"cart_value": 30}))
    sim.handle(ev("cart_item_added", T0, "b", props={"cart_value": 30}))
    sim.handle(ev("order_completed", T0 + 5, "a"))
    sim.handle(ev("cart_emptied", T0 + 5, "b"))
    sim.finish()
    assert sim.funnel.journeys["cart"]["converted"] == 1
    assert sim.funnel.journeys["cart"]["exited"] == 1
    assert sim.commands == []


def test_wait_then_branch_vip_gets_push_non_vip_ends() -> None:
    sim = sim_for(CART)
    sim.handle(ev("identify", T0, "vip", type="identify", traits={**ADDR, "vip": True}))
    sim.handle(ev("identify", T0, "reg", type="identify", traits=ADDR))
    for u in ("vip", "reg"):
        sim.handle(ev("cart_item_added", T0, u, props={"cart_value": 50}))
    sim.advance(T0 + 3600 + 86399)
    assert [c.channel for c in sim.commands] == ["email", "email"]
    sim.advance(T0 + 3600 + 86400)
    assert [(c.customer_id, c.channel) for c in sim.commands[2:]] == [("vip", "push")]


def test_split_is_deterministic_sticky_and_follows_weights() -> None:
    text = """
    journey: ab
    re_entry: always
    entry: {event: go}
    steps:
      - id: s
        split:
          - {variant: a, weight: 30, next: end}
          - {variant: b, weight: 70, next: end}
    """
    sim = sim_for(text)
    for i in range(2000):
        sim.handle(ev("go", T0, f"c{i}"))
    a = sim.funnel.variants[("ab", "a")]["entered"]
    b = sim.funnel.variants[("ab", "b")]["entered"]
    assert a + b == 2000 and 500 < a < 700
    # re-entry keeps the same variant for the same customer
    sim2 = sim_for(text)
    for _ in range(5):
        sim2.handle(ev("go", T0, "c7"))
    variants = {k[1] for k, v in sim2.funnel.variants.items() if v["entered"]}
    assert len(variants) == 1 and sim2.funnel.variants[("ab", variants.pop())]["entered"] == 5


def test_wait_until_uses_customer_time_zone() -> None:
    text = """
    journey: morning
    entry: {event: go}
    steps:
      - id: at_nine
        wait_until: "09:00"
      - id: hello
        send: {channel: in_app, content: {body: hi}}
    """
    sim = sim_for(text)
    sim.handle(ev("identify", T0, type="identify", traits={"timezone": "America/New_York"}))
    sim.handle(ev("go", T0))  # 10:00 UTC = 05:00 in New York (EST)
    sim.finish()
    (cmd,) = sim.commands
    assert cmd.decided_at == "2026-03-02T14:00:00.000Z" and cmd.to == "u1"


def test_wait_until_later_today_or_tomorrow_from_context_time_zone() -> None:
    text = """
    journey: evening
    entry: {event: go}
    steps:
      - id: w
        wait_until: "09:00"
      - id: s
        send: {channel: in_app, content: {body: hi}}
    """
    sim = sim_for(text)
    sim.handle(ev("go", T0, context={"timezone": "Asia/Tokyo"}))  # 19:00 in Tokyo
    sim.finish()
    assert sim.commands[0].decided_at == "2026-03-03T00:00:00.000Z"


def test_profile_timezone_is_the_zone_the_customer_is_timed_in() -> None:
    """``profile.timezone`` names the zone wait_until and quiet hours use: the ``timezone`` trait first (it was
    the last event's ``context.timezone`` alone, null for a customer whose zone came as a trait)."""
    text = """
    journey: tz
    entry: {event: go}
    steps:
      - id: branch_on_zone
        branch:
          - {when: "profile.timezone == 'America/New_York'", next: s}
          - else: end
      - id: s
        send: {channel: in_app, content: {body: "{{ profile.timezone }}|{{ profile.traits.timezone }}"}}
    """
    sim = sim_for(text)
    sim.handle(ev("identify", T0, type="identify", traits={"timezone": "America/New_York"}))
    sim.handle(ev("go", T0 + 1, context={"timezone": "Asia/Tokyo"}))  # the trait wins, as for wait_until
    sim.handle(ev("identify", T0, "u2", type="identify", traits={"timezone": "Mars/Base"}))
    sim.handle(ev("go", T0 + 1, "u2", context={"timezone": "America/New_York"}))  # an unknown trait is passed over
    sim.handle(ev("go", T0 + 1, "u3"))  # no zone of its own: null (the policies' default_timezone applies)
    # a name that is a directory of the tz database, or too long for a file name: no zone (ZoneInfo raised OSError)
    sim.handle(ev("identify", T0, "u4", type="identify", traits={"timezone": "America"}))
    sim.handle(ev("go", T0 + 1, "u4", context={"timezone": "America/New_York"}))
    sim.handle(ev("go", T0 + 1, "u5", context={"timezone": "x" * 300}))
    sim.finish()
    assert [(c.customer_id, c.content["body"]) for c in sim.commands] == [
        ("u1", "America/New_York|America/New_York"), ("u2", "America/New_York|Mars/Base"),
        ("u4", "America/New_York|America")]


def test_re_entry_rules() -> None:
    base = """
    journey: j
    re_entry: {rule}
    entry: {{event: go}}
    steps:
      - id: s
        send: {{channel: in_app, content: {{body: hi}}}}
    """
    for rule, expected in (("once", 1), ("always", 3), ("after 1d", 2)):
        sim = sim_for(base.format(rule=rule))
        for at in (T0, T0 + 3600, T0 + 86400 + 1):
            sim.handle(ev("go", at))
        assert len(sim.commands) == expected, rule


def test_one_active_instance_per_journey_and_one_event_advances_several() -> None:
    a = """
    journey: a
    re_entry: always
    entry: {event: go}
    steps:
      - {id: w, wait_for: {event: done, timeout: 1d}, on_event: s, on_timeout: end}
      - {id: s, send: {channel: in_app, content: {body: a}}}
    """
    b = a.replace("journey: a", "journey: b").replace("body: a", "body: b")
    sim = sim_for(a, b)
    sim.handle(ev("go", T0))
    sim.handle(ev("go", T0 + 1))  # both already active: no second instance
    assert sim.funnel.journeys["a"]["entered"] == 1
    sim.handle(ev("done", T0 + 2))
    assert sorted(c.content["body"] for c in sim.commands) == ["a", "b"]


def test_max_duration_expires_a_waiting_instance() -> None:
    text = """
    journey: long
    max_duration: 2h
    entry: {event: go}
    steps:
      - {id: w, wait: 1d}
      - {id: s, send: {channel: in_app, content: {body: late}}}
    """
    sim = sim_for(text)
    sim.handle(ev("go", T0))
    sim.finish()
    assert sim.commands == [] and sim.funnel.journeys["long"]["expired"] == 1
    # the timer that expired it has fired: nothing is cancelled after it, nothing is left pending
    assert sim.pending_timers == 0


def test_event_and_journey_fields_in_templates_after_timer() -> None:
    text = """
    journey: tpl
    entry: {event: viewed}
    steps:
      - {id: w, wait: 1h}
      - id: s
        send:
          channel: in_app
          content: {body: "{{ event.properties.sku }} {{ event.event }} {{ journey.id }} {{ journey.entered_at }}"}
    """
    sim = sim_for(text)
    sim.handle(ev("viewed", T0, props={"sku": "X1"}))
    sim.finish()
    assert sim.commands[0].content["body"] == f"X1 viewed tpl {format_ts(T0)}"


def test_version_change_keeps_in_flight_instances_on_their_version() -> None:
    v1 = """
    journey: v
    version: 1
    re_entry: always
    entry: {event: go}
    steps:
      - {id: w, wait: 1h}
      - {id: s, send: {channel: in_app, content: {body: one}}}
    """
    v2 = v1.replace("version: 1", "version: 2").replace("body: one", "body: two")
    sim = Simulator(Engine([journey(v1)]))
    sim.handle(ev("go", T0, "old"))
    # redeploy with both versions loaded: the in-flight instance finishes on v1, new entries use v2
    sim.engine = Engine([journey(v1), journey(v2)])
    sim.handle(ev("go", T0 + 1, "new"))
    sim.finish()
    got = {(c.customer_id, c.journey_version, c.content["body"]) for c in sim.commands}
    assert got == {("old", 1, "one"), ("new", 2, "two")}


def test_version_removed_continues_on_current_when_step_exists() -> None:
    v1 = """
    journey: v
    version: 1
    entry: {event: go}
    steps:
      - {id: w, wait: 1h}
      - {id: s, send: {channel: in_app, content: {body: one}}}
    """
    sim = Simulator(Engine([journey(v1)]))
    sim.handle(ev("go", T0))
    sim.engine = Engine([journey(v1.replace("version: 1", "version: 2").replace("body: one", "body: two"))])
    sim.finish()
    assert [(c.journey_version, c.content["body"]) for c in sim.commands] == [(2, "two")]


def test_delivery_ids_are_stable_across_runs_and_unique_per_send() -> None:
    def run() -> list[str]:
        sim = sim_for(CART)
        for i in range(20):
            sim.handle(ev("identify", T0, f"c{i}", type="identify", traits={**ADDR, "vip": i % 2 == 0}, mid=f"i{i}"))
            sim.handle(ev("cart_item_added", T0 + i, f"c{i}", props={"cart_value": 25}, mid=f"c{i}"))
        sim.finish()
        return [c.delivery_id for c in sim.commands]

    first, second = run(), run()
    assert first == second and len(first) == 30 and len(set(first)) == 30


def test_duplicate_message_ids_are_dropped() -> None:
    sim = sim_for(CART)
    e = ev("cart_item_added", T0, props={"cart_value": 30}, mid="same")
    sim.handle(e)
    sim.handle(e)
    assert sim.duplicates == 1 and sim.profiles["u1"].counters["cart_item_added"] == 1


def test_time_is_rfc3339_utc() -> None:
    assert format_ts(parse_ts("2026-03-02T11:00:00+01:00")) == "2026-03-02T10:00:00.000Z"
    assert datetime.fromtimestamp(T0, UTC).isoformat() == "2026-03-02T10:00:00+00:00"
