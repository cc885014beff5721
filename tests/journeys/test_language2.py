"""Journey language, part 2, in the loader: scheduled entry, hand-over, throttling, global control."""

from __future__ import annotations

import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cjo_stream.events import format_ts, parse_ts
from cjo_stream.journeys.loader import JourneyLoadError, load_topology
from cjo_stream.journeys.schedule import Schedule
from tests.conftest import journey, policies

SCHEDULED = """
journey: lapsed
entry:
  schedule: {every: 1d, at: "09:00"}
  when: profile.counters.order_completed >= 1 and days_since(profile.last.order_completed) > 30
steps:
  - id: nudge
    send: {channel: email, content: {subject: "We miss you"}}
"""


def test_scheduled_entry_compiles_to_a_schedule_and_the_scheduled_event() -> None:
    j = journey(SCHEDULED)
    assert j.schedule == Schedule(every=86400.0, at=(9, 0)) and j.entry.event == "scheduled"
    assert journey(SCHEDULED.replace('{every: 1d, at: "09:00"}', '{cron: "0 9 * * MON"}')).schedule == \
        Schedule(cron="0 9 * * MON")


@pytest.mark.parametrize(("schedule", "problem"), [
    ('{every: 1d, at: "25:00"}', 'test.yaml:4: bad time of day'),
    ('{every: 12h, at: "09:00"}', "test.yaml:4: with `at`, every is a whole number of days"),
    ('{every: 10s}', "test.yaml:4: a schedule comes round at most once a minute"),
    ('{cron: "0 9 * *"}', "test.yaml:4: bad cron '0 9 * *': five fields"),
    ('{cron: "0 99 * * *"}', "test.yaml:4: bad cron '0 99 * * *': its hour '99' is out of range or unreadable "
                            "(0-23; also *, a,b lists, a-b ranges and */n steps)"),
    ('{cron: "0 9 * * FUN"}', "test.yaml:4: bad cron '0 9 * * FUN': its weekday 'FUN' is out of range"),
    ('{cron: "0 9 31 13 *"}', "test.yaml:4: bad cron '0 9 31 13 *': its month '13' is out of range"),
    ('{cron: "0 9 * * *", every: 1d}', "test.yaml:4: a schedule has `every` (with an optional `at`) or `cron`"),
    ('{every: 1d, at: "09:00", day: monday}', "test.yaml:4: entry.schedule.day: Object contains unknown field"),
])
def test_bad_schedules_are_refused_with_file_line(schedule: str, problem: str) -> None:
    with pytest.raises(JourneyLoadError) as e:
        journey(SCHEDULED.replace('{every: 1d, at: "09:00"}', schedule))
    assert any(str(p).startswith(problem) for p in e.value.problems), e.value.problems


def test_an_entry_has_an_event_or_a_schedule_not_both() -> None:
    with pytest.raises(JourneyLoadError, match="test.yaml:3: entry needs exactly one of `event`"):
        journey(SCHEDULED.replace("entry:\n", "entry:\n  event: order_completed\n"))


def test_occurrences_are_in_the_customers_own_zone() -> None:
    daily = Schedule(every=86400.0, at=(9, 0))
    noon = parse_ts("2026-03-02T12:00:00Z")
    assert format_ts(daily.next_after(noon, ZoneInfo("Asia/Seoul"))) == "2026-03-03T00:00:00.000Z"
    assert format_ts(daily.next_after(noon, ZoneInfo("America/New_York"))) == "2026-03-02T14:00:00.000Z"
    assert daily.latest(noon - 86400, noon, ZoneInfo("America/New_York")) == parse_ts("2026-03-01T14:00:00Z")
    assert daily.latest(noon - 3600, noon, ZoneInfo("America/New_York")) is None
    # across the spring-forward night in New York, 09:00 local is 13:00 UTC afterwards
    assert format_ts(daily.next_after(parse_ts("2026-03-08T12:00:00Z"), ZoneInfo("America/New_York"))) == \
        "2026-03-08T13:00:00.000Z"
    mondays = Schedule(cron="0 9 * * MON")
    assert format_ts(mondays.next_after(noon, ZoneInfo("Europe/Berlin"))) == "2026-03-09T08:00:00.000Z"
    hourly = Schedule(every=3600.0)
    assert hourly.latest(noon - 1, noon, ZoneInfo("UTC")) == noon and hourly.next_after(noon, ZoneInfo("UTC")) == noon + 3600


