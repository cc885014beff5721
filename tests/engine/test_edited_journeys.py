"""Journeys edited while customers are in them (a walkthrough of a journey author changing journeys live).

A step renamed without a new ``version`` crashed the worker on every start (``KeyError``); a step whose kind
changed under a sleeping instance sent a thank-you for a purchase never made, or ended the instance silently;
a shortened ``wait_for`` timeout ignored the awaited event; an instance that moved to the current version
said version 1 in its state and journey events while its commands said 2."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cjo_stream.engine import Engine
from cjo_stream.engine.transition import Transition
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, journey


def sim_of(text: str) -> tuple[Simulator, list[Transition]]:
    seen: list[Transition] = []
    sim = Simulator(Engine([journey(text)]), on_result=lambda r: seen.extend(r.transitions))
    return sim, seen


def redeploy(sim: Simulator, *texts: str) -> None:
    """What a worker restarted on edited files does: the same profiles, timers and clock, other definitions."""
    sim.engine = Engine([journey(t) for t in texts])


WAIT_FOR = """
journey: b
version: 1
entry: {event: go}
steps:
  - id: wf
    wait_for: {event: buy, timeout: 5m}
    on_event: thanks
    on_timeout: remind
  - {id: remind, send: {channel: in_app, content: {body: remind}}}
  - {id: thanks, send: {channel: in_app, content: {body: thanks}}}
"""


def test_a_step_renamed_without_a_new_version_ends_its_instances_instead_of_crashing() -> None:
    for wake in ("event", "timer"):
        sim, seen = sim_of(WAIT_FOR)
        sim.handle(ev("go", T0))
        redeploy(sim, WAIT_FOR.replace("id: wf", "id: waitevt"))  # still version 1
        if wake == "event":
            sim.handle(ev("buy", T0 + 60))
        else:
            sim.advance(T0 + 301)
        ends = [(t.kind, t.step, t.reason) for t in seen if t.kind in ("expired", "ended", "converted")]
        assert ends == [("expired", "wf", "step_unavailable")], (wake, ends)
        assert sim.commands == [] and sim.profiles["u1"].instances == {}


def test_ending_says_beforehand_how_an_instance_will_end() -> None:
    """What the state API shows (``ending``) is what the next event does: a removed journey's instance and a
    renamed step's end (version / step unavailable); one whose step exists in the current version goes on."""
    other = WAIT_FOR.replace("journey: b", "journey: other")
    cases = [
        ([other], "version_unavailable"),  # b's file removed
        ([WAIT_FOR.replace("id: wf", "id: waitevt")], "step_unavailable"),  # renamed in place
        ([WAIT_FOR.replace("version: 1", "version: 2")], None),  # v1's file replaced by v2 with the step: goes on
        ([WAIT_FOR], None),
    ]
    for texts, why in cases:
        sim, seen = sim_of(WAIT_FOR)
        sim.handle(ev("go", T0))
        redeploy(sim, *texts)
        inst = sim.profiles["u1"].instances["b"]
        version = inst.version
        assert sim.engine.ending(inst) == why, texts
        assert inst.version == version  # asking changes nothing
        sim.handle(ev("noise", T0 + 60))
        ends = [(t.kind, t.reason) for t in seen if t.kind == "expired"]
        assert ends == ([("expired", why)] if why else []), (texts, ends)


def test_a_wait_that_became_a_wait_for_starts_the_step_again() -> None:
    """The old wait's timer went on to the wait_for's `on_event` step: "thank you for your purchase"."""
    v1 = """
    journey: n
    version: 1
    entry: {event: go}
    steps:
      - {id: w, wait: 60s}
      - {id: s, send: {channel: in_app, content: {body: v1}}}
    """
    v2 = WAIT_FOR.replace("journey: b", "journey: n").replace("version: 1", "version: 2").replace("id: wf", "id: w")
    sim, seen = sim_of(v1)
    sim.handle(ev("go", T0))
    redeploy(sim, v2)  # the old file removed: the instance goes on on v2, whose `w` is a wait_for now
    sim.advance(T0 + 61)
    assert sim.commands == []  # no thank-you: nobody bought
    inst = sim.profiles["u1"].instances["n"]
    assert (inst.step, inst.waiting, inst.version, inst.due) == ("w", "wait_for", 2, T0 + 60 + 300)
    sim.handle(ev("buy", T0 + 120))
    assert [c.content["body"] for c in sim.commands] == ["thanks"]
    assert {t.version for t in seen if t.instance == inst.instance_id and t.at > T0} == {2}


