"""Touchpoint event envelope (Segment-style) and its decoding.

Upstream systems already emit Segment-shaped JSON; we accept it as is (unknown envelope fields such as
``integrations`` are ignored; ``sentAt`` and ``receivedAt`` correct a device's clock as Segment's servers do,
:func:`clock_shift`) and reject anything we cannot act on with a precise reason, so the runtime can dead-letter
it and the simulator can report it with a line number.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

# the structs and time formatting live in modules of their own (no structs in a compiled module), and
# are imported from here as before
from cjo_stream.event_types import _TYPED_LEVELS as _TYPED_LEVELS
from cjo_stream.event_types import INT_MAX as INT_MAX
from cjo_stream.event_types import INT_MIN as INT_MIN
from cjo_stream.event_types import Envelope as Envelope
from cjo_stream.event_types import Event as Event
from cjo_stream.event_types import EventType as EventType
from cjo_stream.event_types import _Wire
from cjo_stream.timefmt import MAX_TS as MAX_TS
from cjo_stream.timefmt import MIN_TS as MIN_TS
from cjo_stream.timefmt import common_epoch
from cjo_stream.timefmt import format_ts as format_ts
from cjo_stream.timefmt import parse_ts as parse_ts

#: Records larger than this are refused (``too_large``): Kafka's default max message is 1 MiB and a
#: touchpoint is typically ~200 bytes, so anything near the limit is a producer bug, not an event.
MAX_EVENT_BYTES: Final = 256 * 1024
#: Deepest nesting of objects/arrays accepted, the envelope being level 1 (``too_deep``): Segment data
#: is a few levels deep, and deep values would make every later encoder and template recurse.
MAX_DEPTH: Final = 32
#: Ids (``messageId``, ``userId``, ``anonymousId``, ``previousId``) are 1..512 printable characters
#: (``bad_id``): they are keys in state stores and topics and must be addressable in the state API.
MAX_ID_LENGTH: Final = 512


class InvalidEvent(ValueError):
    """A record that cannot be accepted. ``reason`` is a short code for metrics and DLQ headers."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# (Final: compiled code keeps them in C statics instead of looking them up in the module's dict per event)
_decoder: Final = msgspec.json.Decoder(Envelope)
_checked: Final = msgspec.json.Decoder(_Wire)
_encode_wire: Final = msgspec.json.Encoder().encode
_top_level: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_text: Final = msgspec.json.Decoder(str)
_UNSET: Final = msgspec.UNSET
_NAMES: Final = {"page": "page_viewed", "screen": "screen_viewed", "identify": "identify", "alias": "alias",
                 "group": "group"}


def _classify(err: msgspec.ValidationError) -> str:
    msg = str(err)
    if msg.startswith("Object missing required field"):
        return "missing_field"
    if "RFC3339" in msg or msg.endswith("`$.timestamp`"):  # a time as text that is none, or not text
        return "bad_timestamp"
    if msg.startswith("Invalid enum value") and "$.type" in msg:
        return "unknown_type"
    if msg.startswith("Number out of range"):
        return "bad_number"
    return "wrong_type"


def _unknown_type(msg: str) -> str:
    """The detail of ``unknown_type``: msgspec quotes whatever ``type`` held (an address, a name), and a dead
    letter's detail is shown where its payload is not (``cjo-stream dlq``, logs): a value is named only when
    it looks like a type name (``Track``)."""
    got = msg.partition("'")[2].rpartition("'")[0]
    named = 0 < len(got) <= 32 and got.isascii() and got.replace("_", "").isalnum()
    return f"type {repr(got) if named else '(not shown)'} is not one of track, identify, page, screen, alias, group"


#: Where msgspec names an id field it refused (``wrong_type``)
_ID_PATHS: Final = ("`$.messageId`", "`$.userId`", "`$.anonymousId`", "`$.previousId`", "`$.groupId`")
_ID_FIELDS: Final = ("messageId", "userId", "anonymousId", "previousId", "groupId")
#: A page or screen call's fields read only when they are text (:func:`_page_fields`)
_TEXT_PATHS: Final = ("`$.name`", "`$.category`")
_LENIENT_PATHS: Final = _ID_PATHS + _TEXT_PATHS
#: The largest whole-number id: unsigned 64-bit database keys are keys too
_UINT_MAX: Final = 2**64 - 1


