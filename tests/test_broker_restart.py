"""A local broker restarted under a running worker and adapter (Tansu, memory storage: every topic and group lost).

Seen before: the worker retried its offset commit forever (aiokafka takes UNKNOWN_TOPIC_OR_PARTITION for
retriable) while ``/health`` answered 200, and the adapter, inside the same endless commit, did not stop
on SIGTERM for a minute and more, or ran on with ``/health`` ok and never noticed. Now the ``/health`` of
both answers 503 with a reason while the broker is gone, and each exits 70 with one line once the broker
is back without its topics (so that its supervisor starts it again).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any

import httpx
import msgspec
from aiokafka import AIOKafkaProducer

from cjo_stream.adapters.base import utc_now_iso
from cjo_stream.commands import DeliveryCommand
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from tests.commit_stall import BrokerBehind, CommitStall
from tests.test_broker_loss_logs import worker_env

ROOT = Path(__file__).resolve().parent.parent
GONE = "no longer exist"  # "topic X no longer exists" / "topics X, Y no longer exist"
GONE_HINT = "broker restarted with memory storage?"


def _start(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", *args], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _health(port: int) -> tuple[int, dict[str, Any]] | None:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0)
        return r.status_code, r.json()
    return None


def _wait(what: str, done: Any, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s:\n" + "\n".join(
            log.read_text(errors="replace")[-3000:] for log in logs)
        time.sleep(0.2)


def _kill(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def _restart(broker: LocalBroker) -> LocalBroker:
    assert broker.proc is not None
    broker.proc.kill()  # Tansu ignores SIGTERM
    broker.proc.wait(5)
    return LocalBroker(broker.port).start()  # the same address, nothing on it


def _start_worker(bootstrap: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """``cjo-stream worker`` on a free web port, its output in ``worker.log``: the process, port and log."""
    wlog = tmp_path / "worker.log"
    port = free_port()
    with wlog.open("wb") as f:
        w = _start(["worker", "--web-port", str(port)], worker_env(bootstrap, tmp_path), f)
    return w, port, wlog


def _unanswered(port: int, role: str) -> float:
    """``cjo_broker_unanswered_seconds{role=...}`` as the process's ``/metrics`` serves it now."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2.0).text
    prefix = f'cjo_broker_unanswered_seconds{{role="{role}"}} '
    (value,) = [line.removeprefix(prefix) for line in text.splitlines() if line.startswith(prefix)]
    return float(value)


def _failing_once_the_broker_dies(broker: LocalBroker, proc: subprocess.Popen[bytes], port: int, log: Path,
                                  procs: list[subprocess.Popen[bytes]], role: str) -> dict[str, Any]:
    """Kill the broker; wait (the process still running) for its ``/health`` to answer 503; that body. Its
    ``/metrics`` says so too: ``up`` and ``cjo_up`` stay 1 and the lag gauges freeze, so without
    ``cjo_broker_unanswered_seconds`` no alert could fire (an operator's walkthrough)."""
    assert _unanswered(port, role) < 20
    assert broker.proc is not None
    broker.proc.kill()
    broker.proc.wait(5)
    seen: list[tuple[int, dict[str, Any]]] = []

    def failing() -> bool:
        assert proc.poll() is None, "it exited while the broker was gone:\n" + log.read_text()
        h = _health(port)
        if h is not None:
            seen.append(h)
        return h is not None and h[0] == 503

    _wait("503 while the broker is gone", failing, procs, [log])
    assert _unanswered(port, role) > 20  # STALL, as /health
    return seen[-1][1]


