"""What upstream data may make one profile hold: key counts at every event and merge (shared by workers,
simulate and replay), and an encoded-size bound the workers keep when storing. A walkthrough's producer
grew a profile with valid events to 75,000 traits, 4,000 event names and 8 MB changelog records."""

from __future__ import annotations

from cjo_stream import profile as prof
from cjo_stream.profile import (
    CONSENT_CHANGED,
    LIMITED_ALIASES,
    LIMITED_CONSENT,
    LIMITED_EVENT_NAMES,
    LIMITED_SIZE,
    LIMITED_TRAITS,
    MAX_ALIASES,
    MAX_CONSENT_CHANNELS,
    MAX_EVENT_NAMES,
    MAX_TRAITS,
    apply_event,
    encode_profile,
    merge_profiles,
    new_profile,
    shrink,
)
from tests.conftest import T0, engine, ev


def test_new_trait_keys_beyond_the_limit_are_left_out_and_known_ones_still_update() -> None:
    p = new_profile("u1")
    assert apply_event(p, ev("identify", T0, type="identify", traits={f"t{i}": i for i in range(MAX_TRAITS - 2)})) == 0
    got = apply_event(p, ev("identify", T0 + 1, type="identify",
                            traits={"t0": "changed", **{f"new{i}": i for i in range(5)}, "email": "a@example.com"}))
    assert got == LIMITED_TRAITS
    assert len(p.traits) == MAX_TRAITS and p.traits["t0"] == "changed"
    assert p.traits["new0"] == 0 and p.traits["new1"] == 1 and "new2" not in p.traits and "email" not in p.traits
    assert p.counters["identify"] == 2  # the rest of the event applied


def test_new_event_names_and_consent_channels_beyond_the_limits_are_left_out() -> None:
    p = new_profile("u1")
    for i in range(MAX_EVENT_NAMES):
        assert apply_event(p, ev(f"e{i}", T0 + i)) == 0
    assert apply_event(p, ev("one_more", T0 + 5000)) == LIMITED_EVENT_NAMES and "one_more" not in p.events
    assert apply_event(p, ev("e7", T0 + 5001)) == 0 and p.counters["e7"] == 2 and p.last_seen == T0 + 5001
    q = new_profile("u2")
    for i in range(MAX_CONSENT_CHANNELS):
        apply_event(q, ev("subscribed", T0 + i, props={"channel": f"c{i}"}))
    assert apply_event(q, ev("subscribed", T0 + 100, props={"channel": "another"})) == LIMITED_CONSENT
    assert "another" not in q.consent and "another" not in q.consent_at
    # a known channel is still set (the bit beside the limits: a withdrawal, for the adapters)
    assert apply_event(q, ev("unsubscribed", T0 + 101, props={"channel": "c3"})) == CONSENT_CHANGED
    assert q.consent["c3"] is False


def test_a_merge_keeps_the_known_customers_keys_first_within_the_limits() -> None:
    into, other = new_profile("u1"), new_profile("anon-1")
    into.traits = {f"k{i}": "mine" for i in range(MAX_TRAITS - 1)}
    other.traits = {"k0": "theirs", "x": 1, "y": 2}
    into.aliases = [f"a{i}" for i in range(MAX_ALIASES)]
    got = merge_profiles(into, other)
    assert got == LIMITED_TRAITS | LIMITED_ALIASES
    assert len(into.traits) == MAX_TRAITS and into.traits["k0"] == "mine" and into.traits["x"] == 1
    assert "y" not in into.traits and len(into.aliases) == MAX_ALIASES and "anon-1" not in into.aliases
    small_into, small_other = new_profile("u2"), new_profile("anon-2")
    small_other.traits = {"email": "x@example.com"}
    assert merge_profiles(small_into, small_other) == 0 and small_into.aliases == ["anon-2"]


def test_shrink_drops_the_largest_trait_values_first_deterministically() -> None:
    def big() -> prof.Profile:
        p = new_profile("u1")
        apply_event(p, ev("identify", T0, type="identify", traits={"email": "a@example.com", "plan": "pro",
                                                                    "blob1": "x" * 300_000, "blob2": "y" * 200_000,
                                                                    "blob3": "z" * 100_000}))
        return p

    p = big()
    assert shrink(p, 1 << 20) == 0 and "blob1" in p.traits  # within the budget: untouched
    assert shrink(p, 400_000) == LIMITED_SIZE
    assert set(p.traits) == {"email", "plan", "blob2", "blob3"} and len(encode_profile(p)) <= 400_000
    q = big()
    shrink(q, 400_000)
    assert encode_profile(q) == encode_profile(p)  # the same on every worker and replay
    r = big()
    assert shrink(r, 2_000) == LIMITED_SIZE and set(r.traits) == {"email", "plan"} and r.counters == {"identify": 1}


def test_shrink_then_drops_the_least_recently_seen_event_names_and_aliases() -> None:
    p = new_profile("u1")
    for i in range(MAX_EVENT_NAMES):
        apply_event(p, ev(f"name_{i:04d}_" + "n" * 200, T0 + i))
    p.aliases = [f"anon-{i}-" + "a" * 100 for i in range(500)]
    budget = len(encode_profile(p)) // 2
    assert shrink(p, budget) == LIMITED_SIZE and len(encode_profile(p)) <= budget
    kept = sorted(p.events)
    assert kept and kept[-1].startswith(f"name_{MAX_EVENT_NAMES - 1:04d}")  # the newest stay
    assert "name_0000_" + "n" * 200 not in p.events


def test_the_engine_reports_what_an_event_left_out() -> None:
    e = engine()
    p = new_profile("u1")
    p.traits = {f"t{i}": i for i in range(MAX_TRAITS)}
    res = e.process(p, ev("identify", T0, type="identify", traits={"new": 1}), T0)
    assert res.limited == LIMITED_TRAITS and "new" not in p.traits
    assert e.process(p, ev("page_viewed", T0 + 1), T0 + 1).limited == 0