def _lenient(data: bytes) -> bytes | None:
    """The record with each id that is a JSON integer written as its decimal text (``12345`` → ``"12345"``), a
    ``name`` or ``category`` that is not text left out, and so a ``groupId`` on a call that is no ``group``; or
    None if nothing changed. A database key sent as the number it is there (Segment's libraries accept a number
    as ``userId`` and some send it so) names the same customer as its text, whichever form a producer sent;
    and a field only some types read (:func:`_page_fields`, a group's id) must not refuse the others, whose
    unknown fields are ignored. Other members are kept verbatim; only records the decoders refused pay for
    this. An integer id outside 64 bits is refused (``bad_number``), as any integer outside them is."""
    try:
        top = _top_level.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    changed = False
    typ = top.get("type")
    group = typ is not None and bytes(typ).strip() == b'"group"'
    for k in _ID_FIELDS:
        raw = top.get(k)
        if raw is not None:
            try:
                v = msgspec.json.decode(raw)
            except (msgspec.DecodeError, RecursionError):
                return None
            if type(v) is int:
                if not INT_MIN <= v <= _UINT_MAX:  # (msgspec calls it a float: "not 12345.0" misled)
                    raise InvalidEvent("bad_number", f"`$.{k}` is an integer outside 64 bits: send a longer id as "
                                                     "text")
                top[k] = msgspec.Raw(_encode_wire(str(v)))
                changed = True
            elif k == "groupId" and not group and type(v) is not str and v is not None:
                del top[k]
                changed = True
    for k in ("name", "category"):
        raw = top.get(k)
        if raw is not None and bytes(raw).lstrip()[:1] not in (b'"', b"n"):  # not text (nor null): not read
            del top[k]
            changed = True
    return _encode_wire(top) if changed else None


#: Segment's other times: an event without ``timestamp`` is refused even when it carries one of these (which
#: time the engine should decide at is the producer's to say: Segment itself fills ``timestamp`` in)
_OTHER_TIMES: Final = ("originalTimestamp", "receivedAt", "sentAt")


#: A ``\\uD800``-``\\uDFFF`` escape not in a high-low pair (an even number of backslashes before it: the
#: escape is not itself escaped), looked for only in records msgspec refused
_LONE_SURROGATE: Final = re.compile(
    rb"(?<!\\)(?:\\\\)*(?:\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})")


def _segment_shape(data: bytes, detail: str) -> str:
    """The detail of ``missing_field`` for shapes upstreams send whose msgspec detail misleads: a Segment batch
    (``{"batch": [...]}``: "missing required field `messageId`", though each event in it has one), Kafka
    Connect's JSON with its schema (``{"schema", "payload"}``, its converter's default) and an event whose time
    is in Segment's other fields only (``originalTimestamp``, ...), so that the producer reading ``cjo-stream
    dlq`` knows what to change. Only refused records pay for the look at their members."""
    try:
        top = _top_level.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return detail
    if "messageId" not in top:
        if "batch" in top:
            return 'a Segment batch ({"batch": [...]}) is not read: produce each event in it as a record of its own'
        if "payload" in top and "schema" in top:
            return ('a Kafka Connect envelope ({"schema": ..., "payload": ...}) is not read: set the converter\'s '
                    "schemas.enable=false, so that the event itself is the record")
    if detail.endswith("`timestamp`"):
        other = [k for k in _OTHER_TIMES if k in top]
        if other:
            return f"{detail} ({', '.join(other)} not read in its place: set timestamp, the event's time)"
    return detail


#: the envelope's ids as Segment's warehouse tables (and exports made from them) spell them, which are not read
_SNAKE_IDS: Final = (("message_id", "messageId"), ("user_id", "userId"), ("anonymous_id", "anonymousId"),
                     ("previous_id", "previousId"), ("group_id", "groupId"))


