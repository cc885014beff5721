"""A callback by the provider's id works on whichever replica of an adapter receives it: a replica not holding the
send's sent-record partition asks the replicas that do (cjo_stream.adapters.peers) and writes the receipt itself.
Before, it answered ``404 … retry`` and with 2 replicas behind a Service half of a provider's webhooks failed."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from aiohttp import web
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from cjo_stream import metrics
from cjo_stream.adapters.base import DeliveryResult
from cjo_stream.adapters.callback_ids import Unresolved
from cjo_stream.adapters.peer_warnings import PeerWarnings
from cjo_stream.adapters.peers import (
    LOOKUP_PATH,
    LookupKey,
    PeerAssignor,
    PeerLookup,
    Plan,
    _Member,
    advertised_url,
)
from cjo_stream.adapters.runner import AdapterRunner, track_topics
from cjo_stream.adapters.sentlog import SentRecord
from cjo_stream.adapters.signing import sign
from cjo_stream.adapters.web import build_app
from cjo_stream.commands import DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import free_port
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.serving import bound_port, start_site
from tests.adapters.conftest import command, produce_commands, read_topic, server_tls
from tests.adapters.test_runner import FAST, wait_for


class _Cluster:
    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2} if topic == "cjo.delivery.sms" else set()


def _table(urls: list[str]) -> list[PeerAssignor]:
    """Each member's assignor after one assignment made by the first (the group's leader)."""
    ours = [PeerAssignor(u) for u in urls]
    members = {f"m{i}": a.metadata(["cjo.delivery.sms"]) for i, a in enumerate(ours)}
    assignment = ours[0].assign(_Cluster(), members)  # type: ignore[arg-type]
    for i, a in enumerate(ours):
        a.on_assignment(assignment[f"m{i}"])
    return ours


def test_the_peer_table_says_whom_to_ask_for_each_partition_this_replica_lacks() -> None:
    a, b, c = _table(["http://a:1", "http://b:1", ""])  # c serves no web endpoint
    same = lambda p: p  # noqa: E731 - as many sent-record partitions as command partitions
    # round robin as before: m0 gets 0, m1 gets 1, m2 gets 2
    assert a.plan([0], [0, 1, 2], same) == Plan(ask={"http://b:1": frozenset({1})}, unknown=frozenset(),
                                                dark=frozenset({2}))  # 2's holder cannot be asked: no final 404
    assert c.plan([2], [0, 1, 2], same) == Plan({"http://a:1": frozenset({0}), "http://b:1": frozenset({1})},
                                                frozenset())
    # a sent-record of one partition for three command partitions: every replica holds it, none is asked
    assert a.plan([0], [0], lambda p: 0) == Plan({}, frozenset())
    a.forget()  # revoked: the table was the ending generation's
    assert a.plan([0], [0, 1, 2], same) is None
    assert not a.plain  # (revoked: rebalancing, a 503)
    # the group agreed on plain round robin (a replica of an older version in it): aiokafka tells only the listener
    b.forget()
    b.assigned()
    assert b.plan([1], [0, 1, 2], same) is None and b.plain  # (the answer as before: 404 "… retry")
    b.on_assignment(ConsumerProtocolMemberAssignment(0, [("cjo.delivery.sms", [1])], b""))  # another's user data
    assert b.plan([1], [0, 1, 2], same) is None
    assert advertised_url("", "https", "0.0.0.0", 6067).startswith("https://") and \
        advertised_url("https://pod-1.peers:6067/", "https", "0.0.0.0", 6067) == "https://pod-1.peers:6067"


class _Held:
    """A sent-record holding one send on partition 0."""

    busy = False

    def coverage(self) -> tuple[int, int]:
        return 1, 2

    def lookup(self, delivery_id: str | None = None,
               provider_message_id: str | None = None) -> tuple[str, SentRecord] | None:
        if provider_message_id == "SM1" or delivery_id == "d1":
            return "d1", SentRecord(at="2026-12-01T10:00:00Z", customer_id="u1", channel="sms")
        return None


class _NeverAsks(PeerLookup):
    def __init__(self) -> None:
        super().__init__(PeerAssignor(), lambda: [0], lambda: [0, 1], lambda p: p, adapter="sms")
        self.assignor.me = 0

    async def find(self, keys: list[LookupKey], optional: bool = False) -> Any:
        raise AssertionError("a lookup was passed on")


async def test_a_lookup_is_answered_from_this_replicas_partitions_and_never_passed_on() -> None:
    key = b"k"
    open_, signed = [await start_site(build_app(None, "cjo.receipts", k, sent=_Held(), peers=_NeverAsks()),  # type: ignore[arg-type]
                                      "127.0.0.1", 0) for k in (b"", key)]
    try:
        async with httpx.AsyncClient() as c:
            body = orjson.dumps({"ids": [{"provider_message_id": "SM1"}, {"provider_message_id": "SM2"}],
                                 "partitions": [0, 1]})
            r = await c.post(f"http://127.0.0.1:{bound_port(open_)}{LOOKUP_PATH}", content=body)
            assert r.status_code == 200 and r.json() == {"held": [0], "found": [
                {"delivery_id": "d1", "record": {"at": "2026-12-01T10:00:00Z", "customer_id": "u1", "channel": "sms"}},
                None]}  # SM2 not here: said so, not asked elsewhere (_NeverAsks)
            # without a key: through a proxy (an ingress in front of the Service) the address is not a replica's
            r = await c.post(f"http://127.0.0.1:{bound_port(open_)}{LOOKUP_PATH}", content=body,
                             headers={"X-Forwarded-For": "203.0.113.9"})
            assert r.status_code == 403, r.text
            url = f"http://127.0.0.1:{bound_port(signed)}{LOOKUP_PATH}"
            assert (await c.post(url, content=body)).status_code == 401  # with a key: signed, as callbacks are
            assert (await c.post(url, content=body, headers=sign(key, body))).status_code == 200
    finally:
        await open_.cleanup()
        await signed.cleanup()


async def test_the_asking_side_signs_verifies_tls_and_never_takes_a_silence_for_a_404(
        tls_files: tuple[str, str]) -> None:
    """Over HTTPS with a key, as deploy/k8s runs it: found, final not-found, and the 503s (a holder that no longer
    holds the partition, one that does not answer)."""
    key = b"k"
    site = await start_site(build_app(None, "cjo.receipts", key, sent=_Held(), peers=_NeverAsks()),  # type: ignore[arg-type]
                            "127.0.0.1", 0, server_tls(tls_files))
    url = f"https://127.0.0.1:{bound_port(site)}"
    table = PeerAssignor()
    table.members, table.me = [_Member("", {"cjo.delivery.sms": [1]}), _Member(url, {"cjo.delivery.sms": [0]})], 0
    ask = PeerLookup(table, lambda: [1], lambda: [0, 1], lambda p: p, adapter="sms", signing_key=key,
                     verify=ssl.create_default_context(cafile=tls_files[0]), scheme="https")
    try:
        found = await ask.find([LookupKey(provider_message_id="SM1"), LookupKey(provider_message_id="SM2")])
        assert found == [("d1", SentRecord(at="2026-12-01T10:00:00Z", customer_id="u1", channel="sms")), None]
        table.members[1].partitions = {"cjo.delivery.sms": [0, 1]}  # it thinks it holds 1 as well: asked for both
        ask.held = lambda: []
        with pytest.raises(Unresolved) as err:  # (the stub holds only 0 now: the table is of an older generation)
            await ask.find([LookupKey(provider_message_id="SM2")])
        assert err.value.status == 503 and "no longer holds" in err.value.message
    finally:
        await site.cleanup()
    with pytest.raises(Unresolved) as err:  # gone: a 503, never a final 404
        await ask.find([LookupKey(provider_message_id="SM2")])
    assert err.value.status == 503 and "did not answer" in err.value.message
    await ask.close()


async def test_a_lookup_that_cannot_be_made_says_which_setting_to_fix(caplog: pytest.LogCaptureFixture) -> None:
    """What an operator gets wrong: a replica started with --web-port -1, replicas with different
    CJO_ENGAGEMENT_SIGNING_KEYs, a CJO_WEB_URL that reaches something else. Each was a 503 "… (starting, or the
    group rebalancing): retry" or "answered 401: retry", which retrying never mends."""
    table = PeerAssignor()
    table.members, table.me = [_Member("", {"cjo.delivery.sms": [1]}), _Member("", {"cjo.delivery.sms": [0]})], 0
    ask = PeerLookup(table, lambda: [1], lambda: [0, 1], lambda p: p, adapter="sms", signing_key=b"key-one")
    for _ in range(2):
        with pytest.raises(Unresolved) as err:
            await ask.find([LookupKey(provider_message_id="SM1")])
        assert err.value.status == 503 and "without a web endpoint (--web-port -1)" in err.value.message
    assert [r.getMessage() for r in caplog.records].count(  # once per assignment, not a line per callback
        "adapter sms: a replica without a web endpoint (--web-port -1) holds the sent-record partition(s) [0]: "
        "callbacks by provider_message_id for its sends get 503 here; give every replica of the adapter a web port") == 1
    # the replicas that can be asked still are: a send one of them holds is found (it was a 503 for every callback)
    holder = await start_site(build_app(None, "cjo.receipts", b"key-one", sent=_Held(), peers=_NeverAsks()),  # type: ignore[arg-type]
                              "127.0.0.1", 0)
    three = PeerAssignor()
    three.members, three.me = [_Member("", {"cjo.delivery.sms": [1]}), _Member("", {"cjo.delivery.sms": [2]}),
                               _Member(f"http://127.0.0.1:{bound_port(holder)}", {"cjo.delivery.sms": [0]})], 0
    beside = PeerLookup(three, lambda: [1], lambda: [0, 1, 2], lambda p: p, adapter="sms", signing_key=b"key-one")
    try:
        assert await beside.find([LookupKey(provider_message_id="SM1")]) == [
            ("d1", SentRecord(at="2026-12-01T10:00:00Z", customer_id="u1", channel="sms"))]
        with pytest.raises(Unresolved) as err:  # not there: on the partition nobody can ask, maybe (no final 404)
            await beside.find([LookupKey(provider_message_id="SM2")])
        assert err.value.status == 503 and "[2] are held by a replica of this adapter without a web endpoint" in \
            err.value.message, err.value.message
    finally:
        await holder.cleanup()
        await beside.close()
    other = await start_site(build_app(None, "cjo.receipts", b"key-two", sent=_Held(), peers=_NeverAsks()),  # type: ignore[arg-type]
                             "127.0.0.1", 0)
    elsewhere = web.Application()  # something else at the announced URL (a CJO_WEB_URL naming another service)
    stranger = await start_site(elsewhere, "127.0.0.1", 0)
    try:
        for site, said in ((other, "CJO_ENGAGEMENT_SIGNING_KEY is not this one's"),
                           (stranger, "not a replica of this adapter there")):
            table.members[1].url = f"http://127.0.0.1:{bound_port(site)}"
            caplog.clear()
            with pytest.raises(Unresolved) as err:
                await ask.find([LookupKey(provider_message_id="SM1")])
            assert err.value.status == 503 and said in err.value.message, err.value.message
            assert said in caplog.text and ("every replica of the adapter the same key" in caplog.text
                                            or "CJO_WEB_URL" in caplog.text)
    finally:
        await other.cleanup()
        await stranger.cleanup()
        await ask.close()


