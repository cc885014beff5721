"""Serving an aiohttp application on a port: the adapters' and the analytics service's endpoints."""

from __future__ import annotations

import ssl

from aiohttp import web


async def start_site(app: web.Application, host: str, port: int,
                     ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    """Serve ``app`` (HTTPS with ``ssl_context``); the caller must ``await runner.cleanup()``. Port 0
    picks a free one."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for addr in runner.addresses:
        if isinstance(addr, tuple):
            return int(addr[1])
    raise RuntimeError("the web endpoint is not listening")
