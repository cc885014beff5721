"""Secrets never reach a log or /health: an end-to-end run through real processes (worker, email adapter
against an aiosmtpd server with login, Slack adapter against a loopback receiver whose URL is the
credential) with every secret configured, debug logging on, and then every log grepped for them."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.smtp import AuthResult, LoginPassword

from cjo_stream.kafka.local_broker import free_port
from tests.adapters.conftest import smtp_server
from tests.runtime.conftest import ROOT, event_line, keyed, produce


def forms(secret: str) -> list[str]:
    """The secret and its base64 forms at any alignment (SMTP AUTH sends credentials base64-encoded)."""
    out = [secret]
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + secret.encode()).decode()
        out.append(enc[4:-4])  # the part that depends only on the secret's own bytes
    return out


class Hook(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.received.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def test_no_secret_is_logged_or_shown(spawn: Any, worker_env: dict[str, str], tmp_path: Path) -> None:
    smtp_password = "smtp-" + secrets.token_hex(12)
    signing_key = "sign-" + secrets.token_hex(12)
    slack_path = "/services/T0/B0/" + secrets.token_hex(12)
    api_secret = "api-" + secrets.token_hex(12)
    wrong_token = "guess-" + secrets.token_hex(12)
    audit_key = "audit-" + secrets.token_hex(12)
    (tmp_path / "smtp-password").write_text(smtp_password + "\n")
    (tmp_path / "audit-key").write_text(audit_key)
    (tmp_path / "tokens").write_text(f"ops:read,erase,metrics:{api_secret}\n")
    all_secrets = [smtp_password, signing_key, slack_path.rsplit("/", 1)[1], api_secret, wrong_token, audit_key]

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == smtp_password.encode()
        return AuthResult(success=ok, handled=False)

    common = {"CJO_API_TOKENS_FILE": str(tmp_path / "tokens"), "CJO_LOG_LEVEL": "DEBUG",
              "CJO_AUDIT_KEY_FILE": str(tmp_path / "audit-key")}
    w = spawn(CJO_TOPOLOGIES=os.path.join(ROOT, "tests", "runtime", "topologies_mail"), **common)
    adapters: list[tuple[subprocess.Popen[bytes], int]] = []
    with smtp_server(authenticator=authenticator, auth_require_tls=False) as smtp:
        base = {**worker_env, **common, "CJO_ADAPTER_SESSION_TIMEOUT": "1s", "PYTHONUNBUFFERED": "1",
                "CJO_ENGAGEMENT_SIGNING_KEY": signing_key}
        configs = {
            "email": {"CJO_SMTP_HOST": "127.0.0.1", "CJO_SMTP_PORT": str(smtp.port), "CJO_SMTP_SECURITY": "none",
                      "CJO_SMTP_USERNAME": "mailer", "CJO_SMTP_PASSWORD_FILE": str(tmp_path / "smtp-password"),
                      "CJO_EMAIL_FROM": "Acme <shop@example.com>"},
            "slack": {"CJO_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_port}{slack_path}"},
        }
        try:
            for channel, extra in configs.items():
                port = free_port()
                log = open(tmp_path / f"adapter-{channel}.log", "wb")  # noqa: SIM115
                adapters.append((subprocess.Popen(
                    [sys.executable, "-m", "cjo_stream.cli", "adapter", "--channel", channel, "--web-port", str(port)],
                    cwd=ROOT, env={**base, **extra}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
                    port))
            w.wait_ready()
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            lines = [event_line(messageId="i-1", type="identify", userId="ann", timestamp=now,
                                traits={"email": "ann@example.com", "first_name": "Ann"}),
                     event_line(messageId="o-1", type="track", event="order_completed", userId="ann", timestamp=now,
                                properties={"order_id": "A-1001"})]
            asyncio.run(produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lines)))
            deadline = time.monotonic() + 90
            while not Hook.received and time.monotonic() < deadline:
                time.sleep(0.3)
            assert Hook.received == [slack_path], (tmp_path / "adapter-slack.log").read_text()
            assert len(smtp.mailbox.messages) == 1
            shown: list[str] = []
            with httpx.Client(timeout=5) as c:
                for _, port in adapters:
                    shown.append(c.get(f"http://127.0.0.1:{port}/health").text)
                    shown.append(c.get(f"http://127.0.0.1:{port}/metrics").text)
                shown.append(c.get(f"{w.url}/health").text)
                shown.append(c.get(f"{w.url}/metrics").text)
                assert c.get(f"{w.url}/customers/ann", headers={"Authorization": f"Bearer {wrong_token}"}
                             ).status_code == 401
                r = c.get(f"{w.url}/customers/ann", headers={"Authorization": f"Bearer {api_secret}"})
                assert r.status_code == 200
                assert c.delete(f"{w.url}/customers/ann", headers={"Authorization": f"Bearer {api_secret}"}
                                ).status_code == 202
        finally:
            for proc, _ in adapters:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            hook.shutdown()
    w.stop()
    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.glob("*.log")}
    assert set(logs) >= {"worker-0.log", "adapter-email.log", "adapter-slack.log"}
    assert "audit erase customer=hmac-sha256:" in logs["worker-0.log"]  # the audit trail is there ...
    assert "DEBUG" in logs["worker-0.log"] and "DEBUG" in logs["adapter-email.log"]  # ... and logs were verbose
    for secret in (form for s in all_secrets for form in forms(s)):
        for name, text in logs.items():
            assert secret not in text, f"{name} shows a secret"
        for page in shown:
            assert secret not in page, "a /health or /metrics page shows a secret"
