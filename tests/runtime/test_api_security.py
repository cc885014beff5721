"""The worker's web port against real processes and the real broker: tokens and scopes, HTTPS with a
certificate made here, routed queries carrying the caller's token, the audit trail, hostile ids, and
the loopback-only rule without tokens. One broker and three workers for the whole module."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjo_stream.audit import customer_hash
from cjo_stream.events import valid_id
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from tests.runtime.conftest import ROOT, WorkerProc, event_line, keyed, produce

pytestmark = pytest.mark.broker

OPS = "ops-token-3b1f0c9d2e8a4f67"
PROM = "prometheus-token-9a8b7c6d5e4f"
READER = "reader-token-1029384756abcd"
TOKENS = f"ops:read,erase:{OPS} prometheus:metrics:{PROM} reader:read:{READER}"
AUDIT_KEY = "audit-key-5c4b3a2918"
CUSTOMERS = [f"sec-{i}" for i in range(12)]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TlsWorker(WorkerProc):
    """A worker serving HTTPS (or plain HTTP when ``ca`` is empty)."""

    def __init__(self, env: dict[str, str], web_port: int, log_path: str, ca: str = "") -> None:
        super().__init__(env, web_port, log_path)
        self.ca = ca

    @property
    def url(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.web_port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.ca) if self.ca else True,
                            timeout=10.0)

    def wait_ready(self, timeout: float = 90.0, partitions: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    r = c.get("/health")
                    if r.status_code == 200 and (r.json()["partitions"] or not partitions):
                        return r.json()  # type: ignore[no-any-return]
                time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()}")

    def full_log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("web-tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def cluster(certs: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Workers A and B (tokens, HTTPS, one group; B also closes /metrics) and C (no tokens, own app id)."""
    cert, key = certs
    d = tmp_path_factory.mktemp("api-security")
    with LocalBroker() as broker:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
        base.update(CJO_BROKER=broker.bootstrap, CJO_PARTITIONS="4", CJO_STORE="memory", PYTHONUNBUFFERED="1",
                    CJO_TOPOLOGIES=os.path.join(ROOT, "tests", "runtime", "topologies"), CJO_LOG_LEVEL="INFO")
        secure = {**base, "CJO_API_TOKENS": TOKENS, "CJO_WEB_TLS_CERT": cert, "CJO_WEB_TLS_KEY": key,
                  "CJO_WEB_TLS_CA": cert, "CJO_AUDIT_KEY": AUDIT_KEY}
        workers = {
            "a": TlsWorker({**secure, "CJO_DATA_DIR": str(d / "a")}, free_port(), str(d / "a.log"), cert),
            "b": TlsWorker({**secure, "CJO_DATA_DIR": str(d / "b"), "CJO_METRICS_AUTH": "1"}, free_port(),
                           str(d / "b.log"), cert),
            "c": TlsWorker({**base, "CJO_DATA_DIR": str(d / "c"), "CJO_WEB_HOST": "0.0.0.0", "CJO_APP_ID": "open"},
                           free_port(), str(d / "c.log")),
        }
        try:
            for w in workers.values():
                w.start()
            for w in workers.values():
                w.wait_ready()
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            lines = [event_line(messageId=f"id-{c}", type="identify", userId=c, timestamp=now,
                                traits={"email": f"{c}@example.com", "first_name": c}) for c in CUSTOMERS]
            asyncio.run(produce(broker.bootstrap, "cjo.touchpoints", keyed(lines)))
            a = workers["a"]
            deadline = time.monotonic() + 60
            with a.client() as c:
                while time.monotonic() < deadline:
                    found = [c.get(f"/customers/{cid}", headers=auth(OPS)).status_code for cid in CUSTOMERS]
                    if all(s == 200 for s in found):
                        break
                    time.sleep(0.5)
                else:
                    raise AssertionError(f"profiles not visible: {found}\n{a.log()}\n{workers['b'].log()}")
            yield workers
        finally:
            for w in workers.values():
                w.kill()