def test_worker_says_503_while_the_broker_is_gone_and_exits_once_it_is_back_without_its_topics(tmp_path: Path) -> None:
    broker = LocalBroker().start()
    w, port, wlog = _start_worker(broker.bootstrap, tmp_path)
    procs = [w]
    try:

        def ready() -> bool:
            assert w.poll() is None, wlog.read_text()
            h = _health(port)
            return h is not None and h[0] == 200 and bool(h[1]["partitions"])

        _wait("ready", ready, procs, [wlog])
        body = _failing_once_the_broker_dies(broker, w, port, wlog, procs, "worker")
        assert body["status"] == "failing" and "broker" in body["reason"], body
        broker = LocalBroker(broker.port).start()  # back, empty
        _wait("exited", lambda: w.poll() is not None, procs, [wlog])
        log = wlog.read_text(errors="replace")
        assert w.returncode == 70, log[-3000:]
        lines = [line for line in log.splitlines() if GONE in line]
        assert len(lines) == 1, log[-3000:]
        # which of its topics it names is a race: a consumer's metadata request naming its input topic has Tansu
        # make that one again (4 partitions) before the watch looks, so the line may name only the changelogs
        named = [t for t in ("cjo.customer-events", "cjo.profiles-changelog", "cjo.timers-changelog", "cjo.aliases")
                 if t in lines[0]]
        assert named and "broker restarted with memory storage?" in lines[0], lines[0]
        assert "Traceback" not in log, log[-3000:]
        # (Not asserted: that a worker started again now runs. It creates its topics as on a first start, but
        # Tansu stored the records the old one still had in flight as orphan batches of the topics it did not
        # have; a partition made again fails every produce at that offset: docs/operations.md.)
    finally:
        _kill(procs)
        broker.stop()


