"""The JSON Schemas in schemas/ are generated from the structs; this fails when they drift."""

from __future__ import annotations

import os

import orjson
import pytest

from cjo_stream.schemas_export import SCHEMAS, render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_checked_in_schema_matches_code(name: str) -> None:
    path = os.path.join(ROOT, "schemas", name)
    assert os.path.exists(path), f"{path} is missing: run `make schemas`"
    with open(path, "rb") as f:
        assert f.read() == render(name), f"{path} drifted from the code: run `make schemas` and commit"


def test_journey_schema_describes_steps() -> None:
    schema = orjson.loads(render("journey.schema.json"))
    step = schema["$defs"]["StepSpec"]["properties"]
    assert {"wait", "wait_until", "wait_for", "branch", "split", "send", "enter", "update", "next"} <= set(step)


def test_the_touchpoint_schema_takes_whole_number_ids_as_the_decoder_does() -> None:
    """The decoder reads ``"userId": 12345`` as ``"12345"``; the schema said ids are strings, so a producer
    validating against it refused events the workers take. Fractions and out-of-range numbers stay refused."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(orjson.loads(render("touchpoint_event.schema.json")))
    base = {"messageId": 9, "type": "group", "timestamp": "2026-03-02T10:00:00Z", "groupId": 77}
    good: tuple[object, ...] = (12345, "u1", 2**64 - 1, -5)
    bad: tuple[object, ...] = (12345.5, True, 2**64, {"id": 1})  # (12345.0 is an integer to JSON Schema)
    for uid in good:
        assert validator.is_valid({**base, "userId": uid}), uid
    for uid in bad:
        assert not validator.is_valid({**base, "userId": uid}), uid


def test_the_touchpoint_schema_says_an_id_with_a_decimal_point_is_refused() -> None:
    """JSON Schema's integer admits 12345.0, which the decoder refuses (``wrong_type``): the one thing the types
    cannot say, each id's description says, so a producer reading the schema is told before the DLQ tells it."""
    from cjo_stream.events import InvalidEvent, decode_event

    props = orjson.loads(render("touchpoint_event.schema.json"))["$defs"]["Envelope"]["properties"]
    for k in ("messageId", "userId", "anonymousId", "previousId", "groupId"):
        assert "12345.0 is refused" in props[k].get("description", ""), k
    with pytest.raises(InvalidEvent) as info:
        decode_event(b'{"messageId": "m", "type": "track", "event": "x", "userId": 12345.0, '
                     b'"timestamp": "2026-03-02T10:00:00Z"}')
    assert info.value.reason == "wrong_type"
