"""Providers that answer at once, for adapters run over time: an SMTP server and an HTTP receiver.

The deployment harness (:mod:`cjo_stream.bench.deployment`) runs the ``email``, ``crm`` and ``slack`` adapters
against these, so what it measures is the adapters, not a provider's latency. Each counts what it accepted
(the harness reports it: commands did reach a provider) and keeps nothing else.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cjo_stream.kafka.local_broker import free_port


class Counts:
    """Messages accepted, by stand-in; bumped from the servers' threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by: dict[str, int] = {"smtp": 0, "http": 0}

    def add(self, what: str) -> None:
        with self._lock:
            self.by[what] += 1


class _Mailbox:
    """aiosmtpd handler: every message accepted and counted, none kept."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.counts.add("smtp")
        return "250 2.0.0 Ok: queued"


def _handler(counts: Counts) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the adapters' pooled clients expect

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            counts.add("http")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_PUT = do_PATCH = _answer  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: no request lines
            pass

    return Receiver


class StandIns:
    """Both stand-ins on loopback, from ``with`` to its end (their threads are daemons: they never hold up an
    interrupted harness). ``smtp_port`` and ``http_url`` are what the adapters are given."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.smtp_port = free_port()
        self._smtp: Any = None
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.counts))
        self._http.daemon_threads = True
        self.http_url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> StandIns:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:  # a test extra: `make setup` installs it
            raise RuntimeError("the SMTP stand-in needs aiosmtpd (make setup installs it)") from None
        self._smtp = Controller(_Mailbox(self.counts), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        threading.Thread(target=self._http.serve_forever, name="http-standin", daemon=True).start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._smtp is not None:
            self._smtp.stop()
