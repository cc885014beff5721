"""The fold: agrees with the engine's own funnel, counts replays once, does not depend on arrival order,
follows instances through identity merges, and computes the experiment table the way stats.py does."""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import STAGES, Analytics
from cjo_stream.analytics.offline import definitions, render_html, render_text, reports, stage_flow
from cjo_stream.analytics.page import pvalue
from cjo_stream.analytics.records import (
    JourneyEvent,
    journey_events,
    linked_event,
    receipt_event,
    stage_events,
)
from cjo_stream.analytics.stats import srm, two_proportion, wilson
from cjo_stream.analytics.text import render as text_render
from cjo_stream.engine import Engine, Result
from cjo_stream.events import decode_event
from cjo_stream.generator import generate_events
from cjo_stream.journeys.loader import load_topology
from cjo_stream.jsonl import jsonl_lines
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev, journey
from tests.engine.test_identity_time import CART, ISSUE_LINES, sim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Recorder(Analytics):
    """A fold that folds the journey events a worker would write (records.journey_events, stage_events,
    receipt_event) and keeps every one it folded, with source positions like a worker's."""

    def __init__(self, default_zone: ZoneInfo) -> None:
        super().__init__(default_zone=default_zone)
        self.events: list[JourneyEvent] = []
        self._pos = 0

    def apply(self, e: JourneyEvent) -> bool:
        if e.src is None:  # one "record" per engine call, as a worker's internal-topic record
            self._pos += 1
            e.src = (0, self._pos, 0)
        self.events.append(e)
        return super().apply(e)

    def add(self, result: Result, customer_id: str | None = None) -> None:
        cid = customer_id or result.profile.customer_id
        linked = [linked_event(result, cid)] if result.absorbed else []  # (a login), last as a worker writes it
        for e in [*journey_events(result, cid, self.default_zone), *stage_events(result, cid), *linked]:
            self.apply(e)


def _examples(recording: bool = True) -> tuple[Any, Any]:
    topo = load_topology(os.path.join(ROOT, "topologies"))
    eng = Engine(topo.journeys, topo.policies, stages=topo.stages)  # stage moves too
    s = Simulator(eng, analytics=Recorder(topo.policies.default_timezone)) if recording else Simulator(eng)
    s.run_lines(jsonl_lines(os.path.join(ROOT, "schemas", "examples", "touchpoints.jsonl")))
    lines = (orjson.dumps(e) for e in generate_events(customers=400, seed=5, start=T0, duration=20 * 86400))
    s.run_lines(lines)
    s.finish()
    return topo, s


TOPO, SIM = _examples()


def test_folding_results_equals_folding_their_journey_events() -> None:
    """``Analytics.add`` folds the engine's transitions directly (no JourneyEvent per transition); it counts
    exactly what folding the records a worker writes for them does (the Recorder's path)."""
    _, plain = _examples(recording=False)
    a, b = plain.analytics, SIM.analytics
    assert a.buckets == b.buckets and a.totals == b.totals and len(a.buckets) > 100
    assert (a.applied, a.latest, a.receipts_unmatched) == (b.applied, b.latest, b.receipts_unmatched)
    assert a.applied == len(SIM.analytics.events) > 5000
    assert {k: v for k, v in b.rows.items() if not k.startswith("s:")} == a.rows
    assert any(k.startswith("f:") for k in a.rows) and any(k.startswith("d:") for k in a.rows)


def test_fold_agrees_with_the_engines_funnel() -> None:
    """Two independent folds of the same transitions: Funnel (engine/funnel.py) and the analytics buckets."""
    f = SIM.funnel
    rows, reps = reports(SIM.analytics, TOPO.journeys)
    assert sum(r["entered"] for r in rows) > 300 and sum(r["converted"] for r in rows) > 10
    for r in rows:
        jid = r["journey"]
        for k in ("entered", "holdout", "converted", "exited", "ended", "expired", "merged"):
            assert r[k] == f.journeys[jid][k], (jid, k)
        assert r["active"] == 0  # every timer fired: no instance is left anywhere
        for s in reps[jid]["steps"]:
            c = f.steps[(jid, s["id"])]
            assert (s["reached"], s["sent"], s["deferred"]) == (c["reached"], c["sent"], c["deferred"]), (jid, s)
            assert s["skipped"] == {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("skipped:")}
            assert s["waiting"] == 0 and s["drop_off"] == s["reached"] - s["continued"]
        # everyone who entered left somewhere: the endings per step add up to the journey's
        ends = sum(r[k] for k in ("converted", "exited", "ended", "expired", "merged"))
        assert sum(s["drop_off"] for s in reps[jid]["steps"]) == ends == r["entered"]


