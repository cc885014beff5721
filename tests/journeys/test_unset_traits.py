"""A condition on a trait no customer of the simulated or replayed input has is told after the run: over the
examples, ``when: profile.traits.loyalty_tier == 'gold'`` entered nobody and nothing said why (a walkthrough)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.unset_traits import unset_traits
from tests.journeys.test_language2 import write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "schemas" / "examples" / "touchpoints.jsonl"

TIERS = """\
journey: tiers
entry: {event: product_viewed, when: "profile.traits.loyalty_tier == 'gold'"}
goal: {event: order_completed, when: profile.traits.vipp == true}
steps:
  - id: pick
    branch:
      - {when: profile.traits.vipp == true and profile.traits.first_name != null, next: mail}
      - {else: end}
  - id: mail
    send: {channel: email, content: {subject: "Hi {{ profile.traits.nickname | default: 'there' }}", body: hi}}
"""


def test_each_trait_no_customer_has_is_told_with_the_closest_one(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, {"tiers": TIERS}))
    have = {"first_name", "vip", "email"}
    assert unset_traits(topo.journeys, have) == [
        "journey tiers: no customer in the input has a trait 'loyalty_tier' (its entry's when reads it as null "
        "for everyone)",
        "journey tiers: no customer in the input has a trait 'vipp' (its goal's when, step pick's branch reads it "
        "as null for everyone; did you mean 'vip'?)",
    ]  # a template's trait (nickname, with its default) is not told
    # camel case against snake case, which difflib finds too far apart
    assert unset_traits(topo.journeys, {"firstName", "loyalty_tier", "vipp"}) == [
        "journey tiers: no customer in the input has a trait 'first_name' (step pick's branch reads it as null for "
        "everyone; did you mean 'firstName'?)"]
    assert unset_traits(topo.journeys, have | {"loyalty_tier", "vipp"}) == []
    assert unset_traits(topo.journeys, set()) == []  # no customer has any trait: nothing to compare


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cjo_stream.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_simulate_and_replay_say_so_and_still_succeed(tmp_path: Path) -> None:
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"tiers": TIERS})
    for p in (_cli("simulate", "--events", str(EXAMPLES), "--topologies", str(topologies)),
              _cli("replay", "--events", str(EXAMPLES), "--topologies", str(topologies))):
        assert p.returncode == 0, p.stderr
        notes = [ln for ln in p.stderr.splitlines() if ln.startswith("note: ")]
        assert notes == [
            "note: journey tiers: no customer in the input has a trait 'loyalty_tier' (its entry's when reads it "
            "as null for everyone)",
            "note: journey tiers: no customer in the input has a trait 'vipp' (its goal's when, step pick's branch "
            "reads it as null for everyone; did you mean 'vip'?)"], p.stderr


def test_every_path_of_a_wait_for_is_read() -> None:
    """A ``wait_for`` with paths: each path's condition, not the first one's only."""
    from cjo_stream.journeys.loader import load_journey_text

    j = load_journey_text("journey: p\nentry: {event: go}\nsteps:\n  - id: w\n    wait_for:\n      timeout: 1d\n"
                          "      paths:\n        - {event: a, when: profile.traits.vip == true}\n"
                          "        - {event: b, when: profile.traits.tierr == 'gold'}\n", "p.yaml")
    assert unset_traits([j], {"vip", "tier"}) == [
        "journey p: no customer in the input has a trait 'tierr' (step w's wait_for reads it as null for everyone; "
        "did you mean 'tier'?)"]


def test_a_condition_on_the_profile_is_named_as_written() -> None:
    """``exit_on: [{condition}]`` and ``wait_for: {condition}`` have no `when`: the note said "its exit_on's when"."""
    from cjo_stream.journeys.loader import load_journey_text

    j = load_journey_text("journey: p\nentry: {event: go}\nexit_on:\n  - condition: profile.traits.unsubscribed_all\n"
                          "steps:\n  - id: w\n    wait_for: {condition: profile.traits.activatd == true, timeout: 1d}\n",
                          "p.yaml")
    assert unset_traits([j], {"unsubscribed", "activated"}) == [
        "journey p: no customer in the input has a trait 'unsubscribed_all' (its exit_on condition reads it as null "
        "for everyone; did you mean 'unsubscribed'?)",
        "journey p: no customer in the input has a trait 'activatd' (step w's wait_for condition reads it as null for "
        "everyone; did you mean 'activated'?)"]


def test_a_trait_a_condition_on_a_group_call_reads_points_at_the_groups_traits(tmp_path: Path) -> None:
    """A Segment user's ``entry: {event: group, when: profile.traits.plan == ...}`` waits for the group's
    ``plan``, which stays off the profile: the note said only that no customer has it."""
    text = "journey: ent\nentry: {event: group, when: \"profile.traits.plan == 'enterprise'\"}\nsteps:\n  - id: w\n    wait: 1h\n"
    topo = load_topology(write(tmp_path, {"ent": text}))
    assert unset_traits(topo.journeys, {"email"}) == [
        "journey ent: no customer in the input has a trait 'plan' (its entry's when reads it as null for everyone; "
        "a group call's own traits are event.properties.traits.plan)"]
