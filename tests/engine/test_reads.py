"""A send or condition gets only the part of ``profile`` it reads: the same values as the whole view, and
the whole view whenever a reader could see more than named keys (``size``, ``first``, the mapping itself)."""

from __future__ import annotations

import pytest

from cjo_stream.engine.reads import ALL, PROFILE_PARTS, profile_part, step_reads, template_reads
from cjo_stream.journeys.templates import Template
from cjo_stream.profile import Profile
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev


@pytest.mark.parametrize("default_stage", [None, "awareness"])
@pytest.mark.parametrize(("stage", "since"), [("", 0), ("purchase", 0), ("purchase", 1_700_000_500)])
def test_every_profile_part_is_the_views_value(default_stage: str | None, stage: str, since: int) -> None:
    p = Profile(customer_id="c1", traits={"first_name": "Ada"}, first_seen=1_700_000_000, last_seen=1_700_000_900,
                consent={"email": True, "all": False}, timezone="Europe/Paris", stage=stage, stage_since=since)
    view = p.view(default_stage, ("newsletter",))
    assert set(PROFILE_PARTS) == set(view) - {"counters", "last"}
    assert profile_part(p, tuple(PROFILE_PARTS), default_stage, ("newsletter",)) == {k: view[k] for k in PROFILE_PARTS}
    assert view["consent"]["newsletter"] is False


@pytest.mark.parametrize(("source", "reads"), [
    ("Hi {{ profile.traits.first_name | default: 'there' }}", (frozenset({"profile"}), ("traits",))),
    ("{{ event.properties.x }} {{ journey.id }}", (frozenset({"event", "journey"}), ())),
    ("{% if profile.stage == 'a' %}{{ profile.customer_id }}{% endif %}",
     (frozenset({"profile"}), ("customer_id", "stage"))),
    ("{{ profile.counters.x }}", (frozenset({"profile"}), None)),  # the counters: the whole view, built once
    ("{{ profile.size }}", (frozenset({"profile"}), None)),  # size/first/unknown keys read the mapping
    ("{{ profile.first }}", (frozenset({"profile"}), None)),
    ("{% for k in profile %}{{ k }}{% endfor %}", (frozenset({"profile"}), None)),
    ("{{ profile | json }}", (frozenset({"profile"}), None)),
    ("{{ [event.k].x }}", ALL),  # a computed root may be anything
    ("plain text", (frozenset(), ())),
])
def test_template_reads(source: str, reads: object) -> None:
    assert template_reads([Template(source)]) == reads


SENDS = """
journey: j
version: 1
entry: {event: go}
re_entry: always
steps:
  - id: pick
    branch:
      - when: event.properties.second == true
        next: second
      - else: first
  - id: first
    send:
      channel: webhook
      content:
        a: "{{ profile.traits.first_name }}|{{ profile.stage }}|{{ profile.first_seen }}"
    next: end
  - id: second
    send:
      channel: webhook
      content:
        a: "{{ profile.traits.first_name }}|{{ profile.counters.go }}"
        b: "{{ profile.size }}|{{ profile.first | join: '=' }}"
"""


def test_sends_render_as_with_the_whole_view() -> None:
    sim = Simulator(engine(SENDS))
    sim.handle(ev("identify", T0, type="identify", traits={"first_name": "Ada"}))
    sim.handle(ev("go", T0 + 1))  # the branch reads the event alone: the send gets a part of profile
    sim.handle(ev("go", T0 + 2, props={"second": True}))
    first, second = sim.commands
    cid = first.customer_id
    assert first.content == {"a": f"Ada||{int(T0)}"}
    assert second.content == {"a": "Ada|2", "b": f"11|customer_id={cid}"}
    steps = sim.engine.current["j"].steps
    assert step_reads(steps["first"]) == (frozenset({"profile"}), ("first_seen", "stage", "traits"))
    assert step_reads(steps["second"]) == (frozenset({"profile"}), None)  # size/first: the whole view
    assert step_reads(steps["pick"]) == (frozenset({"event"}), ())


def test_profile_consent_reads_each_channel_as_a_send_does() -> None:
    """A withdrawal for every channel shows under each channel; a channel given back later shows given
    (a push fallback branching on ``profile.consent.email == false`` took the e-mail branch: a walkthrough)."""
    from cjo_stream.profile import apply_event, consent_of, new_profile
    from tests.conftest import T0, ev

    p = new_profile("u")
    apply_event(p, ev("identify", T0, type="identify", traits={"consent": {"email": True, "sms": True}}))
    assert PROFILE_PARTS["consent"](p, None, ()) is p.consent  # no consent for every channel: the stored one
    apply_event(p, ev("identify", T0 + 1, type="identify", traits={"consent": False}))
    apply_event(p, ev("subscribed", T0 + 2, props={"channel": "push"}))
    seen = PROFILE_PARTS["consent"](p, None, ())
    assert seen == {"email": False, "sms": False, "all": False, "push": True, "in_app": False}
    assert all(seen[ch] == consent_of(p, ch) for ch in ("email", "sms", "push", "in_app"))
    assert p.view()["consent"] == seen
