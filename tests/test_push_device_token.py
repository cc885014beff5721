"""Segment's mobile libraries put the device's push token in ``context.device.token`` (on every event once the app
registered for notifications), not in a trait: it was not read, and a push journey skipped every such customer
``no_address``. The profile takes it as its ``push_token``: pushes go to the device the customer used last."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from cjo_stream.commands import device_digest
from cjo_stream.event import Event
from cjo_stream.events import parse_ts
from cjo_stream.profile import (
    MAX_DEVICE_TOKEN,
    MAX_DEVICES,
    PUSH_TOKEN_TRAIT,
    Profile,
    apply_event,
    decode_profile,
    encode_profile,
    merge_profiles,
    new_profile,
    profile_to_dict,
)
from cjo_stream.receipts import receipt_line
from cjo_stream.runtime.stored import decode_stored, encode_stored
from tests.conftest import T0, ev
from tests.test_cli_errors import run


def _device(token: Any) -> dict[str, Any]:
    return {"device": {"id": "d-1", "type": "ios", "token": token}, "timezone": "Europe/Berlin"}


def test_the_device_token_of_an_event_is_the_push_token() -> None:
    p = new_profile("u1")
    apply_event(p, ev("app_opened", T0, context=_device("fcm-phone")))
    assert p.traits == {"push_token": "fcm-phone"}
    apply_event(p, ev("app_opened", T0 + 60, context=_device("apns-tablet")))  # the other device, used last
    assert p.traits["push_token"] == "apns-tablet"
    apply_event(p, ev("app_opened", T0 + 120, context={"device": {"id": "d-3", "type": "web"}}))  # none: kept
    # a push_token trait of the same event says it itself
    apply_event(p, ev("identify", T0 + 180, type="identify", traits={"push_token": "given"},
                      context=_device("fcm-phone")))
    assert p.traits["push_token"] == "given"


@pytest.mark.parametrize("token", ["", 42, None, ["t"], "x" * (MAX_DEVICE_TOKEN + 1)])
def test_what_is_no_token_is_left_alone(token: Any) -> None:
    p = new_profile("u1")
    p.traits["push_token"] = "kept"
    apply_event(p, ev("app_opened", T0, context=_device(token)))
    apply_event(p, ev("app_opened", T0, context={"device": "iPhone"}))
    assert p.traits == {"push_token": "kept"}


JOURNEY = """\
journey: comeback
entry: {event: cart_viewed}
steps:
  - id: nudge
    send: {channel: push, content: {title: "Still there?", body: "Your cart misses you"}}
