"""Profile folding, identity merge and compact encoding."""

from __future__ import annotations

import logging

from cjo_stream.events import Event
from cjo_stream.identity import canonical, customer_of, new_links
from cjo_stream.profile import (
    CONSENT_CHANGED,
    Instance,
    apply_event,
    decode_profile,
    encode_profile,
    merge_profiles,
    new_profile,
    profile_to_dict,
)
from tests.conftest import T0, ev

log = logging.getLogger(__name__)


def typical_profile() -> bytes:
    p = new_profile("user-000123")
    apply_event(p, ev("identify", T0, type="identify", traits={
        "email": "ada.lovelace@example.com", "first_name": "Ada", "timezone": "Europe/Berlin", "vip": False}))
    for k, name in enumerate(["page_viewed", "product_viewed", "product_viewed", "cart_item_added", "checkout_started",
                              "order_completed", "message_opened"]):
        apply_event(p, ev(name, T0 + k * 60))
    p.instances["abandoned_cart"] = Instance(
        journey="abandoned_cart", version=1, instance_id="0123456789abcdef", step="wait_checkout",
        entered_at=T0 + 0.25, entry_event={"messageId": "m-7-123",
        "properties": {"product_name": "Lamp", "cart_value": 49.9}},
        waiting="wait_for", due=T0 + 3600, seq=1)
    p.sends.append((int(T0), "email"))
    return encode_profile(p)


def test_typical_profile_is_small_and_round_trips() -> None:
    data = typical_profile()
    log.warning("typical customer profile: %d bytes (msgpack)", len(data))
    print(f"typical customer profile: {len(data)} bytes")
    assert len(data) <= 512
    p = decode_profile(data)
    assert p.counters["product_viewed"] == 2 and p.instances["abandoned_cart"].step == "wait_checkout"
    assert encode_profile(p) == data


def test_apply_event_tracks_counts_times_traits_consent_zone() -> None:
    p = new_profile("u")
    apply_event(p, ev("identify", T0, type="identify", traits={"consent.sms": False, "consent": {"push": True}}))
    apply_event(p, ev("unsubscribed", T0 + 5, props={"channel": "email"}, context={"timezone": "Asia/Tokyo"}))
    apply_event(p, ev("page_viewed", T0 - 5))
    assert p.consent == {"sms": False, "push": True, "email": False}
    assert (p.first_seen, p.last_seen, p.timezone) == (T0 - 5, T0 + 5, "Asia/Tokyo")
    assert p.counters == {"identify": 1, "unsubscribed": 1, "page_viewed": 1}


def test_the_state_api_shows_the_zone_the_customer_is_timed_in() -> None:
    """It showed the last event's context.timezone, while journeys (profile.timezone) and the engine's
    clock take the timezone trait first and pass over an unknown name."""
    p = new_profile("u")
    apply_event(p, ev("page_viewed", T0, context={"timezone": "Asia/Tokyo"}))
    apply_event(p, ev("identify", T0 + 1, type="identify", traits={"timezone": "Europe/Berlin"}))
    shown = profile_to_dict(p)
    assert (shown["timezone"], shown["context_timezone"]) == ("Europe/Berlin", "Asia/Tokyo") == \
        (p.view()["timezone"], p.timezone)
    q = new_profile("v")
    apply_event(q, ev("page_viewed", T0, context={"timezone": "Mars/Olympus"}))
    assert (profile_to_dict(q)["timezone"], profile_to_dict(q)["context_timezone"]) == (None, "Mars/Olympus")


def test_an_event_at_the_epoch_is_seen() -> None:
    """first_seen 0 meant "never seen": an event at 1970-01-01T00:00:00Z showed first_seen (and last_seen)
    null in the state API, the next event took first_seen's place, and a merge passed it over."""
    p = new_profile("u")
    apply_event(p, ev("page_viewed", 0.0))
    shown = profile_to_dict(p)
    assert (shown["first_seen"], shown["last_seen"]) == ("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000Z")
    apply_event(p, ev("page_viewed", T0))
    assert (p.first_seen, p.view()["first_seen"], profile_to_dict(p)["first_seen"]) == (0, 0, "1970-01-01T00:00:00.000Z")
    anon, known = new_profile("a1"), new_profile("u2")
    apply_event(anon, ev("page_viewed", 0.5, user=None, anon="a1"))  # type: ignore[arg-type]
    apply_event(known, ev("signed_up", T0, user="u2"))
    merge_profiles(known, anon)
    assert known.first_seen == 0
    never = profile_to_dict(new_profile("n"), "awareness")  # an id known only as an alias: nothing seen yet
    assert (never["first_seen"], never["last_seen"], never["stage_since"]) == (None, None, None)