def _snake_case(data: bytes, detail: str) -> str:
    """``detail`` with the ids a record spells in snake case named: "an event needs userId or anonymousId"
    for a record with ``user_id`` (a warehouse export) did not say that its id was there, spelt otherwise (a
    walkthrough). Only refused records pay for the look at their members."""
    try:
        top = _top_level.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return detail
    found = [f"{snake} (write {camel})" for snake, camel in _SNAKE_IDS if snake in top and camel not in top]
    return f"{detail}; not read: {', '.join(found)}, the envelope's fields are as Segment sends them" if found \
        else detail


def _holds_object(data: bytes) -> bool:
    """Whether a record that is a JSON string holds a JSON object: a producer that serialised its event twice
    (a JSON serialiser given the JSON text, Kafka Connect's JsonConverter over a string)."""
    try:
        inner = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return False
    return isinstance(inner, str) and inner.lstrip()[:1] == "{"


def valid_id(text: str) -> bool:
    """1..:data:`MAX_ID_LENGTH` printable characters (no control, format or line-separator characters)."""
    return 0 < len(text) <= MAX_ID_LENGTH and text.isprintable()


def decode_event(raw: bytes | str, *, trusted: bool = False) -> Event:
    """Decode one JSON record into an :class:`Event` or raise :class:`InvalidEvent` saying why.

    Hostile records cost bounded time: the size is checked first, msgspec parses in C (nesting too deep
    for it is ``too_deep`` as well), checking depth and numbers of the data as it decodes them (a record
    that fails is decoded again by :func:`_decode_exact`, which walks the values to say why), then one
    pass over the envelope's top-level members checks for a repeated field. ``trusted`` skips those
    checks for records a worker's own ingest stage already checked (the internal topic).
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"record is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    if not trusted:
        try:  # the common case: types, numbers and depth checked in one C pass (_Wire)
            wire = _checked.decode(raw)
            t = common_epoch(wire.timestamp)  # what Segment's libraries write, read directly
            ts = None if t >= 0.0 else msgspec.convert(wire.timestamp, datetime)  # as the Envelope's datetime
        except (msgspec.DecodeError, RecursionError):  # ValidationError included: the exact path says why
            pass
        else:
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
            if _encode_wire(wire) != data:  # equal bytes are a JSON object with each member once
                _check_unique_fields(data)
            try:
                return _normalise(wire, t, ts)
            except InvalidEvent as e:
                if e.reason != "missing_id":
                    raise
                raise InvalidEvent(e.reason, _snake_case(data, e.detail)) from None
    return _decode_exact(raw, trusted)


def _decode_exact(raw: bytes | str, trusted: bool, retried: bool = False) -> Event:
    """:func:`decode_event` with the data checked by walking it: trusted records, and the ones the checked
    decoder refused, whose reason (and detail) this gives exactly. Integer ids are read as their decimal
    text, and fields no call of its type reads are left out when they are not text (:func:`_lenient`), once."""
    try:
        env = _decoder.decode(raw)
    except msgspec.ValidationError as e:
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        if not trusted and data.lstrip()[:1] == b"{":
            # a repeated field first, as the checked path finds it: it keeps the last value only, so an
            # invalid earlier one would otherwise give the two paths different reasons
            _check_unique_fields(data)
        reason, detail = _classify(e), str(e)
        if reason == "wrong_type" and detail.endswith(_LENIENT_PATHS) and not retried:
            text = _lenient(data)
            if text is not None:
                return _decode_exact(text, trusted, retried=True)
        if reason == "unknown_type":
            detail = _unknown_type(detail)
        elif reason == "missing_field" and not trusted:
            detail = _segment_shape(data, detail)
            if detail.endswith("`messageId`"):
                detail = _snake_case(data, detail)
        elif reason == "wrong_type" and detail.endswith(_ID_PATHS) and "got `float`" in detail:
            detail += ' (ids are text, or whole numbers: "12345" or 12345, not 12345.0)'  # 1.0 or 1: not a key
        elif reason == "wrong_type" and detail == "Expected `object`, got `str`" and _holds_object(data):
            detail = "the record is a JSON string holding a JSON object: it was encoded twice (send the object)"
        elif reason == "bad_timestamp" and detail.startswith("Expected"):
            # a number (epoch seconds or milliseconds) or null: msgspec says "Expected `datetime`", a type
            # the producer never sees
            got = detail.partition("got ")[2].partition(" ")[0]
            detail = f"timestamp is an RFC 3339 string such as 2026-03-02T10:00:00Z, not {got}" + (
                " (epoch numbers are not read)" if got.strip("`") in ("int", "float") else "")
        raise InvalidEvent(reason, detail) from None
    except msgspec.DecodeError as e:
        msg = str(e)
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        if not data.strip():
            msg = "the record's value is empty"  # msgspec: "Input data was truncated", as if cut short on the way
        elif data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):  # msgspec: "invalid character (byte 0)"
            msg = "the record starts with a byte-order mark: a JSON record has none"
        elif ("surrogate" in msg or msg == "Input data was truncated") and _LONE_SURROGATE.search(data):
            # msgspec: "Input data was truncated" for a lone high surrogate, as if the record had been cut short
            msg = ("a string holds a lone UTF-16 surrogate escape (such as \\ud83d without its pair: text cut "
                   "inside an emoji, which JavaScript's JSON.stringify writes so): no Unicode text can hold it")
        elif data[:1] == b"\x00" and len(data) > 5:
            # Confluent's Schema Registry serialisers (JSON Schema, Avro, Protobuf) frame each value with a magic
            # byte 0 and a 4-byte schema id: "invalid character (byte 0)" did not say which producer setting it is
            msg = (f"the record starts with a Schema Registry header (magic byte 0, schema id "
                   f"{int.from_bytes(data[1:5], 'big')}): cjo-stream reads plain JSON, so produce with a plain "
                   "JSON or string serializer, not a Schema Registry one")
        raise InvalidEvent("invalid_encoding" if "UTF-8" in msg else "invalid_json", msg) from None
    except RecursionError:
        raise InvalidEvent("too_deep", f"nesting deeper than {MAX_DEPTH} levels") from None
    if not trusted:
        if env.properties:
            _check_values(env.properties, 2)
        if env.context:
            _check_values(env.context, 2)
        if env.traits:
            _check_values(env.traits, 2)
        _check_unique_fields(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    return from_envelope(env)


_FLAT = frozenset({str, float, bool, type(None), int})


def _check_values(obj: dict[str, Any] | list[Any], depth: int) -> None:
    """Nesting within :data:`MAX_DEPTH` and integers within 64 bits, everywhere below ``obj``."""
    values: Any = obj.values() if type(obj) is dict else obj
    if len(obj) > 16:  # long (hostile-sized) containers: type and range checks in C, not per item here
        kinds = set(map(type, values))
        if kinds <= _FLAT:
            if int in kinds:
                ints = values if len(kinds) == 1 else [v for v in values if type(v) is int]
                if min(ints) < INT_MIN or max(ints) > INT_MAX:
                    raise InvalidEvent("bad_number", "an integer outside the signed 64-bit range")
            return
    for v in values:
        t = type(v)
        if t is str or t is float or t is bool or v is None:
            continue
        if t is int:
            if v > INT_MAX or v < INT_MIN:
                raise InvalidEvent("bad_number", f"an integer outside the signed 64-bit range ({str(v)[:24]}...)")
        elif depth >= MAX_DEPTH:
            raise InvalidEvent("too_deep", f"nesting deeper than {MAX_DEPTH} levels")
        else:
            _check_values(v, depth + 1)


_WS = b" \t\n\r"
_encode_top = msgspec.json.Encoder().encode


def _check_unique_fields(raw: bytes) -> None:
    """Refuse a record whose envelope (top-level object) names a field twice with different values
    (``duplicate_key``).

    Parsers disagree on which copy wins (msgspec and JavaScript take the last, others the first), so a
    repeated ``userId`` could mean one customer to an upstream validator and another to us. The proof is
    exact and cheap, two C passes: msgspec re-encodes the members it kept (values verbatim, keys in the
    shortest JSON form), and the record can only be as long as that, whitespace aside, if no member was
    dropped (a dropped ``"k":v,`` adds at least five non-blank bytes; nothing in the record can be shorter
    than its re-encoding). Keys written with needless escapes fail the proof and are settled by the
    standard library's parser, which reports every pair.
    """
    try:
        top = _top_level.decode(raw)
    except msgspec.DecodeError as e:  # e.g. bad UTF-8 in an ignored field's key, which the struct skipped
        msg = str(e)
        raise InvalidEvent("invalid_encoding" if "UTF-8" in msg else "invalid_json", msg) from None
    except RecursionError:
        raise InvalidEvent("too_deep", f"nesting deeper than {MAX_DEPTH} levels") from None
    kept = _encode_top(top)
    if len(kept) == len(raw) or len(raw.translate(None, _WS)) == len(kept.translate(None, _WS)):
        return
    import json  # the exact pair-by-pair path

    try:
        pairs = json.loads(raw, object_pairs_hook=lambda p: p)
    except RecursionError:  # an ignored envelope field nested deeper than the stdlib parser goes
        raise InvalidEvent("too_deep", "an envelope field is nested too deep") from None
    seen: dict[str, str] = {}
    for k, v in pairs:  # a repeat with the same value is harmless (no parser can read it differently)
        text = json.dumps(v)
        if seen.setdefault(k, text) != text:
            raise InvalidEvent("duplicate_key", f"the envelope has the field {k[:64]!r} twice, with different values")


def from_envelope(env: Envelope) -> Event:
    """Validate cross-field rules that the struct cannot express and normalise the event."""
    return _normalise(env, -1.0, env.timestamp)


def _normalise(env: Envelope | _Wire, t: float, ts: datetime | None) -> Event:
    """:func:`from_envelope` of an envelope whose time has been parsed: ``ts``, or if None ``t``, epoch
    seconds within the range events may carry (:func:`~cjo_stream.timefmt.common_epoch`)."""
    mid, uid, aid, pid, typ = env.messageId, env.userId, env.anonymousId, env.previousId, env.type
    if not mid:
        raise InvalidEvent("missing_field", "messageId is empty")
    if not uid and not aid:
        raise InvalidEvent("missing_id", "an event needs userId or anonymousId (or both)")
    # valid_id of each id present, with one isprintable over them joined (calls cost more than the scan);
    # each id's length only when the joined ids are longer than one id may be (rare)
    ids = mid + (uid or "") + (aid or "") + (pid or "")
    if not ids.isprintable() or len(ids) > MAX_ID_LENGTH and (
            len(mid) > MAX_ID_LENGTH or (uid and len(uid) > MAX_ID_LENGTH) or (aid and len(aid) > MAX_ID_LENGTH)
            or (pid and len(pid) > MAX_ID_LENGTH)):
        raise InvalidEvent("bad_id", f"ids (messageId, userId, anonymousId, previousId) are 1 to {MAX_ID_LENGTH} "
                                     "printable characters")
    if mid.isspace() or (uid and uid.isspace()) or (aid and aid.isspace()) or (pid and pid.isspace()):
        raise InvalidEvent("bad_id", "an id is only spaces")  # ("   " was taken as a customer)
    if typ == "track":
        name = env.event
        if not name:
            raise InvalidEvent("missing_field", "a track event needs `event` (its name)")
    elif typ == "page" or typ == "screen":
        name = env.event or _NAMES[typ]
    elif typ == "group":
        name = "group"
        gid = env.groupId
        if not gid:
            raise InvalidEvent("missing_field", "a group event needs groupId")
        if not valid_id(gid) or gid.isspace():
            raise InvalidEvent("bad_id", f"groupId is 1 to {MAX_ID_LENGTH} printable characters, not only spaces")
    else:
        name = _NAMES[typ]
        if typ == "alias" and (not pid or not uid):
            raise InvalidEvent("missing_field", "an alias event needs previousId and userId")
    if ts is not None:
        if ts.tzinfo is None:  # RFC 3339 requires an offset; Segment libraries sometimes drop it: read as UTC
            ts = ts.replace(tzinfo=UTC)
        t = ts.timestamp()
        if not MIN_TS <= t < MAX_TS:
            raise InvalidEvent("bad_timestamp", f"{ts.isoformat()} is not between 1970-01-01T00:00:00Z and "
                                                "2106-02-07T06:28:16Z")
    if env.receivedAt is not _UNSET:
        shift = clock_shift(env)
        if shift:
            t += shift
            if not MIN_TS <= t < MAX_TS:
                raise InvalidEvent("bad_timestamp", "timestamp corrected by receivedAt - sentAt is not between "
                                                    "1970-01-01T00:00:00Z and 2106-02-07T06:28:16Z")
    # positional, in field order: matching ten keywords was a third of this function (callgrind)
    props, traits, context = env.properties, env.traits, env.context  # null is absent (event_types)
    if typ == "page" or typ == "screen":
        props = _page_fields(env, props)
    elif typ == "group":  # the group's traits describe the group, not the person: not the profile's
        props = {**(props or {}), "groupId": env.groupId}
        if traits:
            props["traits"] = traits
        traits = None
    return Event(mid, typ, name, t, uid or None, aid or None, pid or None, {} if props is None else props,
                 {} if traits is None else traits, {} if context is None else context)


def clock_shift(env: Envelope | _Wire) -> float:
    """Seconds a device's clock is behind the collector's (negative: ahead), Segment's correction:
    ``receivedAt - sentAt``, added to ``timestamp`` (Segment: timestamp = receivedAt - (sentAt - originalTimestamp)).

    Applied only when the record has both and no ``originalTimestamp``: Segment's and RudderStack's servers keep
    the device's time there once they have corrected ``timestamp``, so such a record is corrected already. Either
    time missing or not a time (they are optional, and were not read before): 0, the timestamp taken at its word.
    """
    original: Any = env.originalTimestamp
    if original is not _UNSET and bytes(original) != b"null":
        return 0.0
    sent, received = _time_of(env.sentAt), _time_of(env.receivedAt)
    return 0.0 if sent < 0.0 or received < 0.0 else received - sent


def _time_of(raw: Any) -> float:
    """Epoch seconds of an RFC 3339 JSON string, or -1.0 for anything else (absent, a number, not a time)."""
    if raw is _UNSET:
        return -1.0
    try:
        text = _text.decode(raw)
        t = common_epoch(text)
        t = t if t >= 0.0 else parse_ts(text)
    except (msgspec.DecodeError, ValueError, OverflowError):
        return -1.0
    return t if MIN_TS <= t < MAX_TS else -1.0


def _page_fields(env: Envelope | _Wire, props: dict[str, Any] | None) -> dict[str, Any] | None:
    """A page or screen call's top-level ``name`` and ``category`` (Segment's server libraries send them there;
    its browser library copies them into ``properties``) as ``properties.name`` and ``properties.category``,
    unless those are set: one place for a journey's condition to read whichever library sent the call."""
    name, category = env.name, env.category
    if type(name) is not str and type(category) is not str:
        return props
    out = {} if props is None else props  # (decoded for this event alone: filled in place, not copied)
    if type(name) is str and "name" not in out:
        out["name"] = name
    if type(category) is str and "category" not in out:
        out["category"] = category
    return out


def to_envelope(ev: Event) -> Envelope:
    """The wire form of an event (used for receipts turned into events and for re-publishing)."""
    return Envelope(
        messageId=ev.message_id,
        type=ev.type,
        timestamp=datetime.fromtimestamp(ev.ts, UTC),
        event=ev.name if ev.type in ("track", "page", "screen") else None,
        userId=ev.user_id,
        anonymousId=ev.anonymous_id,
        previousId=ev.previous_id,
        properties=ev.properties,
        traits=ev.traits,
        context=ev.context,
    )
