"""The offline timer queue (cjo_stream.timer_queue): the order a ``(due, push order)`` heap gives, any interleaving."""

from __future__ import annotations

import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from cjo_stream.engine import Timer
from cjo_stream.timer_queue import TimerQueue


def timer(n: int, due: float) -> Timer:
    return Timer(customer_id=f"c{n}", journey="j", instance_id=f"i{n}", seq=n, due=due, kind="wait")


# ops: ("push", due) or ("pop", 0); dues from a few values so that ties are common
OPS = st.lists(st.tuples(st.sampled_from(["push", "push", "pop"]), st.sampled_from([1.0, 2.0, 2.5, 3.0, 7.0])),
               max_size=80)


@settings(max_examples=300)
@given(OPS)
def test_pops_follow_due_then_push_order_however_pushes_and_pops_interleave(ops: list[tuple[str, float]]) -> None:
    q, ref = TimerQueue(), list[tuple[float, int, Timer]]()  # ref: the heap of (due, tick, timer) the simulator used before
    for n, (op, due) in enumerate(ops):
        if op == "push":
            t = timer(n, due)
            q.push(t)
            heapq.heappush(ref, (due, n, t))
        elif ref:
            assert q.next_due() == ref[0][0]
            assert q.pop() is heapq.heappop(ref)[2]
        assert len(q) == len(ref)
        assert sorted(t.seq for t in q) == sorted(e[1] for e in ref)
    while ref:
        assert q.pop() is heapq.heappop(ref)[2]
    assert len(q) == 0 and q.next_due() == float("inf")


def test_a_timer_pushed_while_its_due_is_being_popped_comes_after_the_ones_already_there() -> None:
    q = TimerQueue()
    first = [timer(n, 5.0) for n in range(3)]
    for t in first:
        q.push(t)
    assert q.pop() is first[0]
    late, earlier = timer(10, 5.0), timer(11, 4.0)
    q.push(late)
    q.push(earlier)  # due before the rest: first, as in a heap
    assert [q.pop() for _ in range(4)] == [earlier, first[1], first[2], late]


def test_many_timers_sharing_one_due_pop_in_push_order() -> None:
    q = TimerQueue()
    ts = [timer(n, 9.0) for n in range(50_000)]  # a bulk import stamped with one time
    for t in ts:
        q.push(t)
    assert [q.pop() for _ in ts] == ts
