"""messageId dedupe per customer (cjo_stream.dedupe): what is dropped, what is kept, and its bound."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cjo_stream.dedupe import _head, admit, combine, remembered
from cjo_stream.engine import Engine
from cjo_stream.simulator import Simulator

T0 = 1_790_000_000.0
DAY = 86400.0


def feed(ids: bytes, mids: list[str], now: float, window: float = DAY, keep: int = 32) -> tuple[bytes, list[str]]:
    """Admit ``mids`` in order; returns the record and the ids that were dropped as duplicates."""
    dropped = []
    for m in mids:
        new = admit(ids, m, now, window, keep)
        if new is None:
            dropped.append(m)
        else:
            ids = new
    return ids, dropped


def test_a_copy_within_the_window_is_dropped() -> None:
    ids, dropped = feed(b"", ["a", "b", "a", "c", "b"], T0)
    assert dropped == ["a", "b"] and remembered(ids) == 3
    assert admit(ids, "a", T0 + DAY - 1, DAY, 32) is None


def test_the_record_is_bounded_and_the_oldest_ids_go_first() -> None:
    ids, _ = feed(b"", [f"m{i}" for i in range(40)], T0, keep=32)
    assert remembered(ids) == 32 and len(ids) == 4 + 8 * 32
    assert admit(ids, "m39", T0, DAY, 32) is None and admit(ids, "m8", T0, DAY, 32) is None
    assert admit(ids, "m7", T0, DAY, 32) is not None  # 32 newer ids since: a false negative, documented


def test_a_customer_quiet_for_a_window_forgets_its_ids() -> None:
    ids, _ = feed(b"", ["a", "b"], T0)
    later = admit(ids, "a", T0 + DAY + 1, DAY, 32)
    assert later is not None and remembered(later) == 1  # expired: "a" is taken as new, the rest is gone
    assert admit(ids, "a", T0 + DAY, DAY, 32) is None  # exactly at the window it is still a duplicate


def test_an_active_customer_keeps_ids_older_than_the_window_while_they_are_among_its_last() -> None:
    ids, _ = feed(b"", ["old"], T0)
    ids, _ = feed(ids, ["x"], T0 + 0.9 * DAY)
    assert admit(ids, "old", T0 + 1.5 * DAY, DAY, 32) is None  # a true duplicate: dropping it is right


def test_a_fingerprint_match_across_a_boundary_is_not_a_match() -> None:
    ids, _ = feed(b"", ["a", "b"], T0)
    body = ids[4:]
    straddling = body[4:12]  # half of one fingerprint and half of the next
    import cjo_stream.dedupe as d

    real = d._digest
    try:
        d._digest = lambda _b: straddling  # type: ignore[misc, assignment]
        assert admit(ids, "forged", T0, DAY, 32) is not None
    finally:
        d._digest = real  # type: ignore[misc]


@given(st.lists(st.text(min_size=1, max_size=40), max_size=60), st.integers(min_value=1, max_value=40))
def test_exactly_the_recent_repeats_are_dropped(mids: list[str], keep: int) -> None:
    ids, dropped = feed(b"", mids, T0, keep=keep)
    recent: list[str] = []  # the model: the last `keep` admitted ids
    expected = []
    for m in mids:
        if m in recent:
            expected.append(m)
        else:
            recent = [m, *recent][:keep]
    assert dropped == expected
    assert len(ids) <= 4 + 8 * keep


def test_a_merged_ids_recent_ids_are_carried_over_after_the_customers_own() -> None:
    mine, _ = feed(b"", ["u1", "u2"], T0)
    theirs, _ = feed(b"", ["a1", "u2", "a2"], T0 - 60)
    both = combine(mine, theirs, T0, DAY, 32)
    assert remembered(both) == 4  # u2 once
    assert all(admit(both, m, T0, DAY, 32) is None for m in ("u1", "u2", "a1", "a2"))
    assert remembered(combine(mine, theirs, T0, DAY, 3)) == 3  # the bound holds: the customer's own first
    assert admit(combine(mine, theirs, T0, DAY, 3), "a2", T0, DAY, 32) is None  # their newest next
    assert admit(combine(mine, theirs, T0, DAY, 3), "a1", T0, DAY, 32) is not None
    assert combine(mine, theirs, T0 + DAY + 120, DAY, 32) == b""  # both quiet for a window: forgotten
    assert combine(b"", theirs, T0, DAY, 32) == theirs


def test_the_simulator_drops_an_anonymous_event_sent_again_after_login() -> None:
    """A producer retrying its queue after the visitor logged in: the anonymous copy is a duplicate."""
    def line(mid: str, sec: int, **kw: object) -> bytes:
        return orjson.dumps({"messageId": mid, "type": "track", "event": "page_viewed",
                             "timestamp": f"2026-03-01T10:00:{sec:02d}Z", **kw})
    sim = Simulator(Engine([]))
    sim.run_lines([line("p1", 0, anonymousId="a1"),
                   line("i1", 1, type="identify", userId="u1", anonymousId="a1"),
                   line("p1", 2, anonymousId="a1")])
    assert sim.duplicates == 1


@given(st.binary(min_size=4, max_size=40))
def test_a_records_time_is_its_first_four_bytes_big_endian(record: bytes) -> None:
    assert _head(record) == int.from_bytes(record[:4], "big")