"""


def test_a_push_goes_to_the_device_that_sent_the_latest_token(tmp_path: Path) -> None:
    """What simulate (and so a worker and replay: the same profile code) decides from Segment-style events."""
    (tmp_path / "t" / "journeys").mkdir(parents=True)
    (tmp_path / "t" / "journeys" / "comeback.yaml").write_text(JOURNEY)
    lines = [
        {"messageId": "1", "type": "identify", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"email": "a@example.com"}, "context": {"device": {"id": "phone", "token": "fcm-phone"}}},
        {"messageId": "2", "type": "screen", "name": "Home", "userId": "a", "timestamp": "2026-03-02T10:01:00Z",
         "context": {"device": {"id": "tablet", "token": "fcm-tablet"}}},
        {"messageId": "3", "type": "track", "event": "cart_viewed", "userId": "a", "timestamp": "2026-03-02T10:02:00Z"},
    ]
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path / "t"), "--events", str(events))
    assert p.returncode == 0, p.stderr
    assert [(c["channel"], c["to"]) for c in map(orjson.loads, p.stdout.splitlines())] == [("push", "fcm-tablet")]


# ---------------------------------------------------------------------------- several devices


def test_earlier_devices_are_kept_most_recent_first_and_bounded() -> None:
    p = new_profile("u1")
    for i in range(MAX_DEVICES + 2):  # devices 0..6, each used in turn
        apply_event(p, ev("app_opened", T0 + i, context=_device(f"tok-{i}")))
    assert p.traits["push_token"] == "tok-6"
    assert p.devices == ["tok-5", "tok-4", "tok-3", "tok-2"]  # MAX_DEVICES in all, the oldest forgotten
    apply_event(p, ev("app_opened", T0 + 10, context=_device("tok-3")))  # back on an earlier one: it moves up
    assert (p.traits["push_token"], p.devices) == ("tok-3", ["tok-6", "tok-5", "tok-4", "tok-2"])
    # a token cleared by the app (null or ""): that device wants no more pushes, nor is it kept
    apply_event(p, ev("identify", T0 + 20, type="identify", traits={"push_token": None}))
    assert p.traits["push_token"] is None and p.devices == ["tok-6", "tok-5", "tok-4", "tok-2"]
    apply_event(p, ev("identify", T0 + 30, type="identify", traits={"push_token": "tok-new"}))
    assert p.devices == ["tok-6", "tok-5", "tok-4", "tok-2"]
    assert profile_to_dict(p)["devices"] == p.devices  # a request for access sees them
    one = new_profile("u2")
    apply_event(one, ev("app_opened", T0, context=_device("only")))
    apply_event(one, ev("app_opened", T0 + 1, context=_device("only")))
    # one device: one byte stored for earlier ones (an empty list ends the stored array, after `known`)
    assert one.devices == [] and encode_profile(one).endswith(b"\xc2\x90")
    # (and none for `dropped` and `undeliverable`, the last fields: empty, they are not stored)
    assert len(msgspec.msgpack.decode(encode_profile(one))) == len(Profile.__struct_fields__) - 2
    assert decode_profile(encode_profile(p)).devices == p.devices


def test_a_merge_keeps_the_anonymous_devices_after_the_customers() -> None:
    known, anon = new_profile("u1"), new_profile("anon-1")
    apply_event(known, ev("app_opened", T0, context=_device("phone")))
    apply_event(anon, ev("app_opened", T0 + 5, user="anon-1", context=_device("tablet")))
    merge_profiles(known, anon)
    assert (known.traits["push_token"], known.devices) == ("phone", ["tablet"])
    merge_profiles(known, anon)  # again: no repeats
    assert known.devices == ["tablet"]


#: The phone's app opened, then the tablet's: two devices, the tablet used last.
TWO_DEVICES: list[dict[str, Any]] = [
    {"messageId": "1", "type": "track", "event": "app_opened", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
     "context": {"device": {"token": "fcm-phone"}}},
    {"messageId": "2", "type": "track", "event": "cart_viewed", "userId": "a", "timestamp": "2026-03-02T10:01:00Z",
     "context": {"device": {"token": "fcm-tablet"}}},
]


def _simulate(tmp_path: Path, journey: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The commands ``cjo-stream simulate`` prints for ``lines`` with ``journey`` as the only journey."""
    (tmp_path / "t" / "journeys").mkdir(parents=True)
    (tmp_path / "t" / "journeys" / "comeback.yaml").write_text(journey)
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path / "t"), "--events", str(events))
    assert p.returncode == 0, p.stderr
    return [orjson.loads(ln) for ln in p.stdout.splitlines()]


def test_a_push_names_every_device_and_the_adapter_sends_to_each(tmp_path: Path) -> None:
    [cmd] = _simulate(tmp_path, JOURNEY, TWO_DEVICES)
    assert (cmd["to"], cmd["also_to"]) == ("fcm-tablet", ["fcm-phone"])


# ---------------------------------------------------------------------------- uninstalled apps


def _gone(*tokens: str, status: str = "sent", channel: str = "push", at: str = "2026-03-02T10:05:00Z") -> Event:
    """The event of a push receipt naming ``tokens`` as unregistered, as the workers make it."""
    got = receipt_line(orjson.dumps({"delivery_id": "d1", "customer_id": "u1", "channel": channel, "status": status,
                                     "at": at, "attributes": {"attempts": 1,
                                                              "unregistered": [device_digest(t) for t in tokens]}}))
    assert got is not None
    return got


