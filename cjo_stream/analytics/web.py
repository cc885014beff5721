"""The analytics service's HTTP side: the JSON API and the page, behind the bearer-token check.

=====================================================  ===========  =========================================
``GET /analytics/journeys?since=&until=``               analytics    every journey with its headline numbers
``GET /analytics/journeys/{id}?since=&until=&version=`` analytics    one journey's report (``404`` if unknown)
``GET /analytics/stages?since=&until=``                 analytics    the lifecycle stage flow (moves in the range)
``GET /`` , ``GET /journeys/{id}?range=24h|7d|30d|all``  analytics    the page (refreshes itself every 5 s)
``GET``/``POST /login``                                  open         a form that turns a token into a cookie
``GET /health``                                          open         ``200`` once assigned, ``503`` before and
                                                                     while the broker does not answer (20 s)
``GET /metrics``                                         as workers   Prometheus metrics
=====================================================  ===========  =========================================

``since``/``until`` are RFC 3339 times or epoch seconds and select the hourly cohorts (customers who
*entered* in that range); for the stage flow, the hours in which the moves happened. A browser cannot send a bearer header when it follows a link, so the page
also accepts a sign-in session from an HttpOnly, SameSite=Strict cookie that ``POST /login`` sets after
checking the token (signed, naming the token, never holding its secret: :mod:`.session`); API clients send
``Authorization: Bearer <token>`` as everywhere else.
"""

from __future__ import annotations

import html
import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from cjo_stream import auth, metrics
from cjo_stream.analytics import page, report
from cjo_stream.analytics.fold import STAGES
from cjo_stream.analytics.session import Sessions
from cjo_stream.events import parse_ts

if TYPE_CHECKING:
    from cjo_stream.analytics.service import AnalyticsService

COOKIE = "cjo_analytics"
MAX_BODY = 16 * 1024


def analytics_policy(a: auth.ApiAuth) -> auth.Policy:
    """``/health`` and ``/login`` open, ``/metrics`` as on workers, everything else needs ``analytics``."""
    metrics_scope = "metrics" if a.metrics_auth else auth.OPEN

    def policy(method: str, path: str) -> str:
        if path in ("/health", "/login"):
            return auth.OPEN
        if path == "/metrics":
            return metrics_scope
        return "analytics"

    return policy


