"""Decoding accepts the Segment envelope as upstream systems emit it and rejects bad input precisely."""

from __future__ import annotations

from datetime import UTC, datetime

import hypothesis.strategies as st
import orjson
import pytest
from hypothesis import given, settings

from cjo_stream.events import MAX_EVENT_BYTES, InvalidEvent, decode_event, format_ts, parse_ts


def raw(**fields: object) -> bytes:
    base: dict[str, object] = {"messageId": "m1", "type": "track", "event": "cart_item_added", "userId": "u1",
                               "timestamp": "2026-03-02T10:00:00.123Z"}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


def test_track_event_decodes_with_unknown_segment_fields_ignored() -> None:
    e = decode_event(raw(properties={"cart_value": 30}, context={"channel": "web", "timezone": "UTC"},
                         sentAt="2026-03-02T10:00:01Z", integrations={"All": True}))
    assert (e.name, e.user_id, e.properties, e.context["channel"]) == ("cart_item_added", "u1", {"cart_value": 30}, "web")
    assert format_ts(e.ts) == "2026-03-02T10:00:00.123Z"


@pytest.mark.parametrize(("typ", "event", "name"), [("page", ..., "page_viewed"), ("screen", ..., "screen_viewed"),
                                                     ("page", "pricing_viewed", "pricing_viewed"),
                                                     ("identify", ..., "identify")])
def test_event_names_are_normalised(typ: str, event: object, name: str) -> None:
    assert decode_event(raw(type=typ, event=event)).name == name


def test_alias_needs_previous_id() -> None:
    e = decode_event(raw(type="alias", event=..., previousId="anon-1"))
    assert e.previous_id == "anon-1" and e.name == "alias"
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw(type="alias", event=...))
    assert info.value.reason == "missing_field"


def test_offset_times_convert_and_naive_times_are_utc() -> None:
    assert decode_event(raw(timestamp="2026-03-02T11:00:00+01:00")).ts == parse_ts("2026-03-02T10:00:00Z")
    assert decode_event(raw(timestamp="2026-03-02T10:00:00")).ts == parse_ts("2026-03-02T10:00:00Z")
    # RFC 3339's lowercase z and t: read by the event decoder, and by parse_ts (receipts' `at`), which refused the z
    assert decode_event(raw(timestamp="2026-03-02t10:00:00z")).ts == parse_ts("2026-03-02t10:00:00z") \
        == parse_ts("2026-03-02T10:00:00Z")


@pytest.mark.parametrize(
    ("record", "reason", "mentions"),
    [
        (b"{not json", "invalid_json", "malformed"),
        (raw(messageId=...), "missing_field", "messageId"),
        (raw(userId=...), "missing_id", "userId or anonymousId"),
        (raw(timestamp="yesterday"), "bad_timestamp", "$.timestamp"),
        # a time a customer's dedupe record (4-byte seconds) cannot hold, on both decode paths
        (raw(timestamp="2106-02-07T06:28:16Z"), "bad_timestamp", "not between 1970"),
        (raw(timestamp="0001-01-01T00:00:00Z"), "bad_timestamp", "not between 1970"),
        (raw(type="purchase"), "unknown_type", "purchase"),
        (raw(userId=42.5), "wrong_type", "$.userId"),
        (raw(properties=[1, 2]), "wrong_type", "$.properties"),
        (raw(event=...), "missing_field", "track event needs `event`"),
        (b"[1,2]", "wrong_type", "object"),
        (raw(properties={"pad": "x" * MAX_EVENT_BYTES}), "too_large", "limit"),
    ],
)
def test_bad_records_are_rejected_with_reason(record: bytes, reason: str, mentions: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode_event(record)
    assert info.value.reason == reason
    assert mentions in str(info.value)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.floats(min_value=0, max_value=4e9, allow_nan=False),
                 st.integers(0, 4 * 10**9).map(float),
                 st.tuples(st.integers(0, 4 * 10**9), st.sampled_from([0.9995, 0.9999995, 5e-7, 0.5, 0.9994999]))
                 .map(lambda t: t[0] + t[1])))