def test_a_wait_for_that_became_a_wait_waits_and_goes_on() -> None:
    """The wait_for's timeout woke a plain wait, whose missing `on_timeout` meant the end: nothing was sent."""
    v2 = """
    journey: b
    version: 2
    entry: {event: go}
    steps:
      - {id: wf, wait: 90s}
      - {id: remind, send: {channel: in_app, content: {body: remind}}}
    """
    sim, _ = sim_of(WAIT_FOR)
    sim.handle(ev("go", T0))
    redeploy(sim, v2)
    sim.advance(T0 + 300)
    assert sim.commands == [] and sim.profiles["u1"].instances["b"].waiting == "wait"
    sim.advance(T0 + 300 + 90)
    assert [c.content["body"] for c in sim.commands] == ["remind"]


def test_the_awaited_event_counts_from_when_the_wait_began_though_its_timeout_was_shortened() -> None:
    """The wait's start was taken as its due time minus the *new* timeout: an event inside both windows
    looked earlier than the wait and was ignored, and the reminder went out."""
    sim, _ = sim_of(WAIT_FOR.replace("timeout: 5m", "timeout: 2m"))
    sim.handle(ev("go", T0))
    redeploy(sim, WAIT_FOR.replace("timeout: 5m", "timeout: 100s"))  # the same version, edited
    sim.handle(ev("buy", T0 + 10))
    sim.finish()
    assert [c.content["body"] for c in sim.commands] == ["thanks"]


# ------------------------------------------------------------------ any edit, at any moment
_IDS = ("a", "b", "c", "d")


@st.composite
def journeys_text(draw: st.DrawFn, version: int) -> str:
    """A random journey of waits, wait_fors, sends and branches over a few step ids, entered on `go`: each
    step leads on to the one after it, and its other way (an event, a branch) to any later one (the loader
    refuses unreachable steps and loops without a wait)."""
    ids = draw(st.lists(st.sampled_from(_IDS), min_size=1, max_size=4, unique=True))
    steps = []
    for i, sid in enumerate(ids):
        following = ids[i + 1] if i + 1 < len(ids) else "end"
        other = draw(st.sampled_from([*ids[i + 1:], "end"]))
        kind = draw(st.sampled_from(("wait", "wait_for", "send", "branch")))
        if kind == "wait":
            steps.append(f"  - {{id: {sid}, wait: {draw(st.sampled_from(('1m', '5m', '1h')))}, next: {following}}}")
        elif kind == "wait_for":
            steps.append(f"  - id: {sid}\n    wait_for: {{event: {draw(st.sampled_from(('buy', 'x')))}, "
                         f"timeout: {draw(st.sampled_from(('2m', '10m')))}}}\n"
                         f"    on_event: {other}\n    on_timeout: {following}")
        elif kind == "send":
            steps.append(f"  - {{id: {sid}, send: {{channel: in_app, content: {{body: {sid}}}}}, next: {following}}}")
        else:
            steps.append(f"  - id: {sid}\n    branch:\n      - when: event.properties.v == 1\n"
                         f"        next: {other}\n      - else: {following}")
    return f"journey: j\nversion: {version}\nre_entry: always\nentry: {{event: go}}\nsteps:\n" + "\n".join(steps) + "\n"


def _loads(text: str) -> bool:
    try:
        journey(text)
    except Exception:  # noqa: BLE001 - a random journey the loader refuses (a loop without a wait, ...)
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(before=journeys_text(1), after_version=st.sampled_from((1, 2)), keep_old=st.booleans(),
       after=st.data(), moments=st.lists(st.tuples(st.sampled_from(("go", "buy", "x")), st.integers(0, 900),
                                                   st.integers(0, 1)), max_size=6),
       switch_at=st.integers(0, 6))
def test_any_edit_at_any_moment_never_raises(before: str, after_version: int, keep_old: bool, after: st.DataObject,
                                             moments: list[tuple[str, int, int]], switch_at: int) -> None:
    """Whatever the edit (same version or a new one, the old file kept or not) and whenever it lands between
    events and timers, the engine decides on: it never raises, and no instance is left at a step its
    definition does not have."""
    new = after.draw(journeys_text(after_version))
    assume(_loads(before) and _loads(new))
    sim = Simulator(Engine([journey(before)]))
    t = T0
    for k, (name, gap, v) in enumerate(sorted(moments, key=lambda m: m[1])):
        if k == switch_at:
            redeploy(sim, *([before, new] if keep_old and after_version == 2 else [new]))
        t = T0 + gap
        sim.handle(ev(name, t, props={"v": v}))
    if switch_at >= len(moments):
        redeploy(sim, *([before, new] if keep_old and after_version == 2 else [new]))
    sim.advance(t + 3 * 3600)
    profile = sim.profiles.get("u1")
    for inst in profile.instances.values() if profile is not None else ():
        defs = [j for (jid, _), j in sim.engine.versions.items() if jid == inst.journey]
        assert any(inst.step in j.steps for j in defs), (inst, before, new)