def test_a_receipt_naming_an_uninstalled_app_drops_that_device() -> None:
    """FCM answers UNREGISTERED for an uninstalled app's token; the receipt names it by digest (no address), and
    the profile drops it: from the earlier devices, or as the push_token, which the latest remaining one becomes."""
    p = new_profile("u1")
    for i in range(4):
        apply_event(p, ev("app_opened", T0 + i, context=_device(f"tok-{i}")))
    assert (p.traits["push_token"], p.devices) == ("tok-3", ["tok-2", "tok-1", "tok-0"])
    apply_event(p, _gone("tok-1"))  # a push some devices took, one app gone: receipt `sent`
    assert (p.traits["push_token"], p.devices) == ("tok-3", ["tok-2", "tok-0"])
    apply_event(p, _gone("tok-3", status="bounced"))  # the device used last: the next latest takes its place
    assert (p.traits["push_token"], p.devices) == ("tok-2", ["tok-0"])
    apply_event(p, _gone("tok-3", status="bounced"))  # the same receipt again, or late: nothing more goes
    assert (p.traits["push_token"], p.devices) == ("tok-2", ["tok-0"])
    # the send named tok-0 at position 2; a token arrived since, and the devices moved down: the digest still names it
    apply_event(p, ev("app_opened", T0 + 10, context=_device("tok-new")))
    assert p.devices == ["tok-2", "tok-0"]
    apply_event(p, _gone("tok-0"))
    assert (p.traits["push_token"], p.devices) == ("tok-new", ["tok-2"])
    apply_event(p, _gone("tok-new", "tok-2", status="bounced"))  # every app uninstalled: no token left
    assert PUSH_TOKEN_TRAIT not in p.traits and p.devices == []


@pytest.mark.parametrize("receipt", [
    {"channel": "email", "status": "bounced"},  # another channel's attribute of the name is not about devices
    {"status": "opened"},
    {"attributes": {"unregistered": "tok-1"}},  # not a list
])
def test_other_receipts_leave_the_devices_alone(receipt: dict[str, Any]) -> None:
    p = new_profile("u1")
    apply_event(p, ev("app_opened", T0, context=_device("tok-1")))
    apply_event(p, ev("app_opened", T0 + 1, context=_device("tok-2")))
    line = {"delivery_id": "d1", "customer_id": "u1", "channel": "push", "status": "sent", "at": "2026-03-02T10:05:00Z",
            "attributes": {"unregistered": [device_digest("tok-1"), device_digest("tok-2")]}, **receipt}
    got = receipt_line(orjson.dumps(line))
    assert got is not None
    apply_event(p, got)
    assert (p.traits["push_token"], p.devices) == ("tok-2", ["tok-1"])


TWO_PUSHES = """\
journey: comeback
entry: {event: cart_viewed}
steps:
  - id: nudge
    send: {channel: push, content: {title: "Still there?", body: "Your cart misses you"}}
  - id: later
    wait: 1h
  - id: again
    send: {channel: push, content: {title: "Last call", body: "Your cart expires tonight"}}
"""


def test_after_a_receipt_naming_the_uninstalled_app_the_next_push_goes_only_to_the_other_device(tmp_path: Path) -> None:
    """The tablet used last was uninstalled (the phone took the first push: receipt `sent` naming the tablet's
    token): the second push goes to the phone alone. It went to the tablet first, and to both, before."""
    lines = [
        *TWO_DEVICES,
        # as `cjo-stream tail --receipts` shows the push adapter's receipt
        {"delivery_id": "d1", "customer_id": "a", "channel": "push", "status": "sent", "at": "2026-03-02T10:01:02Z",
         "journey": "comeback", "step": "nudge", "provider_message_id": "projects/p/messages/1",
         "attributes": {"attempts": 1, "unregistered": [device_digest("fcm-tablet")]}},
    ]
    first, second = _simulate(tmp_path, TWO_PUSHES, lines)
    assert (first["to"], first["also_to"]) == ("fcm-tablet", ["fcm-phone"])
    assert (second["step"], second["to"], second.get("also_to")) == ("again", "fcm-phone", None)


# ---------------------------------------------------------------------------- dropped tokens stay dropped


def _four_devices() -> Profile:
    p = new_profile("u1")
    for i in range(4):
        apply_event(p, ev("app_opened", T0 + i, context=_device(f"tok-{i}")))
    assert (p.traits["push_token"], p.devices) == ("tok-3", ["tok-2", "tok-1", "tok-0"])
    return p


