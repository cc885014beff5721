"""Real servers for the adapter tests: the Tansu broker, an HTTP receiver on loopback, an aiosmtpd server.

The HTTP receiver implements whatever path it is asked for and replays a per-path script of answers
(status, headers, body, delay), so provider failure modes (500, 429 + Retry-After, slow answers, 400)
are real HTTP exchanges with the channel's real client code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cjo_stream.adapters.base import utc_now_iso
from cjo_stream.adapters.runner import AdapterRunner
from cjo_stream.commands import DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import LocalBroker, free_port

# ---------------------------------------------------------------------------- commands


def command(**kw: Any) -> DeliveryCommand:
    fields: dict[str, Any] = {
        "delivery_id": uuid.uuid4().hex[:24], "customer_id": "u1", "journey": "abandoned_cart",
        "journey_version": 1, "step": "remind", "channel": "webhook", "to": None,
        "content": {"subject": "You left Lamp behind", "body": "Hi Ada!"}, "triggered_by": "m-1",
        "decided_at": utc_now_iso(), "instance_id": "i-1",
    }
    fields.update(kw)
    return DeliveryCommand(**fields)


def encode(cmd: DeliveryCommand) -> bytes:
    return msgspec.json.encode(cmd)


# ---------------------------------------------------------------------------- broker


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


@pytest.fixture
def settings(broker: LocalBroker) -> Settings:
    return Settings(bootstrap=broker.bootstrap, partitions=2)


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await p.start()
    try:
        futs = [await p.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


async def produce_commands(settings: Settings, cmds: list[DeliveryCommand], channel: str | None = None) -> None:
    from cjo_stream.kafka.topics import ensure_topics

    topic = settings.delivery_topic(channel or cmds[0].channel)
    await ensure_topics(settings, [topic])
    await produce(settings.bootstrap, topic, [(c.customer_id.encode(), encode(c)) for c in cmds])


async def read_topic(bootstrap: str, topic: str, until: Callable[[list[Any]], bool], timeout: float = 20.0,
                     settle: float = 0.0) -> list[Any]:
    """Records of ``topic`` from the beginning until ``until(records)``, then ``settle`` seconds more."""
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None)
    await c.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(out):
            for recs in (await c.getmany(timeout_ms=200)).values():
                out.extend(recs)
        end = time.monotonic() + settle
        while time.monotonic() < end:
            for recs in (await c.getmany(timeout_ms=100)).values():
                out.extend(recs)
    finally:
        await c.stop()
    return out


def receipts_of(records: list[Any]) -> dict[str, dict[str, Any]]:
    """Receipts by delivery id (the last one wins)."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        obj = msgspec.json.decode(r.value)
        out[obj["delivery_id"]] = obj
    return out


async def run_until(runner: AdapterRunner, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Serve ``runner`` until ``done()`` (polled), then stop it cleanly and wait for it to close."""
    task = asyncio.create_task(runner.serve())
    deadline = time.monotonic() + timeout
    try:
        while not done():
            if task.done():
                task.result()  # raise the runner's error
                raise AssertionError("the runner stopped on its own")
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {timeout}s; outcomes so far: {dict(runner.outcomes)}")
            await asyncio.sleep(0.05)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)


# ---------------------------------------------------------------------------- HTTP receiver


@dataclass
class Answer:
    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    until: asyncio.Event | None = None  # answer only once this is set: a provider that hangs


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]
    at: float


class Receiver:
    """An HTTP server on loopback that records requests and answers from a per-path script."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self.default = Answer(200, json={"ok": True})
        self.key_header: str | None = None  # when set, scripts are looked up by this header's value
        self.key_body: Callable[[bytes], str] | None = None  # when set, by what it reads from the request's body
        self.url = ""
        self._runner: web.AppRunner | None = None

    def script(self, key: str, *answers: Answer) -> None:
        """Answers for a path (or a ``key_header`` value), in order; then :attr:`default`."""
        self.scripts[key].extend(answers)

    def seen(self, path: str | None = None) -> list[Seen]:
        return [r for r in self.requests if path is None or r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Seen(request.method, request.path, dict(request.headers), body,
                                  dict(request.query), time.monotonic()))
        key = request.headers.get(self.key_header, "") if self.key_header else \
            self.key_body(body) if self.key_body is not None else request.path
        queue = self.scripts.get(key)
        answer = queue.popleft() if queue else self.default
        if answer.until is not None:
            await answer.until.wait()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.json is not None:
            return web.json_response(answer.json, status=answer.status, headers=answer.headers)
        return web.Response(status=answer.status, text=answer.text or "", headers=answer.headers)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    try:
        yield r
    finally:
        await r.stop()


# ---------------------------------------------------------------------------- SMTP server


class Mailbox:
    """aiosmtpd handler: keeps every accepted message; refuses recipients listed in ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.raw: list[bytes] = []  # each message's bytes as received
        self.refuse: dict[str, str] = {}
        self.logins: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = (envelope.original_content or envelope.content).replace(b"\r\n", b"\n")
        self.raw.append(raw)
        msg = message_from_bytes(raw, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 2.0.0 Ok: queued"

    def by_message_id(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, _, m in self.messages:
            counts[str(m["Message-ID"])] += 1
        return counts

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer" and auth_data.password == b"s3cret"
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 on failure


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    controller: Controller


@contextlib.contextmanager
def smtp_server(**kw: Any) -> Iterator[SmtpServer]:
    box = Mailbox()
    port = free_port()
    if "authenticator" in kw and kw["authenticator"] is True:
        kw["authenticator"] = box.authenticator
    ctl = Controller(box, hostname="127.0.0.1", port=port, **kw)
    ctl.start()
    try:
        yield SmtpServer(box, port, ctl)
    finally:
        ctl.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as s:
        yield s


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl CLI; skipped without it)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def server_tls(files: tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*files)
    return ctx


def env_without_cjo() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
