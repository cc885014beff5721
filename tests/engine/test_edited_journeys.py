"""Journeys edited while customers are in them (a walkthrough of a journey author changing journeys live).

A step renamed without a new ``version`` crashed the worker on every start (``KeyError``); a step whose kind
changed under a sleeping instance sent a thank-you for a purchase never made, or ended the instance silently;
a shortened ``wait_for`` timeout ignored the awaited event; an instance that moved to the current version
said version 1 in its state and journey events while its commands said 2."""

from __future__ import annotations

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
