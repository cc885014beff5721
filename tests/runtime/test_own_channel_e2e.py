"""The whole path of a channel cjo-stream does not ship, live: a journey's send on the channel policies.yaml
declares → the worker's command on ``cjo.delivery.myco_whatsapp`` → ``cjo-stream adapter --channel-class`` with
the user's class → an HTTP API on loopback → the ``sent`` receipt → the worker → the journey's next step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from cjo_stream.events import format_ts
from tests.adapters.conftest import Answer, Receiver
from tests.runtime.conftest import ROOT, collect, event_line, keyed, produce

POLICIES = """\
channels:
  myco_whatsapp: {address: whatsapp}
"""

JOURNEY = """\
journey: wa_welcome
entry: {event: signed_up}
steps:
  - id: hello
    send: {channel: myco_whatsapp, content: {body: "Welcome, {{ profile.traits.name }}!"}}
  - id: wait_sent
    wait_for: {event: message_sent, when: "event.properties.journey == journey.id and event.properties.channel == 'myco_whatsapp'", timeout: 30s}
    on_timeout: end
  - id: confirm
    send: {channel: in_app, content: {body: "sent as {{ event.properties.provider_message_id }}"}}
"""


async def test_a_journey_sends_through_an_own_channel_class_and_hears_its_receipt(
        spawn: Any, worker_env: dict[str, str], tmp_path: Path) -> None:
    topo = tmp_path / "topologies"
    (topo / "journeys").mkdir(parents=True)
    (topo / "journeys" / "wa_welcome.yaml").write_text(JOURNEY)
    (topo / "policies.yaml").write_text(POLICIES)
    receiver = await Receiver().start()
    receiver.default = Answer(200, json={"id": "wamid.77"})
    w = spawn(CJO_TOPOLOGIES=str(topo))
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # the worker made the declared channel's topic, before any adapter of it runs
        assert "cjo.delivery.myco_whatsapp" in await admin.list_topics()
    finally:
        await admin.close()
    env = {**worker_env, "MYCO_WA_URL": f"{receiver.url}/v1/messages", "CJO_ADAPTER_SESSION_TIMEOUT": "1s"}
    log = open(tmp_path / "adapter.log", "wb")  # noqa: SIM115 - the child's, closed below
    cli = str(Path(sys.executable).parent / "cjo-stream")
    adapter = subprocess.Popen([cli, "adapter", "--channel", "myco_whatsapp", "--channel-class",
                                "tests.adapters.own_channel:WhatsApp", "--web-port", "-1"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ts = format_ts(time.time())
        lines = [event_line(messageId="id-1", type="identify", userId="u1", timestamp=ts,
                            traits={"name": "Ada", "whatsapp": "+4915100000"}),
                 event_line(messageId="su-1", type="track", event="signed_up", userId="u1", timestamp=ts)]
        await produce(bootstrap, "cjo.touchpoints", keyed(lines))
        got = await collect(bootstrap, ["cjo.delivery.in_app"], lambda rs: len(rs) >= 1, timeout=60)
        commands = await collect(bootstrap, ["cjo.delivery.myco_whatsapp"], lambda rs: len(rs) >= 1, timeout=10)
    finally:
        adapter.send_signal(signal.SIGTERM)
        try:
            adapter.wait(30)
        finally:
            if adapter.poll() is None:
                os.killpg(adapter.pid, signal.SIGKILL)
                adapter.wait(10)
            log.close()
            await receiver.stop()
    out = (tmp_path / "adapter.log").read_text()
    assert adapter.returncode == 0 and "Traceback" not in out, out[-3000:]
    [cmd] = [orjson.loads(r.value) for r in commands]
    assert (cmd["channel"], cmd["to"], cmd["content"]) == ("myco_whatsapp", "+4915100000", {"body": "Welcome, Ada!"})
    [req] = receiver.seen("/v1/messages")
    assert orjson.loads(req.body) == {"to": "+4915100000", "text": "Welcome, Ada!"}
    assert req.headers["Idempotency-Key"] == cmd["delivery_id"]
    [confirm] = [orjson.loads(r.value) for r in got]
    assert (confirm["customer_id"], confirm["content"]) == ("u1", {"body": "sent as wamid.77"}), confirm