def test_links_and_merge() -> None:
    links: dict[str, str] = {}
    anon = ev("page_viewed", T0, user=None, anon="a1")  # type: ignore[arg-type]
    assert customer_of(links, anon) == "a1" and new_links(links, anon) == []
    both: Event = ev("identify", T0 + 1, user="u1", anon="a1", type="identify")
    assert new_links(links, both) == [("a1", "u1")]
    links.update(new_links(links, both))
    assert customer_of(links, anon) == "u1"
    # a later, different link of the same anonymous id is ignored (first link wins)
    assert new_links(links, ev("identify", T0 + 2, user="u2", anon="a1")) == []
    links["u1"] = "u0"  # alias chain
    assert canonical(links, "a1") == "u0"

    # the caller may pass the user id's customer it already resolved: the same links, fewer lookups; an
    # anonymous id that is the user's customer itself (u0 here) links nothing either way
    for e in (ev("identify", T0 + 3, user="u1", anon="u0"), ev("identify", T0 + 3, user="u1", anon="a9"),
              ev("identify", T0 + 3, user="u7", anon="a1"), ev("identify", T0 + 3, user="u7", anon="a8")):
        assert e.user_id is not None
        assert new_links(links, e, canonical(links, e.user_id)) == new_links(links, e)
    assert new_links(links, ev("identify", T0 + 3, user="u1", anon="u0")) == []
    assert new_links(links, ev("identify", T0 + 3, user="u1", anon="a9")) == [("a9", "u0")]

    known, other = new_profile("u1"), new_profile("a1")
    apply_event(other, ev("page_viewed", T0 - 100))
    apply_event(other, ev("identify", T0 - 50, type="identify", traits={"first_name": "Anon", "city": "Oslo"}))
    apply_event(known, ev("page_viewed", T0))
    apply_event(known, ev("identify", T0, type="identify", traits={"first_name": "Ada"}))
    merge_profiles(known, other)
    assert known.counters["page_viewed"] == 2 and known.first_seen == T0 - 100
    assert known.traits == {"first_name": "Ada", "city": "Oslo"} and known.aliases == ["a1"]


def test_the_latest_consent_event_wins_whatever_order_they_arrive_in() -> None:
    """A re-subscribe at 10:00:00 arriving after an unsubscribe at 10:00:05 undid it: the customer who
    had just opted out was messaged. Per channel, the newer event time wins, as for counters."""
    events = [ev("identify", T0, type="identify", traits={"consent": {"email": True}, "consent.sms": True}),
              ev("unsubscribed", T0 + 5, props={"channel": "email"}),
              ev("identify", T0 + 7, type="identify", traits={"consent.sms": False}),
              ev("subscribed", T0 + 9, props={"channel": "push"})]
    finals = []
    for order in (events, events[::-1], [events[1], events[3], events[0], events[2]]):
        p = new_profile("u")
        for e in order:
            apply_event(p, e)
        finals.append((p.consent, p.consent_at))
    assert finals[0] == finals[1] == finals[2]
    assert finals[0] == ({"email": False, "sms": False, "push": True}, {"email": T0 + 5, "sms": T0 + 7, "push": T0 + 9})
    p = decode_profile(encode_profile(new_profile("u")))
    assert p.consent_at == {}  # none given: nothing stored (a profile from before the field reads the same)


def test_a_merge_keeps_each_channels_newer_consent() -> None:
    known, anon = new_profile("u"), new_profile("a")
    apply_event(known, ev("subscribed", T0, props={"channel": "email"}))
    apply_event(known, ev("unsubscribed", T0 + 1, props={"channel": "sms"}))
    apply_event(anon, ev("unsubscribed", T0 + 5, user=None, anon="a", props={"channel": "email"}))  # type: ignore[arg-type]
    apply_event(anon, ev("subscribed", T0 - 5, user=None, anon="a", props={"channel": "sms"}))  # type: ignore[arg-type]
    anon.consent["push"] = True  # from before consent times were kept: taken only where the known has none
    known.consent["in_app"] = False
    anon.consent["in_app"] = True
    merge_profiles(known, anon)
    assert known.consent == {"email": False, "sms": False, "push": True, "in_app": False}
    assert known.consent_at == {"email": T0 + 5, "sms": T0 + 1}


def test_consent_changed_is_reported_for_withdrawals_and_consent_given_back_only() -> None:
    """The bit the worker tells adapters by (cjo.consent-changes): not for every identify repeating a consent."""
    p = new_profile("u")
    said = [apply_event(p, e) & CONSENT_CHANGED != 0 for e in [
        ev("identify", T0, type="identify", traits={"consent": {"email": True}}),  # first given: nothing withdrawn
        ev("identify", T0 + 1, type="identify", traits={"consent": {"email": True}}),  # repeated
        ev("unsubscribed", T0 + 2, props={"channel": "email"}),  # withdrawn
        ev("unsubscribed", T0 + 3, props={"channel": "email"}),  # withdrawn again: no change
        ev("subscribed", T0 + 4, props={"channel": "email"}),  # given back
        ev("unsubscribed", T0 + 1.5, props={"channel": "email"}),  # late, older than the consent: not applied
        ev("identify", T0 + 5, type="identify", traits={"consent": False}),  # every channel
        ev("subscribed", T0 + 6, props={"channel": "sms"}),  # a channel given while every one is withdrawn
        ev("page_viewed", T0 + 7),
    ]]
    assert said == [False, False, True, False, True, False, True, True, False]
    other = new_profile("a")
    assert merge_profiles(new_profile("k"), other) & CONSENT_CHANGED == 0
    apply_event(other, ev("unsubscribed", T0, user=None, anon="a", props={"channel": "push"}))  # type: ignore[arg-type]
    assert merge_profiles(new_profile("k"), other) & CONSENT_CHANGED
