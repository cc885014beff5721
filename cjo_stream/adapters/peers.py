"""Which replica of an adapter holds which sent-record partition, and asking it for a send (interactive queries).

Each replica holds the sent-record partitions of the command partitions it owns, and a provider's callback
(``provider_message_id`` alone) does not say which partition its send was on: a replica holding some of them
answered ``404 … retry``, and providers do not retry a 404. Now it asks the replicas holding the others
(``POST /engagement/lookup``, :func:`cjo_stream.adapters.web.build_app`) and writes the receipt itself.

Where the others are is told the way Kafka Streams tells it (``application.server``): each member of the
adapter's consumer group puts the URL its web endpoint is reached at (``CJO_WEB_URL``) into its group
subscription's user data, and the group's leader, which assigns the partitions, gives every member the whole
table (URL → command partitions) in its assignment. The table is therefore exactly the assignment of the
current generation, made at the same moment: no topic to keep, no entry of a crashed replica to expire. The
partitions are distributed as before (round robin); a group still holding a replica of an older version agrees on
plain ``roundrobin`` (both are offered), and without a table the old answer (``404 … retry``) stands.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import httpx
import msgspec
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata

from cjo_stream import metrics
from cjo_stream.adapters.callback_ids import Unresolved
from cjo_stream.adapters.peer_warnings import PeerWarnings
from cjo_stream.adapters.sentlog import SentRecord
from cjo_stream.adapters.signing import sign

log = logging.getLogger(__name__)

#: Path of the lookup one replica asks another (answered from the partitions the asked one holds, never passed on).
LOOKUP_PATH = "/engagement/lookup"
#: Seconds one peer's lookup may take: a provider waits for the callback's answer (theirs time out at 10-30 s).
PEER_TIMEOUT = 3.0
_UNSPECIFIED = ("", "0.0.0.0", "::", "[::]")


def advertised_url(web_url: str, scheme: str, host: str, port: int) -> str:
    """How the other replicas reach this one: ``CJO_WEB_URL``, else ``scheme://host:port`` with the host name for
    an address that names every interface (``0.0.0.0`` cannot be called)."""
    if web_url:
        return web_url.rstrip("/")
    if host in _UNSPECIFIED:
        host = socket.gethostname()
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


class _Member(msgspec.Struct):
    url: str  # "" : no web endpoint (--web-port -1), cannot be asked
    partitions: dict[str, list[int]] = {}


class _Table(msgspec.Struct):
    members: list[_Member]
    me: int  # this member's index


@dataclass(frozen=True)
class Plan:
    """Whom to ask for the sent-record partitions this replica lacks."""

    ask: dict[str, frozenset[int]]  # peer URL -> the sent-record partitions it holds that this replica lacks
    unknown: frozenset[int]  # lacked partitions no member of the table holds (now): no answer can be final
    dark: frozenset[int] = frozenset()  # lacked partitions held by a replica without a web endpoint (--web-port -1)


class PeerAssignor:
    """Round robin, plus every member's URL and partitions in each member's assignment (the peer table).

    An instance (aiokafka calls ``metadata``, ``assign`` and ``on_assignment`` on what it is given): its URL is
    this replica's, set before the consumer joins.
    """

    name = "cjo-peers"
    version = 0

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.members: list[_Member] = []
        self.me = -1
        self.joined = False  # an assignment is in force (with a table, or plain round robin's without one)

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(self.version, list(topics), self.url.encode())

    def assign(self, cluster: ClusterMetadata,
               members: Mapping[str, ConsumerProtocolMemberMetadata]) -> dict[str, ConsumerProtocolMemberAssignment]:
        plain = RoundRobinPartitionAssignor.assign(cluster, members)
        ids = sorted(plain)
        table = [_Member(members[m].user_data.decode(errors="replace") if members[m].user_data else "",
                         {t: list(ps) for t, ps in plain[m].assignment}) for m in ids]
        return {m: ConsumerProtocolMemberAssignment(self.version, plain[m].assignment,
                                                    msgspec.json.encode(_Table(table, i)))
                for i, m in enumerate(ids)}

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        try:
            table = msgspec.json.decode(assignment.user_data or b"", type=_Table)
        except (msgspec.DecodeError, msgspec.ValidationError):
            table = _Table([], -1)  # (another assignor's: none)
        self.members, self.me = table.members, table.me

    def forget(self) -> None:
        """The assignment is being revoked: the table is of a generation that is ending."""
        self.members, self.me, self.joined = [], -1, False

    def assigned(self) -> None:
        """An assignment is in force (the rebalance listener; aiokafka calls :meth:`on_assignment` only when the
        group agreed on this assignor, before it): without a table then, the group is on plain round robin."""
        self.joined = True

    @property
    def plain(self) -> bool:
        """The group agreed on plain round robin (a replica of an older version in it): no table this generation.
        (The local broker, Tansu, keeps a group's first protocol until every member has left; Kafka moves to this
        assignor at the first rebalance after the last older replica left.)"""
        return self.joined and self.me < 0

    def plan(self, held: Iterable[int], in_use: Iterable[int], partition_for: Callable[[int], int]) -> Plan | None:
        """Whom to ask for the sent-record partitions in ``in_use`` this replica does not hold (``held``); None
        when there is no table (the group not joined yet, or still on plain round robin)."""
        if self.me < 0:
            return None
        lacking = set(in_use) - set(held)
        ask: dict[str, set[int]] = {}
        dark: set[int] = set()
        for i, m in enumerate(self.members):
            if i == self.me:
                continue
            theirs = {partition_for(p) for ps in m.partitions.values() for p in ps} & lacking
            if theirs and m.url:
                ask.setdefault(m.url, set()).update(theirs)
            else:
                dark |= theirs
        covered = set().union(*ask.values()) if ask else set()
        dark -= covered  # (a sent-record partition shared by several command partitions: one holder with a URL will do)
        return Plan({u: frozenset(ps) for u, ps in ask.items()}, frozenset(lacking - covered - dark), frozenset(dark))


#: What an operator checks when a replica's announced URL does not answer as a replica of this adapter.
_UNREACHED = ("is that replica reached at that URL from this one? It announces CJO_WEB_URL, else the host name (or "
              "CJO_WEB_HOST) and its --web-port")


def _refused(status: int) -> str:
    """Why a replica answered a lookup ``status``, and what to set (the log line; its first clause: the 503's)."""
    if status == 401:
        return ("its CJO_ENGAGEMENT_SIGNING_KEY is not this one's: give every replica of the adapter the same key")
    if status == 403:
        return ("it refused an unsigned lookup (a proxy in between, or not a private address): set the same "
                "CJO_ENGAGEMENT_SIGNING_KEY on every replica of the adapter")
    if status == 503:
        return "it is reading its partitions after a rebalance: retry"
    return f"not a replica of this adapter there: {_UNREACHED}"


class LookupKey(msgspec.Struct, omit_defaults=True):
    delivery_id: str | None = None
    provider_message_id: str | None = None


class LookupRequest(msgspec.Struct):
    ids: list[LookupKey]
    partitions: list[int]  # the sent-record partitions the asker expects the asked one to hold


class Hit(msgspec.Struct):
    delivery_id: str
    record: SentRecord


class LookupAnswer(msgspec.Struct):
    held: list[int]  # of the partitions asked about, those the answering replica holds
    found: list[Hit | None]


Found = tuple[str, SentRecord]


class PeerLookup:
    """Asks the replicas holding the partitions this one lacks for sends (:meth:`find`)."""

    def __init__(self, assignor: PeerAssignor, held: Callable[[], Iterable[int]], in_use: Callable[[], Iterable[int]],
                 partition_for: Callable[[int], int], *, adapter: str, signing_key: bytes = b"",
                 verify: ssl.SSLContext | bool = True, scheme: str = "http", timeout: float = PEER_TIMEOUT) -> None:
        self.assignor = assignor
        self.held, self.in_use, self.partition_for = held, in_use, partition_for
        self.adapter = adapter
        self.signing_key = signing_key
        self.verify = verify
        self.scheme = scheme
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None  # one for all lookups: its connections are kept (TLS)
        self._warned: object = None  # the peer table the --web-port -1 warning was logged for
        self.warnings = PeerWarnings(log, adapter)  # a failed lookup's line: a few per peer, not one per callback

    async def close(self) -> None:
        self.warnings.flush()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def ready(self) -> bool:
        """A peer table is known: :meth:`find` may be asked."""
        return self.assignor.me >= 0

    async def find(self, keys: list[LookupKey], optional: bool = False) -> list[Found | None]:
        """Each key's send as one of the replicas holding the partitions this one lacks has it, or None where every
        one of them said it has none (final); :class:`Unresolved` ``503`` when a send is not found and a partition's
        holder is unknown, cannot be asked (``--web-port -1``), did not answer or no longer holds it (the caller
        retries). The holders that can be asked are asked anyway: what they find is final whatever the others'
        (with one replica without a web endpoint every callback was a 503, its own partitions' or not).

        ``optional``: every key is a callback giving our own ids, answered ``202`` as given whatever happens here;
        a failure is then counted ``optional_failed``, not ``failed`` (which the alert CjoAdapterPeerLookupsFailing
        watches: callbacks answered ``503``, which providers drop after their retries)."""
        failed = "optional_failed" if optional else "failed"
        plan = self.assignor.plan(self.held(), self.in_use(), self.partition_for)
        if plan is None:
            self._count(failed)
            raise Unresolved(503, "no replica of this adapter is known to hold the sent-record partition(s) (no peer "
                                  "table yet: starting, or the group rebalancing): retry")
        answers = await asyncio.gather(*(self._ask(url, keys, parts) for url, parts in plan.ask.items()),
                                       return_exceptions=True)
        out: list[Found | None] = [None] * len(keys)
        failure: BaseException | None = None
        for answer in answers:
            if isinstance(answer, Unresolved):
                failure = failure or answer  # (503: a holder did not answer as one)
                continue
            if isinstance(answer, BaseException):
                raise answer
            for i, hit in enumerate(answer.found):
                if hit is not None and out[i] is None:
                    out[i] = (hit.delivery_id, hit.record)
        if all(out):
            self._count("found")
            return out
        self._count("not_found" if failure is None and not plan.dark and not plan.unknown else failed)
        if failure is not None:
            raise failure
        if plan.unknown:
            raise Unresolved(503, "no replica of this adapter is known to hold the sent-record partition(s) "
                                  f"{sorted(plan.unknown)} (starting, or the group rebalancing): retry")
        if plan.dark:
            if self._warned is not self.assignor.members:  # once per assignment: not a line per callback
                self._warned = self.assignor.members
                log.warning("adapter %s: a replica without a web endpoint (--web-port -1) holds the sent-record "
                            "partition(s) %s: callbacks by provider_message_id for its sends get 503 here; give "
                            "every replica of the adapter a web port", self.adapter, sorted(plan.dark))
            raise Unresolved(503, f"the sent-record partition(s) {sorted(plan.dark)} are held by a replica of this "
                                  "adapter without a web endpoint (--web-port -1), which cannot be asked: retry once "
                                  "every replica serves one")
        return out

    async def _ask(self, url: str, keys: list[LookupKey], parts: frozenset[int]) -> LookupAnswer:
        body = msgspec.json.encode(LookupRequest(keys, sorted(parts)))
        headers = {"Content-Type": "application/json", **(sign(self.signing_key, body) if self.signing_key else {})}
        if url.split("://", 1)[0] != self.scheme:  # never a callback's ids over plain HTTP from an HTTPS adapter
            self.warnings.warn(url, f"not made: that replica announces another scheme and this one serves "
                                    f"{self.scheme} (give every replica of the adapter the same CJO_WEB_TLS_CERT and "
                                    "CJO_WEB_TLS_KEY, and a CJO_WEB_URL of that scheme)")
            self._failed(url, f"announced a non-{self.scheme} URL")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, verify=self.verify)
        try:
            r = await self._client.post(f"{url}{LOOKUP_PATH}", content=body, headers=headers)
        except httpx.HTTPError as e:
            self.warnings.warn(url, f"failed: {type(e).__name__}; {_UNREACHED}")
            self._failed(url, "did not answer")
        if r.status_code != 200:
            why = _refused(r.status_code)
            self.warnings.warn(url, f"answered {r.status_code}; {why}")
            self._failed(url, f"answered {r.status_code} ({why.split(':', 1)[0]})")
        try:
            answer = msgspec.json.decode(r.content, type=LookupAnswer)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._failed(url, "answered something unreadable")
        if not parts <= set(answer.held) or len(answer.found) != len(keys):  # its assignment changed since
            self._failed(url, "no longer holds the partitions")
        return answer

    def _failed(self, url: str, why: str) -> NoReturn:
        raise Unresolved(503, f"the replica holding the rest of the sent-record ({url}) {why}: retry")

    def _count(self, outcome: str) -> None:
        metrics.ADAPTER_PEER_LOOKUPS.labels(self.adapter, outcome).inc()
