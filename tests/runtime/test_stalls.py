"""Which input partitions held by another worker count as stalled, and for how long timers wait for them."""

from __future__ import annotations

from cjo_stream.runtime.stalls import Stalls


def test_a_live_partition_behind_its_end_is_not_stalled() -> None:
    s: Stalls[int] = Stalls(after=2.0, hold_max=30.0)
    for i, now in enumerate([0.0, 1.0, 2.0, 3.0, 4.0]):
        s.observe(now, {0: 10 * i}, {0: 10 * i + 5})  # committed moves every look: a worker reading it
    assert (s.since(4.0), s.stalled(4.0)) == (None, [])


def test_a_partition_unmoved_behind_its_end_holds_timers_until_read_past_that_end() -> None:
    s: Stalls[int] = Stalls(after=2.0, hold_max=30.0)
    s.observe(0.0, {0: 7, 1: 3}, {0: 7, 1: 5})  # 0 read to its end; 1 behind
    s.observe(1.0, {0: 7, 1: 3}, {0: 7, 1: 6})
    assert s.since(1.0) is None  # not unmoved long enough yet
    s.observe(2.0, {0: 7, 1: 3}, {0: 7, 1: 8})
    assert (s.since(2.0), s.stalled(2.0)) == (0.0, [1])  # timers due after it was first seen unmoved wait
    s.observe(3.0, {0: 7, 1: 3}, {0: 7, 1: 9})
    s.observe(8.0, {0: 7, 1: 5}, {0: 7, 1: 11})  # taken over: moving, not yet past the end it had stalled
    assert s.since(8.0) == 0.0
    s.observe(9.0, {0: 7, 1: 9}, {0: 7, 1: 12})
    assert (s.since(9.0), s.stalled(9.0)) == (None, [])


def test_a_partition_stalled_for_good_holds_timers_for_hold_max_at_most() -> None:
    """A batch nobody can decode waits for an operator: the deployment's timers must not wait with it."""
    s: Stalls[int] = Stalls(after=2.0, hold_max=30.0)
    for now in (0.0, 2.0, 10.0, 29.0):
        s.observe(now, {0: 3}, {0: 9})
    assert s.since(29.0) == 0.0
    s.observe(31.0, {0: 3}, {0: 9})
    assert s.since(31.0) is None and s.stalled(31.0) == [0]


def test_a_partition_taken_over_here_or_never_committed_is_not_watched() -> None:
    s: Stalls[int] = Stalls(after=2.0, hold_max=30.0)
    s.observe(0.0, {0: 3, 1: None}, {0: 9, 1: 9})
    s.observe(3.0, {0: 3, 1: None}, {0: 9, 1: 9})
    assert s.stalled(3.0) == [0]
    s.observe(4.0, {}, {})  # partition 0 is this worker's now: its own stage 1 says whether it is behind
    assert (s.since(4.0), s.stalled(4.0)) == (None, [])


def test_ends_are_wanted_only_of_partitions_not_being_read() -> None:
    """A partition whose committed offset moves has an owner reading it: its end is not asked for (the local broker
    lists a partition's record batches to answer). An idle one, read to its end, is asked at every look, and stalls
    `after` seconds from the first look that finds events unread in it."""
    s: Stalls[int] = Stalls(after=1.0, hold_max=30.0)
    asked: list[list[int]] = []
    for i in range(12):
        now = 0.5 * i
        committed = {0: 5, 1: 2 * i}  # 0: idle; 1: read by its owner, 3 records behind at every look
        wanted = s.wanted(committed)
        asked.append(wanted)
        s.observe(now, committed, {p: (5 if now < 3.0 else 9) if p == 0 else 2 * i + 3 for p in wanted})
        if now < 4.0:
            assert s.stalled(now) == []
    assert all(1 not in w for w in asked)
    assert all(w == [0] for w in asked[1:])
    assert (s.stalled(5.5), s.since(5.5)) == ([0], 3.0)  # events came in by 3.0 and were not read
