"""Starting a worker process: the stage groups are joined while the web host is still being imported.

Joining a consumer group is mostly waiting for the broker (the local Tansu broker holds every
JoinGroup for half the session timeout, Kafka holds a new group's for
``group.initial.rebalance.delay.ms``), and importing Faust, aiohttp and the journey templates is
mostly CPU (~1.5-3 s here). Done one after the other they added up; here the streaming worker starts
first on the process's event loop, Faust is imported in a thread meanwhile, and the Faust host then
runs on that same loop. ``/health`` answers 200 once the customer partitions are restored and stage 1
is in its group, as before.
"""

from __future__ import annotations

import asyncio
import importlib

from cjo_stream import auth
from cjo_stream.config import Settings
from cjo_stream.journeys.loader import Topology
from cjo_stream.runtime.worker import StreamWorker


def web_url(settings: Settings) -> str:
    """How other workers reach this one, as :func:`~cjo_stream.runtime.app.build_app` will bind it
    (without API tokens on 127.0.0.1 whatever ``CJO_WEB_HOST`` says; ``build_app`` logs why)."""
    host, _ = auth.bind_host(settings.web_host, auth.ApiAuth.from_settings(settings))
    return settings.web_url or f"{settings.web_scheme}://{host}:{settings.web_port}"


def start_early(settings: Settings, topology: Topology) -> tuple[asyncio.AbstractEventLoop, StreamWorker,
                                                                   asyncio.Task[None]]:
    """Begin ``StreamWorker.start()`` on a new current event loop and import the web host meanwhile.

    Returns the loop (the Faust worker must run on it), the worker and its start task, which the
    host's service awaits (its error, if any, surfaces there).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = StreamWorker(settings, topology, web_url(settings))
    started = loop.create_task(worker.start())
    loop.run_until_complete(asyncio.to_thread(_import_host))
    return loop, worker, started


def _import_host() -> None:
    for name in ("faust", "faust.web", "cjo_stream.runtime.app"):
        importlib.import_module(name)