def test_every_path_but_health_and_metrics_needs_a_token(cluster: dict[str, Any]) -> None:
    with cluster["a"].client() as c:
        assert c.get("/health").status_code == 200
        assert c.get("/metrics").status_code == 200  # open by default: Prometheus often scrapes without one
        for path in ("/customers/sec-1", "/journeys", "/", "/router/", "/table/", "/graph/", "/nothing"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.headers["WWW-Authenticate"].startswith("Bearer"), path
            assert c.get(path, headers=auth("not-a-token-0123456789")).status_code == 401, path
        assert c.get("/customers/sec-1", headers=auth(PROM)).status_code == 403  # metrics scope only
        body = c.get("/customers/sec-1", headers=auth(READER)).json()
        assert body["profile"]["traits"]["email"] == "sec-1@example.com"
        assert c.get("/journeys", headers=auth(READER)).status_code == 200
        for path in ("/router/", "/table/", "/graph/"):  # Faust's own pages are not served at all
            assert c.get(path, headers=auth(OPS)).status_code == 404, path
    with cluster["b"].client() as c:  # CJO_METRICS_AUTH=1
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=auth(OPS)).status_code == 403
        r = c.get("/metrics", headers=auth(PROM))
        assert r.status_code == 200 and "cjo_api_auth_failures_total" in r.text


def test_https_only_and_verified(cluster: dict[str, Any]) -> None:
    a = cluster["a"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{a.web_port}/health", timeout=5)
    with pytest.raises(httpx.ConnectError):  # a self-signed certificate is not trusted by default
        httpx.get(f"{a.url}/health", timeout=5)


def test_routed_queries_carry_the_callers_token(cluster: dict[str, Any]) -> None:
    a, b = cluster["a"], cluster["b"]
    with b.client() as c:
        b_parts = set(c.get("/health").json()["partitions"])
    with a.client() as c:
        owned_by_b = [cid for cid in CUSTOMERS
                      if c.get(f"/customers/{cid}", headers=auth(READER)).json()["partition"] in b_parts]
        assert owned_by_b, "no customer landed on worker B"
        cid = owned_by_b[0]
        before = b.full_log().count("by=reader")
        r = c.get(f"/customers/{cid}", headers=auth(READER))  # answered by B through A, with the token
        assert r.status_code == 200 and r.json()["customer_id"] == cid
        assert b.full_log().count("by=reader") == before + 1
        assert c.get(f"/customers/{cid}").status_code == 401  # refused at A, never forwarded
        assert c.get(f"/customers/{cid}", headers=auth(PROM)).status_code == 403


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_erase_needs_its_scope_and_is_audited(cluster: dict[str, Any]) -> None:
    a = cluster["a"]
    cid = CUSTOMERS[-1]
    with a.client() as c:
        assert c.delete(f"/customers/{cid}", headers=auth(READER)).status_code == 403
        assert c.delete(f"/customers/{cid}", headers=auth(PROM)).status_code == 403
        before = _metric(c.get("/metrics").text, "cjo_audit_events_total", action="erase", token="ops")
        r = c.delete(f"/customers/{cid}", headers=auth(OPS))
        assert r.status_code == 202
        assert _metric(c.get("/metrics").text, "cjo_audit_events_total", action="erase", token="ops") == before + 1
        deadline = time.monotonic() + 30
        while c.get(f"/customers/{cid}", headers=auth(OPS)).status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert c.get(f"/customers/{cid}", headers=auth(OPS)).status_code == 404
    hashed = customer_hash(cid, AUDIT_KEY)
    log = a.full_log()
    assert re.search(rf"audit erase customer={re.escape(hashed)} by=ops outcome=accepted at=\S+Z", log), log[-3000:]
    for w in cluster.values():  # raw ids and token values never reach a log
        text = w.full_log()
        assert cid not in text and "sec-1@example.com" not in text
        for secret in (OPS, PROM, READER, AUDIT_KEY):
            assert secret not in text


ODD_IDS = ["../", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f", "%00", "a%00b", "%0d%0aSet-Cookie:x=1", "x" * 600,
           "x" * 10_000, "%", "%zz", "a/b", "..", ".", "%E2%80%AE", "%ff%fe", quote("ü" * 200), "%20%20", "%20"]


def raw_status(port: int, ca: str, method: str, path: str, token: str) -> int:
    """Send the path exactly as written (no client-side normalisation) and return the status code."""
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, \
            ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        tls.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                    "Connection: close\r\n\r\n".encode())
        head = tls.recv(64).decode("latin-1")
    return int(head.split(" ", 2)[1])


