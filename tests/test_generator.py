"""The touchpoint generator is deterministic, ordered and valid; the shipped example file comes from it."""

from __future__ import annotations

import itertools
import re
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from cjo_stream.events import InvalidEvent, decode_event, parse_ts
from cjo_stream.generator import PERSONAS, generate_events, write_jsonl

EXAMPLE = Path(__file__).resolve().parent.parent / "schemas" / "examples" / "touchpoints.jsonl"
START = parse_ts("2026-03-02T08:00:00Z")
DAY = 86400.0
#: Lines of the example file broken on purpose (see the module docstring of cjo_stream.generator).
BROKEN = {52: "invalid_json", 149: "missing_field", 251: "bad_timestamp"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def events(customers: int = 40, seed: int = 7, **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("duration", 45 * DAY)
    return list(generate_events(customers=customers, seed=seed, start=START, **kw))


def test_same_seed_same_events_other_seed_other_events() -> None:
    a, b = events(seed=11), events(seed=11)
    assert orjson.dumps(a) == orjson.dumps(b)
    c = events(seed=12)
    assert orjson.dumps(a) != orjson.dumps(c)
    assert {e["messageId"] for e in a}.isdisjoint(e["messageId"] for e in c)


def test_events_are_ordered_unique_inside_the_window_and_decode() -> None:
    evs = events(customers=60, seed=3)
    stamps = [e["timestamp"] for e in evs]
    assert all(STAMP.match(s) for s in stamps)
    assert stamps == sorted(stamps)
    assert len({e["messageId"] for e in evs}) == len(evs)
    assert [e["messageId"] for e in evs[:3]] == ["m-3-0", "m-3-1", "m-3-2"]
    times = [decode_event(orjson.dumps(e)).ts for e in evs]
    assert times == sorted(times)
    assert START <= times[0] and times[-1] < START + 45 * DAY


def test_every_persona_acts_and_identities_are_consistent() -> None:
    evs = events(customers=len(PERSONAS) * 2, seed=5)
    assert len(evs) > 10 * len(PERSONAS)
    user_of_anon: dict[str, str] = {}
    for e in evs:
        ev = decode_event(orjson.dumps(e))
        if ev.user_id and ev.anonymous_id:
            assert user_of_anon.setdefault(ev.anonymous_id, ev.user_id) == ev.user_id
        if ev.type == "alias":
            assert ev.previous_id and ev.user_id
    users = {e.get("userId") for e in evs} - {None}
    assert len(users) >= len(PERSONAS) * 2 - 4  # only window shoppers stay anonymous


def test_rate_mode_spaces_events_evenly_and_keeps_customers_coming() -> None:
    evs = events(customers=5, seed=1, duration=30.0, rate=100.0)
    assert len(evs) == 3000
    for n in (0, 1, 999, 2999):
        assert decode_event(orjson.dumps(evs[n])).ts == pytest.approx(START + n / 100.0, abs=0.001)
    assert len({e.get("userId") or e.get("anonymousId") for e in evs}) > 5 * 3
    assert len({e["messageId"] for e in evs}) == len(evs)


def test_generation_is_lazy() -> None:
    # memory, not time (no test may fail on a slow machine): 5 M customers' state made up front would
    # take hundreds of MiB before the first event; lazily, the first 200 events need a few MiB
    tracemalloc.start()
    try:
        first = list(itertools.islice(generate_events(customers=5_000_000, seed=2, start=START, duration=60 * DAY),
                                      200))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(first) == 200
    assert peak < 64 * 2**20


def test_write_jsonl_round_trips(tmp_path: Path) -> None:
    evs = events(customers=12, seed=9, duration=10 * DAY)
    path = tmp_path / "ev.jsonl"
    assert write_jsonl(path, iter(evs)) == len(evs)
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == evs


# ------------------------------------------------------------------------------------------ example file
def _example() -> tuple[list[tuple[int, bytes]], dict[int, str]]:
    good: list[tuple[int, bytes]] = []
    bad: dict[int, str] = {}
    for n, line in enumerate(EXAMPLE.read_bytes().splitlines(), start=1):
        try:
            decode_event(line)
        except InvalidEvent as e:
            bad[n] = e.reason
        else:
            good.append((n, line))
    return good, bad


def test_example_file_has_exactly_the_deliberately_broken_lines() -> None:
    good, bad = _example()
    assert bad == BROKEN
    assert 300 <= len(good) <= 600


def test_example_file_is_reproducible_from_the_generator() -> None:
    """Regenerate it (see cjo_stream.generator's docstring) when the generator changes."""
    lines = EXAMPLE.read_bytes().splitlines()
    fresh = [orjson.dumps(e) for e in events(customers=40, seed=7)]
    assert len(lines) == len(fresh)
    for n, (have, want) in enumerate(zip(lines, fresh, strict=True), start=1):
        if n not in BROKEN:
            assert have == want, f"line {n} differs from the generator's output"


def test_example_file_covers_every_source_type_and_journey_trigger() -> None:
    good, _ = _example()
    evs = [decode_event(line) for _, line in good]
    assert {e.context.get("channel") for e in evs} == {"web", "app", "pos", "email", "crm"}
    assert {e.type for e in evs} == {"track", "identify", "page", "screen", "alias"}
    names = Counter(e.name for e in evs)
    for name in ("signed_up", "session_started", "app_opened", "cart_item_added", "cart_emptied", "checkout_started",
                 "order_completed", "review_submitted", "message_opened", "message_clicked", "lead_stage_changed",
                 "subscribed", "unsubscribed", "product_viewed", "page_viewed", "screen_viewed"):
        assert names[name] > 0, name
    assert any(e.name == "order_completed" and e.context["channel"] == "pos" for e in evs)
    assert any(e.name == "message_clicked" and e.properties.get("delivery_id") for e in evs)
    assert any(e.type == "identify" and (e.traits.get("lead_score") or 0) >= 80 for e in evs)
    assert any(e.type == "identify" and e.traits.get("consent.sms") is False for e in evs)
    assert any(e.type == "identify" and e.traits.get("push_token") for e in evs)
    assert {e.traits["timezone"] for e in evs if "timezone" in e.traits} >= {"Europe/Berlin", "America/New_York"}
    assert any(e.name == "cart_item_added" and e.properties["cart_value"] >= 20 and e.anonymous_id and not e.user_id
               for e in evs)


def test_example_file_drives_every_journey_path_through_the_shipped_topologies() -> None:
    """What `make demo` shows: every journey entered, every step reached, every kind of outcome and skip."""
    from cjo_stream.engine import Engine
    from cjo_stream.journeys.loader import load_topology
    from cjo_stream.jsonl import jsonl_lines
    from cjo_stream.simulator import Simulator

    topo = load_topology(str(EXAMPLE.parent.parent.parent / "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.run_lines(jsonl_lines(str(EXAMPLE)))
    sim.finish()
    assert {b.line: b.reason for b in sim.bad} == BROKEN
    funnel = sim.funnel
    for j in topo.journeys:
        assert funnel.journeys[j.id]["entered"] > 0, j.id
        for step in j.steps:
            assert funnel.steps[(j.id, step)]["reached"] > 0, (j.id, step)
        for body in j.steps.values():
            for arm in body.split:
                assert funnel.variants[(j.id, arm.variant)]["entered"] > 0, (j.id, arm.variant)
    totals: Counter[str] = Counter()
    for c in funnel.journeys.values():
        totals.update(c)
    for step_counts in funnel.steps.values():
        totals.update(step_counts)
    for kind in ("holdout", "converted", "exited", "ended", "deferred",
                 "skipped:frequency_cap", "skipped:no_address", "skipped:no_consent"):
        assert totals[kind] > 0, kind
    assert any(c.triggered_by.startswith("timer:") for c in sim.commands)
    assert {c.channel for c in sim.commands} >= {"email", "push", "crm", "slack"}
    assert sim.pending_timers == 0


def test_too_many_customers_is_refused_at_once() -> None:
    """10**20 customers never produced an event (every customer due by the next event is started first)."""
    import argparse

    from cjo_stream.argtypes import customer_count
    from cjo_stream.generator import MAX_CUSTOMERS

    with pytest.raises(ValueError, match="customers: at most 100,000,000"):
        generate_events(customers=10**20, seed=1, start=0.0, duration=1.0, rate=100.0)  # before the first next()
    with pytest.raises(argparse.ArgumentTypeError, match="at most 100,000,000 customers"):
        customer_count(str(MAX_CUSTOMERS + 1))
    assert customer_count(str(MAX_CUSTOMERS)) == MAX_CUSTOMERS


def test_generated_traffic_converts_in_every_split_arm_of_the_shipped_journeys() -> None:
    """An A/B test on generated traffic has conversions to compare in each arm (the abandoners who come back
    days later buy after the VIP offer, in either arm); before, every arm of the example showed 0."""
    from cjo_stream.engine import Engine
    from cjo_stream.journeys.loader import load_topology
    from cjo_stream.simulator import Simulator

    topo = load_topology(str(EXAMPLE.parent.parent.parent / "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.run_lines(orjson.dumps(e) for e in events(customers=3000, seed=5, duration=20 * DAY))
    sim.finish()
    arms = [(j.id, arm.variant) for j in topo.journeys if j.goal is not None
            for step in j.steps.values() for arm in step.split]
    assert ("abandoned_cart", "coupon") in arms and ("abandoned_cart", "control") in arms
    for key in arms:
        assert sim.funnel.variants[key]["converted"] > 0, key


def test_seen_counts_the_customers_the_events_came_from() -> None:
    """`generate`'s summary said "for 200 customers" (the flag) where the stream held 102 user ids: a rate
    run shows the first customers to arrive. ``seen`` counts those that had an event."""
    every: set[int] = set()
    list(generate_events(customers=30, seed=3, start=1.7e9, duration=20 * 86400, seen=every))
    assert every == set(range(30))  # a window long enough for all of them to arrive
    seen: set[int] = set()
    events = list(itertools.islice(generate_events(customers=200, seed=1, start=1.7e9, duration=20, rate=50,
                                                   seen=seen), 1000))
    users = {int(e["userId"].rsplit("-", 1)[1]) for e in events if e.get("userId")}
    assert users <= seen and 0 < len(seen) < 200, (len(users), len(seen))
