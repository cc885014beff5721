"""Stage 1's decoded events kept for this process's stage 2 (runtime.decoded): only for partitions held
here, each taken once, and bounded when records never come back."""

from __future__ import annotations

from pathlib import Path

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


def test_room_says_whether_a_whole_fetch_can_still_be_kept() -> None:
    d = Decoded(range(8), limit=4)
    ev = decode_event(RAW)
    assert d.room(4) and not d.room(5)
    d.keep(0, RAW, ev)
    assert d.room(3) and not d.room(4)


def test_stage_1_waits_for_room_only_while_the_loopback_holds_records(tmp_path: Path) -> None:
    """The worker's stage 1 waits while stage 2 has yet to take the kept events of records the loopback
    holds; with nothing left to hand over, what is still kept never comes back and is dropped."""
    from cjo_stream.config import Settings
    from cjo_stream.journeys.loader import load_topology
    from cjo_stream.runtime.worker import StreamWorker

    topo = load_topology(str(Path(__file__).parents[2] / "topologies"))
    w = StreamWorker(Settings(partitions=8, store="memory", data_dir=str(tmp_path), batch_max=2), topo)
    w.decoded.limit = 3
    ev = decode_event(RAW)
    w.parts[0] = object()  # type: ignore[assignment]
    w.decoded.keep(0, RAW, ev)
    assert not w._stage2_behind()  # room for a fetch of 2
    w.decoded.keep(0, RAW + b" ", ev)
    assert not w._stage2_behind()  # no room, but nothing is waiting: dropped, stage 1 goes on
    assert len(w.decoded) == 0
    w.decoded.keep(0, RAW, ev)
    w.decoded.keep(0, RAW + b" ", ev)
    w._looping = True  # the loopback applies batches: their events are about to be taken
    assert w._stage2_behind()
    assert len(w.decoded) == 2
    w._looping = False
    w._feed.append((0, None, []))  # type: ignore[arg-type]
    assert w._stage2_behind()