def test_funnel_columns_stay_apart_with_long_ids() -> None:
    """A journey id of 22 characters or more ran into its step's in `simulate --report` and `replay`."""
    from cjo_stream.engine.funnel import Funnel
    from cjo_stream.engine.transition import Transition

    f = Funnel()
    jid = "spring_promotion_2026_email_v2"
    f.add([Transition(jid, "entered"), Transition(jid, "step", step="choose_the_creative_for_spring"),
           Transition(jid, "variant", variant="hero_image_with_discount_code"),
           Transition(jid, "sent", step="choose_the_creative_for_spring", channel="email")])
    rows = [ln.split() for ln in f.render().splitlines()]
    assert [jid, "choose_the_creative_for_spring", "1", "1", "0", "-"] in rows
    assert [jid, "hero_image_with_discount_code", "1", "0"] in rows and [jid, "1", "0", "0", "0", "0", "0", "0"] in rows
    assert SIM.funnel.render().splitlines()[0].startswith("journey" + " " * 18 + "entered")  # short ids: as before


def test_replayed_journey_events_are_counted_once() -> None:
    """A worker that crashed replays records: the same events again at the same source positions."""
    events = SIM.analytics.events
    fresh = Analytics()
    fresh.apply_all(events[:2000])
    fresh.apply_all(events[1500:2000])  # the replayed tail
    fresh.apply_all(events[1990:])
    assert fresh.duplicates == 510
    assert fresh.buckets == SIM.analytics.buckets
    # the totals kept next to the buckets are their sums, and a report over a range (totals minus the
    # buckets outside it) equals the plain sum of the buckets inside it
    sums: dict[tuple[str, int], dict[str, int]] = {}
    for (j, v, _), b in fresh.buckets.items():
        t = sums.setdefault((j, v), {})
        for k, n in b.items():
            t[k] = t.get(k, 0) + n
    assert {k: {n: x for n, x in t.items() if x} for k, t in fresh.totals.items()} == {
        k: {n: x for n, x in t.items() if x} for k, t in sums.items()}
    hours = sorted({h for _, _, h in fresh.buckets})
    since, until = hours[len(hours) // 10] * 3600, hours[-2] * 3600
    for jid in ("post_purchase", "winback"):
        fast = report.journey_report(fresh.buckets, {}, jid, None, since, until, fresh.totals)
        slow = report.journey_report(fresh.buckets, {}, jid, None, since, until)
        assert fast == slow and 0 < fast["totals"]["entered"] < report.journey_report(
            fresh.buckets, {}, jid)["totals"]["entered"]
    # without positions (offline folds) nothing is dropped: the same events would count twice
    loose = Analytics()
    loose.apply_all(msg_copy(e, src=None) for e in events[:100])
    loose.apply_all(msg_copy(e, src=None) for e in events[:100])
    assert loose.duplicates == 0 and loose.applied == 200


def test_totals_summed_when_read_follow_every_later_fold() -> None:
    """Offline folds (simulate, replay) sum the totals from the buckets when read instead of keeping them up
    with every counter; read between folds, they still count everything folded before each read."""
    events = SIM.analytics.events
    live, lazy = Analytics(), Analytics(live_totals=False)
    for part in (events[:10], events[10:3000], events[3000:]):
        live.apply_all(part)
        lazy.apply_all(part)
        assert lazy.totals == live.totals and lazy.totals
    assert lazy.buckets == live.buckets == SIM.analytics.buckets


def test_changed_buckets_are_named_again_after_the_caller_stored_them() -> None:
    """The analytics service stores the buckets in ``dirty`` and clears it; a bucket folded into again
    afterwards (the fold keeps the last one at hand) must be named again, or its new counts are never stored."""
    events = [e for e in SIM.analytics.events if e.kind != "stage"]
    fold = Analytics()
    fold.apply_all(events[:50])
    assert fold.dirty
    fold.clear_dirty()
    assert not fold.dirty
    for e in events[50:400]:
        before = {k: dict(b) for k, b in fold.buckets.items()}
        fold.clear_dirty()
        fold.apply(e)
        changed = {k for k, b in fold.buckets.items() if before.get(k) != b}
        assert changed <= fold.dirty, e


def test_stage_moves_fold_into_a_flow_counted_once() -> None:
    """The stage flow agrees with the simulator's own profiles and stage_moves; a replayed tail holding
    stage records (the worker's positions) counts once."""
    names = TOPO.stages.names
    flow = stage_flow(SIM.analytics, names)
    assert flow is not None
    net = {r["stage"]: r["net"] for r in flow["stages"]}
    assert net == SIM.stage_counts() and sum(net.values()) == len(SIM.profiles) > 300  # every customer, once
    between = {(m["from"], m["to"]): m["count"] for m in flow["moves"] if m["from"] and m["to"]}
    assert between == dict(SIM.stage_transitions) and len(between) >= 4
    assert flow["merged_away"] > 0 and flow["new_customers"] == len(SIM.profiles) + flow["merged_away"]
    stage_at = [i for i, e in enumerate(SIM.analytics.events) if e.kind == "stage"]
    assert len(stage_at) > 500
    events = SIM.analytics.events
    cut = stage_at[len(stage_at) // 2]
    replayed = Analytics()
    replayed.apply_all(events[:cut + 1])
    replayed.apply_all(events[cut - 400:cut + 1])  # the replayed tail, stage records among them
    replayed.apply_all(events[cut + 1:])
    assert replayed.duplicates == 401 and sum(e.kind == "stage" for e in events[cut - 400:cut + 1]) > 10
    assert stage_flow(replayed, names) == flow
    # the stage moves are buckets of their own, by the hour they happened in; they are no journey
    assert {k[1] for k in SIM.analytics.buckets if k[0] == STAGES} == {0}
    assert all(r["journey"] != STAGES for r in reports(SIM.analytics, TOPO.journeys)[0])


STAGE_TEXT = """\
stages:
  - {stage: awareness,     when: "true"}
  - {stage: consideration, when: profile.counters.product_viewed >= 3 or profile.counters.cart_item_added >= 1}
  - {stage: purchase,      when: profile.counters.order_completed >= 1}
  - {stage: retention,     when: profile.counters.order_completed >= 2}
  - {stage: advocacy,      when: profile.counters.review_submitted >= 1 or profile.counters.referral_sent >= 1}
"""
STAGE_LINES = [  # (time on 2026-03-01, who, event)
    ("10:00", {"userId": "u1"}, "product_viewed"), ("10:01", {"userId": "u1"}, "product_viewed"),
    ("10:02", {"userId": "u1"}, "product_viewed"),  # u1: new (awareness), then consideration
    ("10:30", {"userId": "u2"}, "page_viewed"),  # u2: new, stays in awareness
    ("10:40", {"anonymousId": "a1"}, "cart_item_added"),  # a1: new, consideration
    ("10:50", {"userId": "u3", "anonymousId": "a1"}, None),  # u3 logs in: new; a1 merged into u3
    ("11:00", {"userId": "u1"}, "order_completed"),  # u1: purchase
    ("12:00", {"userId": "u1"}, "order_completed"),  # u1: retention
    ("13:00", {"userId": "u3"}, "review_submitted"),  # u3: advocacy
]


def test_offline_stage_flow_equals_hand_derived_counts(tmp_path: Any) -> None:
    from cjo_stream.events import parse_ts

    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "hello.yaml").write_text(
        "journey: hello\nentry: {event: signed_up}\nsteps:\n  - id: wait\n    wait: 1h\n")
    (tmp_path / "stages.yaml").write_text(STAGE_TEXT)
    topo = load_topology(str(tmp_path))
    assert topo.stages is not None
    s = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    for i, (hhmm, ids, name) in enumerate(STAGE_LINES):
        fields = {"type": "identify"} if name is None else {"type": "track", "event": name}
        s.handle(decode_event(orjson.dumps({"messageId": f"m{i}", "timestamp": f"2026-03-01T{hhmm}:00Z",
                                            **ids, **fields})))
    s.finish()
    flow = stage_flow(s.analytics, topo.stages.names)
    # by hand: four new ids (u1, u2, a1, u3); a1 merged away at u3's login, whose counters then make u3
    # a considerer; u1 on to retention, u3 to advocacy
    assert flow == {"since": None, "until": None, "new_customers": 4, "merged_away": 1, "stages": [
        {"stage": "awareness", "entered": 4, "left": 3, "net": 1},
        {"stage": "consideration", "entered": 3, "left": 3, "net": 0},
        {"stage": "purchase", "entered": 1, "left": 1, "net": 0},
        {"stage": "retention", "entered": 1, "left": 0, "net": 1},
        {"stage": "advocacy", "entered": 1, "left": 0, "net": 1}], "moves": [
        {"from": None, "to": "awareness", "count": 4},
        {"from": "awareness", "to": "consideration", "count": 3},
        {"from": "consideration", "to": "purchase", "count": 1},
        {"from": "consideration", "to": "advocacy", "count": 1},
        {"from": "consideration", "to": None, "count": 1},
        {"from": "purchase", "to": "retention", "count": 1}]}
    # by the hour the moves happened in: from 12:00 on, u1's retention and u3's advocacy
    late = report.stage_flow(s.analytics.buckets, topo.stages.names, since=parse_ts("2026-03-01T12:00:00Z"))
    assert [(m["from"], m["to"], m["count"]) for m in late["moves"]] == [
        ("consideration", "advocacy", 1), ("purchase", "retention", 1)]
    # the text report (simulate --report, replay) prints the same
    text = render_text(s.analytics, topo.journeys, topo.stages.names)
    section = text.split("== lifecycle stages\n", 1)[1].splitlines()
    assert [ln.split() for ln in section[:6]] == [["stage", "entered", "left", "net"], ["awareness", "4", "3", "1"],
                                                  ["consideration", "3", "3", "0"], ["purchase", "1", "1", "0"],
                                                  ["retention", "1", "0", "1"], ["advocacy", "1", "0", "1"]]
    assert ("  moves: (new) -> awareness 4, awareness -> consideration 3, consideration -> purchase 1, "
            "consideration -> advocacy 1, consideration -> (merged) 1, purchase -> retention 1") in text
    # without stages there is no stage section
    plain = Simulator(Engine(topo.journeys, topo.policies))
    plain.run_lines([b'{"messageId":"x","type":"track","event":"signed_up","userId":"u1",'
                     b'"timestamp":"2026-03-01T10:00:00Z"}'])
    assert stage_flow(plain.analytics, ()) is None and "lifecycle" not in render_text(plain.analytics, topo.journeys)


def msg_copy(e: JourneyEvent, **changes: Any) -> JourneyEvent:
    d = {f: getattr(e, f) for f in e.__struct_fields__}
    d.update(changes)
    return JourneyEvent(**d)


def _interleave(events: list[JourneyEvent], rng: random.Random) -> list[JourneyEvent]:
    """A random arrival order that keeps each instance's own order (what partitions preserve)."""
    lanes: dict[str, list[JourneyEvent]] = defaultdict(list)
    for e in events:
        lanes[e.instance or f"receipt-{id(e)}"].append(msg_copy(e, src=None))
    queues = [list(reversed(v)) for v in lanes.values()]
    out = []
    while queues:
        i = rng.randrange(len(queues))
        out.append(queues[i].pop())
        if not queues[i]:
            queues[i] = queues[-1]
            queues.pop()
    return out


def test_counts_do_not_depend_on_arrival_order() -> None:
    base = json.dumps(reports(SIM.analytics, TOPO.journeys), sort_keys=True)
    for seed in range(3):
        a = Analytics(default_zone=TOPO.policies.default_timezone)
        a.apply_all(_interleave(SIM.analytics.events, random.Random(seed)))
        assert json.dumps(reports(a, TOPO.journeys), sort_keys=True) == base


def test_instances_are_followed_through_identity_merges() -> None:
    # anonymous cart, then login: the instance moves to u1 and is reminded there
    s = sim(CART)
    s.run_lines(ISSUE_LINES)
    s.finish()
    rep = report.journey_report(s.analytics.buckets, {}, "cart")
    steps = {x["id"]: x for x in rep["steps"]}
    assert rep["totals"]["entered"] == 1 and rep["totals"]["ended"] == 1 and rep["totals"]["merged"] == 0
    assert steps["remind"]["sent"] == 1 and steps["nudge"]["sent"] == 1 and rep["totals"]["active"] == 0
    assert [e["count"] for e in rep["edges"]] == [1, 1, 1, 1, 1]  # entry -> ... -> end, each once
    # both ids had a cart: the later one ends as merged, where it stood
    s = sim(CART)
    s.run_lines([
        b'{"messageId":"c0","type":"track","event":"cart_item_added","userId":"u1","timestamp":"2026-03-01T09:59:00Z",'
        b'"properties":{"cart_value":30}}', *ISSUE_LINES])
    s.finish()
    rep = report.journey_report(s.analytics.buckets, {}, "cart")
    assert rep["totals"]["entered"] == 2 and rep["totals"]["merged"] == 1 and rep["totals"]["active"] == 0
    assert {"step": "wait_checkout", "kind": "merged", "reason": None, "count": 1} in rep["exit_points"]


SPLIT = """
journey: promo
version: 2
entry: {event: signed_up}
holdout: 10
goal: {event: order_completed}
steps:
  - id: ab
    split:
      - {variant: control, weight: 50, next: wait}
      - {variant: coupon, weight: 50, next: mail}
  - id: mail
    send: {channel: email, content: {subject: hi}}
  - id: wait
    wait: 1d
"""


def _instance(a: Analytics, n: int, *, variant: str | None, holdout: bool, convert: bool, hour: int = 0) -> None:
    at = T0 + hour * 3600
    iid = f"i{n}"
    base = {"journey": "promo", "version": 2, "instance": iid, "customer_id": f"c{n}"}
    evs = [JourneyEvent(kind="entered", at=at, **base)]  # type: ignore[arg-type]
    if holdout:
        evs.append(JourneyEvent(kind="holdout", at=at, **base))  # type: ignore[arg-type]
    evs += [JourneyEvent(kind="step", step="ab", at=at, **base),  # type: ignore[arg-type]
            JourneyEvent(kind="variant", step="ab", variant=variant, at=at, **base),  # type: ignore[arg-type]
            JourneyEvent(kind="step", step="wait", variant=variant, at=at, **base)]  # type: ignore[arg-type]
    end = "converted" if convert else "ended"
    evs.append(JourneyEvent(kind=end, step="wait", variant=variant, at=at + 7200, **base))  # type: ignore[arg-type]
    a.apply_all(evs)


def test_experiment_table_lift_intervals_and_sample_ratio() -> None:
    a = Analytics()
    n = 0
    for variant, entered, converted in (("control", 1000, 100), ("coupon", 1000, 150)):
        for i in range(entered):
            n += 1
            _instance(a, n, variant=variant, holdout=False, convert=i < converted)
    for i in range(200):  # holdout: 200 entered (10 % of 2200 would be 220: fine), 10 converted
        n += 1
        _instance(a, n, variant="coupon", holdout=True, convert=i < 10)
    defs = definitions([journey(SPLIT)])
    rep = report.journey_report(a.buckets, defs, "promo")
    (ex,) = rep["experiments"]
    arms = {r["variant"]: r for r in ex["arms"]}
    assert arms["control"]["control"] and not arms["coupon"]["control"]
    assert (arms["coupon"]["entered"], arms["coupon"]["converted"]) == (1000, 150)  # holdout counted apart
    cmp = two_proportion(150, 1000, 100, 1000)
    assert cmp is not None
    assert arms["coupon"]["p_value"] == round(cmp.p_value or 0, 8) and arms["coupon"]["lift_abs"] == 0.05
    assert arms["coupon"]["lift_rel"] == 0.5 and arms["control"]["p_value"] is None
    assert arms["coupon"]["interval"] == [round(x, 6) for x in wilson(150, 1000)]  # type: ignore[union-attr]
    assert ex["srm"]["mismatch"] is False and ex["srm"]["p_value"] == 1.0
    h = rep["holdout"]
    assert h["percent"] == 10 and (h["holdout"]["entered"], h["holdout"]["converted"]) == (200, 10)
    assert (h["treatment"]["entered"], h["treatment"]["converted"]) == (2000, 250)
    hc = two_proportion(250, 2000, 10, 200)
    assert hc is not None and h["treatment"]["p_value"] == round(hc.p_value or 0, 8)
    chk = srm([2000, 200], [90, 10])
    assert chk is not None and h["srm"]["p_value"] == round(chk[1], 8)
    # time to convert: every conversion took 2 h, on the upper edge of the histogram's bin (1 h, 2 h]: the
    # bin's sum says so, and both quantiles are 2 h (spread over the bin, the median was 1.5 h)
    assert rep["totals"]["time_to_convert"] == {"median_s": 7200.0, "p90_s": 7200.0, "converted": 260}
    # a broken split: 1200 / 800 at 50/50 is flagged
    b = Analytics()
    for i in range(2000):
        _instance(b, i, variant="control" if i < 1200 else "coupon", holdout=False, convert=False)
    assert report.journey_report(b.buckets, defs, "promo")["experiments"][0]["srm"]["mismatch"] is True


def test_time_ranges_select_entry_cohorts() -> None:
    a = Analytics()
    for i in range(30):
        _instance(a, i, variant="control", holdout=False, convert=i % 3 == 0, hour=i)  # one entry per hour
    rep = report.journey_report(a.buckets, {}, "promo", since=T0 + 10 * 3600, until=T0 + 20 * 3600)
    assert rep["totals"]["entered"] == 10 and rep["totals"]["converted"] == 3  # hours 12, 15, 18
    assert [p["hour"] for p in rep["series"]] == [T0 + h * 3600 for h in range(10, 20)]
    assert report.journey_report(a.buckets, {}, "promo", version=1)["totals"]["entered"] == 0


def _line(**fields: Any) -> Any:
    return decode_event(orjson.dumps({"type": "track", "userId": "u1", **fields}))


def test_receipts_join_their_delivery_once_in_any_order() -> None:
    e = engine("""
        journey: hello
        version: 1
        entry: {event: signed_up}
        steps:
          - id: mail
            send: {channel: email, content: {subject: hi}}
        """)
    s = Simulator(e)
    s.handle(_line(messageId="i1", type="identify", timestamp="2026-03-02T18:29:00Z", traits={"email": "a@b.c"},
                   context={"timezone": "Europe/Berlin"}))
    s.handle(_line(messageId="s1", event="signed_up", timestamp="2026-03-02T18:30:00Z"))
    (cmd,) = s.commands
    for i, status in enumerate(("delivered", "opened", "opened", "clicked")):  # a repeated open counts once
        s.handle(_line(messageId=f"r{i}", event=f"message_{status}", timestamp="2026-03-02T19:00:00Z",
                       properties={"delivery_id": cmd.delivery_id, "channel": "email"}))
    (ch,) = report.journey_report(s.analytics.buckets, {}, "hello")["channels"]
    assert (ch["sent"], ch["delivered"], ch["opened"], ch["clicked"]) == (1, 1, 1, 1)
    assert ch["rates"]["opened"] == 1.0
    hours = {h["hour"]: h for h in ch["by_local_hour"]}
    assert hours[19]["sent"] == 1 and hours[19]["open_rate"] == 1.0  # 18:30 UTC is 19:30 in Berlin
    assert ch["by_sends_per_week"][0] == {"sends_per_week": 1, "sent": 1, "opened": 1, "open_rate": 1.0}
    # a receipt that arrives before its send (another partition, a lagging reader) waits for it
    late = Analytics()
    receipt = receipt_event(_line(messageId="r9", event="message_opened", timestamp="2026-03-02T19:00:00Z",
                                  properties={"delivery_id": cmd.delivery_id}), "u1")
    assert receipt is not None
    late.apply(receipt)
    assert late.receipts_unmatched == 1 and late.buckets == {}
    late.apply_all(journey_events(_send_result(s), "u1", e.policies.default_timezone))
    (ch,) = report.journey_report(late.buckets, {}, "hello")["channels"]
    assert (ch["sent"], ch["opened"]) == (1, 1)


def _send_result(s: Simulator) -> Any:
    """The engine result that made ``s``'s one send (its transitions, as the worker's journey events carry)."""
    from cjo_stream.engine.result import Result
    from cjo_stream.engine.transition import Transition

    (cmd,) = s.commands
    r = Result(s.profiles["u1"])
    base = {"at": 1772476200.0, "instance": cmd.instance_id, "version": 1}
    r.transitions = [Transition("hello", "entered", **base), Transition("hello", "step", step="mail", **base),  # type: ignore[arg-type]
                     Transition("hello", "sent", step="mail", channel="email", delivery_id=cmd.delivery_id, **base),  # type: ignore[arg-type]
                     Transition("hello", "ended", step="mail", **base)]  # type: ignore[arg-type]
    return r


GC_PROMO = """
journey: promo
entry: {event: signed_up}
holdout: 10
goal: {event: order_completed}
steps:
  - id: hello
    send: {channel: email, content: {subject: hi}}
  - id: ab
    split:
      - {variant: control, weight: 50, next: wait}
      - {variant: coupon, weight: 50, next: wait}
  - id: wait
    wait: 1d
"""
GC_PROBE = """
journey: probe
entry: {event: signed_up}
steps:
  - id: hello
    send: {channel: email, content: {subject: hi}}
"""


def test_global_control_customers_are_a_group_of_their_own_not_treatment() -> None:
    """The policies' global control group gets no customer-facing send from any journey: in a journey's
    report it is neither treatment, nor the journey's holdout, nor a split arm, but a row of its own."""
    sim = Simulator(engine(GC_PROMO, GC_PROBE, policy="global_control: {percent: 20}"))
    for i in range(600):
        sim.handle(ev("signed_up", T0 + i, user=f"g{i}", traits={"email": f"g{i}@example.com"}))
        if i % 4 == 0:
            sim.handle(ev("order_completed", T0 + i + 1, user=f"g{i}"))
    sim.finish()
    # by hand, from what was skipped: the probe journey (no holdout) shows who is in the global control
    gc = {s.customer_id for s in sim.skips if s.journey == "probe" and s.reason == "global_control"}
    hold = {s.customer_id for s in sim.skips if s.journey == "promo" and s.reason == "holdout"}
    conv = {f"g{i}" for i in range(0, 600, 4)}
    everyone = {f"g{i}" for i in range(600)}
    assert 80 <= len(gc) <= 160 and 30 <= len(hold) <= 90 and hold & gc
    rep = report.journey_report(sim.analytics.buckets, definitions(sim.engine.current.values()), "promo")
    h = rep["holdout"]
    groups = {"treatment": everyone - hold - gc, "holdout": hold - gc, "global_control": gc}
    for name, who in groups.items():
        assert (h[name]["entered"], h[name]["converted"]) == (len(who), len(who & conv)), name
    assert h["reference"] == "holdout" and h["srm"]["mismatch"] is False
    (ex,) = rep["experiments"]  # the split arms are the treatment, split
    assert sum(a["entered"] for a in ex["arms"]) == len(groups["treatment"])
    assert sum(a["converted"] for a in ex["arms"]) == len(groups["treatment"] & conv)
    assert rep["totals"]["entered"] == 600 and rep["totals"]["holdout"] == len(hold)
    text = render_text(sim.analytics, sim.engine.current.values())
    assert f"global control {len(gc & conv)}/{len(gc)}" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("  holdout "))  # its sample-ratio check, as a split's
    assert line.endswith(f"  (sample ratio p={pvalue(h['srm']['p_value'])})") and h["srm"]["p_value"] > 0.001
    h["srm"]["mismatch"] = True
    flagged = text_render([], {"promo": rep}).splitlines()
    assert next(ln for ln in flagged if ln.startswith("  holdout ")).endswith(", MISMATCH)")
    html = render_html(sim.analytics, sim.engine.current.values())
    assert f'<td>global control</td><td data-k="holdout.global_control.entered" data-v="{len(gc)}">' in html
    # a journey without a holdout of its own: treatment against the global control
    probe = report.journey_report(sim.analytics.buckets, definitions(sim.engine.current.values()), "probe")["holdout"]
    assert probe["holdout"] is None and probe["reference"] == "global_control"
    assert (probe["treatment"]["entered"], probe["global_control"]["entered"]) == (600 - len(gc), len(gc))


