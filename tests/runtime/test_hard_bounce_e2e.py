"""A hard bounce through real processes: the mail server refuses the customer's address with 550, the e-mail
adapter's ``bounced`` receipt names it by digest, the worker remembers it, and the next mail to that address is
skipped ``undeliverable``; once the customer gives a new address, mail goes again (README, "Hard bounces")."""

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

from tests.adapters.conftest import smtp_server
from tests.runtime.conftest import ROOT, collect, event_line, keyed, produce, settings_for

pytestmark = pytest.mark.broker

JOURNEY = """journey: promo
re_entry: always
entry: {event: promo}
steps:
  - id: mail
    send: {channel: email, content: {subject: "Deal {{ event.properties.n }}", body: x}}
"""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_a_refused_address_is_not_mailed_again_until_it_changes(
        spawn: Any, worker_env: dict[str, str], tmp_path: Path) -> None:
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "journeys" / "promo.yaml").write_text(JOURNEY)
    w = spawn(CJO_TOPOLOGIES=str(topo))
    s = settings_for(worker_env)
    with smtp_server() as smtp:
        smtp.mailbox.refuse = {"ann@example.com": "550 5.1.1 <ann@example.com>: user unknown"}
        env = {**worker_env, "CJO_TOPOLOGIES": str(topo), "CJO_SMTP_HOST": "127.0.0.1",
               "CJO_SMTP_PORT": str(smtp.port), "CJO_SMTP_SECURITY": "none", "CJO_EMAIL_FROM": "Acme <shop@example.com>",
               "CJO_EMAIL_LIST_UNSUBSCRIBE_URL": "https://shop.example/unsub?d={delivery_id}",
               "CJO_ADAPTER_SESSION_TIMEOUT": "1s", "PYTHONUNBUFFERED": "1"}
        log = open(tmp_path / "adapter.log", "wb")  # noqa: SIM115
        adapter = subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", "adapter", "--channel", "email"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            w.wait_ready()

            def promo(n: int) -> bytes:
                return event_line(messageId=f"p-{n}", type="track", event="promo", userId="ann", timestamp=_now(),
                                  properties={"n": n})

            asyncio.run(produce(s.bootstrap, s.input_topic, keyed([
                event_line(messageId="i-1", type="identify", userId="ann", timestamp=_now(),
                           traits={"email": "ann@example.com"}), promo(1)])))
            # the worker applied the adapter's bounce: the state API says the address is undeliverable
            _until(lambda: _profile(w).get("undeliverable") == {"email": True}, tmp_path, "the bounce applied")
            asyncio.run(produce(s.bootstrap, s.input_topic, keyed([promo(2)])))
            skips = asyncio.run(collect(s.bootstrap, [s.skipped_topic], lambda rs: len(rs) >= 1, 60))
            asyncio.run(produce(s.bootstrap, s.input_topic, keyed([
                event_line(messageId="i-2", type="identify", userId="ann", timestamp=_now(),
                           traits={"email": "ann@new.example"}), promo(3)])))
            _until(lambda: len(smtp.mailbox.messages) >= 1, tmp_path, "the mail to the new address")
        finally:
            os.killpg(adapter.pid, signal.SIGKILL)
            adapter.wait(10)
            log.close()
        assert [(m["To"], m["Subject"]) for _, _, m in smtp.mailbox.messages] == [("ann@new.example", "Deal 3")]
    assert [(k["customer_id"], k["reason"]) for k in map(msgspec.json.decode, (r.value for r in skips))] == [
        ("ann", "undeliverable")]
    assert _profile(w)["undeliverable"] == {}  # the new address is fine


def _profile(w: Any) -> dict[str, Any]:
    r = httpx.get(f"{w.url}/customers/ann", timeout=5.0)
    return r.json()["profile"] if r.status_code == 200 else {}  # type: ignore[no-any-return]


def _until(cond: Any, tmp_path: Path, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"no {what}; adapter log:\n{(tmp_path / 'adapter.log').read_text()[-3000:]}"
        time.sleep(0.2)