def test_worker_says_503_while_an_offset_commit_is_pending_and_200_once_it_completes(tmp_path: Path) -> None:
    """The broker answers and the worker's topics exist, but every offset commit is refused as retriable
    (tests/commit_stall.py): aiokafka retries it forever. After 20 s /health says so; committed, it is ok."""
    proxy = CommitStall()
    broker = BrokerBehind(proxy.port).start()
    proxy.start(broker.port)
    w, port, wlog = _start_worker(proxy.bootstrap, tmp_path)
    procs = [w]
    try:
        seen: list[tuple[int, dict[str, Any]]] = []

        def health(code: int) -> bool:
            assert w.poll() is None, wlog.read_text()
            h = _health(port)
            if h is not None:
                seen.append(h)
            return h is not None and h[0] == code and bool(h[1]["partitions"])

        _wait("ready", lambda: health(200), procs, [wlog])
        proxy.stalled.set()
        _produce(proxy.bootstrap, "cjo.touchpoints", [b"{}"])  # (not an event: dead-lettered, then committed)
        _wait("503 while a commit is pending", lambda: health(503), procs, [wlog], timeout=120)
        status, body = seen[-1]
        assert body["status"] == "failing" and "an offset commit has been pending" in body["reason"], body
        assert proxy.renamed > 0
        proxy.stalled.clear()
        _wait("200 once the commit completed", lambda: health(200), procs, [wlog], timeout=120)
        assert seen[-1][1]["status"] == "ok" and "reason" not in seen[-1][1], seen[-1]
    finally:
        _kill(procs)
        proxy.stop()
        broker.stop()
    log = wlog.read_text(errors="replace")
    assert log.count("worker: an offset commit has been pending for") == 1, log[-3000:]
    assert log.count("worker: commits and the broker answer again; /health answers 200") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def _adapter_env(bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(CJO_BROKER=bootstrap, CJO_PARTITIONS="2", CJO_CONSOLE_CHANNELS="email", PYTHONUNBUFFERED="1")
    return env


def test_an_adapter_says_503_while_the_broker_is_gone_and_exits_70_once_it_is_back_without_its_topics(
        tmp_path: Path) -> None:
    """It ran on, /health 200, and never noticed that its command topic and group were gone."""
    broker = LocalBroker().start()
    alog = tmp_path / "adapter.log"
    port = free_port()
    with alog.open("wb") as f:
        a = _start(["adapter", "--channel", "console", "--web-port", str(port)], _adapter_env(broker.bootstrap), f)
    try:
        def sent(n: int) -> bool:
            assert a.poll() is None, alog.read_text()
            h = _health(port)
            return h is not None and h[0] == 200 and h[1]["status"] == "ok" and h[1]["outcomes"].get("sent", 0) >= n

        _wait("ready", lambda: sent(0), [a], [alog])
        _produce_commands(broker.bootstrap, "cjo.delivery.email", 3)
        _wait("delivering", lambda: sent(3), [a], [alog])
        body = _failing_once_the_broker_dies(broker, a, port, alog, [a], "adapter")
        assert body["status"] == "failing" and "the broker has not answered" in body["reason"], body
        broker = LocalBroker(broker.port).start()  # back, empty
        _wait("exited", lambda: a.poll() is not None, [a], [alog])
        left = _topics(broker.bootstrap)
    finally:
        _kill([a])
        broker.stop()
    log = alog.read_text(errors="replace")
    assert a.returncode == 70, log[-3000:]
    # its exit asked for no checkpoint of the sent-record: that request named the topic, and the local broker
    # made it again with 4 partitions, which the next start then used
    assert "cjo.adapter.console.sent" not in left, (left, log[-3000:])
    lines = [line for line in log.splitlines() if GONE_HINT in line]
    assert len(lines) == 1, log[-3000:]
    # missing, or made again by the consumer's own metadata requests (Tansu creates a topic a request names)
    assert "adapter console: topic" in lines[0] and ("cjo.delivery.email" in lines[0] or "cjo.adapter.console.sent"
                                                     in lines[0]), lines[0]
    assert "Traceback" not in log, log[-3000:]


def test_an_adapter_says_503_while_an_offset_commit_is_pending_and_200_once_it_completes(tmp_path: Path) -> None:
    """As the worker: the broker answers, the topics exist, every commit is refused as retriable."""
    proxy = CommitStall()
    broker = BrokerBehind(proxy.port).start()
    proxy.start(broker.port)
    alog = tmp_path / "adapter.log"
    port = free_port()
    with alog.open("wb") as f:
        a = _start(["adapter", "--channel", "console", "--web-port", str(port)], _adapter_env(proxy.bootstrap), f)
    seen: list[tuple[int, dict[str, Any]]] = []
    try:
        def health(code: int, sent: int = 0) -> bool:
            assert a.poll() is None, alog.read_text()
            h = _health(port)
            if h is not None:
                seen.append(h)
            return h is not None and h[0] == code and h[1]["outcomes"].get("sent", 0) >= sent

        _wait("ready", lambda: health(200), [a], [alog])
        proxy.stalled.set()
        _produce_commands(proxy.bootstrap, "cjo.delivery.email", 1)
        _wait("503 while a commit is pending", lambda: health(503, 1), [a], [alog], timeout=120)
        body = seen[-1][1]
        assert body["status"] == "failing" and "an offset commit has been pending" in body["reason"], body
        proxy.stalled.clear()
        _wait("200 once the commit completed", lambda: health(200, 1), [a], [alog], timeout=120)
        assert seen[-1][1]["status"] == "ok" and "reason" not in seen[-1][1], seen[-1]
    finally:
        _kill([a])
        proxy.stop()
        broker.stop()
    log = alog.read_text(errors="replace")
    assert log.count("adapter console: an offset commit has been pending for") == 1, log[-3000:]
    assert log.count("adapter console: commits and the broker answer again") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_an_adapter_restarted_under_mid_batch_exits_70_on_its_own(tmp_path: Path) -> None:
    """Its batch in progress when the broker restarts (rate-limited deliveries), the commit after it asks for
    a topic the broker no longer has: aiokafka retries it forever, and the adapter waited in it (SIGTERM
    too, for a minute and more). Now it sees its topics gone within seconds, abandons the batch and exits
    70 with one line, by its own clean stop (not the last-resort exit of service._end_after_loss)."""
    broker = LocalBroker().start()
    env = _adapter_env(broker.bootstrap)
    env.update(CJO_RATE_CONSOLE="4/s", CJO_RATE_CONSOLE_BURST="1")
    alog = tmp_path / "adapter.log"
    with alog.open("wb") as f:
        a = _start(["adapter", "--channel", "console", "--web-port=-1"], env, f)
    try:
        _wait("consuming", lambda: "sent-record: read" in alog.read_text(), [a], [alog])
        _produce_commands(broker.bootstrap, "cjo.delivery.email", 40)  # ~10 s of deliveries at 4/s
        _wait("delivering", lambda: "quick/step" in alog.read_text(), [a], [alog])
        broker = _restart(broker)
        _wait("exited", lambda: a.poll() is not None, [a], [alog], timeout=90)
    finally:
        _kill([a])
        broker.stop()
    log = alog.read_text(errors="replace")
    assert a.returncode == 70, log[-3000:]
    assert len([line for line in log.splitlines() if GONE_HINT in line]) == 1, log[-3000:]
    assert "did not stop" not in log and "Traceback" not in log, log[-3000:]


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    import asyncio

    async def run() -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        try:
            for v in values:
                await p.send_and_wait(topic, v, key=b"k")
        finally:
            await p.stop()

    asyncio.run(run())


def _produce_commands(bootstrap: str, topic: str, n: int) -> None:
    import asyncio

    async def run() -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        await p.start()
        try:
            for i in range(n):
                cmd = DeliveryCommand(delivery_id=uuid.uuid4().hex[:24], customer_id=f"u{i}", journey="quick",
                                      journey_version=1, step="step", channel="email", to=None,
                                      content={"subject": "Hello", "body": "Hi"}, triggered_by=f"m-{i}",
                                      decided_at=utc_now_iso(), instance_id=f"i-{i}")
                await p.send(topic, msgspec.json.encode(cmd), key=cmd.customer_id.encode(), partition=0)
            await p.flush()
        finally:
            await p.stop()

    asyncio.run(run())


def _topics(bootstrap: str) -> dict[str, int]:
    """The cluster's topics and partition counts (one metadata request for all: naming one creates it)."""
    import asyncio

    from aiokafka.client import AIOKafkaClient

    from cjo_stream.kafka.watch import topic_partitions

    async def run() -> dict[str, int]:
        c = AIOKafkaClient(bootstrap_servers=bootstrap)
        await c.bootstrap()
        try:
            return await topic_partitions(c) or {}
        finally:
            await c.close()

    return asyncio.run(run())


def _applied(port: int, procs: list[subprocess.Popen[bytes]], log: Path, n: int) -> Any:
    """A check that the last analytics process runs, is ok, and has applied ``n`` journey events."""
    def done() -> bool:
        assert procs[-1].poll() is None, log.read_text()
        h = _health(port)
        return h is not None and h[0] == 200 and h[1]["status"] == "ok" and h[1]["journey_events_applied"] == n
    return done


def _journey_events(bootstrap: str, n: int) -> None:
    """``n`` entries on partition 0 of the journey-events topic, from the workers' source positions 0..n-1 of
    their partition 0 (in order: the fold drops a position at or below the highest applied)."""
    import asyncio

    from cjo_stream.analytics.records import JourneyEvent, encode

    async def run() -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        try:
            for k in range(n):
                e = JourneyEvent(journey="j", version=1, kind="entered", instance=f"i{uuid.uuid4().hex}",
                                 customer_id=f"c{k}", at=1_780_000_000.0 + k, src=(0, k, 0))
                await p.send_and_wait("cjo.journey-events", encode(e), key=f"c{k}".encode(), partition=0)
        finally:
            await p.stop()

    asyncio.run(run())


def test_the_analytics_service_says_503_while_the_broker_is_gone_and_starts_over_once_it_lost_its_topics(
        tmp_path: Path) -> None:
    """It answered 200 "ok" with the broker gone, while the workers and adapters said 503 (README: "as on the
    workers"). Back with a broker that lost its topics, it said "ok" again and counted nothing more: its
    offsets lay past the new topic's end, and the workers' source positions, numbered from 0 again, were
    dropped as duplicates. It exits 70 now, as a worker does, and started again counts the new events."""
    broker = LocalBroker().start()
    log = tmp_path / "analytics.log"
    port = free_port()
    env = _adapter_env(broker.bootstrap) | {"CJO_TOPOLOGIES": str(ROOT / "tests" / "runtime" / "topologies")}
    args = ["analytics", "--web-port", str(port), "--data-dir", str(tmp_path / "data")]
    with log.open("wb") as f:
        a = _start(args, env, f)
    procs = [a]

    def applied(n: int) -> Any:
        return _applied(port, procs, log, n)

    try:
        _wait("ready", applied(0), procs, [log])
        _journey_events(broker.bootstrap, 5)
        _wait("5 events counted", applied(5), procs, [log])
        body = _failing_once_the_broker_dies(broker, a, port, log, procs, "analytics")
        assert body["status"] == "failing" and "the broker has not answered" in body["reason"], body
        broker = LocalBroker(broker.port).start()  # back (empty)
        assert a.wait(60) == 70, log.read_text()[-3000:]
        text = log.read_text(errors="replace")
        assert GONE in text and GONE_HINT in text and "exiting (70)" in text, text[-3000:]
        # as docs/operations.md says after a Tansu restart: the broker once more (records clients had in flight
        # when it came back are kept as orphan batches, where a topic made again can stall; seen here under load)
        broker.stop()
        broker = LocalBroker(broker.port).start()
        with log.open("ab") as f:
            procs.append(_start(args, env, f))  # as its supervisor would
        _wait("ready again", applied(0), procs, [log])
        _journey_events(broker.bootstrap, 3)  # the same source positions as before, in a new topic
        _wait("the new events counted", applied(3), procs, [log])
        procs[-1].send_signal(signal.SIGTERM)
        assert procs[-1].wait(30) == 0
        # a broker lost while it was stopped: its checkpoint lies past the new changelog's end
        broker.stop()
        broker = LocalBroker(broker.port).start()
        with log.open("ab") as f:
            procs.append(_start(args, env, f))
        _wait("ready on the new broker", applied(0), procs, [log])
        _journey_events(broker.bootstrap, 2)
        _wait("the newest events counted", applied(2), procs, [log])
    finally:
        _kill(procs)
        broker.stop()
    text = log.read_text(errors="replace")
    assert text.count("analytics: the broker has not answered for") == 1, text[-3000:]
    assert "the checkpoint of cjo.analytics-changelog is past its end" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_the_analytics_service_reads_a_journey_events_topic_made_again_from_its_start(tmp_path: Path) -> None:
    """Its changelog kept, its input made again: the offsets it stored lie past the new topic's end. It
    waited there and counted nothing; now it reads the topic from the start, and forgets the source
    positions it had applied (numbered from 0 again, they were dropped as duplicates)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    broker = LocalBroker().start()
    log = tmp_path / "analytics.log"
    port = free_port()
    env = _adapter_env(broker.bootstrap) | {"CJO_TOPOLOGIES": str(ROOT / "tests" / "runtime" / "topologies")}
    args = ["analytics", "--web-port", str(port), "--data-dir", str(tmp_path / "data")]
    procs: list[subprocess.Popen[bytes]] = []

    def applied(n: int) -> Any:
        return _applied(port, procs, log, n)

    changelog = "cjo.analytics-changelog"

    async def read_changelog(bootstrap: str) -> list[tuple[bytes | None, bytes | None]]:
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
        await c.start()
        try:
            tp = TopicPartition(changelog, 0)
            c.assign([tp])
            end = (await c.end_offsets([tp]))[tp]
            out: list[tuple[bytes | None, bytes | None]] = []
            while len(out) < end:
                for recs in (await c.getmany(timeout_ms=1000)).values():
                    out += [(r.key, r.value) for r in recs]
            return out
        finally:
            await c.stop()

    async def write_changelog(bootstrap: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
        s = Settings(bootstrap=bootstrap, partitions=2)
        await ensure_topics(s, [changelog], compacted=[changelog], partitions={changelog: 1})
        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        try:
            for k, v in records:
                await p.send_and_wait(changelog, v, key=k, partition=0)
        finally:
            await p.stop()

    try:
        with log.open("wb") as f:
            procs.append(_start(args, env, f))
        _wait("ready", applied(0), procs, [log])
        _journey_events(broker.bootstrap, 5)
        _wait("5 events counted", applied(5), procs, [log])
        procs[-1].send_signal(signal.SIGTERM)
        assert procs[-1].wait(30) == 0  # a checkpoint at the changelog's end
        kept = asyncio.run(read_changelog(broker.bootstrap))
        broker.stop()
        broker = LocalBroker(broker.port).start()  # every topic lost ...
        asyncio.run(write_changelog(broker.bootstrap, kept))  # ... but the changelog, copied back
        with log.open("ab") as f:
            procs.append(_start(args, env, f))
        _wait("ready again", applied(0), procs, [log])
        _journey_events(broker.bootstrap, 3)  # the same source positions as before, in a new topic
        _wait("the new events counted", applied(3), procs, [log])
    finally:
        _kill(procs)
        broker.stop()
    text = log.read_text(errors="replace")
    assert "its offsets of cjo.journey-events are past the topic's end" in text, text[-3000:]
    assert "the checkpoint of" not in text and "Traceback" not in text, text[-3000:]
