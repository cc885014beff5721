"""Duplicates across a login, as the README's table says (the simulator applies the workers' rule)."""

from __future__ import annotations

from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

NUDGE = """
journey: nudge
re_entry: always
entry: {event: go}
steps:
  - id: s
    send: {channel: in_app, content: {body: hi}}
"""


def test_a_copy_under_the_anonymous_id_after_the_merge_is_dropped() -> None:
    sim = Simulator(engine(NUDGE))
    sim.handle(ev("go", T0, user=None, anon="a1", mid="m1"))  # type: ignore[arg-type]
    sim.handle(ev("identify", T0 + 60, type="identify", anon="a1"))
    sim.handle(ev("go", T0, user=None, anon="a1", mid="m1"))  # type: ignore[arg-type]
    assert len(sim.commands) == 1 and sim.duplicates == 1


def test_a_copy_that_makes_the_link_itself_is_applied_again() -> None:
    """The documented false negative: checked under the user id before its own link brings the
    anonymous record's ids over (live, the link is decided in the anonymous id's partition)."""
    sim = Simulator(engine(NUDGE))
    sim.handle(ev("go", T0, user=None, anon="a1", mid="m1"))  # type: ignore[arg-type]
    sim.handle(ev("go", T0, anon="a1", mid="m1"))
    assert [c.customer_id for c in sim.commands] == ["a1", "u1"] and sim.duplicates == 0
    # the ids are one customer's from then on: a third copy is dropped
    sim.handle(ev("go", T0, user=None, anon="a1", mid="m1"))  # type: ignore[arg-type]
    assert len(sim.commands) == 2 and sim.duplicates == 1
