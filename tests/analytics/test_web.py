"""The analytics HTTP side without a broker: tokens and scopes, the login cookie, parameters, fragments."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cjo_stream.analytics.offline import definitions
from cjo_stream.analytics.session import Sessions
from cjo_stream.analytics.web import COOKIE, build_app
from cjo_stream.auth import ApiAuth, parse_tokens
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from tests.analytics.test_fold import SIM, TOPO

TOKEN = "analyst-secret-0123456789abcdef"
READER = "reader-secret-0123456789abcdef0"


async def served() -> tuple[TestClient, ApiAuth]:
    """The app over the simulated analytics, with an analyst's and a reader's token; started."""
    svc = SimpleNamespace(buckets=SIM.analytics.buckets, totals=SIM.analytics.totals,
                          defs=definitions(TOPO.journeys), s=Settings(), health=lambda: {"status": "ok"},
                          stages=TOPO.stages.names, restored=True)
    auth = ApiAuth(parse_tokens(f"analyst:analytics:{TOKEN} reader:read:{READER}"))
    c = TestClient(TestServer(build_app(svc, auth)))  # type: ignore[arg-type]
    await c.start_server()
    return c, auth


@pytest.fixture
async def client() -> Any:
    c, _ = await served()
    yield c
    await c.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_needs_the_analytics_scope(client: TestClient) -> None:
    assert (await client.get("/analytics/journeys")).status == 401
    assert (await client.get("/analytics/journeys", headers=bearer(READER))).status == 403
    r = await client.get("/analytics/journeys", headers=bearer(TOKEN))
    assert r.status == 200
    rows = (await r.json())["journeys"]
    assert {x["journey"] for x in rows} == {j.id for j in TOPO.journeys}
    assert (await client.get("/health")).status == 200  # open for probes
    # a browser without a token gets the sign-in form, not JSON
    r = await client.get("/", headers={"Accept": "text/html"})
    assert r.status == 401 and "name=token" in await r.text()


async def test_login_sets_a_cookie_that_opens_the_page(client: TestClient) -> None:
    r = await client.post("/login", data={"token": READER}, allow_redirects=False)
    assert r.status == 403 and COOKIE not in r.cookies
    r = await client.post("/login", data={"token": "nope-nope-nope-nope"}, allow_redirects=False)
    assert r.status == 401
    r = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/"
    morsel = r.cookies[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict"
    assert TOKEN not in morsel.value and morsel.value.startswith("analyst.")  # the secret is not the cookie
    page = await client.get("/", headers={"Accept": "text/html"})  # the client keeps the cookie
    text = await page.text()
    assert page.status == 200 and "<table id=journeys>" in text and "<script>" in text
    frag = await client.get("/journeys/post_purchase", headers={"X-CJO-Fragment": "1"})
    body = await frag.text()
    assert frag.status == 200 and body.startswith("<h1") and "<html" not in body and "<svg" in body


async def test_the_cookie_is_a_signed_session_not_the_secret() -> None:
    """The cookie was the bearer secret itself (a security review): whoever read it held an API token. It is
    now a session naming the token, signed with a key of this process, ending at its expiry or when the
    token is revoked; a raw token, a forged or altered cookie open nothing."""
    c, auth = await served()
    try:
        r = await c.post("/login", data={"token": TOKEN}, allow_redirects=False)
        session = r.cookies[COOKIE].value
        c.session.cookie_jar.clear()
        html = {"Accept": "text/html"}

        async def opens(cookie: str) -> bool:
            got = await c.get("/analytics/journeys", headers={"Cookie": f"{COOKIE}={cookie}"})
            return got.status == 200

        assert await opens(session)
        name, expiry, mac = session.split(".")
        assert not await opens(TOKEN)  # the old cookie's form: the secret
        assert not await opens(f"reader.{expiry}.{mac}")  # another token's name
        assert not await opens(f"{name}.{int(expiry) + 3600}.{mac}")  # a later expiry
        assert not await opens(f"{name}.{expiry}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}")  # an altered MAC
        other = Sessions().issue(auth.tokens[0])  # signed with another process's key (a restart)
        assert not await opens(other)
        page = await c.get("/", headers={**html, "Cookie": f"{COOKIE}={other}"})
        assert page.status == 401 and "sign in again" in await page.text()
        # revoked: the token is gone from the configuration, its sessions end with it
        auth._tokens = parse_tokens(f"reader:read:{READER}")
        assert not await opens(session)
    finally:
        await c.close()


def test_a_session_ends_at_its_expiry() -> None:
    (token,) = parse_tokens(f"analyst:analytics:{TOKEN}")
    sessions = Sessions(lifetime=60)
    cookie = sessions.issue(token, now=1000.0)
    assert sessions.token_of(cookie, [token], now=1059.0) is token
    assert sessions.token_of(cookie, [token], now=1061.0) is None
    (rotated,) = parse_tokens(f"analyst:analytics:{TOKEN}-rotated")  # same name, new secret
    assert sessions.token_of(cookie, [rotated], now=1059.0) is None
    assert sessions.token_of("garbage", [token]) is None and sessions.token_of("a.b.c.d", [token]) is None


async def test_signing_in_leads_to_the_page_asked_for(client: TestClient) -> None:
    """A link to a journey, opened without the cookie, landed on the overview after signing in."""
    r = await client.get("/journeys/welcome?range=7d", headers={"Accept": "text/html"})
    assert r.status == 401 and "name=next value='/journeys/welcome?range=7d'" in await r.text()
    r = await client.post("/login", data={"token": "nope-nope-nope-nope", "next": "/journeys/welcome?range=7d"})
    assert r.status == 401 and "name=next value='/journeys/welcome?range=7d'" in await r.text()  # kept on retry
    r = await client.post("/login", data={"token": TOKEN, "next": "/journeys/welcome?range=7d"},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/journeys/welcome?range=7d"
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/a\r\nSet-Cookie: x=1"):
        r = await client.post("/login", data={"token": TOKEN, "next": elsewhere}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/", elsewhere


async def test_parameters_and_unknown_journeys(client: TestClient) -> None:
    h = bearer(TOKEN)
    assert (await client.get("/analytics/journeys/nope", headers=h)).status == 404
    assert (await client.get("/journeys/nope", headers=h)).status == 404
    assert (await client.get("/analytics/journeys?since=yesterday", headers=h)).status == 400
    for path in ("/analytics/journeys", "/analytics/journeys/welcome", "/analytics/stages"):  # it answered zeros
        r = await client.get(f"{path}?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", headers=h)
        assert r.status == 400 and await r.json() == {"error": "since is after until"}, path
    assert (await client.get("/analytics/journeys/welcome?version=x", headers=h)).status == 400
    full = await (await client.get("/analytics/journeys/welcome", headers=h)).json()
    v1 = await (await client.get("/analytics/journeys/welcome?version=1", headers=h)).json()
    assert full["totals"] == v1["totals"] and full["versions"] == [1]
    # a version never loaded nor seen: 404 naming the versions there are (it answered zeros, as if it ran)
    v2 = await client.get("/analytics/journeys/welcome?version=2", headers=h)
    assert v2.status == 404 and (await v2.json())["error"] == "journey 'welcome' has no version 2 (versions: 1)"
    assert (await client.get("/journeys/welcome?version=2", headers=h)).status == 404
    assert (await client.get("/journeys/welcome?version=1", headers=h)).status == 200
    hours = sorted(h for j, _, h in SIM.analytics.buckets if j == "welcome")
    mid = hours[len(hours) // 2] * 3600
    early = await (await client.get(f"/analytics/journeys/welcome?until={mid}", headers=h)).json()
    late = await (await client.get(f"/analytics/journeys/welcome?since={format_ts(mid)}", headers=h)).json()
    assert early["totals"]["entered"] + late["totals"]["entered"] == full["totals"]["entered"]
    assert 0 < early["totals"]["entered"] < full["totals"]["entered"]
    # the stage flow: its own endpoint, moves selected by the hour they happened in; not a journey
    flow = await (await client.get("/analytics/stages", headers=h)).json()
    assert [r["stage"] for r in flow["stages"]] == list(TOPO.stages.names)
    assert {r["stage"]: r["net"] for r in flow["stages"]} == SIM.stage_counts()
    early = await (await client.get(f"/analytics/stages?until={mid}", headers=h)).json()
    late = await (await client.get(f"/analytics/stages?since={format_ts(mid)}", headers=h)).json()
    assert early["new_customers"] + late["new_customers"] == flow["new_customers"] and late["new_customers"] > 0
    assert (await client.get("/analytics/stages?since=soon", headers=h)).status == 400
    assert (await client.get("/analytics/journeys/@stages", headers=h)).status == 404
    # NaN and infinite times were a 500 with a ValueError/OverflowError traceback in the service's log
    for query in ("journeys?since=nan", "journeys?since=inf", "journeys/welcome?until=-inf", "stages?since=1e400",
                  "journeys/welcome?since=nan&until=nan"):
        r = await client.get(f"/analytics/{query}", headers=h)
        assert r.status == 400 and "epoch seconds" in await r.text(), query
    # a digit that is not ASCII ('\u0661', Arabic-Indic one) was read as version 1
    assert (await client.get("/analytics/journeys/welcome?version=%D9%A1", headers=h)).status == 400
    page = await (await client.get("/", headers=h)).text()
    assert "<table id=stages>" in page and "<table id=stage-moves>" in page


def test_delivery_rows_are_pruned_after_the_receipt_window() -> None:
    """Every send keeps a row for joining its receipts; past the window the service deletes it (and the
    receipts still waiting for a delivery nobody sent), with tombstones for its changelog."""
    from cjo_stream.analytics import state
    from cjo_stream.analytics.fold import RECEIPT_WINDOW, Analytics
    from cjo_stream.analytics.records import JourneyEvent
    from cjo_stream.analytics.service import AnalyticsService
    from cjo_stream.kv import MemoryKV

    svc = AnalyticsService(Settings(store="memory"), TOPO)
    kv = MemoryKV()
    svc._kv, svc._rows = kv, state.RowCache(kv)
    svc.fold = Analytics(svc._rows)
    base = {"journey": "j", "version": 1, "instance": "i1", "customer_id": "c1"}
    svc.fold.apply_all([JourneyEvent(kind="entered", at=1000.0, **base),  # type: ignore[arg-type]
                        JourneyEvent(kind="sent", at=1000.0, step="s", channel="email", delivery_id="d1", **base),  # type: ignore[arg-type]
                        JourneyEvent(kind="receipt", at=1000.0, delivery_id="nobody", status="opened", **base)])  # type: ignore[arg-type]
    svc.apply({})
    assert kv.get(b"d:d1") is not None and kv.get(b"r:nobody") is not None
    assert svc.prune() == 0
    later = {**base, "instance": "i2"}
    svc.fold.apply(JourneyEvent(kind="entered", at=1000.0 + RECEIPT_WINDOW + 1, **later))  # type: ignore[arg-type]
    svc.apply({})
    assert svc.prune() == 2
    assert kv.get(b"d:d1") is None and kv.get(b"r:nobody") is None
    assert svc._pending[b"d:d1"] is None and svc._pending[b"r:nobody"] is None  # tombstones for the changelog


async def test_a_malformed_login_form_is_400_not_500(client: TestClient) -> None:
    """A multipart body cut short before its closing boundary was a 500 with a traceback in the log."""
    body = b'--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nabc'
    r = await client.post("/login", data=body, headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status == 400 and "Sign in" in await r.text()
    r = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)  # a good form still signs in
    assert r.status == 303


async def test_a_mistyped_range_is_refused(client: TestClient) -> None:
    """`?range=bogus` showed all time, 200, as if the range had been understood."""
    for path in ("/journeys/post_purchase?range=bogus", "/?range=1w"):
        r = await client.get(path, headers=bearer(TOKEN) | {"Accept": "text/html"})
        assert r.status == 400 and "range: one of 24h, 7d, 30d, all" in await r.text(), path
    r = await client.get("/journeys/post_purchase?range=7d", headers=bearer(TOKEN) | {"Accept": "text/html"})
    assert r.status == 200


async def test_while_it_restores_its_store_it_answers_503_starting() -> None:
    """The port refused connections until the store was restored (6-19 s), while the command had printed
    its address and the README says /health answers 503 before it is ready; now the endpoint is up first,
    and answers nothing from the empty fold meanwhile."""
    from cjo_stream.analytics.service import AnalyticsService

    svc = AnalyticsService(Settings(store="memory"), TOPO)  # not started
    auth = ApiAuth(parse_tokens(f"analyst:analytics:{TOKEN}"))
    c = TestClient(TestServer(build_app(svc, auth)))
    await c.start_server()
    try:
        r = await c.get("/health")
        assert r.status == 503 and (await r.json())["status"] == "starting"
        r = await c.get("/analytics/journeys", headers=bearer(TOKEN))
        assert r.status == 503 and (await r.json()) == {"status": "starting", "reason": "restoring its store"}
        assert (await c.get("/analytics/journeys")).status == 401  # who may ask is checked first
        assert (await c.get("/metrics")).status == 200
        svc.restored = True
        assert (await c.get("/analytics/journeys", headers=bearer(TOKEN))).status == 200
    finally:
        await c.close()
