"""Subscription topics through real processes: a newsletter mail's unsubscribe link names its topic; the customer
leaves by the provider's own link, whose webhook names only the message's id, and the adapter finds the topic in its
sent-record; the worker then holds the next newsletter back while the order mail to the same address still goes
out (README, "Subscription topics")."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from cjo_stream.kafka.local_broker import free_port
from tests.adapters.conftest import smtp_server
from tests.runtime.conftest import ROOT, collect, event_line, keyed, produce, settings_for

pytestmark = pytest.mark.broker

JOURNEY = """journey: {jid}
re_entry: always
entry: {{event: {trigger}}}
steps:
  - id: mail
    send: {{channel: email, {topic}content: {{subject: "{subject}", body: x}}}}
"""


def _topology(root: Path) -> str:
    (root / "journeys").mkdir(parents=True)
    (root / "policies.yaml").write_text("topics: {newsletter: opt_out}\n")
    (root / "journeys" / "news.yaml").write_text(
        JOURNEY.format(jid="news", trigger="digest_ready", topic="topic: newsletter, ", subject="News"))
    (root / "journeys" / "order.yaml").write_text(
        JOURNEY.format(jid="order", trigger="order_shipped", topic="", subject="Shipped"))
    return str(root)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_an_unsubscribe_link_of_a_newsletter_stops_the_newsletter_not_the_order_mail(
        spawn: Any, worker_env: dict[str, str], tmp_path: Path) -> None:
    topo = _topology(tmp_path / "topo")
    w = spawn(CJO_TOPOLOGIES=topo)
    s = settings_for(worker_env)
    port = free_port()
    with smtp_server() as smtp:
        env = {**worker_env, "CJO_TOPOLOGIES": topo, "CJO_SMTP_HOST": "127.0.0.1", "CJO_SMTP_PORT": str(smtp.port),
               "CJO_SMTP_SECURITY": "none", "CJO_EMAIL_FROM": "Acme <shop@example.com>",
               "CJO_EMAIL_LIST_UNSUBSCRIBE_URL": "https://shop.example/unsub?d={delivery_id}&t={topic}",
               "CJO_ADAPTER_SESSION_TIMEOUT": "1s", "PYTHONUNBUFFERED": "1"}
        log = open(tmp_path / "adapter.log", "wb")  # noqa: SIM115
        adapter = subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", "adapter", "--channel", "email",
                                    "--web-port", str(port)], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            w.wait_ready()
            asyncio.run(produce(s.bootstrap, s.input_topic, keyed([
                event_line(messageId="i-1", type="identify", userId="ann", timestamp=_now(),
                           traits={"email": "ann@example.com"}),
                event_line(messageId="d-1", type="track", event="digest_ready", userId="ann", timestamp=_now())])))
            _until(lambda: len(smtp.mailbox.messages) >= 1, tmp_path, "the first newsletter")
            _, _, news = smtp.mailbox.messages[0]
            link = news["List-Unsubscribe"].split(",")[0].strip("<> ")
            assert link.endswith("&t=newsletter"), link
            # the customer left by the provider's own link instead: its webhook names the message by the Message-ID
            # alone (SendGrid's smtp-id), no topic; the adapter's sent-record knows the send's (it withdrew e-mail)
            r = httpx.post(f"http://127.0.0.1:{port}/engagement", json={
                "provider_message_id": news["Message-ID"], "event": "unsubscribed"})
            assert r.status_code == 202, r.text
            told = asyncio.run(collect(s.bootstrap, [s.consent_changes_topic], lambda rs: len(rs) >= 1, 60))
            assert msgspec.json.decode(told[0].value)["topics"] == ["newsletter"]
            asyncio.run(produce(s.bootstrap, s.input_topic, keyed([
                event_line(messageId="d-2", type="track", event="digest_ready", userId="ann", timestamp=_now()),
                event_line(messageId="o-1", type="track", event="order_shipped", userId="ann", timestamp=_now())])))
            _until(lambda: len(smtp.mailbox.messages) >= 2, tmp_path, "the order mail")
            skips = asyncio.run(collect(s.bootstrap, [s.skipped_topic], lambda rs: len(rs) >= 1, 30))
        finally:
            os.killpg(adapter.pid, signal.SIGKILL)
            adapter.wait(10)
            log.close()
        time.sleep(1.0)  # a second newsletter, had it been sent, would be in by now
        assert [m["Subject"] for _, _, m in smtp.mailbox.messages] == ["News", "Shipped"]
    assert [(k["journey"], k["reason"]) for k in map(msgspec.json.decode, (r.value for r in skips))] == [
        ("news", "no_consent")]


def _until(cond: Any, tmp_path: Path, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"no {what}; adapter log:\n{(tmp_path / 'adapter.log').read_text()[-3000:]}"
        time.sleep(0.1)