def test_format_ts_matches_datetime_to_the_millisecond(ts: float) -> None:
    dt = datetime.fromtimestamp(ts, UTC)
    assert format_ts(ts) == dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def test_format_ts_reuses_a_minutes_text_correctly() -> None:
    """format_ts keeps the text up to the minute per epoch minute: times met again, out of order, within a
    few minutes (as a replay's are) and at the rounding edges still read as datetime writes them."""
    import random

    rnd = random.Random(15)
    times = [59.9999996, -0.0005, 1e9 + 59.9999995, 1e9 + 0.9995, 1764547199.9999999]
    times += [1.7e9 + rnd.random() * 600 for _ in range(2000)]
    for ts in times + times[::-1]:
        dt = datetime.fromtimestamp(ts, UTC)
        assert format_ts(ts) == dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z", ts


def test_segment_shapes_that_are_no_event_say_what_to_change() -> None:
    """A Segment batch was refused as "Object missing required field `messageId`" (each of its events has
    one), and an event timed by ``originalTimestamp`` only as missing ``timestamp`` with no word on the
    field it has: the dead letter's detail is all a producer reads (``cjo-stream dlq``)."""
    event = orjson.loads(raw())
    with pytest.raises(InvalidEvent) as info:
        decode_event(orjson.dumps({"batch": [event], "sentAt": "2026-03-02T10:00:01Z"}))
    assert info.value.reason == "missing_field"
    assert info.value.detail.startswith('a Segment batch ({"batch": [...]}) is not read: produce each event')

    untimed = {k: v for k, v in event.items() if k != "timestamp"}
    with pytest.raises(InvalidEvent) as info:
        decode_event(orjson.dumps({**untimed, "originalTimestamp": "2026-03-02T10:00:00Z",
                                   "receivedAt": "2026-03-02T10:00:02Z"}))
    assert (info.value.reason, info.value.detail) == (
        "missing_field", "Object missing required field `timestamp` (originalTimestamp, receivedAt not read in "
                         "its place: set timestamp, the event's time)")
    with pytest.raises(InvalidEvent) as info:  # no other time: msgspec's own words
        decode_event(orjson.dumps(untimed))
    assert info.value.detail == "Object missing required field `timestamp`"


def test_connect_envelopes_and_twice_encoded_events_say_what_to_change() -> None:
    """Two producer set-ups that wrap every event: Kafka Connect's JsonConverter with its default
    ``schemas.enable=true`` ({"schema", "payload"}: "missing required field `messageId`"), and an event
    serialised twice (a JSON string holding it: "Expected `object`, got `str`")."""
    event = orjson.loads(raw())
    with pytest.raises(InvalidEvent) as info:
        decode_event(orjson.dumps({"schema": {"type": "struct", "fields": []}, "payload": event}))
    assert info.value.reason == "missing_field" and "Kafka Connect envelope" in info.value.detail \
        and "schemas.enable=false" in info.value.detail
    with pytest.raises(InvalidEvent) as info:
        decode_event(orjson.dumps(orjson.dumps(event).decode()))
    assert (info.value.reason, info.value.detail) == (
        "wrong_type", "the record is a JSON string holding a JSON object: it was encoded twice (send the object)")
    with pytest.raises(InvalidEvent) as info:  # a string that holds no object: msgspec's own words
        decode_event(b'"hello"')
    assert (info.value.reason, info.value.detail) == ("wrong_type", "Expected `object`, got `str`")


