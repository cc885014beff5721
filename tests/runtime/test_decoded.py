"""Stage 1's decoded events kept for this process's stage 2 (runtime.decoded): only for partitions held
here, each taken once, and bounded when records never come back."""

from __future__ import annotations

from cjo_stream.events import decode_event
from cjo_stream.runtime.decoded import Decoded

RAW = b'{"messageId":"m1","type":"track","event":"x","userId":"u1","timestamp":"2026-11-30T10:00:00Z"}'


def test_an_event_is_kept_only_for_a_partition_held_here_and_taken_once() -> None:
    held: dict[int, object] = {1: object()}
    d = Decoded(held)
    ev = decode_event(RAW)
    d.keep(0, RAW, ev)
    assert len(d) == 0
    d.keep(1, RAW, ev)
    assert d.take(bytearray(RAW).decode().encode()) is None  # equal bytes read back from the broker: decoded anew
    assert d.take(RAW) is ev  # the very value stage 1 forwarded (the loopback hands it over)
    assert d.take(RAW) is None  # the engine may change what it was given: never handed out twice
    held[0] = object()  # a partition assigned later
    d.keep(0, RAW, ev)
    assert len(d) == 1


def test_at_the_limit_new_events_wait_and_a_batch_finding_no_room_freed_starts_afresh() -> None:
    d = Decoded(range(8), limit=3)
    ev = decode_event(RAW)
    values = [RAW + str(i).encode() for i in range(5)]
    d.start()
    for v in values:
        d.keep(0, v, ev)
    assert len(d) == 3
    assert d.take(values[4]) is None  # full: the newest is decoded again by stage 2, ...
    assert d.take(values[0]) is ev  # ... the oldest, which stage 2 reaches first, stay
    d.start()  # room was freed since the last batch: what is held is still coming
    assert len(d) == 2
    d.keep(0, values[3], ev)
    d.start()  # full and nothing taken since: records that never come back are dropped
    assert len(d) == 0
    d.keep(0, values[4], ev)
    assert d.take(values[4]) is ev