def test_a_late_event_does_not_bring_back_a_token_a_receipt_dropped() -> None:
    """An event stamped before the receipt that dropped a token (delivered late, or an SDK's batch from its cache),
    carrying that token, made it the push_token again: the next push went to the uninstalled app."""
    p = _four_devices()
    apply_event(p, _gone("tok-3", "tok-1", status="bounced"))  # 10:05
    assert (p.traits["push_token"], p.devices) == ("tok-2", ["tok-0"])
    dropped = int(parse_ts("2026-03-02T10:05:00Z"))
    assert p.dropped == sorted([(device_digest("tok-3"), dropped), (device_digest("tok-1"), dropped)])
    apply_event(p, ev("app_opened", T0 + 3, context=_device("tok-3")))  # 10:00:03, late
    apply_event(p, ev("identify", T0 + 4, type="identify", traits={"push_token": "tok-1", "plan": "pro"}))
    assert (p.traits, p.devices) == ({"push_token": "tok-2", "plan": "pro"}, ["tok-0"])  # the rest of it applies
    # stamped after the drop: the same token is still a cache (FCM gives a reinstalled app a new token)
    apply_event(p, ev("app_opened", T0 + 3600, context=_device("tok-3")))
    apply_event(p, ev("identify", T0 + 3601, type="identify", traits={"push_token": "tok-1"}))
    assert (p.traits["push_token"], p.devices) == ("tok-2", ["tok-0"])
    apply_event(p, ev("app_opened", T0 + 3602, context=_device("tok-reinstalled")))  # its new token: taken
    assert (p.traits["push_token"], p.devices) == ("tok-reinstalled", ["tok-2", "tok-0"])
    assert profile_to_dict(p)["dropped_devices"] == [
        {"digest": g, "at": "2026-03-02T10:05:00.000Z"} for g, _t in p.dropped]  # digests only, never the token
    assert "tok-3" not in encode_profile(p).decode("latin-1")


def test_the_memory_of_dropped_tokens_is_bounded_to_the_latest_drops() -> None:
    p = new_profile("u1")
    for i in range(MAX_DEVICES + 2):  # each device used, then uninstalled, in turn
        apply_event(p, ev("app_opened", T0 + 60 * i, context=_device(f"tok-{i}")))
        apply_event(p, _gone(f"tok-{i}", status="bounced", at=f"2026-03-02T11:0{i}:00Z"))
    assert [g for g, _t in p.dropped] == [device_digest(f"tok-{i}") for i in range(MAX_DEVICES + 1, 1, -1)]
    apply_event(p, _gone("tok-6", status="bounced", at="2026-03-02T10:00:00Z"))  # a late copy: the time stays
    assert p.dropped[0] == (device_digest("tok-6"), int(parse_ts("2026-03-02T11:06:00Z")))
    apply_event(p, ev("app_opened", T0 + 7200, context=_device("tok-2")))  # remembered: refused
    assert PUSH_TOKEN_TRAIT not in p.traits
    apply_event(p, ev("app_opened", T0 + 7200, context=_device("tok-0")))  # forgotten: taken (and dropped again
    assert p.traits[PUSH_TOKEN_TRAIT] == "tok-0"  # by the next push's receipt)
    assert decode_profile(encode_profile(p)) == p


def test_a_merge_brings_no_dropped_token_back() -> None:
    known, anon = _four_devices(), new_profile("anon-1")
    apply_event(known, _gone("tok-1"))
    # the anonymous id's events (before the login) carried the dropped token, and another device's
    apply_event(anon, ev("app_opened", T0, user="anon-1", context=_device("tok-1")))
    apply_event(anon, ev("app_opened", T0 + 1, user="anon-1", context=_device("tok-anon")))
    apply_event(anon, _gone("tok-2"))  # a receipt on the anonymous id dropped one of the known customer's
    merge_profiles(known, anon)
    assert (known.traits["push_token"], known.devices) == ("tok-3", ["tok-0", "tok-anon"])
    assert {g for g, _t in known.dropped} == {device_digest("tok-1"), device_digest("tok-2")}


def test_a_customer_who_lost_no_device_stores_what_it_stored_before() -> None:
    """The memory costs nothing while empty: the stored record is the one written before it, byte for byte (the
    median stored state is held to 512 bytes), and a record written before it decodes."""
    p = _four_devices()
    before = msgspec.msgpack.encode([getattr(p, f) for f in Profile.__struct_fields__[:-2]])  # without `dropped`
    assert encode_profile(p) == before and decode_profile(before) == p
    stored = decode_stored(encode_stored(7, p, b"ids"), "u1")
    assert (stored.hw, stored.profile, stored.ids) == (7, p, b"ids")
    assert decode_stored(WRITTEN_BEFORE, "u1").profile.devices == ["tok-2", "tok-1", "tok-0"]
    for layout in (3, 2):
        assert len(encode_stored(7, p, b"ids", layout)) == len(WRITTEN_BEFORE)
    apply_event(p, _gone("tok-1"))
    for layout in (3, 2, 1):
        assert decode_stored(encode_stored(7, p, b"ids", layout), "u1").profile == p


