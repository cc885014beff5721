"""Erasure reaches the analytics service (a privacy walkthrough).

The service keeps one row by customer id: the customer's latest send times (``f:<id>``, for the
sends-per-week chart), in its store and its compacted changelog. An erasure deleted the profile, timers
and links, and left that row for good; nothing pruned it either. Now a worker writes an ``erased``
journey event for the erased id and for every id merged into it, the fold deletes the row, and the
service's hourly prune drops rows a week older than the receipt window.
"""

from __future__ import annotations

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import RECEIPT_WINDOW, WEEK, Analytics, stale
from cjo_stream.analytics.records import JourneyEvent, decode, erased_event
from tests.runtime.test_aliases import Cluster, visit

T = 1_790_000_000.0


def _sent(cid: str, at: float, did: str, offset: int) -> JourneyEvent:
    return JourneyEvent(journey="j", version=1, kind="sent", instance="i-" + did, customer_id=cid, at=at,
                        step="s", channel="email", delivery_id=did, local_hour=10, src=(0, offset, 1))


def _entered(cid: str, at: float, did: str, offset: int) -> JourneyEvent:
    return JourneyEvent(journey="j", version=1, kind="entered", instance="i-" + did, customer_id=cid, at=at,
                        src=(0, offset, 0))


def test_an_erased_event_deletes_the_customers_row_once() -> None:
    a = Analytics()
    a.apply_all([_entered("u1", T, "d1", 1), _sent("u1", T, "d1", 1), _entered("u2", T, "d2", 2),
                 _sent("u2", T, "d2", 2)])
    assert "f:u1" in a.rows and "f:u2" in a.rows
    latest = a.latest
    assert a.apply(erased_event("u1", T + 10_000, (0, 3)))
    assert "f:u1" not in a.rows and "f:u2" in a.rows
    assert a.latest == latest  # an erasure's wall-clock time is not an event time
    assert not a.apply(erased_event("u1", T + 10_000, (0, 3)))  # a worker's replay of it: dropped
    # and it travels as a journey event of its own kind
    assert decode(b'{"kind":"erased","customer_id":"u1","at":1.5,"src":[0,3,0]}').kind == "erased"


def test_send_times_older_than_any_row_that_counts_them_are_pruned() -> None:
    horizon = T - RECEIPT_WINDOW
    assert not stale("f:u1", [(horizon - WEEK + 1, "d1")], horizon)  # a send that still has its row counts it
    assert not stale("f:u1", [(horizon - WEEK - 5, "d0"), (horizon, "d1")], horizon)
    assert stale("f:u1", [(horizon - WEEK - 5, "d0")], horizon)


def _rows_by_id(cluster: Cluster) -> set[str]:
    a = Analytics()
    for _, value in cluster.topics[cluster.s.journey_events_topic]:
        a.apply(decode(value or b""))
    return {k[2:] for k in a.rows if k.startswith("f:")}


def test_erasing_a_customer_erases_the_rows_of_its_merged_ids_too() -> None:
    c = Cluster(seed=5)
    for i in range(1, 6):
        anon, known = visit(i)
        for line in anon + (known if i != 3 else []):  # visitor 3 never logs in
            c.send(line)
    c.drain()
    c.fire_timers(c.now + 60)  # the carts' reminders go out (to those who logged in and did not check out)
    before = _rows_by_id(c)
    assert before == {"user-1", "user-2", "user-4", "user-5"}
    c.erase("user-2")
    c.erase("anon-4")  # by the id the visitor had before login: its customer is erased
    c.erase("anon-3")  # a visitor who never logged in
    c.drain()
    assert _rows_by_id(c) == {"user-1", "user-5"}
    erased = {e.customer_id for e in (decode(v or b"") for _, v in c.topics[c.s.journey_events_topic])
              if e.kind == "erased"}
    assert erased == {"user-2", "anon-2", "user-4", "anon-4", "anon-3"}  # merged ids too: rows may be theirs


def test_an_erased_customers_instances_end_there_and_then() -> None:
    """An erasure deletes the profile and its timers: its instances never moved again, and the report kept them
    "in the journey now", waiting at their step, for good. They now end ``expired``, reason ``erased``."""
    c = Cluster(seed=3)
    for i in range(1, 6):
        anon, known = visit(i)
        for line in anon + known:
            c.send(line)
    c.drain()  # five carts under way; visitor 3 checked out (its instance ended), the others wait for it
    c.erase("user-2")
    c.erase("anon-4")  # by the id the visitor had before login
    c.drain()
    c.fire_timers(c.now + 60)  # the others' reminders go out, and their instances end after the last step
    a = Analytics()
    for _, value in c.topics[c.s.journey_events_topic]:
        a.apply(decode(value or b""))
    rep = report.journey_report(a.buckets, {}, "cart")
    t = rep["totals"]
    # by hand: 5 entered; visitor 3 ended at wait_checkout (checkout), 1 and 5 after their reminder, 2 and 4 erased
    assert (t["entered"], t["active"], t["ended"], t["expired"]) == (5, 0, 3, 2)
    wait = next(s for s in rep["steps"] if s["id"] == "wait_checkout")
    assert wait["waiting"] == 0 and wait["exit_reasons"] == {"expired": {"erased": 2}}
    assert {"step": "wait_checkout", "kind": "expired", "reason": "erased", "count": 2} in rep["exit_points"]
