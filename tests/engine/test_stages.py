"""Lifecycle stages: the loader (file:line errors), the engine (stage, stage_since, stage_changed), the
simulator, and the property that a customer is always in the last stage whose condition holds."""

from __future__ import annotations

import os
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjo_stream.engine import Engine
from cjo_stream.journeys.loader import JourneyLoadError, load_topology
from cjo_stream.journeys.source import SourceError, load_yaml
from cjo_stream.journeys.stages import Stages, compile_stages
from cjo_stream.profile import Profile, decode_profile, encode_profile, new_profile, profile_to_dict
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, journey

STAGES = """
stages:
  - {stage: awareness,     when: "true"}
  - {stage: consideration, when: profile.counters.product_viewed >= 3 or profile.counters.cart_item_added >= 1}
  - {stage: purchase,      when: profile.counters.order_completed >= 1}
  - {stage: retention,     when: profile.counters.order_completed >= 2}
  - {stage: advocacy,      when: profile.counters.review_submitted >= 1 or profile.counters.referral_sent >= 1}
"""

LOYAL = """
journey: loyal
entry: {event: stage_changed, when: "event.properties.to == 'retention'"}
steps:
  - id: thanks
    send: {channel: email, content: {subject: "Welcome back, {{ profile.stage }}", body: "from {{ event.properties.from }}"}}
"""

ADVOCATE = """
journey: onboarding
entry: {event: order_completed}
steps:
  - id: wait_review
    wait_for: {event: stage_changed, when: "event.properties.to == 'advocacy'", timeout: 7d}
    on_event: thank
    on_timeout: nudge
  - id: thank
    send: {channel: email, content: {body: "thanks, {{ profile.stage }} since {{ profile.stage_since }}"}}
    next: end
  - id: nudge
    send: {channel: email, content: {body: "review us?"}}
"""

ADDR = {"email": "a@example.com"}


def stages(text: str = STAGES, file: str = "stages.yaml") -> Stages:
    return compile_stages(load_yaml(textwrap.dedent(text), file))


def sim_for(*texts: str, stage_text: str = STAGES) -> Simulator:
    return Simulator(Engine([journey(t) for t in texts], stages=stages(stage_text)))


def test_a_customer_first_seen_at_the_epoch_is_not_new_again() -> None:
    """first_seen 0 meant "never seen": after an event at 1970-01-01T00:00:00Z every event moved the
    customer from no stage into the first one again (counted in the stage transitions), and the stage's
    since became the next event's time."""
    eng = Engine([], stages=stages())
    p = new_profile("u")
    moves = [eng.process(p, ev(name, at), at).stage_moves
             for name, at in (("cart_item_added", 0.0), ("page_viewed", 0.0), ("page_viewed", T0))]
    assert moves == [[("", "awareness"), ("awareness", "consideration")], [], []]
    shown = profile_to_dict(p, "awareness")
    assert (shown["stage"], shown["stage_since"], shown["first_seen"]) == (
        "consideration", "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000Z")


# ------------------------------------------------------------------ loader
@pytest.mark.parametrize(("text", "line", "reason"), [
    ("stages:\n  - {stage: a, when: 'true'}\n  - {stage: b, when: 'profile.counters.x >='}\n", 3, "bad expression"),
    ("stages:\n  - {stage: a, when: 'true'}\n  - {stage: a, when: 'true'}\n", 3, "duplicate stage 'a'"),
    # written over several lines (`>`): told at the line of the mistake, not the `when:` line
    ("stages:\n  - stage: a\n    when: >\n      profile.counters.x >= 1\n      and profile.counters.y >=\n", 5,
     "bad expression"),
    ("stages:\n  - stage: a\n    when: >\n      profile.counters.x >= 1\n      and profile.counter.y >= 1\n", 5,
     "profile has no field 'counter'"),
    ("stages:\n  - {stage: a, when: 'true'}\n  - {stage: b, when: 'profile.counter.x >= 1'}\n", 3,
     "profile has no field 'counter' (did you mean 'counters'?)"),
    ("stages:\n  - {stage: a, when: 'true'}\n  - {stage: b, when: event.properties.x == 1}\n", 3,
     "use `profile` and `now`, not event"),
    ("stages:\n  - {stage: a, when: 'true'}\n  - {stage: B-2, when: 'true'}\n", 3, "stages.1.stage: 'B-2' is not a name: use lower-case letters, digits and _ (e.g. 'b_2')"),
    ("stages:\n  - {stage: a, when: 'true', next: b}\n", 2, "next"),
    ("stages:\n  - {stage: a}\n", 2, "missing required key `when`"),
    ("stages: []\n", 1, "stages"),
    ("- a\n- b\n", 1, "must be a mapping"),
    ("stages:\n  - {stage: a, when: 'true'\n", 3, "YAML syntax"),
])
def test_bad_stages_file_is_refused_with_file_and_line(tmp_path: os.PathLike[str], text: str, line: int,
                                                       reason: str) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    with open(os.path.join(root, "journeys", "j.yaml"), "w") as f:
        f.write(textwrap.dedent(LOYAL))
    with open(os.path.join(root, "stages.yaml"), "w") as f:
        f.write(text)
    with pytest.raises(JourneyLoadError) as e:
        load_topology(root)
    (problem,) = e.value.problems
    assert isinstance(problem, SourceError)
    assert (problem.file, problem.line) == (os.path.join(root, "stages.yaml"), line), str(problem)
    assert reason in problem.reason


