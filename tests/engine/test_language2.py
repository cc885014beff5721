"""Journey language, part 2, in the engine and the simulator (virtual time): schedules, hand-over,
throttling and the global control group."""

from __future__ import annotations

from collections import Counter

from cjo_stream.events import format_ts, parse_ts
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

LAPSED = """
journey: lapsed
re_entry: RE_ENTRY
entry:
  schedule: {every: 1d, at: "09:00"}
  when: profile.counters.order_completed >= 1
steps:
  - id: nudge
    send: {channel: email, content: {subject: "{{ event.event }} at {{ event.timestamp }}"}}
"""


def shopper(sim: Simulator, user: str, zone: str, at: float) -> None:
    sim.handle(ev("identify", at, user=user, type="identify",
                  traits={"email": f"{user}@example.com", "timezone": zone}))
    sim.handle(ev("order_completed", at + 1, user=user))


def test_a_schedule_comes_round_at_nine_in_each_customers_own_zone() -> None:
    sim = Simulator(engine(LAPSED.replace("RE_ENTRY", "once")))
    start = parse_ts("2026-03-02T12:00:00Z")  # Monday noon UTC
    shopper(sim, "seoul", "Asia/Seoul", start)
    shopper(sim, "newyork", "America/New_York", start)
    sim.handle(ev("page_viewed", start + 3 * 86400, user="someone-else"))  # virtual time moves on three days
    sim.finish()
    got = sorted((c.customer_id, c.decided_at) for c in sim.commands)
    # New York's 09:00 (14:00 UTC) comes before Seoul's (00:00 UTC next day); re_entry once: one each
    assert got == [("newyork", "2026-03-02T14:00:00.000Z"), ("seoul", "2026-03-03T00:00:00.000Z")]
    assert sim.commands[0].content == {"subject": f"scheduled at {got[0][1]}"}  # the synthetic trigger
    assert sim.funnel.journeys["lapsed"]["entered"] == 2


def test_re_entry_rules_hold_across_days() -> None:
    def days_sent(re_entry: str) -> dict[str, int]:
        sim = Simulator(engine(LAPSED.replace("RE_ENTRY", re_entry)))
        start = parse_ts("2026-03-02T12:00:00Z")
        shopper(sim, "ny", "America/New_York", start)
        sim.handle(ev("page_viewed", start + 4 * 86400 + 3 * 3600, user="clock"))  # Friday 15:00 UTC
        sim.finish()
        return Counter(c.customer_id for c in sim.commands)

    assert days_sent("once") == {"ny": 1}
    assert days_sent("always") == {"ny": 5}  # 09:00 on Mon..Fri
    assert days_sent("after 2d") == {"ny": 3}  # Mon, Wed, Fri


def test_the_same_occurrence_is_not_entered_twice() -> None:
    e = engine(LAPSED.replace("RE_ENTRY", "always"))
    from cjo_stream.profile import new_profile

    p = new_profile("u")
    e.process(p, ev("identify", T0, user="u", type="identify", traits={"email": "u@example.com"}), T0)
    e.process(p, ev("order_completed", T0 + 1, user="u"), T0 + 1)
    at = T0 + 3600
    first = e.schedule(p, "lapsed", at)
    again = e.schedule(p, "lapsed", at)  # a scan repeated after a crash offers it again
    assert len(first.commands) == 1 and again.commands == [] and again.transitions == []
    assert len(e.schedule(p, "lapsed", at + 86400).commands) == 1  # the next day's is new


PAUSED = """
journey: lapsed
entry:
  schedule: {every: 1d, at: "09:00"}
  when: profile.counters.order_completed >= 1
steps:
  - id: nudge
    send: {channel: email, content: {subject: "come back"}}
  - id: pause
    wait: 1d
  - id: again
    send: {channel: email, content: {subject: "still there?"}}
"""


def test_customers_entering_one_occurrence_are_instances_of_their_own() -> None:
    """The instance id was a hash of the journey and the occurrence alone: every customer entering at the same
    09:00 shared one, and the analytics fold (one row per instance id) mixed their paths into edges the journey
    does not have (`pause -> nudge`, `entry -> again`) on the page, the API and `simulate --report`."""
    from cjo_stream.analytics.offline import reports

    sim = Simulator(engine(PAUSED))
    start = parse_ts("2026-03-02T06:00:00Z")
    for user in ("ada", "bob", "cy"):
        shopper(sim, user, "UTC", start)
    sim.handle(ev("page_viewed", start + 3 * 86400, user="clock"))
    sim.finish()
    firsts = [c for c in sim.commands if c.step == "nudge"]
    assert len(firsts) == 3 and len({c.instance_id for c in firsts}) == 3
    assert {c.decided_at for c in firsts} == {"2026-03-02T09:00:00.000Z"}  # one occurrence
    _, report = reports(sim.analytics, sim.engine.current.values())
    edges = {(e["from"], e["to"]): e["count"] for e in report["lapsed"]["edges"]}
    assert edges == {("entry", "nudge"): 3, ("nudge", "pause"): 3, ("pause", "again"): 3, ("again", "!ended"): 3}


THROTTLED = """
journey: promo
entry: {event: signed_up}
steps:
  - id: sms
    send: {channel: sms, content: {body: "hi"}, throttle: {max: 10, per: 1m}}
"""


