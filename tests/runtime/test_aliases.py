"""Identity links kept in the partition of the id they link (runtime.aliases), without a broker.

Stage-2 partitions with in-memory stores exchange their internal-topic records through queues, one per
partition; which partition runs next, and how many of its records it takes, is drawn at random — the
orders records of different partitions can reach their stages. Links must come out as the simulator's
(first link wins), erasure must remove every link of a customer, and the commands must be those of the
events in timestamp order. Stage 1 is the worker's own (runtime.ingest) and keeps its decoded events for
half of the partitions (runtime.decoded), so both ways stage 2 gets an event are in every run.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.engine import Engine
from cjo_stream.events import decode_event, format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.policies import Policies
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kv import KV, MemoryKV, RocksKV, RocksMemory
from cjo_stream.profile import encode_profile
from cjo_stream.runtime.aliases import MAX_HOPS, Links
from cjo_stream.runtime.customers import IDS_HEADER, KIND_ABSORB, KIND_ERASE, CustomerPartition
from cjo_stream.runtime.decoded import Decoded
from cjo_stream.runtime.ingest import Ingest
from cjo_stream.runtime.stored import encode_stored
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import ROOT
from tests.runtime.fakes import Rec

TOPOLOGY = load_topology(os.path.join(ROOT, "tests", "runtime", "topologies_identity"))
BASE = 1_790_000_000.0


class InputRec(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class Cluster:
    """``n`` customer partitions and the internal topic between them."""

    def __init__(self, n: int = 4, seed: int = 0, store: Callable[[], KV] = MemoryKV,
                 policies: Policies | None = None) -> None:
        self.s = Settings(partitions=n)
        self.partitioner = Partitioner(n)
        engine = Engine(TOPOLOGY.journeys, policies or TOPOLOGY.policies, self.s.allowed_lateness)
        self.decoded = Decoded(owned=range(0, n, 2))  # as if the other half were held by another worker
        self.ingest = Ingest(self.s, self.decoded)
        self.parts = [CustomerPartition(p, engine, self.s, store(), store(),
                                        Links(store(), self.s.aliases_topic, p),
                                        self.decoded if p % 2 == 0 else None) for p in range(n)]
        self.queues: list[deque[Rec]] = [deque() for _ in range(n)]
        self.next_offset = [0] * n
        self.topics: dict[str, list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
        self.rng = random.Random(seed)
        self.now = BASE + 100

    # what a CustomerPartition writes to (kafka.outbox.Outbox.add)
    def add(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
            headers: Any = ()) -> None:
        if topic == self.s.internal_topic:
            p = partition if partition is not None else self.partitioner(key or b"")
            self.queues[p].append(Rec(key, value, self.next_offset[p], list(headers)))
            self.next_offset[p] += 1
        else:
            self.topics[topic].append((key, value))

    def add_many(self, topic: str, partition: int, items: Any) -> None:  # (kafka.outbox.Outbox.add_many)
        for key, value, headers in items:
            self.add(topic, key, value, partition=partition, headers=headers)

    def send(self, line: bytes) -> None:
        """Through stage 1: keyed by the userId, else the anonymousId."""
        self.ingest.process([InputRec(self.s.input_topic, 0, 0, None, line, [])], self)  # type: ignore[arg-type]

    def erase(self, cid: str) -> None:
        self.add(self.s.internal_topic, cid.encode(), b"", headers=[("k", KIND_ERASE)])

    def drain(self) -> None:
        while any(self.queues):
            p = self.rng.choice([i for i, q in enumerate(self.queues) if q])
            q = self.queues[p]
            batch = [q.popleft() for _ in range(min(len(q), self.rng.randint(1, 5)))]
            self.parts[p].process(batch, self.now, self, metrics.BatchCounts())  # type: ignore[arg-type]

    def fire_timers(self, until: float) -> None:
        for part in self.parts:
            part.behind = False
            part.due_timers(until, self)  # type: ignore[arg-type]
        self.drain()

    def part_of(self, ident: str) -> CustomerPartition:
        return self.parts[self.partitioner(ident.encode())]

    def link(self, ident: str) -> str | None:
        return self.part_of(ident).links.owner(ident)

    def profile(self, ident: str) -> Any:
        stored = self.part_of(ident).load(ident)
        return stored.profile if stored is not None else None

    def commands(self) -> dict[str, tuple[str, str]]:
        out = {}
        for _, value in self.topics[self.s.delivery_topic("email")]:
            cmd = orjson.loads(value or b"")
            out[cmd["delivery_id"]] = (cmd["customer_id"], cmd["decided_at"])
        return out


def line(**fields: Any) -> bytes:
    return orjson.dumps(fields)


def visit(i: int, user: str | None = None) -> tuple[list[bytes], list[bytes]]:
    a, u, t = f"anon-{i}", user or f"user-{i}", BASE + i * 0.01
    anon = [line(messageId=f"p-{i}", type="page", anonymousId=a, timestamp=format_ts(t)),
            line(messageId=f"c-{i}", type="track", event="cart_item_added", anonymousId=a,
                 timestamp=format_ts(t + 0.001), properties={"cart_value": 45, "product_name": f"P{i}"})]
    known = [line(messageId=f"i-{i}", type="identify", userId=u, anonymousId=a, timestamp=format_ts(t + 0.002),
                  traits={"email": f"{u}@example.com"})]
    if i % 3 == 0:
        known.append(line(messageId=f"k-{i}", type="track", event="checkout_started", userId=u,
                          timestamp=format_ts(t + 0.003)))
    return anon, known


def interleave(rng: random.Random, *streams: list[bytes]) -> list[bytes]:
    """Merge streams in a random order, each keeping its own."""
    queues = [deque(s) for s in streams if s]
    out = []
    while queues:
        q = rng.choice(queues)
        out.append(q.popleft())
        if not q:
            queues.remove(q)
    return out


def test_login_moves_the_visitor_and_later_records_follow_the_link() -> None:
    c = Cluster()
    anon, known = visit(1)
    for x in anon + known:
        c.send(x)
    c.drain()
    assert c.link("anon-1") == "user-1"  # kept in anon-1's own partition
    assert c.profile("anon-1") is None
    user = c.profile("user-1")
    assert user.counters["cart_item_added"] == 1 and "cart" in user.instances and user.aliases == ["anon-1"]
    assert (b"anon-1", b"user-1") in c.topics[c.s.aliases_topic]  # changelogged on the same partition number
    # a record still keyed by the anonymous id is passed on to the customer
    c.send(line(messageId="late-1", type="track", event="product_viewed", anonymousId="anon-1",
                timestamp=format_ts(BASE + 1)))
    c.drain()
    assert c.profile("anon-1") is None and c.profile("user-1").counters["product_viewed"] == 1


def test_the_first_link_of_an_id_wins() -> None:
    c = Cluster(seed=3)
    for x in [*visit(2)[0], *visit(2, "user-2")[1]]:
        c.send(x)
    c.drain()
    c.send(line(messageId="other", type="identify", userId="someone-else", anonymousId="anon-2",
                timestamp=format_ts(BASE + 2)))
    c.drain()
    assert c.link("anon-2") == "user-2"
    assert "anon-2" not in c.profile("someone-else").aliases
    # an id with no profile is linked too, and its customer lists it
    c.send(line(messageId="fresh", type="identify", userId="user-2", anonymousId="device-9",
                timestamp=format_ts(BASE + 3)))
    c.drain()
    assert c.link("device-9") == "user-2" and c.profile("device-9") is None
    assert sorted(c.profile("user-2").aliases) == ["anon-2", "device-9"]


def test_erasure_removes_every_link_even_one_made_meanwhile() -> None:
    c = Cluster(seed=5)
    anon, known = visit(4)
    for x in anon + known:
        c.send(x)
    c.drain()
    # a second device logs in and the customer is erased before that link comes back
    c.send(line(messageId="d2", type="identify", userId="user-4", anonymousId="device-4",
                timestamp=format_ts(BASE + 5)))
    c.erase("user-4")
    c.drain()
    assert c.profile("user-4") is None
    assert c.link("anon-4") is None and c.link("device-4") is None
    tombstones = {k for k, v in c.topics[c.s.aliases_topic] if v is None}
    assert {b"anon-4", b"device-4"} <= tombstones
    # the visitor's device is a stranger again
    c.send(line(messageId="back", type="page", anonymousId="anon-4", timestamp=format_ts(BASE + 6)))
    c.drain()
    assert c.profile("anon-4") is not None and c.profile("user-4") is None


def test_chains_resolve_and_contradictory_links_stop() -> None:
    c = Cluster(seed=7)
    c.send(line(messageId="l1", type="identify", userId="u1", anonymousId="a", timestamp=format_ts(BASE)))
    c.drain()
    # u1 is a known customer (an event named it as its userId): no event merges it into another, an alias
    # included (identify {userId: mallory, anonymousId: alice} took alice's profile: a security review)
    c.send(line(messageId="l2", type="alias", userId="u2", previousId="u1", timestamp=format_ts(BASE + 1)))
    c.drain()
    assert c.link("a") == "u1" and c.link("u1") is None
    c.send(line(messageId="e1", type="track", event="product_viewed", anonymousId="a", timestamp=format_ts(BASE + 2)))
    c.drain()
    assert c.profile("u1").counters["product_viewed"] == 1 and c.profile("u1").aliases == ["a"]
    assert c.profile("u2") is None or "u1" not in c.profile("u2").aliases
    # a link back from the customer to one of its own ids is refused (no cycle)
    c.send(line(messageId="l3", type="alias", userId="a", previousId="u1", timestamp=format_ts(BASE + 3)))
    c.drain()
    assert c.link("u1") is None
    # a cycle written by hand: a record bounces at most MAX_HOPS times, then is applied where it is
    links = c.part_of("x").links, c.part_of("y").links
    links[0].link("x", "y", c)  # type: ignore[arg-type]
    links[1].link("y", "x", c)  # type: ignore[arg-type]
    c.send(line(messageId="e2", type="page", anonymousId="x", timestamp=format_ts(BASE + 4)))
    sent = sum(c.next_offset)
    c.drain()
    assert sum(c.next_offset) - sent <= MAX_HOPS
    assert (c.profile("x") or c.profile("y")) is not None


def test_rocksdb_stores_count_profiles_and_timers_exactly_through_merges_and_erasures(tmp_path: Path) -> None:
    """The batch step writes profiles with the key count it derives from what it read (no multi-get)
    and takes a merged profile's timers from pending writes: counts must match the stores' contents."""
    memory, n = RocksMemory(32 << 20), iter(range(1000))
    c = Cluster(seed=3, store=lambda: RocksKV(str(tmp_path / str(next(n))), memory))
    rng = random.Random(3)
    people = [visit(i) for i in range(30)]
    for x in interleave(rng, *(s for anon, known in people for s in (anon, known))):
        c.send(x)
    for i in range(0, 30, 4):
        c.erase(f"user-{i}")
    c.erase("anon-1")  # merged away already (or about to be): its link decides
    c.drain()
    c.fire_timers(BASE + 60)
    for part in c.parts:
        keys = [k for k, _ in part.profiles.items()]
        assert len(part.profiles) == len(keys)
        assert part.customers() == len([k for k in keys if k[:1] != b"\x00"])
        assert len(part.timers) == sum(1 for k, _ in part.timers.kv.items() if k[:1] != b"\x00")
        for cid, kept in part._recent.items():  # noqa: SLF001  # the decoded profiles kept: as stored
            assert encode_stored(kept.hw, kept.profile, kept.ids) == part.profiles.get(cid.encode()), cid
    assert sum(p.customers() for p in c.parts) == 30 - 8 and c.profile("user-4") is None


@pytest.mark.parametrize("seed", range(6))
def test_any_delivery_order_decides_as_the_simulator(seed: int) -> None:
    rng = random.Random(seed)
    people = [visit(i) for i in range(40)]
    everything = [x for anon, known in people for x in anon + known]
    sim = Simulator(Engine(TOPOLOGY.journeys, TOPOLOGY.policies))
    for ev in sorted((decode_event(x) for x in everything), key=lambda e: e.ts):
        sim.handle(ev)
    sim.finish()
    expected = {cmd.delivery_id: (cmd.customer_id, cmd.decided_at) for cmd in sim.commands}
    assert len(expected) >= 20
    c = Cluster(seed=seed)
    for x in interleave(rng, *(s for anon, known in people for s in (anon, known))):
        c.send(x)
    assert len(c.decoded) > 0  # stage 1 kept events for the partitions "held here"
    c.drain()
    assert len(c.decoded) == 0  # and their stage 2 took each of them instead of decoding it again
    c.fire_timers(BASE + 3600)
    assert c.commands() == expected
    for i in range(40):
        assert c.link(f"anon-{i}") == f"user-{i}" and c.profile(f"anon-{i}") is None


@pytest.mark.parametrize("seed", range(5))
def test_an_anonymous_event_sent_again_after_the_merge_is_a_duplicate(seed: int) -> None:
    """Stage 1 forwarding again after a crash (or a producer's retry) re-sends an anonymous event once its
    id was merged: it is passed on to the customer, who still knows it (the ids came with the absorb)."""
    c = Cluster(seed=seed)
    anon, known = visit(7)
    for rec in anon:
        c.send(rec)
    c.drain()  # applied to the anonymous profile first
    for rec in known:
        c.send(rec)
    c.drain()  # linked and absorbed
    assert c.link("anon-7") == "user-7"
    counts = metrics.BatchCounts()
    for rec in anon:
        c.send(rec)
    while any(c.queues):
        p = c.rng.choice([i for i, q in enumerate(c.queues) if q])
        c.parts[p].process([c.queues[p].popleft()], c.now, c, counts)  # type: ignore[arg-type]
    assert counts.duplicates == len(anon)
    assert c.profile("user-7").counters.get("cart_item_added") == 1


def test_an_absorb_sent_again_changes_nothing() -> None:
    """The visitor's partition replays its link request after a crash (its store and links come back from
    changelogs that had not yet seen the merge) and sends the anonymous profile again: the customer who
    already absorbed that id does not add its counters twice, nor record its journeys or stage again."""
    c = Cluster(seed=1)
    anon, known = visit(8)
    for rec in anon:
        c.send(rec)
    c.drain()
    visitor = c.profile("anon-8")
    assert visitor is not None and visitor.counters["cart_item_added"] == 1
    for rec in known:
        c.send(rec)
    c.drain()
    before = c.part_of("user-8").profiles.get(b"user-8")
    assert c.profile("user-8").aliases == ["anon-8"] and before is not None
    c.topics.clear()
    c.add(c.s.internal_topic, b"user-8", encode_profile(visitor), headers=[("k", KIND_ABSORB), (IDS_HEADER, b"")])
    c.drain()
    assert c.profile("user-8").counters["cart_item_added"] == 1
    assert not c.topics.get(c.s.journey_events_topic)  # nothing happened: no journey event either