def test_every_problem_of_a_stages_file_is_listed_at_once(tmp_path: os.PathLike[str]) -> None:
    """A duplicate stage, `event.` in a condition and a bad expression took three fix-and-rerun rounds, one
    message each, while journey files and policies.yaml list every problem at once (a walkthrough)."""
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    with open(os.path.join(root, "journeys", "j.yaml"), "w") as f:
        f.write(textwrap.dedent(LOYAL))
    with open(os.path.join(root, "stages.yaml"), "w") as f:
        f.write("stages:\n  - {stage: a, when: 'true'}\n  - {stage: a, when: 'true'}\n"
                "  - {stage: b, when: event.properties.x == 1}\n  - {stage: c, when: 'profile.counters.x = 1'}\n")
    with pytest.raises(JourneyLoadError) as e:
        load_topology(root)
    found = [(p.line, p.reason.split(":")[0]) for p in e.value.problems if isinstance(p, SourceError)]
    assert found == [(3, "duplicate stage 'a'"), (4, "a stage depends on the customer"), (5, "bad expression 'profile.counters.x = 1'")]


def test_topology_without_stages_file_has_no_stages_and_profile_stage_is_null(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    with open(os.path.join(root, "journeys", "j.yaml"), "w") as f:
        f.write(textwrap.dedent(LOYAL))
    topo = load_topology(root)
    assert topo.stages is None
    sim = Simulator(Engine(topo.journeys))
    sim.handle(ev("order_completed", T0))
    assert sim.profiles["u1"].stage == "" and sim.profiles["u1"].view()["stage"] is None
    with open(os.path.join(root, "stages.yaml"), "w") as f:
        f.write(textwrap.dedent(STAGES))
    assert load_topology(root).stages.names == ("awareness", "consideration", "purchase", "retention", "advocacy")  # type: ignore[union-attr]


def test_boolean_when_is_accepted() -> None:
    assert stages("stages:\n  - {stage: a, when: true}\n  - {stage: b, when: false}\n").names == ("a", "b")


# ------------------------------------------------------------------ engine
def test_stage_moves_after_each_event_and_records_since() -> None:
    sim = sim_for()
    sim.handle(ev("page_viewed", T0))
    p = sim.profiles["u1"]
    assert (p.stage, p.stage_since) == ("", 0)  # still the first stage: nothing stored
    assert p.view("awareness")["stage"] == "awareness" and p.view("awareness")["stage_since"] == int(T0)
    sim.handle(ev("cart_item_added", T0 + 60))
    assert (p.stage, p.stage_since) == ("consideration", int(T0 + 60))
    sim.handle(ev("order_completed", T0 + 120))
    sim.handle(ev("order_completed", T0 + 180))
    assert (p.stage, p.stage_since) == ("retention", int(T0 + 180))
    sim.handle(ev("review_submitted", T0 + 240))
    assert p.stage == "advocacy"
    assert "stage_changed" not in p.counters  # an internal event: stage and stage_since say it all
    assert sim.stage_transitions == {("awareness", "consideration"): 1, ("consideration", "purchase"): 1,
                                     ("purchase", "retention"): 1, ("retention", "advocacy"): 1}
    assert sim.stage_counts() == {"awareness": 0, "consideration": 0, "purchase": 0, "retention": 0, "advocacy": 1}
    assert profile_to_dict(p, "awareness")["stage"] == "advocacy"


def test_stage_jumps_straight_to_the_last_matching_stage_with_one_stage_changed() -> None:
    sim = sim_for()
    sim.handle(ev("review_submitted", T0))  # advocacy holds at once; purchase etc. do not matter
    assert sim.profiles["u1"].stage == "advocacy"
    assert sim.stage_transitions == {("awareness", "advocacy"): 1}


def test_journey_enters_on_stage_changed_at_the_same_time_right_after_the_event() -> None:
    sim = sim_for(LOYAL)
    sim.handle(ev("identify", T0, type="identify", traits=ADDR))
    sim.handle(ev("order_completed", T0 + 10, mid="o1"))
    assert sim.commands == []
    res = sim.engine.process(sim.profiles["u1"], ev("order_completed", T0 + 20, mid="o2"), T0 + 20)
    (cmd,) = res.commands
    assert cmd.journey == "loyal" and cmd.decided_at == "2026-03-02T10:00:20.000Z" and cmd.triggered_by == "o2"
    assert cmd.content == {"subject": "Welcome back, retention", "body": "from purchase"}
    assert res.stage_moves == [("purchase", "retention")]
    # the causing event was applied first: the journey's entry saw the profile after it
    assert sim.profiles["u1"].counters["order_completed"] == 2


def test_same_input_gives_same_delivery_ids() -> None:
    def run() -> list[str]:
        sim = sim_for(LOYAL)
        sim.handle(ev("identify", T0, type="identify", traits=ADDR, mid="i"))
        sim.handle(ev("order_completed", T0 + 10, mid="o1"))
        sim.handle(ev("order_completed", T0 + 20, mid="o2"))
        return [c.delivery_id for c in sim.commands]

    first = run()
    assert len(first) == 1 and run() == first


def test_wait_for_stage_changed_with_condition_and_timeout() -> None:
    sim = sim_for(ADVOCATE)
    sim.handle(ev("identify", T0, type="identify", traits=ADDR))
    sim.handle(ev("order_completed", T0 + 10))
    sim.handle(ev("order_completed", T0 + 20))  # stage_changed to retention: not what it waits for
    assert sim.commands == []
    sim.handle(ev("referral_sent", T0 + 3600))
    (cmd,) = sim.commands
    assert cmd.step == "thank" and cmd.content["body"] == f"thanks, advocacy since {int(T0 + 3600)}"
    sim2 = sim_for(ADVOCATE)
    sim2.handle(ev("identify", T0, type="identify", traits=ADDR))
    sim2.handle(ev("order_completed", T0 + 10))
    sim2.finish()
    assert [c.step for c in sim2.commands] == ["nudge"]


def test_stage_can_move_back_when_its_condition_stops_holding() -> None:
    sim = sim_for(stage_text="""
    stages:
      - {stage: new, when: "true"}
      - {stage: vip, when: profile.traits.vip == true}
    """)
    sim.handle(ev("identify", T0, type="identify", traits={"vip": True}))
    sim.handle(ev("identify", T0 + 5, type="identify", traits={"vip": False}))
    assert sim.profiles["u1"].stage == "new"
    assert sim.stage_transitions == {("new", "vip"): 1, ("vip", "new"): 1}


def test_merge_counts_the_anonymous_history_for_the_stage() -> None:
    sim = sim_for()
    sim.handle(ev("product_viewed", T0, user=None, anon="a1"))  # type: ignore[arg-type]
    sim.handle(ev("product_viewed", T0 + 1, user=None, anon="a1"))  # type: ignore[arg-type]
    sim.handle(ev("product_viewed", T0 + 2, user="u9"))
    sim.handle(ev("identify", T0 + 3, user="u9", anon="a1", type="identify"))
    assert sim.profiles["u9"].stage == "consideration"


def test_old_stored_profile_without_stage_fields_still_decodes() -> None:
    import msgspec

    old = msgspec.msgpack.encode(["u1", 1, 2.0, {}, {"x": [1, 1]}, {}, None, {}, {}, [], [], []])
    p = decode_profile(old)
    assert isinstance(p, Profile) and (p.stage, p.stage_since) == ("", 0) and p.counters == {"x": 1}
    q = new_profile("u2")
    q.stage, q.stage_since = "purchase", 5
    assert decode_profile(encode_profile(q)).stage == "purchase"


# ------------------------------------------------------------------ property
STAGE_RULES = """
stages:
  - {stage: s0, when: "true"}
  - {stage: s1, when: profile.counters.a >= 2}
  - {stage: s2, when: profile.counters.b >= 1 and profile.counters.a >= 1}
  - {stage: s3, when: profile.counters.c >= 3}
  - {stage: s4, when: profile.traits.vip == true}
"""
PROP_STAGES = stages(STAGE_RULES)


def _expected(p: Profile) -> str:
    c = p.counters
    checks = [True, c.get("a", 0) >= 2, c.get("b", 0) >= 1 and c.get("a", 0) >= 1, c.get("c", 0) >= 3,
              p.traits.get("vip") is True]
    return [n for n, ok in zip(PROP_STAGES.names, checks, strict=True) if ok][-1]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "identify"]), st.booleans(), st.integers(0, 3600)),
                min_size=1, max_size=30))
