"""End to end through real processes: event → journey → email command → email adapter → SMTP server
(aiosmtpd) → ``sent`` receipt → the journey waiting for ``message_sent`` advances."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import msgspec

from cjo_stream.kafka.local_broker import LocalBroker
from tests.adapters.conftest import smtp_server
from tests.runtime.conftest import ROOT, collect, event_line, keyed, produce, settings_for


def test_email_receipt_advances_the_journey(broker: LocalBroker, spawn: Any, worker_env: dict[str, str],
                                            tmp_path: Any) -> None:
    import asyncio

    topo = os.path.join(ROOT, "tests", "runtime", "topologies_mail")
    w = spawn(CJO_TOPOLOGIES=topo)
    s = settings_for(worker_env)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [
        event_line(messageId="i-1", type="identify", userId="ann", timestamp=now,
                   traits={"email": "ann@example.com", "first_name": "Ann"}),
        event_line(messageId="o-1", type="track", event="order_completed", userId="ann", timestamp=now,
                   properties={"order_id": "A-1001"}),
    ]
    with smtp_server() as smtp:
        env = {**worker_env, "CJO_SMTP_HOST": "127.0.0.1", "CJO_SMTP_PORT": str(smtp.port),
               "CJO_SMTP_SECURITY": "none", "CJO_EMAIL_FROM": "Acme <shop@example.com>",
               "CJO_ADAPTER_SESSION_TIMEOUT": "1s", "PYTHONUNBUFFERED": "1"}
        log = open(tmp_path / "adapter.log", "wb")  # noqa: SIM115
        adapter = subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", "adapter", "--channel", "email",
                                    "--web-port", "-1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            w.wait_ready()
            asyncio.run(produce(s.bootstrap, s.input_topic, keyed(lines)))
            slack = asyncio.run(collect(s.bootstrap, [s.delivery_topic("slack")], lambda r: len(r) >= 1, 90))
            assert slack, f"no follow-up after the email receipt; adapter log:\n{open(tmp_path / 'adapter.log').read()}"
        finally:
            os.killpg(adapter.pid, signal.SIGKILL)
            adapter.wait(10)
            log.close()
        # the mail server received exactly one message, rendered at decision time
        assert len(smtp.mailbox.messages) == 1
        _, rcpts, msg = smtp.mailbox.messages[0]
        assert rcpts == ["ann@example.com"]
        assert msg["Subject"] == "Order A-1001 confirmed"
        body = msg.get_body(("plain",))
        assert body is not None and "Hi Ann, thanks for your order." in body.get_content()
    emails = asyncio.run(collect(s.bootstrap, [s.delivery_topic("email")], lambda r: len(r) >= 1, 10))
    email_cmd = msgspec.json.decode(emails[0].value)
    receipts = asyncio.run(collect(s.bootstrap, [s.receipts_topic], lambda r: len(r) >= 1, 10))
    receipt = msgspec.json.decode(receipts[0].value)
    assert receipt["status"] == "sent" and receipt["delivery_id"] == email_cmd["delivery_id"]
    assert email_cmd["delivery_id"] in msg["Message-ID"]
    followup = msgspec.json.decode(slack[0].value)
    assert followup["journey"] == "order_confirmation" and followup["step"] == "notify"
    assert followup["triggered_by"] == f"receipt:{email_cmd['delivery_id']}:sent"