@pytest.mark.parametrize("odd", ODD_IDS, ids=lambda s: s[:20])
def test_odd_ids_get_400_or_404_never_500(cluster: dict[str, Any], odd: str) -> None:
    """An id is a key, never a path: ``../../etc/passwd`` is just an unknown customer. Ids that cannot
    exist (control characters, over 512 characters, only spaces as events may not have, a request line over
    aiohttp's 8 KiB) are 400."""
    a = cluster["a"]
    server_id = unquote(odd, errors="replace")
    routed = "/" not in odd  # a raw "/" makes another path, which no route serves
    possible = valid_id(server_id) and not server_id.isspace()
    get = raw_status(a.web_port, a.ca, "GET", f"/customers/{odd}", OPS)
    assert get == (404 if possible or not routed else 400), (odd, get)
    delete = raw_status(a.web_port, a.ca, "DELETE", f"/customers/{odd}", OPS)
    assert delete == (404 if not routed else 202 if possible else 400), (odd, delete)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ident=st.text(min_size=0, max_size=700))
def test_any_id_is_answered_without_a_server_error(cluster: dict[str, Any], ident: str) -> None:
    a = cluster["a"]
    with a.client() as c:
        r = c.get("/customers/" + quote(ident, safe=""), headers=auth(READER))
    assert r.status_code in (200, 400, 404), (ident, r.status_code, r.text[:200])


def test_without_tokens_the_api_is_bound_to_loopback_and_says_so(cluster: dict[str, Any]) -> None:
    c = cluster["c"]
    log = c.full_log()
    assert "binds to 127.0.0.1 only, not CJO_WEB_HOST=0.0.0.0" in log
    assert httpx.get(f"http://127.0.0.1:{c.web_port}/customers/x", timeout=5).status_code == 404  # no token asked
    with pytest.raises(httpx.ConnectError):  # 0.0.0.0 would accept this; 127.0.0.1 alone does not
        httpx.get(f"http://127.0.0.2:{c.web_port}/health", timeout=5)


def test_a_forwarding_tls_failure_is_named_as_a_setting(certs: tuple[str, str]) -> None:
    """A worker with the wrong CJO_WEB_TLS_CA logged a forwarded query's failure as 'ConnectError' and answered
    503 "retry shortly": a permanent misconfiguration that looked like an outage (an operator's walkthrough).
    The view names the TLS reason found behind the HTTP client's error (and answers 502)."""
    import http.server
    import ssl
    import threading

    from cjo_stream.runtime.app import _tls_reason

    cert, key = certs
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(httpx.ConnectError) as e:  # the system CAs do not know this self-signed certificate
            httpx.get(f"https://127.0.0.1:{server.server_address[1]}/", timeout=5)
        assert _tls_reason(e.value) == "CERTIFICATE_VERIFY_FAILED"
        with pytest.raises(httpx.ConnectError) as refused:
            httpx.get(f"https://127.0.0.1:{free_port()}/", timeout=5)
        assert _tls_reason(refused.value) is None  # nothing listening: an outage, 503 as before
    finally:
        server.shutdown()
