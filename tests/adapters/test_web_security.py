"""The adapter's HTTP endpoint: token checks on everything but /health and the signed /engagement, HTTPS,
and unsigned callbacks from loopback only. Real HTTP on loopback; no broker needed for these paths."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from cjo_stream import auth, tls
from cjo_stream.adapters.web import build_app
from cjo_stream.auth import ApiAuth, parse_tokens
from cjo_stream.config import Settings
from cjo_stream.serving import bound_port, start_site

OPS = "ops-secret-0123456789abcdef"
PROM = "prometheus-secret-0123456789"
TOKENS = f"ops:read,erase:{OPS} prometheus:metrics:{PROM}"

Serve = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[Any] = []

    async def _serve(api_auth: ApiAuth, signing_key: bytes = b"", ssl_context: Any = None) -> str:
        app = build_app(None, "cjo.receipts", signing_key, lambda: {"status": "ok", "adapter": "email"},  # type: ignore[arg-type]
                        api_auth)
        runner = await start_site(app, "127.0.0.1", 0, ssl_context)
        runners.append(runner)
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{bound_port(runner)}"

    yield _serve
    for r in runners:
        await r.cleanup()


async def test_metrics_open_by_default_and_closable(serve: Serve) -> None:
    open_url = await serve(ApiAuth(parse_tokens(TOKENS)))
    closed_url = await serve(ApiAuth(parse_tokens(TOKENS), metrics_auth=True))
    async with httpx.AsyncClient() as c:
        assert (await c.get(f"{open_url}/metrics")).status_code == 200
        assert (await c.get(f"{open_url}/health")).status_code == 200
        r = await c.get(f"{closed_url}/metrics")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await c.get(f"{closed_url}/metrics", headers={"Authorization": f"Bearer {OPS}"})).status_code == 403
        r = await c.get(f"{closed_url}/metrics", headers={"Authorization": f"Bearer {PROM}"})
        assert r.status_code == 200 and "cjo_api_auth_failures_total" in r.text
        assert (await c.get(f"{closed_url}/health")).status_code == 200  # probes never need a token
        # anything else needs a token before it is even routed (a stranger learns nothing)
        assert (await c.get(f"{closed_url}/admin")).status_code == 401
        assert (await c.get(f"{closed_url}/admin", headers={"Authorization": f"Bearer {OPS}"})).status_code == 404


async def test_unsigned_engagement_only_from_loopback(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    url = await serve(ApiAuth())
    monkeypatch.setattr(auth, "is_loopback", lambda host: False)  # as if the caller came from the network
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{url}/engagement", json={"delivery_id": "d", "customer_id": "u", "event": "opened"})
    assert r.status_code == 403 and "CJO_ENGAGEMENT_SIGNING_KEY" in r.json()["error"]


async def test_https_with_a_certificate_made_here(serve: Serve, tls_files: tuple[str, str]) -> None:
    cert, key = tls_files
    ctx = tls.server_context(Settings(web_tls_cert=cert, web_tls_key=key))
    url = await serve(ApiAuth(parse_tokens(TOKENS)), ssl_context=ctx)
    async with httpx.AsyncClient(verify=tls.client_verify(Settings(web_tls_ca=cert))) as c:
        assert (await c.get(f"{url}/health")).json()["adapter"] == "email"
    async with httpx.AsyncClient() as c:  # the system CAs do not know a self-signed certificate
        with pytest.raises(httpx.ConnectError):
            await c.get(f"{url}/health")
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port gets nothing
            await c.get(url.replace("https", "http") + "/health")


def test_unusable_certificates_are_a_configuration_error(tmp_path: Any, tls_files: tuple[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tls_files
    with pytest.raises(tls.TLSConfigError, match="does not exist"):
        tls.server_context(Settings(web_tls_cert=str(tmp_path / "none.pem"), web_tls_key=key))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(tls.TLSConfigError, match="cannot load"):
        tls.server_context(Settings(web_tls_cert=str(tmp_path / "junk.pem"), web_tls_key=key))
    monkeypatch.setenv("CJO_WEB_TLS_CERT", cert)
    with pytest.raises(ValueError, match="go together"):
        Settings.from_env()