def test_the_page_gives_no_value_where_a_figure_has_none() -> None:
    """A card without a figure (no conversion yet: no median time to convert) wrote ``data-v='None'``,
    Python's None in the page for scripts and tests that read the values."""
    topo = load_topology(os.path.join(os.path.dirname(__file__), "..", "..", "topologies"))
    s = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    s.run_lines(jsonl_lines(os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "examples",
                                         "touchpoints.jsonl")))
    s.finish()
    html = render_html(s.analytics, topo.journeys)
    assert "data-k='totals.time_to_convert.median_s'" in html  # the card is there...
    assert "=None" not in html and "='None'" not in html and '"None"' not in html  # ...without a value


PINGS = """
journey: ping
entry: {event: ping}
re_entry: always
steps:
  - id: nudge
    send: {channel: in_app, content: {body: hi}}
"""


def _sends_per_week(a: Analytics) -> dict[int, int]:
    rep = report.journey_report(a.buckets, {}, "ping")
    (row,) = [r for r in rep["channels"] if r["channel"] == "in_app"]
    return {x["sends_per_week"]: x["sent"] for x in row["by_sends_per_week"] if x["sent"]}


def _ping(mid: str, at: str, who: str) -> bytes:
    return f'{{"messageId":"{mid}","type":"track","event":"ping","{who}","timestamp":"2026-03-01T{at}Z"}}'.encode()


