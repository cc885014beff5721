"""Replay from topics on the broker: the simulator's decisions, a live worker's decisions, and no writes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream.engine import Engine
from cjo_stream.journeys.loader import load_topology
from cjo_stream.jsonl import jsonl_lines
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import ROOT, collect, keyed, produce
from tests.runtime.test_e2e import scenario

pytestmark = pytest.mark.broker

EXAMPLES = os.path.join(ROOT, "schemas", "examples", "touchpoints.jsonl")
TEST_TOPOLOGY = os.path.join(ROOT, "tests", "runtime", "topologies")
DELIVERY = [f"cjo.delivery.{c}" for c in ("email", "sms", "push", "in_app", "webhook", "slack", "crm")]


def replay(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env["CJO_BROKER"] = bootstrap
    return subprocess.run([sys.executable, "-m", "cjo_stream.cli", "replay", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=180)


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[Any, int]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in (c.partitions_for_topic(t) or await _parts(c, t))]
        return dict(await c.end_offsets(tps)) if tps else {}
    finally:
        await c.stop()


async def _parts(c: AIOKafkaConsumer, topic: str) -> set[int]:
    await c.topics()
    return c.partitions_for_topic(topic) or set()


def commands_of(path: Path) -> dict[str, tuple[str, str, str]]:
    out = {}
    for line in path.read_text().splitlines():
        c = orjson.loads(line)
        out[c["delivery_id"]] = (c["customer_id"], c["step"], c["decided_at"])
    return out


async def test_replay_of_a_topic_decides_what_the_simulator_decides_over_the_file(tmp_path: Path) -> None:
    topo = load_topology(os.path.join(ROOT, "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.run_lines(jsonl_lines(EXAMPLES))
    sim.finish()
    with LocalBroker() as broker:
        lines = [x.strip() for x in jsonl_lines(EXAMPLES) if x.strip()]
        await produce(broker.bootstrap, "cjo.touchpoints", keyed(lines))  # spread over partitions by user
        out = tmp_path / "cmds.jsonl"
        p = replay(broker.bootstrap, "--since", "2026-01-01T00:00:00Z", "--commands", str(out))
        assert p.returncode == 0, p.stderr
    got = commands_of(out)
    assert got == {c.delivery_id: (c.customer_id, c.step, c.decided_at) for c in sim.commands} and len(got) > 50
    assert "3 bad" in p.stdout and p.stderr.count("cjo.touchpoints:") == 3  # bad records named by topic:partition:offset


async def test_replay_of_what_a_worker_processed_equals_what_it_sent(spawn: Any, worker_env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    bootstrap = worker_env["CJO_BROKER"]
    w = spawn()
    w.wait_ready()
    since = time.time() - 1
    lines = scenario(30, time.time())
    await produce(bootstrap, "cjo.touchpoints", keyed(lines))
    # reminders after 3 s, nudges 4 s later: every timer of this input has fired after ~10 s
    live = await collect(bootstrap, DELIVERY, lambda rs: False, timeout=12)
    sent = {(c := orjson.loads(r.value))["delivery_id"]: (c["customer_id"], c["step"], c["decided_at"]) for r in live}
    assert len(sent) == 2 * len([i for i in range(30) if i % 3 and i % 5])
    before = await end_offsets(bootstrap, DELIVERY + ["cjo.delivery.skipped"])
    out = tmp_path / "cmds.jsonl"
    p = replay(bootstrap, "--topologies", TEST_TOPOLOGY, "--since", f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(since))}Z",
               "--commands", str(out))
    assert p.returncode == 0, p.stderr
    assert commands_of(out) == sent  # same ids, same steps, decided at the same (event) times
    await asyncio.sleep(1)
    assert await end_offsets(bootstrap, DELIVERY + ["cjo.delivery.skipped"]) == before  # replay wrote nothing
