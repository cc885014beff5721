"""``event.previous``: the values the profile held, before the event, of the traits it names. An entry "when the
plan changes to pro" (Braze's change in custom attribute value, Customer.io's attribute change trigger) entered
a customer again at every identify that sent ``plan: pro`` once more; with ``event.previous`` it enters at the
change only, and a step after a wait still reads the value it changed from."""

from __future__ import annotations

from cjo_stream.event import Event
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

UPGRADED = """
journey: upgraded
entry: {event: identify, when: "event.traits.plan == 'pro' and event.previous.plan != 'pro'"}
re_entry: always
steps:
  - id: settle
    wait: 1h
  - id: thanks
    send: {channel: email, content: {subject: "Welcome to pro", body: "from {{ event.previous.plan | default: 'nothing' }}"}}
"""


def _identify(at: float, **traits: object) -> Event:
    return ev("identify", at, type="identify", traits={"email": "a@example.com", **traits})


def test_the_entry_holds_at_the_change_only() -> None:
    sim = Simulator(engine(UPGRADED))
    sim.handle(_identify(T0, plan="free"))
    sim.handle(_identify(T0 + 60, plan="pro"))  # free -> pro: enters
    sim.handle(_identify(T0 + 7200, plan="pro"))  # pro again (a login sends every trait): does not
    sim.handle(_identify(T0 + 9000, city="Berlin"))  # names no plan: previous.plan is null, traits.plan too
    sim.finish()
    (cmd,) = sim.commands
    assert cmd.content == {"subject": "Welcome to pro", "body": "from free"}  # read after the wait


def test_a_new_customer_changes_from_nothing() -> None:
    sim = Simulator(engine(UPGRADED))
    sim.handle(_identify(T0, plan="pro"))
    sim.finish()
    (cmd,) = sim.commands
    assert cmd.content["body"] == "from nothing"


def test_an_event_naming_no_trait_has_none_previous() -> None:
    entry = """entry: {event: identify, when: "event.traits.plan == 'pro' and event.previous.plan != 'pro'"}"""
    journey = UPGRADED.replace(entry, "entry: {event: go}").replace("  - id: settle\n    wait: 1h\n", "").replace(
        "from {{ event.previous.plan | default: 'nothing' }}", "{{ event.previous | json }}")
    assert journey.count("go}") == 1 and "| json" in journey
    sim = Simulator(engine(journey))
    sim.handle(_identify(T0, plan="pro"))
    sim.handle(ev("go", T0 + 60))
    sim.finish()
    (cmd,) = sim.commands
    assert cmd.content["body"] == "{}"


def test_built_only_when_a_journey_reads_it() -> None:
    # a mapping for each event naming traits and a key in each view: not paid by a topology that never reads it
    plain = "journey: p\nentry: {event: go}\nsteps:\n  - id: s\n    send: {channel: email, content: {body: \"BODY\"}}\n"
    assert engine(UPGRADED).previous_read  # its entry's condition
    assert not engine(plain.replace("BODY", "hi {{ event.traits.plan }}")).previous_read
    assert engine(plain.replace("BODY", "was {{ event.previous.plan }}")).previous_read  # a template
    assert engine(plain.replace("BODY", "{{ event | json }}")).previous_read  # the whole event
