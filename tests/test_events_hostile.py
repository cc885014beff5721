"""Hostile touchpoint records: every one is an Event or an InvalidEvent with a reason, never anything else.

The rules (README "Event model"): nesting over 32 levels ``too_deep``, integers outside signed 64 bits
or floats that overflow ``bad_number``, NaN/Infinity literals ``invalid_json`` (not JSON), bytes that are
not UTF-8 ``invalid_encoding``, an envelope field repeated with another value ``duplicate_key``, odd ids ``bad_id``, over
256 KiB ``too_large``. Fuzzed with hypothesis (bounded examples); the cost per bad record is measured by
``make bench``, not here.
"""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjo_stream.events import INT_MAX, INT_MIN, MAX_DEPTH, MAX_EVENT_BYTES, Event, InvalidEvent, decode_event

BASE: dict[str, Any] = {"messageId": "m-1", "type": "track", "event": "viewed", "userId": "u-1",
                        "timestamp": "2026-03-02T11:00:00Z"}
REASONS = {"invalid_json", "invalid_encoding", "missing_field", "wrong_type", "bad_timestamp", "bad_number",
           "bad_id", "duplicate_key", "unknown_type", "missing_id", "too_large", "too_deep"}


def reason(raw: bytes) -> str | None:
    try:
        decode_event(raw)
    except InvalidEvent as e:
        assert e.reason in REASONS, e.reason
        return e.reason
    return None


def record(**properties: Any) -> bytes:
    return json.dumps({**BASE, "properties": properties}, separators=(",", ":")).encode()


def nested(depth: int, leaf: str = "1") -> bytes:
    """``properties.a`` holding ``depth`` nested arrays (the envelope is level 1, properties level 2)."""
    return (orjson.dumps(BASE)[:-1] + b',"properties":{"a":' + b"[" * depth + leaf.encode() + b"]" * depth + b"}}")


@pytest.mark.parametrize(("raw", "expected"), [
    (nested(10_000), "too_deep"),
    (nested(MAX_DEPTH - 1), "too_deep"),  # 33 levels
    (nested(MAX_DEPTH - 2), None),  # exactly 32
    (orjson.dumps(BASE)[:-1] + b',"ignored":' + b"[" * 10_000 + b"]" * 10_000 + b"}", "too_deep"),
    (record(n=INT_MAX, m=INT_MIN), None),
    (record(n=INT_MAX + 1), "bad_number"),
    (record(n=[1, {"m": INT_MIN - 1}]), "bad_number"),
    (record(n=2**200), "bad_number"),
    (orjson.dumps(BASE)[:-1] + b',"properties":{"x":1e400}}', "bad_number"),
    (orjson.dumps(BASE)[:-1] + b',"properties":{"x":-1e999}}', "bad_number"),
    (orjson.dumps(BASE)[:-1] + b',"properties":{"x":NaN}}', "invalid_json"),
    (orjson.dumps(BASE)[:-1] + b',"properties":{"x":Infinity}}', "invalid_json"),
    (orjson.dumps(BASE)[:-1] + b',"properties":{"x":"\xff\xfe"}}', "invalid_encoding"),
    (orjson.dumps(BASE)[:-1] + b',"properties":{"x":"\xed\xa0\x80"}}', "invalid_encoding"),  # a UTF-8 surrogate
    (orjson.dumps(BASE)[:-1] + b',"userId":"other"}', "duplicate_key"),
    (orjson.dumps(BASE)[:-1] + b', "type" : "identify"}', "duplicate_key"),
    (orjson.dumps(BASE)[:-1] + b',"user\\u0049d":"other"}', "duplicate_key"),  # escaped key, same name
    (orjson.dumps(BASE)[:-1] + b',"sentAt":1,"sentAt":2}', "duplicate_key"),
    (orjson.dumps(BASE)[:-1] + b',"userId":"u-1"}', None),  # the same value twice reads the same everywhere
    (orjson.dumps(BASE)[:-1] + b',"sentAt":{"a":[1]}, "sentAt" : {"a" : [1]}}', None),
    (orjson.dumps(BASE)[:-1] + b',"properties":{"a":1,"a":2}}', None),  # inside data: the last value wins
    (orjson.dumps({**BASE, "userId": "u\u0000"}), "bad_id"),
    (orjson.dumps({**BASE, "userId": "u\u2028x"}), "bad_id"),
    (orjson.dumps({**BASE, "userId": "u" * 513}), "bad_id"),
    (orjson.dumps({**BASE, "userId": "u" * 512}), None),
    (orjson.dumps({**BASE, "messageId": "m\n"}), "bad_id"),
    (record(big=[7] * 60_000), None),  # huge but under the size limit: accepted
    (record(s="x" * (MAX_EVENT_BYTES - 200)), None),
    (record(s="x" * MAX_EVENT_BYTES), "too_large"),
], ids=lambda v: v if isinstance(v, str | type(None)) else None)
def test_rules(raw: bytes, expected: str | None) -> None:
    assert reason(raw) == expected