def test_a_schema_registry_framed_record_names_its_header() -> None:
    """Confluent's Schema Registry serialisers put a magic byte 0 and a 4-byte schema id before each value
    (JSON Schema, Avro, Protobuf alike): it was "JSON is malformed: invalid character (byte 0)"."""
    for value in (b"\x00\x00\x00\x00\x07" + raw(), b"\x00\x00\x00\x00\x07\x02\x0cabc"):
        with pytest.raises(InvalidEvent) as info:
            decode_event(value)
        assert (info.value.reason, info.value.detail) == (
            "invalid_json", "the record starts with a Schema Registry header (magic byte 0, schema id 7): cjo-stream "
                            "reads plain JSON, so produce with a plain JSON or string serializer, not a Schema "
                            "Registry one")
    with pytest.raises(InvalidEvent) as info:  # a lone NUL is no framing
        decode_event(b"\x00")
    assert info.value.detail == "JSON is malformed: invalid character (byte 0)"


def test_a_lone_surrogate_escape_is_named_not_taken_for_a_cut_record() -> None:
    """JavaScript's JSON.stringify writes text cut inside an emoji as a lone ``\\ud83d`` escape: refused (no
    UTF-8 text holds it) with msgspec's "Input data was truncated", which sent a producer looking for a cut
    record. A pair, an escaped backslash before ``ud83d`` and a record really cut short keep their words."""
    lone = "a string holds a lone UTF-16 surrogate escape"
    for name in ('"Tent \\ud83d"', '"\\ud83d Tent"', '"\\ude00 Tent"', '"ab\\udc00"'):
        with pytest.raises(InvalidEvent) as info:
            decode_event(raw(properties={}).replace(b'"properties":{}', b'"properties":{"name":' + name.encode() + b"}"))
        assert info.value.reason == "invalid_json" and info.value.detail.startswith(lone), (name, info.value.detail)
    pair = raw(properties={}).replace(b'"properties":{}', b'"properties":{"name":"\\ud83d\\ude00 \\\\ud83d"}')
    assert decode_event(pair).properties == {"name": "\U0001F600 \\ud83d"}
    with pytest.raises(InvalidEvent) as info:
        decode_event(pair[:-20])
    assert info.value.detail == "Input data was truncated"


def test_a_whole_number_id_is_read_as_its_text() -> None:
    """A database key sent as a number (``"userId": 12345``, which Segment's libraries accept) names the same
    customer as ``"12345"``: it was dead-lettered as ``wrong_type``, losing the event. Read as checked as any
    record (its other fields' types and a repeated field still refuse it), trusted or not (stage 2 decodes
    the record stage 1 forwarded as it came)."""
    text = decode_event(raw(type="alias", event=..., previousId="77", userId="12345", messageId="9"))
    for trusted in (False, True):
        number = decode_event(raw(type="alias", event=..., previousId=77, userId=12345, messageId=9), trusted=trusted)
        assert number == text, number
    big = raw(type="group", groupId=-5).replace(b'"u1"', str(2**64 - 1).encode())  # unsigned 64 bits: a key too
    assert decode_event(big).user_id == str(2**64 - 1)
    assert decode_event(raw(type="group", groupId=-5)).properties == {"groupId": "-5"}
    for bad, why in ((raw(userId=12345, properties=[1]), "wrong_type"),
                     (raw(userId=12345).replace(b'"messageId":"m1"', b'"messageId":"m1","messageId":"m2"'),
                      "duplicate_key"),
                     (raw(userId=12345, timestamp=1772445600), "bad_timestamp")):
        with pytest.raises(InvalidEvent) as info:
            decode_event(bad)
        assert info.value.reason == why, info.value.detail


def test_an_id_that_is_no_whole_number_says_what_ids_are() -> None:
    """``12345.0`` or ``true`` is no key: refused, the detail saying what an id may be."""
    for field in ("userId", "anonymousId", "messageId", "previousId"):
        with pytest.raises(InvalidEvent) as info:
            decode_event(raw(**{"type": "alias", "event": ..., "previousId": "a-1", field: 12345.0}))
        assert info.value.reason == "wrong_type" and info.value.detail.endswith(
            f'at `$.{field}` (ids are text, or whole numbers: "12345" or 12345, not 12345.0)'), info.value.detail
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw(userId=True))
    assert info.value.reason == "wrong_type", info.value.detail
    with pytest.raises(InvalidEvent) as info:  # another field keeps msgspec's words
        decode_event(raw(event=12345))
    assert info.value.detail == "Expected `str | null`, got `int` - at `$.event`"


