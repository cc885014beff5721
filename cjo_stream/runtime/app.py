"""The Faust application hosting a worker: process lifecycle, signals, web views (state API, metrics).

``cjo-stream worker`` builds the app with :func:`build_app` and runs it as a Faust worker. The
streaming hot path (:class:`~cjo_stream.runtime.worker.StreamWorker`) runs as a Faust service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Any, cast
from urllib.parse import quote

import faust
import httpx
import mode
from faust.web import Request, Response, View

from cjo_stream import auth, metrics, tls
from cjo_stream.audit import Audit
from cjo_stream.config import Settings
from cjo_stream.events import MAX_ID_LENGTH, valid_id
from cjo_stream.journeys.loader import Topology
from cjo_stream.journeys.model import Journey, status_of
from cjo_stream.runtime.pauses import recorded
from cjo_stream.runtime.worker import StreamWorker
from cjo_stream.timefmt import format_ts

log = logging.getLogger("cjo_stream.app")

_MAX_FORWARDS = 4  # times a state query is passed from worker to worker while its id is resolved


def host_app_id(settings: Settings) -> str:
    return f"{settings.app_id}-host"


def _caller(request: Request) -> str:
    """The name of the token the auth middleware accepted (Faust's requests are aiohttp's)."""
    return str(cast(Any, request).get(auth.TOKEN_KEY, auth.ANONYMOUS))


def _paused_since(j: Journey, since: dict[str, float]) -> dict[str, str]:
    """A paused version's ``paused_since`` (RFC 3339), as the worker's data directory recorded it at start."""
    at = since.get(f"{j.id}@{j.version}") if j.paused else None
    return {} if at is None else {"paused_since": format_ts(at)}


def build_app(settings: Settings, topology: Topology, stream: StreamWorker | None = None,
              started: asyncio.Future[None] | None = None) -> tuple[faust.App, StreamWorker]:
    """The Faust host with the state API. Raises :class:`~cjo_stream.auth.AuthConfigError` or
    :class:`~cjo_stream.tls.TLSConfigError` for unusable tokens or certificates (before anything starts).

    Without API tokens the web port is bound to 127.0.0.1 whatever ``CJO_WEB_HOST`` says
    (``settings.web_host`` is changed accordingly and the reason logged at start). ``stream`` and
    ``started``: a streaming worker already starting (:func:`cjo_stream.runtime.host.start_early`).
    """
    os.makedirs(settings.data_dir, exist_ok=True)
    api_auth = auth.ApiAuth.from_settings(settings)
    settings.web_host, bind_note = auth.bind_host(settings.web_host, api_auth)
    ssl_server = tls.server_context(settings)
    ssl_verify = tls.client_verify(settings)
    audit = Audit(settings.audit_key)
    web_url = settings.web_url or f"{settings.web_scheme}://{settings.web_host}:{settings.web_port}"
    worker = stream if stream is not None else StreamWorker(settings, topology, web_url)
    broker_credentials: Any = None
    if settings.sasl_mechanism:
        broker_credentials = faust.SASLCredentials(username=settings.sasl_username, password=settings.sasl_password,
                                                   mechanism=settings.sasl_mechanism,
                                                   ssl_context=settings.kafka_kwargs().get("ssl_context"))
    elif settings.security_protocol == "SSL":
        broker_credentials = settings.kafka_kwargs().get("ssl_context")
    app = faust.App(
        host_app_id(settings),
        broker=f"kafka://{settings.bootstrap}",
        broker_credentials=broker_credentials,
        store="memory://",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        datadir=f"{settings.data_dir}/faust-{settings.web_port}",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        autodiscover=False,
        web_enabled=True,
        web_ssl_context=ssl_server,
        # every request passes the token check first (auth.worker_policy: what needs which scope)
        web_application_options={"middlewares": [auth.middleware(api_auth, auth.worker_policy(api_auth))]},
        # Faust's own pages (router, tables, graph, stats) are not part of our API
        web_router_enabled=False, web_tables_enabled=False, web_graph_enabled=False, web_stats_enabled=False,
        topic_allow_declare=False,
    )
    # The host runs no agents or tables: it starts only its web server (Faust's "producer only" boot,
    # without the producer either). With its Kafka consumer it joined a group of its own that the hot
    # path never used, and a worker waited for that join (~6 s on the local broker) before starting.
    app.producer_only = True
    app.boot_strategy = app.BootStrategy(app, enable_kafka=False)

    @app.service
    class StreamService(mode.Service):  # the streaming machinery's lifecycle follows the Faust worker's
        async def on_start(self) -> None:
            if bind_note:
                log.warning(bind_note)
            elif not ssl_server and not auth.is_loopback(settings.web_host):
                log.warning("the state API is served without TLS on %s: bearer tokens and profiles cross the "
                            "network in clear text unless a proxy or mesh encrypts it (CJO_WEB_TLS_CERT/KEY)",
                            settings.web_host)
            try:
                await (started if started is not None else worker.start())
            except Exception:
                if worker.stopping:  # SIGTERM while it waited (for the global tables, after a broker restart):
                    return  # stop() closed what it waited on, and goes on (raised here, Faust printed a traceback)
                raise

        async def on_stop(self) -> None:
            await worker.stop()

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            # A partition stopped at an unreadable record batch makes the worker "degraded", not down:
            # every other partition is processed, and a restart (liveness probe) would not help.
            # Commits pending or the broker unanswered for long (worker.trouble): 503 with the reason, so
            # readiness drops the pod and, if it lasts, liveness restarts it.
            ok = worker.healthy
            stuck = worker.stuck()
            trouble = worker.trouble
            status = ("degraded" if stuck else "ok") if ok else "failing" if trouble else "starting"
            body = {"status": status, "worker_id": worker.worker_id, "partitions": sorted(worker.parts), "stuck": stuck}
            if trouble:
                body["reason"] = trouble
            return self.json(body, status=200 if ok else 503)

    @app.page("/journeys")
    class Journeys(View):
        async def get(self, request: Request) -> Response:
            since = recorded(settings.data_dir)  # since when each paused version is (runtime.pauses)
            return self.json({"journeys": [
                {"id": j.id, "version": j.version, "current": worker.engine.current[j.id] is j,
                 "status": status_of(j), **_paused_since(j, since), "description": j.description,
                 "entry": j.entry.event, "steps": list(j.steps), "source": j.source}
                for j in sorted(worker.engine.versions.values(), key=lambda j: (j.id, j.version))]})

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.exposition("worker"), content_type="text/plain")  # 0.0.4 exposition

    @app.page("/customers/{customer_id}")
    class Customer(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            if not _addressable(customer_id):
                return self.error(400, _ID_RULE)
            cid = worker.customer_id(customer_id)
            try:
                data = worker.local_customer(cid)
            except KeyError:
                return await self._forward(request, cid)
            audit.record("read", _caller(request), cid, "found" if data else "not_found")
            if data is None:
                return self.error(404, "no such customer")
            return self.json(data)

        async def delete(self, request: Request, customer_id: str) -> Response:
            if not _addressable(customer_id):
                return self.error(400, _ID_RULE)
            cid = worker.customer_id(customer_id)
            # keyed by the id as named: an id merged into the customer passes the erase on and drops its own
            # link, which the customer's erase cannot find once its profile no longer lists the id
            await worker.erase(customer_id)
            audit.record("erase", _caller(request), cid, "accepted")
            return self.json({"erased": cid, "status": "accepted"}, status=202)

        async def _forward(self, request: Request, cid: str) -> Response:
            """The id lives on another worker: ask it with the caller's token.

            That worker resolves the id further (an id's link lives in its own partition) or answers; a
            query is passed on at most ``_MAX_FORWARDS`` times (an id linked through several partitions).
            """
            try:
                hops = int(request.query.get("forwarded") or 0)
            except ValueError:
                hops = _MAX_FORWARDS
            if hops >= _MAX_FORWARDS:
                return self.error(503, "partition is moving between workers; retry shortly")
            url = worker.owner_url(worker.partition_of(cid))
            if not url or url == worker.web_url:
                return self.error(503, "no worker owns this customer's partition right now; retry shortly")
            if url.split("://", 1)[0] != settings.web_scheme:  # never the caller's token over plain HTTP
                log.warning("not forwarding a state query to %s: this worker serves %s", url, settings.web_scheme)
                return self.error(502, f"the worker owning this customer announced a non-{settings.web_scheme} URL")
            try:
                async with httpx.AsyncClient(timeout=5.0, verify=ssl_verify) as client:
                    # every character that could change the path is escaped: "/", "?", "#", and dots (an
                    # id ".." must not become the parent path when the client normalises the URL)
                    path = quote(cid, safe="").replace(".", "%2E")
                    r = await client.get(f"{url}/customers/{path}", params={"forwarded": str(hops + 1)},
                                         headers=auth.forward_headers(request.headers))
            except httpx.HTTPError as e:
                tls = _tls_reason(e)
                if tls is not None:  # a setting to fix, not an outage to wait out: said so, and 502
                    log.warning("forwarding a state query to %s failed: TLS: %s (check CJO_WEB_TLS_CA against the "
                                "workers' certificate)", url, tls)
                    return self.error(502, "this worker cannot verify the TLS certificate of the worker owning this "
                                           "customer (CJO_WEB_TLS_CA)")
                log.warning("forwarding a state query to %s failed: %s", url, type(e).__name__)
                return self.error(503, "the worker owning this customer did not answer; retry shortly")
            return self.bytes(r.content, status=r.status_code, content_type="application/json")

    return app, worker


#: the ids events may carry (an id of only spaces is refused there as `bad_id`, so no customer has one)
_ID_RULE = f"a customer id is 1 to {MAX_ID_LENGTH} printable characters, not only spaces"


def _addressable(customer_id: str) -> bool:
    return valid_id(customer_id) and not customer_id.isspace()


def _tls_reason(e: BaseException) -> str | None:
    """The TLS error behind an HTTP client's error (``CERTIFICATE_VERIFY_FAILED``), if one is."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return str(seen.reason or seen)
        seen = seen.__cause__ or seen.__context__
    return None
