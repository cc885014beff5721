"""The checked decoder (msgspec validating data while it decodes) is only a shortcut of the exact path.

``decode_event`` first decodes with types that bound integers and nesting in C and falls back to
``_decode_exact`` (decode, then walk the values) for anything that type refuses; for every input both
must give the same event or the same reason and detail. Generated data covers the edges the shortcut
rests on: integers around 64 bits, nesting around the typed levels and :data:`MAX_DEPTH`, numbers
written as floats, keys repeated inside data and in the envelope, mutated bytes.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import orjson
from hypothesis import HealthCheck, given, settings

from cjo_stream.events import (
    _TYPED_LEVELS,
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    InvalidEvent,
    _checked,
    _decode_exact,
    _encode_wire,
    decode_event,
)
from tests.test_events_hostile import mutated

#: in the order Segment libraries write the members, so compact records take the re-encoding proof
BASE: dict[str, Any] = {"messageId": "m-1", "timestamp": "2026-03-02T11:00:00.250Z", "type": "track", "event": "viewed",
                        "userId": "u-1"}


def outcome(decode: Any, raw: bytes) -> tuple[Any, ...]:
    try:
        ev = decode(raw)
    except InvalidEvent as e:
        return ("invalid", e.reason, e.detail)
    return ("event", repr(ev.fields()))


def same(raw: bytes) -> tuple[Any, ...]:
    got = outcome(decode_event, raw)
    assert got == outcome(lambda r: _decode_exact(r, False), raw), raw[:200]
    return got


edge_ints = st.sampled_from([INT_MAX, INT_MAX + 1, INT_MIN, INT_MIN - 1, 2**64, 2**64 - 1, 2**200, 0, -1])
leaves = st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | edge_ints \
    | st.integers(-(2**70), 2**70) | st.text(max_size=6)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                         max_size=3), max_leaves=12)


def nest(depth: int, leaf: bytes, array: bool) -> bytes:
    return (b"[" * depth + leaf + b"]" * depth) if array else (b'{"k":' * depth + leaf + b"}" * depth)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["properties", "context", "traits"]), data=st.dictionaries(st.text(max_size=6), values,
                                                                                       max_size=4))
def test_generated_data_decodes_as_the_exact_path_does(field: str, data: dict[str, Any]) -> None:
    same(_dumps({**BASE, field: data}))


@settings(max_examples=120, deadline=None)
@given(field=st.sampled_from(["properties", "context", "traits"]), array=st.booleans(),
       depth=st.sampled_from([_TYPED_LEVELS - 1, _TYPED_LEVELS, _TYPED_LEVELS + 1, MAX_DEPTH - 2, MAX_DEPTH - 1]),
       leaf=st.sampled_from([b"1", b"[]", b"{}", b'"x"', b"9223372036854775808", b"1.5e3", b"-0"]))
def test_nesting_around_the_typed_levels_and_the_limit(field: str, array: bool, depth: int, leaf: bytes) -> None:
    raw = orjson.dumps(BASE)[:-1] + b',"' + field.encode() + b'":{"a":' + nest(depth, leaf, array) + b"}}"
    same(raw)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_records_decode_as_the_exact_path_does(data: st.DataObject) -> None:
    same(mutated(data, {**BASE, "anonymousId": "a-1", "properties": {"a": [1, {"b": 2.5}], "n": 7},
                        "context": {"app": {"v": "1"}}, "traits": {"t": True}}))


FIELDS = ["messageId", "timestamp", "type", "event", "name", "userId", "anonymousId", "previousId", "properties",
          "traits", "context", "sentAt"]
VALUES = ['"m-2"', '"2026-03-02T11:00:00Z"', '"identify"', '"bought"', '"Home"', '"u-2"', '"a-2"', '"p-2"', '{"k":[1]}',
          '{"t":true}', '{"c":"d"}', "1", "null", '"u-1"']


@settings(max_examples=200, deadline=None)
@given(extra=st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(VALUES)), max_size=3),
       spaced=st.booleans())
def test_records_with_repeated_or_extra_members_decode_as_the_exact_path_does(
        extra: list[tuple[str, str]], spaced: bool) -> None:
    """Repeats are never taken for one member, whichever proof (re-encoding or the full one) runs."""
    raw = orjson.dumps({**BASE, "anonymousId": "a-1", "properties": {"p": 1.5}})[:-1]
    for k, v in extra:
        raw += (b', "' if spaced else b',"') + k.encode() + b'":' + v.encode()
    same(raw + b"}")


def test_both_paths_are_exercised() -> None:
    """The shortcut accepts a typical event and refuses what only the exact path can explain."""
    canonical = orjson.dumps({**BASE, "anonymousId": "a-1", "properties": {"items": [{"sku": "A", "qty": 2}]},
                              "context": {"channel": "web"}})
    assert _encode_wire(_checked.decode(canonical)) == canonical  # the re-encoding proof applies
    assert same(orjson.dumps({**BASE, "properties": {"items": [{"sku": "A", "qty": 2}]}}))[0] == "event"
    assert same(orjson.dumps(BASE)[:-1] + b',"properties":{"n":9223372036854775808}}')[1] == "bad_number"
    deep = orjson.dumps(BASE)[:-1] + b',"context":{"a":' + nest(MAX_DEPTH - 2, b"1", True) + b"}}"
    assert same(deep)[0] == "event"  # deeper than the typed levels, within the limit: the exact path accepts


def _dumps(v: Any) -> bytes:
    """Compact JSON, integers beyond 64 bits included (orjson refuses to write them)."""
    return json.dumps(v, separators=(",", ":")).encode()
