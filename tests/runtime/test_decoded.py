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


def test_records_that_never_come_back_are_dropped_at_the_limit() -> None:
    d = Decoded(range(8), limit=3)
    ev = decode_event(RAW)
    values = [RAW + str(i).encode() for i in range(5)]
    for v in values:
        d.keep(0, v, ev)
    assert len(d) <= 3
    assert d.take(values[4]) is ev
