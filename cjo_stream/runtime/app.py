"""The Faust application hosting a worker: process lifecycle, signals, web views (state API, metrics).

``cjo-stream worker`` builds the app with :func:`build_app` and runs it as a Faust worker. The
streaming hot path (:class:`~cjo_stream.runtime.worker.StreamWorker`) runs as a Faust service.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import faust
import httpx
import mode
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.journeys.loader import Topology
from cjo_stream.runtime.worker import StreamWorker

log = logging.getLogger("cjo_stream.app")


def host_app_id(settings: Settings) -> str:
    return f"{settings.app_id}-host"


async def prepare_host_topics(settings: Settings) -> None:
    from cjo_stream.kafka.topics import ensure_topics

    await ensure_topics(settings, [f"{host_app_id(settings)}-__assignor-__leader"],
                        partitions={f"{host_app_id(settings)}-__assignor-__leader": 1})


def build_app(settings: Settings, topology: Topology) -> tuple[faust.App, StreamWorker]:
    os.makedirs(settings.data_dir, exist_ok=True)
    web_url = settings.web_url or f"http://{settings.web_host}:{settings.web_port}"
    worker = StreamWorker(settings, topology, web_url)
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
        # The host app declares no topics of its own; its one internal topic is created up front by
        # prepare_host_topics() (re-declaring it made Tansu stall the group join for ~30 s).
        topic_allow_declare=False,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
    )

    @app.service
    class StreamService(mode.Service):  # the streaming machinery's lifecycle follows the Faust worker's
        async def on_start(self) -> None:
            await worker.start()

        async def on_stop(self) -> None:
            await worker.stop()

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            # A partition stopped at an unreadable record batch makes the worker "degraded", not down:
            # every other partition is processed, and a restart (liveness probe) would not help.
            ok = worker.healthy
            stuck = worker.stuck()
            status = ("degraded" if stuck else "ok") if ok else "starting"
            return self.json({"status": status, "worker_id": worker.worker_id, "partitions": sorted(worker.parts),
                              "stuck": stuck}, status=200 if ok else 503)

    @app.page("/journeys")
    class Journeys(View):
        async def get(self, request: Request) -> Response:
            return self.json({"journeys": [
                {"id": j.id, "version": j.version, "current": worker.engine.current[j.id] is j,
                 "description": j.description, "entry": j.entry.event, "steps": list(j.steps), "source": j.source}
                for j in sorted(worker.engine.versions.values(), key=lambda j: (j.id, j.version))]})

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(metrics.REGISTRY), content_type="text/plain")  # 0.0.4 exposition

    @app.page("/customers/{customer_id}")
    class Customer(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            cid = worker.customer_id(customer_id)
            try:
                data = worker.local_customer(cid)
            except KeyError:
                return await self._forward(request, cid)
            if data is None:
                return self.error(404, f"no customer {customer_id!r}")
            return self.json(data)

        async def delete(self, request: Request, customer_id: str) -> Response:
            cid = worker.customer_id(customer_id)
            await worker.erase(cid)
            return self.json({"erased": cid, "status": "accepted"}, status=202)

        async def _forward(self, request: Request, cid: str) -> Response:
            """The customer lives on another worker: ask it (one hop; never forwarded twice)."""
            if request.query.get("forwarded"):
                return self.error(503, "partition is moving between workers; retry shortly")
            url = worker.owner_url(worker.partition_of(cid))
            if not url or url == worker.web_url:
                return self.error(503, "no worker owns this customer's partition right now; retry shortly")
            async with httpx.AsyncClient(timeout=5.0) as client:
                r = await client.get(f"{url}/customers/{cid}", params={"forwarded": "1"})
            return self.bytes(r.content, status=r.status_code, content_type="application/json")

    return app, worker