LOGIN_LINES = [
    _ping("p1", "10:00:00", 'anonymousId":"a1'), _ping("p2", "10:30:00", 'anonymousId":"a1'),
    b'{"messageId":"i1","type":"identify","userId":"u1","anonymousId":"a1","timestamp":"2026-03-01T11:00:00Z"}',
    _ping("p3", "11:30:00", 'userId":"u1'), _ping("p4", "12:00:00", 'userId":"u1'),
]


def test_sends_per_week_count_on_across_a_login() -> None:
    """Four in-app messages to one person, two before login and two after: ranked 1, 2, 3, 4 (an analyst's hand
    count), not 1, 2, 1, 2 as two customers' would be; the same whether folded from results or records."""
    for recording in (False, True):
        s = Simulator(engine(PINGS), analytics=Recorder(ZoneInfo("UTC"))) if recording else Simulator(engine(PINGS))
        s.run_lines(LOGIN_LINES)
        s.finish()
        assert _sends_per_week(s.analytics) == {1: 1, 2: 1, 3: 1, 4: 1}, recording
    # the customer had sends of their own first (in another session): the anonymous ones rank among them
    recorder = Recorder(ZoneInfo("UTC"))
    s = Simulator(engine(PINGS), analytics=recorder)
    s.run_lines([_ping("p0", "09:00:00", 'userId":"u1'), *LOGIN_LINES])
    s.finish()
    assert _sends_per_week(recorder) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    linked = [e for e in recorder.events if e.kind == "linked"]
    assert [(e.customer_id, e.from_) for e in linked] == [("u1", "a1")]