class _Receipts:
    """Where ``/engagement`` writes its receipts (the broker's part is not what these tests are about)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[None]:
        self.sent.append(value)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _asking(url: str) -> PeerLookup:
    """This replica holds sent-record partition 0; the one at ``url`` holds 1."""
    table = PeerAssignor()
    table.members, table.me = [_Member("", {"cjo.delivery.sms": [0]}), _Member(url, {"cjo.delivery.sms": [1]})], 0
    return PeerLookup(table, lambda: [0], lambda: [0, 1], lambda p: p, adapter="sms")


def lookups(outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("cjo_adapter_peer_lookups_total",
                                             {"channel": "sms", "outcome": outcome}) or 0.0


async def test_a_callback_giving_our_ids_is_not_counted_failed_when_its_optional_lookup_fails() -> None:
    """Our ids without journey and step: the holder is asked to complete them and, when it cannot be, the callback is
    still taken as given (202). It was counted ``failed``, which the alert CjoAdapterPeerLookupsFailing watches for
    callbacks answered 503 (lost once providers stop retrying): it fired for lookups that lost nothing."""
    dead = f"http://127.0.0.1:{free_port()}"  # the holder: nothing answers there
    peers, receipts = _asking(dead), _Receipts()
    site = await start_site(build_app(receipts, "cjo.receipts", sent=_Held(), peers=peers),  # type: ignore[arg-type]
                            "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(site)}"
    failed, optional = lookups("failed"), lookups("optional_failed")
    try:
        r = await post(url, {"delivery_id": "d9", "customer_id": "u9", "event": "opened"})
        assert r.status_code == 202 and len(receipts.sent) == 1, r.text
        assert (lookups("failed"), lookups("optional_failed")) == (failed, optional + 1)
        # one needing the holder (the provider's id alone) in the same request: answered 503, counted failed
        r = await post(url, [{"delivery_id": "d9", "customer_id": "u9", "event": "clicked"},
                             {"provider_message_id": "SM7", "event": "delivered"}])
        assert r.status_code == 503 and len(receipts.sent) == 1, r.text
        assert (lookups("failed"), lookups("optional_failed")) == (failed + 1, optional + 1)
        # an unsubscribe with every id but its topic: the holder's record says whether it is a topic's or the
        # channel's, so it waits for it (503, counted failed) rather than withdraw the whole channel as given
        ids = {"delivery_id": "d9", "customer_id": "u9", "journey": "j", "step": "s"}
        r = await post(url, {**ids, "event": "unsubscribed"})
        assert r.status_code == 503 and len(receipts.sent) == 1, r.text
        assert (lookups("failed"), lookups("optional_failed")) == (failed + 2, optional + 1)
        r = await post(url, {**ids, "event": "unsubscribed", "topic": "offers"})  # naming it: as given, no lookup
        assert r.status_code == 202 and len(receipts.sent) == 2, r.text
    finally:
        await site.cleanup()
        await peers.close()


async def test_a_peer_that_cannot_be_reached_is_logged_once_not_a_line_per_callback(
        caplog: pytest.LogCaptureFixture) -> None:
    """A provider's burst of callbacks while the holder is unreachable logged a line each; every lookup is still
    counted, and the ones not logged are said in one line (here: at the stop)."""
    dead = f"http://127.0.0.1:{free_port()}"
    peers = _asking(dead)
    failed = lookups("failed")
    for _ in range(20):
        with pytest.raises(Unresolved):
            await peers.find([LookupKey(provider_message_id="SM7")])
    assert lookups("failed") == failed + 20
    lines = [r.getMessage() for r in caplog.records if dead in r.getMessage()]
    assert lines == [f"adapter sms: peer lookup at {dead} failed: ConnectError; is that replica reached at that URL "
                     "from this one? It announces CJO_WEB_URL, else the host name (or CJO_WEB_HOST) and its --web-port"]
    await peers.close()
    lines = [r.getMessage() for r in caplog.records if dead in r.getMessage()]
    assert len(lines) == 2 and lines[1].startswith(f"adapter sms: 19 more peer lookup(s) at {dead} failed in the last ")
    assert lines[1].endswith("(not logged one by one); the last failed: ConnectError; " + lines[0].split("; ", 1)[1])


def test_a_peers_failures_are_one_line_per_interval_and_each_peer_has_its_own(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    w = PeerWarnings(logging.getLogger("cjo_stream.adapters.peers"), "sms", interval=60.0, clock=lambda: now[0])
    for t in (0.0, 1.0, 2.0):
        now[0] = t
        w.warn("http://a", "answered 401; key")
    now[0] = 30.0
    w.warn("http://b", "failed: ConnectTimeout; reach")  # another peer: said at once
    now[0] = 61.0
    w.warn("http://a", "answered 503; rebalancing")  # an interval since a's line: the ones held and this one
    now[0] = 62.0
    w.warn("http://a", "answered 503; rebalancing")  # held again
    now[0] = 200.0
    w.warn("http://a", "answered 401; key")
    now[0] = 300.0
    w.warn("http://a", "answered 401; key")  # nothing held: a line of its own
    assert [r.getMessage() for r in caplog.records] == [
        "adapter sms: peer lookup at http://a answered 401; key",
        "adapter sms: peer lookup at http://b failed: ConnectTimeout; reach",
        "adapter sms: 3 more peer lookup(s) at http://a failed in the last 61 s (not logged one by one); the last "
        "answered 503; rebalancing",
        "adapter sms: 2 more peer lookup(s) at http://a failed in the last 139 s (not logged one by one); the last "
        "answered 401; key",
        "adapter sms: peer lookup at http://a answered 401; key"]


async def test_failures_held_back_are_said_once_their_interval_is_over(caplog: pytest.LogCaptureFixture) -> None:
    """A burst that stops: its count is not left unsaid until the next failure, hours later."""
    w = PeerWarnings(logging.getLogger("cjo_stream.adapters.peers"), "sms", interval=0.2)
    for _ in range(5):
        w.warn("http://a", "answered 401; key")
    assert len(caplog.records) == 1
    await wait_for(lambda: len(caplog.records) == 2, timeout=10)
    assert caplog.records[1].getMessage().startswith("adapter sms: 4 more peer lookup(s) at http://a failed in the last")


class _Sms:
    name = "sms"

    async def start(self) -> None:
        return None

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        return DeliveryResult("sent", provider_message_id=f"SM{cmd.delivery_id}")

    async def close(self) -> None:
        return None


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[list[tuple[AdapterRunner, str]]]:
    """Two replicas of the sms adapter in one group, each with its endpoint, as ``cjo-stream adapter`` serves them."""
    await ensure_topics(settings, [settings.receipts_topic])
    out: list[tuple[AdapterRunner, str]] = []
    tasks: list[asyncio.Task[None]] = []
    sites: list[Any] = []
    lookups: list[PeerLookup] = []
    try:
        for _ in range(2):
            runner = AdapterRunner(settings, _Sms(), session_timeout_ms=1000, retry=FAST)
            peers = PeerLookup(runner.peers, runner.sent.held, runner.sent.used, runner.sent.partition_for,
                               adapter="sms")
            lookups.append(peers)
            site = await start_site(build_app(runner.producer, settings.receipts_topic, sent=runner.sent, peers=peers),
                                    "127.0.0.1", 0)
            sites.append(site)
            runner.peers.url = advertised_url("", "http", "127.0.0.1", bound_port(site))
            tasks.append(asyncio.create_task(runner.serve()))
            out.append((runner, runner.peers.url))
        await wait_for(lambda: all(len(r.assigned) == 1 and r.caught_up.is_set() for r, _ in out))
        await track_topics(out[0][0].producer, [settings.receipts_topic])
        yield out
    finally:
        for r, _ in out:
            r.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        for s in sites:
            await s.cleanup()
        for p in lookups:
            await p.close()


async def post(url: str, payload: Any) -> httpx.Response:
    async with httpx.AsyncClient() as c:  # unsigned: from loopback
        return await c.post(f"{url}/engagement", content=orjson.dumps(payload))


async def test_a_callback_by_the_providers_id_works_on_either_replica(
        settings: Settings, replicas: list[tuple[AdapterRunner, str]]) -> None:
    (a, url_a), (b, url_b) = replicas
    cmds = [command(channel="sms", customer_id=f"c{i}", journey="promo", step="text", topic="offers") for i in range(8)]
    await produce_commands(settings, cmds)
    await wait_for(lambda: a.outcomes["sent"] + b.outcomes["sent"] >= len(cmds))
    on_b = [c for c in cmds if b.sent.lookup(provider_message_id=f"SM{c.delivery_id}") and
            not a.sent.lookup(provider_message_id=f"SM{c.delivery_id}")]
    assert on_b and len(on_b) < len(cmds)  # each replica holds some
    found = lambda: metrics.REGISTRY.get_sample_value(  # noqa: E731
        "cjo_adapter_peer_lookups_total", {"channel": "sms", "outcome": "found"}) or 0.0
    before = found()
    r = await post(url_a, {"provider_message_id": f"SM{on_b[0].delivery_id}", "event": "delivered",
                           "at": "2026-12-01T10:05:00Z"})
    assert r.status_code == 202, r.text  # was 404 "this replica holds 1 of the sent-record's 2 partitions … retry"
    assert found() == before + 1
    # our ids without journey and step: completed from the holder's record as the holder would (was: as given)
    c = on_b[0]
    r = await post(url_a, {"delivery_id": c.delivery_id, "customer_id": c.customer_id, "event": "opened"})
    assert r.status_code == 202, r.text
    r = await post(url_a, {"delivery_id": c.delivery_id, "customer_id": "someone-else", "event": "unsubscribed"})
    assert r.status_code == 400 and "not the customer" in r.text  # (was written: anyone could unsubscribe anyone)
    # an unsubscribe with every id but its topic: the holder's record names the send's (as given: the whole channel)
    r = await post(url_a, {"delivery_id": c.delivery_id, "customer_id": c.customer_id, "journey": "promo",
                           "step": "text", "event": "unsubscribed"})
    assert r.status_code == 202, r.text
    for url in (url_a, url_b):  # every holder said it has none: final, and no "retry"
        r = await post(url, {"provider_message_id": "SMnope", "event": "delivered"})
        assert r.status_code == 404 and r.json()["error"] == (
            "unknown provider_message_id 'SMnope': no send of this adapter within the sent-record's retention "
            "(CJO_SENT_RETENTION) has it"), r.text
    kinds = ("delivered", "opened", "unsubscribed")
    engaged = lambda rs: [x for x in rs if msgspec.json.decode(x.value)["status"] in kinds]  # noqa: E731
    records = engaged(await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(engaged(rs)) >= 3))
    got = [msgspec.json.decode(x.value) for x in records]
    assert got[0].pop("at") == "2026-12-01T10:05:00Z" and got[1].pop("at") and got[2].pop("at")
    assert got == [{"delivery_id": c.delivery_id, "customer_id": c.customer_id, "channel": "sms", "status": status,
                    "journey": "promo", "step": "text", "provider_message_id": f"SM{c.delivery_id}", "topic": "offers"}
                   for status in kinds]