def _time(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        seconds = float(raw)
        if math.isfinite(seconds):  # nan/inf were a 500 (converting them to an hour failed)
            return seconds
    except ValueError:
        pass
    try:
        return parse_ts(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f'{{"error": "{name}: an RFC 3339 time or epoch seconds"}}',
                                 content_type="application/json") from None


def _span(request: web.Request) -> tuple[float | None, float | None]:
    """``since`` and ``until``; one after the other is a 400 (it answered zeros, as if nothing happened)."""
    since, until = _time(request, "since"), _time(request, "until")
    if since is not None and until is not None and since > until:
        raise web.HTTPBadRequest(text='{"error": "since is after until"}', content_type="application/json")
    return since, until


def _version(request: web.Request) -> int | None:
    raw = request.query.get("version")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise web.HTTPBadRequest(text='{"error": "version: a positive integer"}', content_type="application/json")
    return int(raw)


def _unknown_version(rep: dict[str, Any]) -> str | None:
    """Why a report is a 404: a version asked for that was never loaded nor seen in the data (it answered
    zeros, as if that version had run and reached nobody); None when it is not."""
    if rep["version"] is None or rep["version"] in rep["versions"]:
        return None
    return f"journey {rep['journey']!r} has no version {rep['version']} (versions: {', '.join(map(str, rep['versions']))})"


def _range(request: web.Request) -> tuple[str, float | None]:
    key = request.query.get("range", "all")
    if key not in page.RANGES:  # (it showed all time for a mistyped range, answering 200)
        raise web.HTTPBadRequest(text=f"range: one of {', '.join(page.RANGES)}", content_type="text/plain")
    span = page.RANGES[key]
    return key, (time.time() - span if span else None)


_LOGIN = ("<h1>Sign in</h1><form method=post action='/login'><p>Paste an API token with the scope "
          "<code>analytics</code>:</p><p><input type=password name=token size=60 autofocus required></p>"
          "<input type=hidden name=next value='{next}'>"
          "<p><button type=submit>Show the journeys</button></p></form>{error}")


def _local(path: str) -> str:
    """Where to go after signing in: a path on this service only (never ``//host``: no open redirect)."""
    ok = path.startswith("/") and not path.startswith(("//", "/\\")) and path.isprintable()
    return path if ok else "/"


def _login_page(error: str = "", status: int = 200, next_path: str = "/") -> web.Response:
    # the page asked for is where signing in leads: a link to a journey landed on the overview
    body = _LOGIN.format(error=f"<p class=warn>{error}</p>" if error else "",
                         next=html.escape(_local(next_path), quote=True))
    return web.Response(text=page.page("cjo-stream analytics: sign in", body, live=False), status=status,
                        content_type="text/html")


def build_app(svc: AnalyticsService, api_auth: auth.ApiAuth | None = None) -> web.Application:
    api_auth = api_auth or auth.ApiAuth()
    secure = svc.s.web_tls_cert != ""

    sessions = Sessions()

    @web.middleware
    async def cookie_token(request: web.Request, handler: Any) -> web.StreamResponse:
        cookie = request.cookies.get(COOKIE)
        if cookie and "Authorization" not in request.headers and api_auth.enabled:
            session = sessions.token_of(cookie, api_auth.tokens)
            if session is not None:
                request[auth.SESSION_KEY] = session
        resp = await handler(request)
        if resp.status == 401 and request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            return _login_page("" if not cookie else "Your sign-in has ended; sign in again.", 401, request.path_qs)
        return resp

    @web.middleware
    async def restoring(request: web.Request, handler: Any) -> web.StreamResponse:
        # before its store is restored the fold is empty: answers would say zero (health, metrics, sign-in go on)
        if not svc.restored and request.path not in ("/health", "/metrics", "/login"):
            return web.json_response({"status": "starting", "reason": "restoring its store"}, status=503)
        return await handler(request)

    def timed(view: str, started: float) -> None:
        metrics.ANALYTICS_REQUEST.labels(view).observe(time.perf_counter() - started)

    async def api_list(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        rows = report.overview(svc.buckets, svc.defs, *_span(request), svc.totals)
        timed("api_list", t0)
        return web.json_response({"journeys": rows})

    async def api_journey(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        jid = request.match_info["id"]
        if not _known(jid):
            return web.json_response({"error": f"unknown journey {jid!r}"}, status=404)
        rep = report.journey_report(svc.buckets, svc.defs, jid, _version(request), *_span(request), svc.totals)
        if (missing := _unknown_version(rep)) is not None:
            return web.json_response({"error": missing}, status=404)
        timed("api_journey", t0)
        return web.json_response(rep)

    async def api_stages(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        flow = report.stage_flow(svc.buckets, svc.stages, *_span(request), svc.totals)
        timed("api_stages", t0)
        return web.json_response(flow)

    def _known(jid: str) -> bool:
        return jid != STAGES and (any(j == jid for j, _ in svc.defs) or any(k[0] == jid for k in svc.buckets))

    def _html(request: web.Request, title: str, body: str) -> web.Response:
        if request.headers.get("X-CJO-Fragment") == "1":
            return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})
        return web.Response(text=page.page(title, body, live=True), content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def page_list(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        key, since = _range(request)
        body = page.overview_html(report.overview(svc.buckets, svc.defs, since, None, svc.totals),
                                  link="journeys/{id}" + (
            f"?range={key}" if key != "all" else ""), range_key=key)
        if report.has_stages(svc.buckets, svc.stages):
            body += page.stages_html(report.stage_flow(svc.buckets, svc.stages, since, None, svc.totals), key)
        timed("page_list", t0)
        return _html(request, "cjo-stream journey analytics", body)

    async def page_journey(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        jid = request.match_info["id"]
        if not _known(jid):
            raise web.HTTPNotFound(text=f"unknown journey {jid!r}")
        key, since = _range(request)
        rep = report.journey_report(svc.buckets, svc.defs, jid, _version(request), since, None, svc.totals)
        if (missing := _unknown_version(rep)) is not None:
            raise web.HTTPNotFound(text=missing)
        body = page.journey_html(rep, svc.defs, key)
        timed("page_journey", t0)
        return _html(request, f"{jid} · cjo-stream journey analytics", body)

    async def login_form(request: web.Request) -> web.Response:
        return _login_page()

    async def login(request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except ValueError:  # a multipart body cut short ('Reading after EOF') was a 500 and a traceback
            return _login_page("That form could not be read; sign in again.", 400)
        token = str(form.get("token", "")).strip()
        nxt = _local(str(form.get("next", "/")))
        status, found = api_auth.check(f"Bearer {token}", "analytics") if api_auth.enabled else (0, None)
        if status:
            metrics.API_AUTH_FAILURES.labels("unauthenticated" if status == 401 else "forbidden").inc()
            return _login_page("That token is unknown or lacks the scope analytics.", status, nxt)
        resp = web.HTTPSeeOther(nxt)
        if found is not None:  # the cookie names the token and is signed: it never holds the secret (session.py)
            resp.set_cookie(COOKIE, sessions.issue(found), httponly=True, samesite="Strict", secure=secure,
                            max_age=int(sessions.lifetime))
        raise resp

    async def health(request: web.Request) -> web.Response:
        info = svc.health()
        return web.json_response(info, status=200 if info["status"] in ("ok", "degraded") else 503)

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition("analytics"), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[cookie_token, auth.middleware(api_auth, analytics_policy(api_auth)), restoring])
    app.router.add_get("/analytics/journeys", api_list)
    app.router.add_get("/analytics/journeys/{id}", api_journey)
    app.router.add_get("/analytics/stages", api_stages)
    app.router.add_get("/", page_list)
    app.router.add_get("/journeys/{id}", page_journey)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_view)
    return app