def test_stage_is_always_the_last_matching_one(seq: list[tuple[str, bool, int]]) -> None:
    sim = Simulator(Engine([], stages=PROP_STAGES))
    t = T0
    moves = 0
    for n, (name, vip, gap) in enumerate(seq):
        t += gap
        typ = "identify" if name == "identify" else "track"
        before = sim.profiles["u1"].stage if "u1" in sim.profiles else ""
        sim.handle(ev(name, t, type=typ, traits={"vip": vip} if typ == "identify" else None, mid=f"p{n}"))
        p = sim.profiles["u1"]
        want = _expected(p)
        assert (p.stage or "s0") == want
        if (before or "s0") != want:
            moves += 1
            assert p.stage_since == int(t)
    assert moves == sum(sim.stage_transitions.values())


def test_wait_for_stage_changed_without_condition_keeps_only_its_time() -> None:
    sim = sim_for("""
    journey: any_move
    entry: {event: cart_item_added}
    steps:
      - id: wait_move
        wait_for: {event: stage_changed, timeout: 1d}
        on_event: moved
        on_timeout: end
      - id: moved
        send: {channel: email, content: {body: "now {{ profile.stage }}"}}
    """)
    sim.handle(ev("identify", T0, type="identify", traits=ADDR))
    sim.handle(ev("cart_item_added", T0 + 1))  # enters, and moves the stage in the same breath: after the entry
    assert [c.content["body"] for c in sim.commands] == ["now consideration"]
    sim.handle(ev("cart_item_added", T0 + 2))
    assert sim.profiles["u1"].events["stage_changed"][0] == 0  # its times are remembered, not counted


