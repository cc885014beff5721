"""A Kafka TCP proxy in front of the local broker that can make every offset commit fail, retriably, forever.

Why: the worker's ``/health`` must say 503 when an offset commit has been pending 20 s while the broker
answers and the topics exist (aiokafka retries a commit the broker refuses as "retriable" forever). Nothing
in a healthy broker does that on demand. While :attr:`CommitStall.stalled` is set, the proxy renames the
topics of each OffsetCommit request (``cjo.`` -> ``cjX.``, same length): the broker answers
UNKNOWN_TOPIC_OR_PARTITION (Tansu does, and creates nothing), which aiokafka retries every 100 ms; the
answer's topics are renamed back so the client matches them. Every other request passes untouched, in
order, so heartbeats, fetches and metadata go on. Cleared, the next retry commits.

The broker must advertise the proxy's address (:class:`BrokerBehind`), so that every connection a client
opens after bootstrapping passes the proxy too.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading

from cjo_stream.kafka.local_broker import LocalBroker, free_port, tansu_binary

_OFFSET_COMMIT = 8  # Kafka API key
_REAL, _FAKE = b"cjo.", b"cjX."


class BrokerBehind(LocalBroker):
    """The local broker, listening on a port of its own and advertising ``advertised`` (the proxy's)."""

    def __init__(self, advertised: int) -> None:
        super().__init__()
        self.advertised = advertised

    def command(self) -> list[str]:
        return [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised}", "--storage-engine", "memory://tansu/"]


class CommitStall:
    """The proxy: ``start(upstream_port)``, clients use ``bootstrap``; ``stalled`` set = commits fail."""

    def __init__(self) -> None:
        self.port = free_port()
        self.stalled = threading.Event()
        self.renamed = 0  # OffsetCommit requests renamed so far
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._upstream = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, upstream_port: int) -> CommitStall:
        self._upstream = upstream_port
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self._upstream)
        except OSError:
            client_w.close()
            return
        renamed: set[bytes] = set()  # correlation ids of the requests renamed on this connection
        up = asyncio.ensure_future(self._pump(client_r, broker_w, lambda body: self._request(body, renamed)))
        down = asyncio.ensure_future(self._pump(broker_r, client_w, lambda body: self._response(body, renamed)))
        try:
            await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (up, down):
                t.cancel()
            for w in (client_w, broker_w):
                w.close()

    @staticmethod
    async def _pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, change: object) -> None:
        assert callable(change)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                size = await r.readexactly(4)
                body = await r.readexactly(struct.unpack(">i", size)[0])
                w.write(size + change(body))
                await w.drain()

    def _request(self, body: bytes, renamed: set[bytes]) -> bytes:
        api_key = struct.unpack(">h", body[:2])[0]
        if api_key != _OFFSET_COMMIT or not self.stalled.is_set():
            return body
        renamed.add(body[4:8])
        self.renamed += 1
        return body.replace(_REAL, _FAKE)

    @staticmethod
    def _response(body: bytes, renamed: set[bytes]) -> bytes:
        if body[:4] in renamed:
            renamed.discard(body[:4])
            return body.replace(_FAKE, _REAL)
        return body
