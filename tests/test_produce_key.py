"""``cjo-stream produce`` keys each line by the id the workers read it as, so one customer's lines share a partition."""

from __future__ import annotations

import pytest

from cjo_stream.runtime.commands import _key_of


@pytest.mark.parametrize(("line", "key"), [
    (b'{"userId": "u1", "anonymousId": "a1"}', b"u1"),
    (b'{"userId": 12345}', b"12345"),
    (b'{"userId": 0, "anonymousId": "a1"}', b"0"),  # the customer "0", not the anonymous id (nor no key)
    (b'{"userId": 0}', b"0"),
    (b'{"userId": "", "anonymousId": "a1"}', b"a1"),
    (b'{"userId": null, "anonymousId": 7}', b"7"),
    (b'{"userId": true}', None),  # refused by the workers (wrong_type): no key of "True"
    (b'[1]', None),
])
def test_a_line_is_keyed_by_its_user_id_else_its_anonymous_id_as_text(line: bytes, key: bytes | None) -> None:
    assert _key_of(line) == key