def test_stages_are_evaluated_only_after_events_their_conditions_read() -> None:
    st = stages(STAGE_RULES)
    assert st.events == {"a", "b", "c"} and st.traits
    assert st.affected_by("a", False) and not st.affected_by("page_viewed", False)
    assert st.affected_by("page_viewed", True)  # traits may change
    timed = stages("stages:\n  - {stage: a, when: 'true'}\n  - {stage: lapsed, when: days_since(profile.last.o) > 30}\n")
    assert timed.events is None and timed.affected_by("anything", False)  # `now` moves with every event
    whole = stages("stages:\n  - {stage: a, when: 'true'}\n  - {stage: busy, when: len(profile.counters) > 3}\n")
    assert whole.events is None
    # a condition that holds on an empty profile places a new customer at their first event, whatever it is
    sim = sim_for(stage_text="stages:\n  - {stage: a, when: 'true'}\n  - {stage: fresh, when: not exists(profile.counters.o)}\n")
    sim.handle(ev("page_viewed", T0))
    assert sim.profiles["u1"].stage == "fresh"
    sim.handle(ev("o", T0 + 1))
    assert sim.profiles["u1"].stage == "a"


COUNTER_RULES = stages("""
stages:
  - {stage: s0, when: "true"}
  - {stage: s1, when: profile.counters.a >= 2}
  - {stage: s2, when: profile.counters.b >= 1 and profile.counters.a >= 1}
  - {stage: s3, when: profile.counters.c == null or profile.counters.c >= 3}
""")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["u1", "u2", "u3"])),
                min_size=1, max_size=40))
def test_memoised_stages_decide_as_evaluated_ones(seq: list[tuple[str, str]]) -> None:
    import dataclasses

    assert COUNTER_RULES.counters_only == ("a", "b", "c")
    sims = [Simulator(Engine([], stages=s)) for s in (COUNTER_RULES, dataclasses.replace(COUNTER_RULES,
                                                                                          counters_only=None))]
    for n, (name, who) in enumerate(seq):
        for sim in sims:
            sim.handle(ev(name, T0 + n, user=who, mid=f"m{n}"))
    memo, plain = sims
    assert {c: p.stage for c, p in memo.profiles.items()} == {c: p.stage for c, p in plain.profiles.items()}
    assert memo.stage_transitions == plain.stage_transitions


def test_a_stage_counts_days_in_the_customers_calendar() -> None:
    """``days_until`` in a stage condition reads the customer's zone as a journey's does: at 16:00 UTC on
    2 March it is 3 March in Tokyo, so a renewal on the 10th is 7 days away there (8 in UTC)."""
    eng = Engine([], stages=stages("""
        stages:
          - {stage: customer, when: "true"}
          - {stage: renewal_due, when: days_until(profile.traits.renews_on) <= 7}
    """))
    at = T0 + 6 * 3600
    tokyo, utc = new_profile("k"), new_profile("u")
    eng.process(tokyo, ev("identify", at, "k", type="identify",
                          traits={"renews_on": "2026-03-10", "timezone": "Asia/Tokyo"}), at)
    eng.process(utc, ev("identify", at, "u", type="identify", traits={"renews_on": "2026-03-10"}), at)
    assert [p.stage or eng.default_stage for p in (tokyo, utc)] == ["renewal_due", "customer"]