def test_thirty_entries_in_one_second_go_out_ten_a_minute_in_entry_order() -> None:
    sim = Simulator(engine(THROTTLED))
    for i in range(30):
        sim.handle(ev("signed_up", T0 + i / 100, user=f"c{i:02d}", traits={"phone": f"+1555{i:04d}"}))
    sim.finish()
    decided = [(c.customer_id, c.decided_at) for c in sim.commands]
    assert [c for c, _ in decided] == [f"c{i:02d}" for i in range(30)]  # in entry order
    assert Counter(t for _, t in decided) == {format_ts(T0): 1, format_ts(T0 + 0.01): 1, **{
        format_ts(T0 + i / 100): 1 for i in range(2, 10)}, format_ts(T0 + 60): 10, format_ts(T0 + 120): 10}
    assert sim.funnel.steps[("promo", "sms")]["deferred"] == 30  # 20 deferred once, 10 of them twice
    assert [s for s in sim.skips] == []


def test_journey_throttle_counts_customer_facing_sends_and_step_throttle_refunds() -> None:
    text = """
    journey: both
    entry: {event: signed_up}
    throttle: {max: 2, per: 1h}
    steps:
      - id: alert
        send: {channel: slack, content: {text: "new"}}
      - id: mail
        send: {channel: email, content: {subject: "hi"}, throttle: {max: 5, per: 1h}}
    """
    sim = Simulator(engine(text))
    for i in range(3):
        sim.handle(ev("signed_up", T0 + i, user=f"u{i}", traits={"email": f"u{i}@example.com"}))
    sim.finish()
    by_channel = Counter((c.channel, c.decided_at) for c in sim.commands)
    assert by_channel[("slack", format_ts(T0))] == 1 and sum(n for (ch, _), n in by_channel.items() if ch == "slack") == 3
    mails = sorted(c.decided_at for c in sim.commands if c.channel == "email")
    assert mails == [format_ts(T0), format_ts(T0 + 1), format_ts(T0 + 3600 + 1e-6)]  # the third waits an hour


HANDOVER = """
journey: first
entry: {event: cart_item_added}
steps:
  - id: wait_a_bit
    wait: 1h
  - id: to_second
    enter: second
  - id: bye
    send: {channel: email, content: {subject: "first done"}}
"""

SECOND = """
journey: second
entry: {event: never_happens, when: event.properties.cart_value >= 20}
steps:
  - id: hello
    send: {channel: email, content: {subject: "{{ event.properties.product_name }} from {{ journey.id }}"}}
"""


def test_hand_over_enters_the_other_journey_with_the_trigger_and_continues() -> None:
    sim = Simulator(engine(HANDOVER, SECOND))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    sim.handle(ev("cart_item_added", T0 + 1, props={"cart_value": 30, "product_name": "Lamp"}))
    sim.handle(ev("cart_item_added", T0 + 2, user="u2", props={"cart_value": 5, "product_name": "Pen"},
                  traits={"email": "b@example.com"}))
    sim.finish()
    got = sorted((c.customer_id, c.journey, c.content["subject"], c.decided_at) for c in sim.commands)
    assert got == [
        ("u1", "first", "first done", format_ts(T0 + 3601)),
        ("u1", "second", "Lamp from second", format_ts(T0 + 3601)),  # second's `when` reads the trigger
        ("u2", "first", "first done", format_ts(T0 + 3602)),  # cart of 5: second's entry `when` is false
    ]


def test_hand_over_respects_the_targets_re_entry() -> None:
    sim = Simulator(engine(HANDOVER.replace("wait: 1h", "wait: 1m"), SECOND))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    for k in range(3):  # three carts, an hour apart: first runs three times, second (re_entry once) once
        sim.handle(ev("cart_item_added", T0 + 1 + k * 3600, props={"cart_value": 30, "product_name": "Lamp"}))
    sim.finish()
    assert Counter(c.journey for c in sim.commands) == {"first": 1, "second": 1}  # first: re_entry once too


CONTROL = """
journey: welcome
entry: {event: signed_up}
goal: {event: order_completed}
steps:
  - id: hello
    send: {channel: email, content: {subject: "hi"}}
  - id: ping_sales
    send: {channel: slack, content: {text: "new signup"}}
  - id: wait
    wait: 1d
"""


def test_the_global_control_group_gets_no_customer_facing_message_but_is_counted() -> None:
    sim = Simulator(engine(CONTROL, policy="global_control: {percent: 30}"))
    for i in range(200):
        sim.handle(ev("signed_up", T0 + i, user=f"g{i}", traits={"email": f"g{i}@example.com"}))
        sim.handle(ev("order_completed", T0 + i + 1, user=f"g{i}"))
    sim.finish()
    control = {s.customer_id for s in sim.skips if s.reason == "global_control"}
    mailed = {c.customer_id for c in sim.commands if c.channel == "email"}
    assert 40 <= len(control) <= 80 and control.isdisjoint(mailed) and len(control) + len(mailed) == 200
    assert {c.customer_id for c in sim.commands if c.channel == "slack"} == {f"g{i}" for i in range(200)}  # internal
    assert sim.funnel.journeys["welcome"]["converted"] == 200  # their conversions count too
    again = Simulator(engine(CONTROL, policy="global_control: {percent: 30}"))  # sticky by customer id
    for i in range(200):
        again.handle(ev("signed_up", T0 + 5 * 86400 + i, user=f"g{i}", traits={"email": f"g{i}@example.com"}))
    assert {s.customer_id for s in again.skips if s.reason == "global_control"} == control