def test_a_group_call_is_an_event_whose_traits_stay_off_the_profile() -> None:
    """Segment's ``group`` call (a user joins an account) was dead-lettered as ``unknown_type``, keeping the
    dead-letter alert firing for valid Segment. It is the event ``group``; its group id and the group's
    traits are its properties, not the person's traits (an account's ``name`` is not the customer's)."""
    e = decode_event(raw(type="group", event=..., groupId="acme", traits={"name": "Acme", "plan": "pro"}))
    assert (e.type, e.name, e.traits) == ("group", "group", {})
    assert e.properties == {"groupId": "acme", "traits": {"name": "Acme", "plan": "pro"}}
    assert decode_event(raw(type="group", groupId="acme", properties={"seats": 3})).properties == {
        "seats": 3, "groupId": "acme"}
    for bad, why in ((raw(type="group"), "missing_field"), (raw(type="group", groupId=""), "missing_field"),
                     (raw(type="group", groupId="  "), "bad_id"), (raw(type="group", groupId="a\x07b"), "bad_id")):
        with pytest.raises(InvalidEvent) as info:
            decode_event(bad)
        assert info.value.reason == why, info.value.detail


@pytest.mark.parametrize("typ", ["page", "screen"])
def test_a_pages_name_and_category_are_read_as_properties(typ: str) -> None:
    """Segment's server libraries send a page's ``name`` and ``category`` at the top level (its browser
    library copies them into ``properties``): they were dropped, so no condition could read which page."""
    e = decode_event(raw(type=typ, event=..., name="Pricing", category="Docs", properties={"url": "/p"}))
    assert (e.name, e.properties) == (f"{typ}_viewed", {"url": "/p", "name": "Pricing", "category": "Docs"})
    kept = decode_event(raw(type=typ, event=..., name="Top", properties={"name": "Pricing"}))
    assert kept.properties == {"name": "Pricing"}  # the browser library's copy is the same; a set one wins
    assert decode_event(raw(type=typ, event=..., name=None)).properties == {}
    assert decode_event(raw(type="track", name="Pricing")).properties == {}  # a track's name is not a page's


@pytest.mark.parametrize("typ", ["track", "identify", "page", "screen"])
def test_a_name_category_or_group_id_a_call_does_not_read_refuses_nothing(typ: str) -> None:
    """A top-level ``name`` or ``category`` that is not text (``"name": 42``, an object), and a ``groupId`` of
    any kind on a call that is no ``group``, were dead-lettered as ``wrong_type`` since these fields were read
    for pages and groups, though unknown envelope fields are ignored: they are left out, and the call kept."""
    extra = {"event": "Clicked"} if typ == "track" else {"event": ...}
    for odd in ({"name": 42}, {"category": {"a": 1}}, {"name": ["x"], "category": 7.5}, {"groupId": 5.5},
                {"groupId": {"id": 1}}):
        e = decode_event(raw(type=typ, userId=12345, **extra, **odd))  # with an integer id to turn into text too
        assert e.user_id == "12345" and "name" not in e.properties and "category" not in e.properties, (odd, e)
    with pytest.raises(InvalidEvent) as info:  # the group's own id still has to be one
        decode_event(raw(type="group", groupId=5.5, name=42))
    assert info.value.reason == "wrong_type" and info.value.detail.endswith("not 12345.0)"), info.value.detail


def test_an_integer_id_beyond_64_bits_is_a_bad_number_not_a_fraction() -> None:
    """``"userId": 99999999999999999999`` was refused as a float, its detail saying "not 12345.0"."""
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw(userId=...).replace(b'"type"', b'"userId":99999999999999999999,"type"'))
    assert info.value.reason == "bad_number" and "`$.userId` is an integer outside 64 bits" in info.value.detail, (
        info.value.detail)
