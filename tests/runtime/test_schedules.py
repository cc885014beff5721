"""Scheduled entry in the workers: a partition's scans offer each customer what the simulator would.

Stage-2 partitions on in-memory stores (no broker): profiles in Seoul and New York enter a journey
scheduled at 09:00 at their own 09:00, with the same commands (delivery ids included) as the simulator
over the same events; re-entry holds across days; an occurrence is never offered twice, across a crash
that lost the scan's marks too; a customer first seen after an occurrence is not entered for it; the
next scan is planned at the next occurrence in a zone the partition's customers live in.
"""

from __future__ import annotations

from typing import Any

import orjson

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.engine import Engine
from cjo_stream.events import format_ts, parse_ts
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kv import MemoryKV
from cjo_stream.runtime.aliases import Links
from cjo_stream.runtime.customers import KIND_EVENT, CustomerPartition
from cjo_stream.runtime.schedules import SCHEDULES_KEY
from cjo_stream.runtime.stored import encode_stored
from cjo_stream.simulator import Simulator
from tests.conftest import journey
from tests.engine.test_language2 import LAPSED  # the same journey, scheduled at 09:00 local
from tests.runtime.fakes import Commands, Rec

MONDAY_NOON = parse_ts("2026-03-02T12:00:00Z")
HOUR = 3600.0
N = 2  # partitions


class Live:
    """N partitions of one worker, on memory stores that outlive them (a restart opens them again)."""

    def __init__(self, re_entry: str = "once") -> None:
        self.text = LAPSED.replace("RE_ENTRY", re_entry)
        self.settings = Settings(partitions=N)
        self.stores = [(MemoryKV(), MemoryKV(), MemoryKV()) for _ in range(N)]
        self.offsets = [0] * N
        self.out = Commands()
        self.open()

    def open(self) -> None:
        engine = Engine([journey(self.text)], throttle_share=1 / N)
        self.parts = [CustomerPartition(p, engine, self.settings, prof, timers,
                                        Links(links, self.settings.aliases_topic, p))
                      for p, (prof, timers, links) in enumerate(self.stores)]

    def events(self, lines: list[dict[str, Any]]) -> None:
        route = Partitioner(N)
        for line in lines:
            key = line["userId"].encode()
            p = route(key)
            rec = Rec(key, orjson.dumps(line), self.offsets[p], [("k", KIND_EVENT)])
            self.offsets[p] += 1
            self.parts[p].process([rec], parse_ts(line["timestamp"]), self.out,  # type: ignore[list-item, arg-type]
                                  metrics.BatchCounts())

    def scan(self, until: float, *, finish: bool = True, page: int = 1) -> None:
        """Every partition scans up to ``until`` as the worker does, a page (of one profile) at a time."""
        for part in self.parts:
            scan = part.schedules.begin(until)
            while not part.offer_schedules(scan, page, self.out, metrics.BatchCounts()):  # type: ignore[arg-type]
                pass
            if finish:
                part.finish_schedules(until, self.out)  # type: ignore[arg-type]
            else:
                part.schedules.abandon()
            for cid, kept in part._recent.items():  # noqa: SLF001  # profiles kept for the next batch: as stored
                assert encode_stored(kept.hw, kept.profile, kept.ids) == part.profiles.get(cid.encode()), cid


def shopper(user: str, zone: str, at: float) -> list[dict[str, Any]]:
    return [{"messageId": f"i-{user}", "type": "identify", "userId": user, "timestamp": format_ts(at),
             "traits": {"email": f"{user}@example.com", "timezone": zone}},
            {"messageId": f"o-{user}", "type": "track", "event": "order_completed", "userId": user,
             "timestamp": format_ts(at + 1)}]


def simulated(text: str, lines: list[dict[str, Any]], until: float) -> list[tuple[str, str, str, Any]]:
    sim = Simulator(Engine([journey(text)]))
    sim.run_lines(orjson.dumps(x) for x in lines)
    sim.finish(until)
    return sorted((c.customer_id, c.delivery_id, c.decided_at, c.content) for c in sim.commands)


def commands(out: Commands) -> list[tuple[str, str, str, Any]]:
    return sorted((c["customer_id"], c["delivery_id"], c["decided_at"], c["content"]) for c in out.commands)


def test_each_customer_enters_at_their_own_nine_with_the_simulators_commands() -> None:
    live = Live()
    lines = shopper("seoul", "Asia/Seoul", MONDAY_NOON) + shopper("newyork", "America/New_York", MONDAY_NOON)
    live.events(lines)
    live.scan(MONDAY_NOON + HOUR)  # the partitions' first scan: nothing has come round since noon
    assert live.out.commands == []
    live.scan(MONDAY_NOON + 2.5 * HOUR)  # 14:30 UTC: New York's 09:00 (14:00 UTC) has come round
    assert [(c[0], c[2]) for c in commands(live.out)] == [("newyork", "2026-03-02T14:00:00.000Z")]
    live.scan(MONDAY_NOON + 12.5 * HOUR)  # 00:30 UTC: Seoul's 09:00
    got = commands(live.out)
    assert [(c[0], c[2]) for c in got] == [("newyork", "2026-03-02T14:00:00.000Z"),
                                           ("seoul", "2026-03-03T00:00:00.000Z")]
    assert got == simulated(live.text, lines, MONDAY_NOON + 12.5 * HOUR)  # simulate = live, ids included
    assert got[0][3] == {"subject": "scheduled at 2026-03-02T14:00:00.000Z"}