def test_accepted_data_can_be_stored() -> None:
    """What passes the checks encodes to msgpack (profiles, instance snapshots) without OverflowError."""
    ev = decode_event(record(a=INT_MAX, b=[INT_MIN, 1.5, None, True, {"c": "d"}]))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(ev.properties)) == ev.properties


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)


def _depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


def _ints(v: Any) -> list[int]:
    if isinstance(v, dict):
        return [i for x in v.values() for i in _ints(x)]
    if isinstance(v, list):
        return [i for x in v for i in _ints(x)]
    return [v] if type(v) is int else []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(properties=st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_json_properties_are_accepted_exactly_when_within_the_rules(properties: dict[str, Any]) -> None:
    raw = json.dumps({**BASE, "properties": properties}).encode()
    got = reason(raw)
    too_deep = 1 + _depth(properties) > MAX_DEPTH
    out_of_range = any(not INT_MIN <= i <= INT_MAX for i in _ints(properties))
    if too_deep or out_of_range:
        assert got in ("too_deep", "bad_number")
    else:
        assert got is None
        ev = decode_event(raw)
        assert ev.properties == properties
        msgspec.msgpack.encode(ev.properties)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_are_an_event_or_a_reason(raw: bytes) -> None:
    reason(raw)


@settings(max_examples=300, deadline=None)
def mutated(data: st.DataObject, doc: dict[str, Any]) -> bytes:
    """``doc`` as JSON with one to four bytes set, inserted or deleted (drawn from JSON's own characters)."""
    raw = bytearray(orjson.dumps(doc))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        b = data.draw(st.sampled_from(list(b'{}[]",:\\0123456789eE.-+ntfu\x00\xff ')))
        if op == "set":
            raw[i] = b
        elif op == "insert":
            raw.insert(i, b)
        else:
            del raw[i]
    return bytes(raw)


@given(data=st.data())
def test_mutated_records_are_an_event_or_a_reason(data: st.DataObject) -> None:
    reason(mutated(data, {**BASE, "properties": {"a": [1, 2], "b": "x"}, "context": {"c": 1}}))


FIELDS = ["messageId", "type", "event", "userId", "anonymousId", "timestamp", "properties", "context", "sentAt", "x"]
VALUES = {"messageId": ['"m-1"', '"m-2"'], "type": ['"track"', '"identify"'], "event": ['"viewed"', '"bought"'],
          "userId": ['"u-1"', '"victim"'], "anonymousId": ['"a-1"', '"a-2"'],
          "timestamp": ['"2026-03-02T11:00:00Z"', '"2020-01-01T00:00:00Z"'],
          "properties": ['{"k": [1, 2], "s": "a b"}', '{"k": [1, 3]}'], "context": ['{"c": "d"}', "{}"],
          "sentAt": ['"2026-03-02T11:00:00Z"', "1"], "x": ["[1, {\"y\": null}]", "[1, {\"y\": 0}]"]}


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=12), seed=st.integers(0, 2**32),
       escape=st.booleans())
def test_a_repeated_envelope_field_is_found_whatever_the_whitespace(keys: list[str], seed: int, escape: bool) -> None:
    """The cheap length proof never lets a differing repeat through, with any whitespace between members."""
    rnd = random.Random(seed)

    def ws() -> str:
        return rnd.choice(["", "", " ", "\n  ", "\t", "   "])

    members = []
    count: dict[str, int] = {}
    for k in ["messageId", "type", "event", "userId", "timestamp", *keys]:
        name = k.replace("I", "\\u0049", 1) if escape and rnd.random() < 0.3 else k
        count[k] = count.get(k, 0) + 1  # a repeat carries another value (an identical one is accepted)
        members.append(f'{ws()}"{name}"{ws()}:{ws()}{VALUES[k][min(count[k], 2) - 1]}{ws()}')
    raw = ("{" + ",".join(members) + "}").encode()
    repeated = len(keys) != len(set(keys)) or bool(set(keys) & {"messageId", "type", "event", "userId", "timestamp"})
    got = reason(raw)
    assert (got == "duplicate_key") == repeated, (raw, got)


def test_event_is_returned_for_good_records() -> None:
    assert isinstance(decode_event(orjson.dumps(BASE)), Event)


def test_bad_utf8_in_an_ignored_field_name_is_still_a_reason() -> None:
    """Found by the mutation fuzzer: msgspec skips unknown envelope keys without reading them as text."""
    raw = bytearray(orjson.dumps({**BASE, "sentAt": 1}))
    raw[raw.index(b"sentAt") + 1] = 0xFF
    assert reason(bytes(raw)) == "invalid_encoding"
