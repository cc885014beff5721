"""JSON Schemas generated from the structs, so ``schemas/`` can never drift from the code."""

from __future__ import annotations

import os
from typing import Any

import msgspec
import orjson

from cjo_stream.analytics.records import JourneyEvent
from cjo_stream.commands import ConsentChange, DeliveryCommand, Receipt, SkipRecord
from cjo_stream.events import Envelope
from cjo_stream.journeys.policies import PoliciesSpec
from cjo_stream.journeys.spec import JourneySpec
from cjo_stream.journeys.stages import StagesSpec

SCHEMAS: dict[str, Any] = {
    "touchpoint_event.schema.json": Envelope,
    "delivery_command.schema.json": DeliveryCommand,
    "skip_record.schema.json": SkipRecord,
    "receipt.schema.json": Receipt,
    "consent_change.schema.json": ConsentChange,
    "journey_event.schema.json": JourneyEvent,
    "journey.schema.json": JourneySpec,
    "policies.schema.json": PoliciesSpec,
    "stages.schema.json": StagesSpec,
}


#: The envelope's ids, which the decoder also reads as whole numbers (``"userId": 12345``), within 64 bits
_ID_FIELDS = ("messageId", "userId", "anonymousId", "previousId", "groupId")
_WHOLE_ID = {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1}
#: What JSON Schema cannot say: its ``integer`` is any number without a fraction, ``12345.0`` too, which the
#: decoder refuses (a float is no key), so a producer checking against the schema alone learnt it from the DLQ
_ID_NOTE = ("Text, or a whole number within 64 bits written without a decimal point (12345, read as \"12345\"); "
            "12345.0 is refused (wrong_type), though JSON Schema's integer admits it")


_CLOCK = ("with sentAt and receivedAt both RFC 3339 times and no originalTimestamp, the event is decided at "
          "timestamp + (receivedAt - sentAt), Segment's correction of a device's clock; any other value is ignored")
_TIME_NOTES = {"sentAt": "The device's time when it sent the event: " + _CLOCK,
               "receivedAt": "The collector's time when the event came: " + _CLOCK,
               "originalTimestamp": "Present when timestamp was corrected already (Segment, RudderStack): " + _CLOCK}


def _ids_as_numbers(schema: dict[str, Any]) -> dict[str, Any]:
    """The touchpoint schema with each id a string or a whole number, as decoding takes it: the struct types
    them as text (what an id becomes), so a producer's upstream check against this file refused a database key
    sent as a number, which the workers take."""
    props = schema["$defs"]["Envelope"]["properties"]
    for k in _ID_FIELDS:
        field = props[k]
        kinds = field.pop("anyOf", None) or [{"type": field.pop("type")}]
        field["anyOf"] = [kinds[0], _WHOLE_ID, *kinds[1:]]
        field["description"] = _ID_NOTE
    for k, note in _TIME_NOTES.items():
        props[k]["description"] = note
    return schema


def render(name: str) -> bytes:
    schema = msgspec.json.schema(SCHEMAS[name])
    if name == "touchpoint_event.schema.json":
        schema = _ids_as_numbers(schema)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name.split(".")[0], **schema}
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_all(out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(render(name))
        written.append(path)
    return written