def test_re_entry_holds_across_days_as_in_the_simulator() -> None:
    for re_entry, expected in (("once", 1), ("always", 5), ("after 2d", 3)):
        live = Live(re_entry)
        lines = shopper("ny", "America/New_York", MONDAY_NOON)
        live.events(lines)
        t = MONDAY_NOON
        while t < MONDAY_NOON + 4 * 86400 + 3 * HOUR:  # hourly scans up to Friday 15:00 UTC
            t += HOUR
            live.scan(t)
        got = commands(live.out)
        assert len(got) == expected, re_entry
        assert got == simulated(live.text, lines, t), re_entry


def test_an_occurrence_is_not_offered_twice_after_a_restart_or_a_crash_mid_scan() -> None:
    live = Live("always")
    live.events(shopper("ny", "America/New_York", MONDAY_NOON))
    live.scan(MONDAY_NOON + HOUR)
    marks = {p: prof.get(SCHEDULES_KEY) for p, (prof, _, _) in enumerate(live.stores)}
    assert all(marks.values())  # stored with the profiles (and changelogged with them)

    live.scan(MONDAY_NOON + 2.5 * HOUR, finish=False)  # New York entered, then the worker died: no new marks
    assert len(live.out.commands) == 1
    assert {p: prof.get(SCHEDULES_KEY) for p, (prof, _, _) in enumerate(live.stores)} == marks
    live.open()  # restarted on the same stores: the scan is repeated from the stored marks
    live.scan(MONDAY_NOON + 2.5 * HOUR)
    assert len(live.out.commands) == 1  # the 14:00 occurrence was offered again, and entered no one twice
    live.open()
    live.scan(MONDAY_NOON + 3 * HOUR)  # a clean restart: marks say 14:30, nothing new has come round
    live.scan(MONDAY_NOON + 26.5 * HOUR)  # Tuesday 14:30 UTC: the next day's occurrence is a new one
    assert [c["decided_at"] for c in live.out.commands] == ["2026-03-02T14:00:00.000Z", "2026-03-03T14:00:00.000Z"]


def test_a_customer_first_seen_after_an_occurrence_is_not_entered_for_it() -> None:
    live = Live()
    lines = shopper("ny", "America/New_York", MONDAY_NOON) + shopper("late", "America/New_York",
                                                                      MONDAY_NOON + 2.2 * HOUR)
    live.scan(MONDAY_NOON)
    live.events(lines)
    live.scan(MONDAY_NOON + 2.5 * HOUR)  # 14:00 UTC came round before `late` was first seen (14:12)
    got = commands(live.out)
    assert [c[0] for c in got] == ["ny"]
    assert got == simulated(live.text, lines, MONDAY_NOON + 2.5 * HOUR)


def test_the_next_scan_is_due_at_the_next_occurrence_in_a_zone_the_partition_has_customers_in() -> None:
    live = Live()
    live.events(shopper("seoul", "Asia/Seoul", MONDAY_NOON))
    part = next(p for p in live.parts if p.customers())
    late_evening = parse_ts("2026-03-02T23:30:00Z")
    live.scan(late_evening)
    # Seoul's 09:00 is 00:00 UTC, before the hourly fallback (00:30) and the default zone's (UTC) 09:00
    assert part.schedules.next_at == parse_ts("2026-03-03T00:00:00Z")
    assert part.schedules.zones == {"Asia/Seoul"}
    assert not part.schedules.due(late_evening + 60) and part.schedules.due(parse_ts("2026-03-03T00:00:00Z"))


def test_an_occurrence_whose_condition_failed_is_not_offered_again_when_it_later_holds() -> None:
    live = Live()
    ident = shopper("ny", "America/New_York", MONDAY_NOON)
    live.events(ident[:1])  # known, no order yet
    live.scan(MONDAY_NOON + HOUR)
    live.scan(MONDAY_NOON + 2.5 * HOUR)  # 14:00 UTC offered: `when` does not hold
    order = {**ident[1], "timestamp": format_ts(MONDAY_NOON + 2.7 * HOUR)}
    live.events([order])
    live.scan(MONDAY_NOON + 3 * HOUR)  # the 14:00 occurrence is not offered again: no entry today
    assert live.out.commands == []
    live.scan(MONDAY_NOON + 26.5 * HOUR)  # Tuesday's is
    got = commands(live.out)
    assert [c[2] for c in got] == ["2026-03-03T14:00:00.000Z"]
    assert got == simulated(live.text, [ident[0], order], MONDAY_NOON + 26.5 * HOUR)


def test_a_journey_with_its_own_zone_comes_round_at_its_time_for_every_customer() -> None:
    """``timezone: Europe/Berlin``: Seoul's and New York's customers both enter at Berlin's 09:00, as simulated, and
    the next scan is planned at that time, not at Seoul's 09:00."""
    live = Live()
    live.text = live.text.replace("re_entry:", "timezone: Europe/Berlin\nre_entry:")
    live.open()
    lines = shopper("seoul", "Asia/Seoul", MONDAY_NOON) + shopper("newyork", "America/New_York", MONDAY_NOON)
    live.events(lines)
    live.scan(parse_ts("2026-03-03T07:30:00Z"))  # New York's and Seoul's 09:00 came round: not this journey's
    assert live.out.commands == []
    # Berlin's 09:00, before the hourly fallback (08:30); each customer's zone would have said that
    assert {p.schedules.next_at for p in live.parts if p.customers()} == {parse_ts("2026-03-03T08:00:00Z")}
    live.scan(parse_ts("2026-03-03T08:30:00Z"))
    got = commands(live.out)
    assert [(c[0], c[2]) for c in got] == [("newyork", "2026-03-03T08:00:00.000Z"),
                                           ("seoul", "2026-03-03T08:00:00.000Z")]
    assert got == simulated(live.text, lines, parse_ts("2026-03-03T08:30:00Z"))
