"""A channel of your own (``--channel-class`` / ``CJO_CHANNEL_CLASS``) run by the real ``cjo-stream adapter``
process: it gets what a built-in channel gets, and every mistake is one line and exit 2."""

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

from cjo_stream.adapters.base import utc_now_iso
from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import free_port
from tests.adapters.conftest import Answer, Receiver, command, env_without_cjo, produce_commands, read_topic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = str(Path(sys.executable).parent / "cjo-stream")
CLASS = "tests.adapters.own_channel:WhatsApp"
CHANNEL = "myco_whatsapp"


def adapter(*args: str, env: dict[str, str], cwd: str | Path = ROOT) -> subprocess.Popen[str]:
    """``cjo-stream adapter`` as installed (not ``python -m``, which would put the working directory on the path)."""
    return subprocess.Popen([CLI, "adapter", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def stop(p: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    return p.returncode, err


async def wait_health(port: int, p: subprocess.Popen[str], ok: Any, timeout: float = 60) -> dict[str, Any]:
    """The adapter's ``/health`` once ``ok(body)``; waits without blocking the loop the receiver answers on."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            assert p.poll() is None, p.communicate()[1][-3000:]
            try:
                body = (await client.get(f"http://127.0.0.1:{port}/health")).json()
            except httpx.HTTPError:
                body = {}
            if body and ok(body):
                return body
            await asyncio.sleep(0.2)
    raise AssertionError(f"/health not as expected after {timeout}s: {body}")


async def test_an_own_channel_gets_the_sent_record_retries_rate_limit_expiry_dlq_and_endpoint(
        settings: Settings, receiver: Receiver) -> None:
    receiver.key_header = "Idempotency-Key"
    ok = command(channel=CHANNEL, customer_id="u1", to="+4915100000", content={"body": "Hi Ada"})
    flaky = command(channel=CHANNEL, customer_id="u2", to="+4915100001", content={"body": "Hi Bo"})
    refused = command(channel=CHANNEL, customer_id="u3", to="+4915100002", content={"body": "Hi Cy"})
    old = command(channel=CHANNEL, customer_id="u4", to="+4915100003", decided_at=utc_now_iso(time.time() - 7200))
    receiver.script(ok.delivery_id, Answer(200, json={"id": "wamid.1"}))
    receiver.script(flaky.delivery_id, Answer(503), Answer(200, json={"id": "wamid.2"}))
    receiver.script(refused.delivery_id, *[Answer(400, json={"error": "not on WhatsApp"})] * 2)
    port = free_port()
    env = {**env_without_cjo(), "CJO_BROKER": settings.bootstrap, "CJO_PARTITIONS": "2",
           "CJO_ADAPTER_SESSION_TIMEOUT": "1s", "MYCO_WA_URL": f"{receiver.url}/v1/messages",
           "CJO_RETRY_BASE_DELAY": "10ms", "CJO_RETRY_MAX_DELAY": "50ms", "CJO_RETRY_MAX_ATTEMPTS": "3",
           "CJO_RATE_MYCO_WHATSAPP": "5/s", "CJO_RATE_MYCO_WHATSAPP_BURST": "1", "CJO_EXPIRY_MYCO_WHATSAPP": "1h"}
    await produce_commands(settings, [ok, flaky, refused, old, ok])  # ok twice: sent once
    p = adapter("--channel", CHANNEL, "--channel-class", CLASS, "--web-port", str(port), env=env)
    try:
        health = await wait_health(port, p, lambda h: sum(h.get("outcomes", {}).values()) >= 6)
        assert health["status"] == "ok" and health["adapter"] == CHANNEL
        assert health["topics"] == ["cjo.delivery.myco_whatsapp"] and health["group"] == "cjo-adapter-myco_whatsapp"
        # a provider's callback without a channel is about this adapter's channel (not e-mail's consent)
        r = httpx.post(f"http://127.0.0.1:{port}/engagement", timeout=5,
                       json={"delivery_id": ok.delivery_id, "customer_id": "u1", "event": "unsubscribed"})
        assert r.status_code == 202, r.text
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        code, err = stop(p)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    assert code == 0 and "Traceback" not in err, err
    assert health["outcomes"] == {"sent": 2, "failed": 1, "expired": 1, "duplicate": 1, "dead_lettered": 1}, err[-3000:]
    receipts = await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 5)
    got = [msgspec.json.decode(r.value) for r in receipts]
    assert {g["channel"] for g in got} == {CHANNEL}
    by = {(g["delivery_id"], g["status"]): g for g in got}
    assert by[(ok.delivery_id, "sent")]["provider_message_id"] == "wamid.1"
    assert by[(flaky.delivery_id, "sent")]["attributes"] == {"attempts": 2}  # the 503 retried (CJO_RETRY_*)
    assert by[(refused.delivery_id, "failed")]["reason"] == "HTTP 400"
    assert by[(old.delivery_id, "expired")]["reason"] == "expired before sending"  # CJO_EXPIRY_MYCO_WHATSAPP
    assert (ok.delivery_id, "unsubscribed") in by
    [dead] = await read_topic(settings.bootstrap, "cjo.delivery.myco_whatsapp.dlq", lambda rs: len(rs) >= 1)
    assert dict(dead.headers)["cjo.reason"] == b"permanent_failure" and dead.value == msgspec.json.encode(refused)
    # the provider saw each command once (503 and its retry aside), the expired one never, each request what the
    # class makes of the command; CJO_RATE_MYCO_WHATSAPP spaced the 4 requests by at least 0.2 s (0.6 s in all;
    # the bound is half that: the receiver stamps arrival, and a busy machine late with the first shrinks the span)
    seen = receiver.seen("/v1/messages")
    assert sorted(s.headers["Idempotency-Key"] for s in seen) == sorted(
        [ok.delivery_id, flaky.delivery_id, flaky.delivery_id, refused.delivery_id])
    assert msgspec.json.decode(seen[0].body) in ({"to": c.to, "text": c.content["body"]} for c in (ok, flaky, refused))
    assert seen[-1].at - seen[0].at >= 0.3
    assert 'cjo_adapter_rate_limit_wait_seconds_total{channel="myco_whatsapp"}' in metrics
    assert 'cjo_adapter_retries_total{channel="myco_whatsapp"} 1.0' in metrics
    assert 'cjo_delivery_outcomes_total{channel="myco_whatsapp",status="sent"} 2.0' in metrics

    # the sent-record: another consumer group reading the topic again from offset 0 sends nothing twice
    before = len(receiver.seen())
    replay = adapter("--channel", CHANNEL, "--channel-class", CLASS, "--web-port", str(port), "--group", "replay",
                     env=env)
    try:
        again = await wait_health(port, replay, lambda h: sum(h.get("outcomes", {}).values()) >= 6)
    finally:
        code, err = stop(replay)
    assert code == 0, err
    assert again["outcomes"] == {"duplicate": 3, "failed": 1, "expired": 1, "dead_lettered": 1}
    assert [s.headers["Idempotency-Key"] for s in receiver.seen()[before:]] == [refused.delivery_id]  # failed: no record


# ------------------------------------------------------------------------------ mistakes: one line, exit 2

MODULES = {
    "syntax_error.py": "def broken(:\n",
    "imports_missing.py": "import myco_sdk_not_installed\n",
    "shapes.py": """\
from cjo_stream.adapters.base import BaseChannel

answer = 42


class NoDeliver(BaseChannel):
    pass


class Plain:
    async def deliver(self, cmd): ...


class NeedsToken(BaseChannel):
    def __init__(self, token):
        self.token = token

    async def deliver(self, cmd): ...


class Raises(BaseChannel):
    def __init__(self):
        raise RuntimeError("the vendor SDK wants a licence file\\nsecond line")

    async def deliver(self, cmd): ...


class Unreachable(BaseChannel):
    async def start(self):
        raise ConnectionRefusedError("cannot reach wa.myco.internal:443")

    async def deliver(self, cmd): ...


class TokenRefused(BaseChannel):
    async def start(self):
        from cjo_stream.adapters.config import ConfigError
        raise ConfigError("MYCO_WA_TOKEN was refused by the API (401): set a valid one")

    async def deliver(self, cmd): ...
""",
}


@pytest.mark.parametrize(("args", "extra", "message"), [
    (["--channel", "myco_whatsapp"], {},
     "error: unknown channel 'myco_whatsapp': use one of console, crm, email, in_app, push, slack, sms, webhook, or "
     "deliver a channel of your own with --channel-class module:Class (or CJO_CHANNEL_CLASS)"),
    (["--channel", "emial"], {},
     "error: unknown channel 'emial' (did you mean 'email'?): use one of console, crm, email, in_app, push, slack, "
     "sms, webhook, or deliver a channel of your own with --channel-class module:Class (or CJO_CHANNEL_CLASS)"),
    (["--channel", "sms", "--channel-class", CLASS], {},
     "error: --channel sms is a built-in channel, and --channel-class names a class for it: give your channel a "
     "name of its own (e.g. myco_whatsapp), declared under channels: in policies.yaml"),
    (["--channel", "console"], {"CJO_CHANNEL_CLASS": CLASS},
     "error: --channel console is a built-in channel, and CJO_CHANNEL_CLASS names a class for it: give your channel "
     "a name of its own (e.g. myco_whatsapp), declared under channels: in policies.yaml, or unset CJO_CHANNEL_CLASS"),
    (["--channel", CHANNEL, "--channel-class", "tests.adapters.own_channel"], {},
     "error: --channel-class='tests.adapters.own_channel': use module:Class, e.g. myco_channels:WhatsApp"),
    (["--channel", CHANNEL, "--channel-class", "myco.channels:WhatsApp"], {},
     "error: --channel-class='myco.channels:WhatsApp': no module 'myco.channels' in the working directory or on "
     "PYTHONPATH"),
    (["--channel", CHANNEL], {"CJO_CHANNEL_CLASS": "syntax_error:W"},
     "error: CJO_CHANNEL_CLASS='syntax_error:W': importing syntax_error failed: SyntaxError: invalid syntax "
     "(syntax_error.py, line 1)"),
    (["--channel", CHANNEL, "--channel-class", "imports_missing:W"], {},
     "error: --channel-class='imports_missing:W': importing imports_missing failed: ModuleNotFoundError: No module "
     "named 'myco_sdk_not_installed'"),
    (["--channel", CHANNEL, "--channel-class", "shapes:WhatsApp"], {},
     "error: --channel-class='shapes:WhatsApp': shapes has no 'WhatsApp' (its classes: NeedsToken, NoDeliver, "
     "Plain, Raises, TokenRefused, Unreachable)"),
    # a file named instead of its module: told as "no module 'shapes.py'", or a relative import's TypeError
    (["--channel", CHANNEL, "--channel-class", "./shapes.py:Plain"], {},
     "error: --channel-class='./shapes.py:Plain' is a file path: name its module instead, --channel-class "
     "shapes:Plain (modules are found in the working directory)"),
    (["--channel", CHANNEL], {"CJO_CHANNEL_CLASS": "/srv/myco/myco_channels.py:WhatsApp"},
     "error: CJO_CHANNEL_CLASS='/srv/myco/myco_channels.py:WhatsApp' is a file path: name its module instead, "
     "CJO_CHANNEL_CLASS=myco_channels:WhatsApp, run from /srv/myco or with PYTHONPATH=/srv/myco"),
    (["--channel", CHANNEL, "--channel-class", "shapes:answer"], {},
     "error: --channel-class='shapes:answer' is not a class (int): name a channel class (a subclass of "
     "cjo_stream.adapters.base.BaseChannel)"),
    (["--channel", CHANNEL, "--channel-class", "shapes:NoDeliver"], {},
     "error: --channel-class='shapes:NoDeliver' is not a channel class: it lacks async deliver (write `async def "
     "deliver(self, cmd)`; subclass cjo_stream.adapters.base.BaseChannel for start and close)"),
    (["--channel", CHANNEL, "--channel-class", "shapes:Plain"], {},
     "error: --channel-class='shapes:Plain' is not a channel class: it lacks async start, close (write `async def "
     "deliver(self, cmd)`; subclass cjo_stream.adapters.base.BaseChannel for start and close)"),
    (["--channel", CHANNEL, "--channel-class", "shapes:NeedsToken"], {},
     "error: --channel-class='shapes:NeedsToken': its __init__ must take no arguments (it reads its own settings, "
     "e.g. from os.environ)"),
    (["--channel", CHANNEL, "--channel-class", "shapes:Raises"], {},
     "error: --channel-class='shapes:Raises': creating it failed: RuntimeError: the vendor SDK wants a licence file"),
    (["--channel", CHANNEL, "--channel-class", CLASS], {"PYTHONPATH": ROOT},
     "error: --channel-class='tests.adapters.own_channel:WhatsApp': MYCO_WA_URL is not set: the messaging API's URL"),
])
def test_mistakes_are_one_line_and_exit_2_before_connecting(tmp_path: Path, args: list[str], extra: dict[str, str],
                                                             message: str) -> None:
    for name, text in MODULES.items():  # found in the working directory, as the docs say
        (tmp_path / name).write_text(text)
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", **extra}
    env.pop("MYCO_WA_URL", None)
    p = adapter(*args, "--web-port", "-1", env=env, cwd=tmp_path)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, err.strip()) == (2, message), err
    assert out == ""


@pytest.mark.parametrize(("cls", "code", "message"), [
    ("Unreachable", 1, "error: the myco_whatsapp channel's start() failed: ConnectionRefusedError: cannot reach "
                       "wa.myco.internal:443"),
    ("TokenRefused", 2, "error: the myco_whatsapp channel's start() failed: MYCO_WA_TOKEN was refused by the API "
                        "(401): set a valid one"),
])
def test_a_start_that_raises_is_one_line(settings: Settings, tmp_path: Path, cls: str, code: int,
                                         message: str) -> None:
    """``start()`` runs once the broker answered: it raising was a cjo-stream bug's traceback and exit 70."""
    (tmp_path / "shapes.py").write_text(MODULES["shapes.py"])
    env = {**env_without_cjo(), "CJO_BROKER": settings.bootstrap, "CJO_PARTITIONS": "2"}
    p = adapter("--channel", CHANNEL, "--channel-class", f"shapes:{cls}", "--web-port", "-1", env=env, cwd=tmp_path)
    _, err = p.communicate(timeout=90)
    assert (p.returncode, err.strip().splitlines()[-1]) == (code, message), err
    assert "Traceback" not in err