def test_throttles_compile_at_journey_and_step_level() -> None:
    j = journey("""
    journey: promo
    entry: {event: signed_up}
    throttle: {max: 100, per: 1m}
    steps:
      - id: sms
        send: {channel: sms, content: {body: "hi"}, throttle: {max: 10, per: 1m}}
    """)
    assert (j.throttle.max, j.throttle.per) == (100, 60.0)  # type: ignore[union-attr]
    send = j.steps["sms"].send
    assert send is not None and send.throttle is not None and (send.throttle.max, send.throttle.per) == (10, 60.0)
    with pytest.raises(JourneyLoadError,
                       match="^test.yaml:3: throttle.max: 0 is out of range: it must be at least 1 \\(how many sends a window "
                             "allows, e.g. max: 100\\)$"):  # "at least 1" said once, not again in the brackets
        journey("journey: p\nentry: {event: e}\nthrottle: {max: 0, per: 1m}\nsteps:\n  - {id: a, wait: 1h}\n")
    with pytest.raises(JourneyLoadError, match="^test.yaml:3: throttle.max: 2.5 is not a whole number \\(how many"):
        journey("journey: p\nentry: {event: e}\nthrottle: {max: 2.5, per: 1m}\nsteps:\n  - {id: a, wait: 1h}\n")
    with pytest.raises(JourneyLoadError, match="test.yaml:3: bad duration 'soon'"):
        journey("journey: p\nentry: {event: e}\nthrottle: {max: 5, per: soon}\nsteps:\n  - {id: a, wait: 1h}\n")


def write(tmp: Path, files: dict[str, str]) -> str:
    (tmp / "journeys").mkdir()
    for name, text in files.items():
        (tmp / "journeys" / f"{name}.yaml").write_text(textwrap.dedent(text))
    return str(tmp)


FIRST = """\
journey: first
entry: {event: cart_item_added}
steps:
  - id: wait_a_bit
    wait: 1h
  - id: to_second
    enter: second
    next: end
"""

SECOND = """\
journey: second
entry: {event: never, when: event.properties.sku != 'x'}
steps:
  - id: hello
    send: {channel: email, content: {subject: "{{ event.properties.product_name }}"}}
"""


def test_hand_over_keeps_what_the_target_reads_of_the_trigger(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, {"first": FIRST, "second": SECOND}))
    first = next(j for j in topo.journeys if j.id == "first")
    assert first.steps["to_second"].enter == "second" and first.handovers[0].waited == 3600
    assert first.snapshot.tree == {"properties": {"sku": None, "product_name": None}}


def test_hand_over_to_an_unknown_journey_is_refused_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(JourneyLoadError) as e:
        load_topology(write(tmp_path, {"first": FIRST.replace("enter: second", "enter: nowhere")}))
    (problem,) = e.value.problems
    assert str(problem).startswith(f"{tmp_path}/journeys/first.yaml:7: enter: unknown journey 'nowhere'")
    assert "did you mean" not in str(problem)  # nothing like it


def test_hand_over_to_a_misspelt_journey_says_which_was_meant(tmp_path: Path) -> None:
    with pytest.raises(JourneyLoadError) as e:
        load_topology(write(tmp_path, {"first": FIRST.replace("enter: second", "enter: secnod"), "second": SECOND}))
    (problem,) = e.value.problems
    assert str(problem).startswith(f"{tmp_path}/journeys/first.yaml:7: enter: unknown journey 'secnod' "
                                   "(did you mean 'second'?): use one of")


def test_hand_over_to_a_refused_journey_lists_only_the_target_s_problem(tmp_path: Path) -> None:
    """The target's own file has a problem: that is listed, not also "unknown journey 'second'" in the
    journey handing over (one mistake, one line)."""
    with pytest.raises(JourneyLoadError) as e:
        load_topology(write(tmp_path, {"first": FIRST, "second": SECOND.replace("id: hello", "id: Hello!")}))
    (problem,) = e.value.problems
    assert str(problem).startswith(f"{tmp_path}/journeys/second.yaml:")


def test_hand_overs_that_loop_without_a_wait_are_refused(tmp_path: Path) -> None:
    a = "journey: a\nentry: {event: e}\nsteps:\n  - {id: go, enter: b}\n"
    b = "journey: b\nentry: {event: f}\nsteps:\n  - {id: send, send: {channel: email, content: {s: x}}}\n  - {id: back, enter: a}\n"
    with pytest.raises(JourneyLoadError, match=r"b\.yaml:5: hand-overs a -> b -> a form a cycle without a wait"):
        load_topology(write(tmp_path, {"a": a, "b": b}))
    quick = "journey: a\nentry: {event: e}\nre_entry: always\nsteps:\n  - {id: pause, wait: 5s}\n  - {id: go, enter: b}\n"
    (tmp_path / "journeys" / "a.yaml").write_text(quick)  # a loop across journeys every 5 s: refused too
    with pytest.raises(JourneyLoadError, match=r"b\.yaml:5: hand-overs a -> b -> a form a cycle that waits only 5s "
                                               r"a round: wait at least 1m in it"):
        load_topology(str(tmp_path))
    waits = "journey: a\nentry: {event: e}\nsteps:\n  - {id: pause, wait: 1d}\n  - {id: go, enter: b}\n"
    (tmp_path / "journeys" / "a.yaml").write_text(waits)  # a waits before it hands over: a loop with a wait
    assert {j.id for j in load_topology(str(tmp_path)).journeys} == {"a", "b"}


def test_global_control_is_a_policy() -> None:
    assert policies("global_control: {percent: 5}").global_control == 5.0
    assert policies("consent: opt_out").global_control == 0.0
    with pytest.raises(Exception, match="policies.yaml:1: global_control.percent: 100 is out of range: "
                                        "it must be below 100 \\(the percent of all"):
        policies("global_control: {percent: 100}")