#: ``encode_stored(7, _four_devices(), b"ids")`` as the worker wrote it before ``Profile.dropped``
WRITTEN_BEFORE = bytes.fromhex(
    "960207dc0012a0ce69a55fa0cb41da6957e8c0000081aa707573685f746f6b656ea5746f6b2d3381aa6170705f6f70656e65649204ce69a55fa3"
    "80ad4575726f70652f4265726c696e8080909090a0008080c393a5746f6b2d32a5746f6b2d31a5746f6b2d30c4036964739000")


def test_simulate_a_late_event_carrying_the_uninstalled_apps_token(tmp_path: Path) -> None:
    """As a user replays it: the tablet was uninstalled (the first push's receipt names it), then an event the tablet
    sent before that, delivered late, carries its token. The second push goes to the phone alone; it went to the
    uninstalled tablet again (as the device used last)."""
    lines = [
        *TWO_DEVICES,
        {"delivery_id": "d1", "customer_id": "a", "channel": "push", "status": "sent", "at": "2026-03-02T10:01:02Z",
         "journey": "comeback", "step": "nudge", "provider_message_id": "projects/p/messages/1",
         "attributes": {"attempts": 1, "unregistered": [device_digest("fcm-tablet")]}},
        {"messageId": "3", "type": "screen", "name": "Cart", "userId": "a", "timestamp": "2026-03-02T10:01:00.500Z",
         "context": {"device": {"token": "fcm-tablet"}}},
    ]
    first, second = _simulate(tmp_path, TWO_PUSHES, lines)
    assert (first["to"], first["also_to"]) == ("fcm-tablet", ["fcm-phone"])
    assert (second["step"], second["to"], second.get("also_to")) == ("again", "fcm-phone", None)


def test_a_token_refused_is_reported_and_a_worker_counts_it(tmp_path: Path) -> None:
    """An operator could not see tokens refused (an app restored from a backup repeating its dropped token):
    ``apply_event`` reports each, as it reports what the limits leave out, and a worker's batch step counts them in
    ``cjo_push_tokens_refused_total``."""
    from cjo_stream import metrics
    from cjo_stream.bench.soak_stages import InputRecord, Stages
    from cjo_stream.config import Settings
    from cjo_stream.profile import PUSH_TOKEN_REFUSED

    p = _four_devices()
    assert apply_event(p, _gone("tok-3")) & PUSH_TOKEN_REFUSED == 0
    assert apply_event(p, ev("app_opened", T0 + 9, context=_device("tok-3"))) & PUSH_TOKEN_REFUSED
    assert apply_event(p, ev("identify", T0 + 9, type="identify", traits={"push_token": "tok-3"})) & PUSH_TOKEN_REFUSED
    assert apply_event(p, ev("app_opened", T0 + 9, context=_device("tok-new"))) & PUSH_TOKEN_REFUSED == 0

    settings = Settings(partitions=2)
    stages = Stages(settings, str(tmp_path), receipts=False)
    lines = [{"messageId": "a", "type": "track", "event": "app_opened", "userId": "u1",
              "timestamp": "2026-03-02T10:00:00Z", "context": _device("tok-a")},
             {"messageId": "b", "type": "track", "event": "app_opened", "userId": "u1",
              "timestamp": "2026-03-02T10:06:00Z", "context": _device("tok-a")},
             {"messageId": "c", "type": "identify", "userId": "u1", "timestamp": "2026-03-02T10:07:00Z",
              "traits": {"push_token": "tok-a"}}]
    receipt = orjson.dumps({"delivery_id": "d1", "customer_id": "u1", "channel": "push", "status": "sent",
                            "at": "2026-03-02T10:05:00Z", "attributes": {"unregistered": [device_digest("tok-a")]}})

    def refused() -> float:
        return metrics.REGISTRY.get_sample_value("cjo_push_tokens_refused_total") or 0.0

    before = refused()
    try:
        stages.take([InputRecord(settings.input_topic, 0, 0, orjson.dumps(lines[0]))])
        stages.drain(ingest_behind=False)
        stages.take([InputRecord(settings.receipts_topic, 0, 0, receipt)])
        stages.drain(ingest_behind=False)
        assert refused() == before
        stages.take([InputRecord(settings.input_topic, 0, i, orjson.dumps(line)) for i, line in enumerate(lines[1:], 1)])
        stages.drain(ingest_behind=False)
    finally:
        stages.close()
    assert refused() - before == 2
