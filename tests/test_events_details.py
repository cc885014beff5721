"""Reasons and details a producer's engineer can act on (a walkthrough of producer mistakes)."""

from __future__ import annotations

import pytest

from cjo_stream.events import InvalidEvent, decode_event

GOOD = b'{"messageId":"m1","type":"track","event":"x","userId":"u1","timestamp":"2026-03-01T10:00:00Z"}'


def _refused(raw: bytes) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as e:
        decode_event(raw)
    return e.value


@pytest.mark.parametrize("field", ["userId", "anonymousId", "messageId"])
def test_an_id_of_only_spaces_is_refused(field: str) -> None:
    raw = GOOD.replace(b'"userId":"u1"', b'"userId":"u1","anonymousId":"a1"')
    raw = raw.replace(f'"{field}":"'.encode(), f'"{field}":"   "'.encode() + b',"_x":"', 1)
    e = _refused(raw)
    assert (e.reason, e.detail) == ("bad_id", "an id is only spaces")
    assert decode_event(GOOD.replace(b'"u1"', b'" u1"')).user_id == " u1"  # spaces around a real id: kept as sent


def test_a_no_break_space_in_an_id_is_refused_as_the_readme_says() -> None:
    assert _refused(GOOD.replace(b'"u1"', '"u\u00a01"'.encode())).reason == "bad_id"


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b"\xff\xfe"])
def test_a_byte_order_mark_is_named(bom: bytes) -> None:
    e = _refused(bom + GOOD)
    assert e.reason == "invalid_json" and e.detail == "the record starts with a byte-order mark: a JSON record has none"


def test_a_null_timestamp_is_not_told_about_epoch_numbers() -> None:
    null = _refused(GOOD.replace(b'"2026-03-01T10:00:00Z"', b"null"))
    assert null.reason == "bad_timestamp" and "epoch" not in null.detail and "not `null`" in null.detail
    number = _refused(GOOD.replace(b'"2026-03-01T10:00:00Z"', b"1772445600"))
    assert number.reason == "bad_timestamp" and "(epoch numbers are not read)" in number.detail


@pytest.mark.parametrize(("value", "shown"), [("Track", "type 'Track' is not one of"),
                                              ("ada@example.com", "type (not shown) is not one of"),
                                              ("Ada Lovelace", "type (not shown) is not one of"),
                                              ("x" * 40, "type (not shown) is not one of")])
def test_an_unknown_type_is_named_only_when_it_looks_like_one(value: str, shown: str) -> None:
    """A privacy walkthrough: the detail quoted any value of ``type``, and ``cjo-stream dlq`` prints details
    as the part of a dead letter that holds no personal data."""
    e = _refused(GOOD.replace(b'"type":"track"', f'"type":"{value}"'.encode()))
    assert e.reason == "unknown_type" and e.detail.startswith(shown) and "@" not in e.detail
    assert e.detail.endswith("track, identify, page, screen, alias, group")


def test_ids_spelt_as_a_warehouse_table_spells_them_are_named() -> None:
    """A record with ``user_id`` was told only "an event needs userId or anonymousId": its id was there, spelt as
    Segment's warehouse tables spell it (a walkthrough); the same for ``message_id``. Checked and exact paths."""
    snake = _refused(GOOD.replace(b'"userId"', b'"user_id"'))
    assert (snake.reason, snake.detail) == ("missing_id", "an event needs userId or anonymousId (or both); not read: "
                                            "user_id (write userId), the envelope's fields are as Segment sends them")
    anon = _refused(GOOD.replace(b'"userId":"u1"', b'"anonymous_id":"a1","userId":""'))
    assert anon.detail.endswith("; not read: anonymous_id (write anonymousId), the envelope's fields are as Segment "
                                "sends them"), anon.detail
    both = _refused(GOOD.replace(b'"messageId"', b'"message_id"').replace(b'"userId"', b'"user_id"'))
    assert (both.reason, both.detail) == ("missing_field", "Object missing required field `messageId`; not read: "
                                          "message_id (write messageId), user_id (write userId), the envelope's "
                                          "fields are as Segment sends them")
    assert _refused(GOOD.replace(b'"userId":"u1"', b'"userId":""')).detail == \
        "an event needs userId or anonymousId (or both)"  # nothing spelt otherwise: nothing added
