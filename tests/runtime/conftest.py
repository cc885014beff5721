"""Fixtures for tests against the real (Tansu) broker and real worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import LocalBroker, free_port_block

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


class WorkerProc:
    """A ``cjo-stream worker`` subprocess; ``kill()`` is a real SIGKILL crash."""

    def __init__(self, env: dict[str, str], web_port: int, log_path: str) -> None:
        self.env = env
        self.web_port = web_port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> WorkerProc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        env = {**self.env, "CJO_WEB_PORT": str(self.web_port)}
        self.proc = subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", "worker"], cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60.0, partitions: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.url}/health", timeout=1.0)
                if r.status_code == 200 and (r.json()["partitions"] or not partitions):
                    return r.json()  # type: ignore[no-any-return]
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-5000:]

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_env(broker: LocalBroker, tmp_path: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(CJO_BROKER=broker.bootstrap, CJO_DATA_DIR=str(tmp_path / "data"), CJO_PARTITIONS="4",
               CJO_TOPOLOGIES=os.path.join(ROOT, "tests", "runtime", "topologies"), CJO_STORE="rocksdb",
               CJO_TIMER_INTERVAL_SECONDS="0.05", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def spawn(worker_env: dict[str, str], tmp_path: Any) -> Iterator[Any]:
    procs: list[WorkerProc] = []

    def _spawn(**env: str) -> WorkerProc:
        ports = int(env.get("CJO_CONCURRENCY", "1"))  # process i serves on the web port + i
        w = WorkerProc({**worker_env, **env}, free_port_block(ports), str(tmp_path / f"worker-{len(procs)}.log"))
        procs.append(w)
        return w.start()

    yield _spawn
    for w in procs:
        w.kill()


def health(port: int) -> dict[str, Any] | None:
    """A worker process's ``/health`` answer, or None while it does not answer 200."""
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None  # type: ignore[no-any-return]


def settings_for(env: dict[str, str]) -> Settings:
    return Settings(bootstrap=env["CJO_BROKER"], partitions=int(env["CJO_PARTITIONS"]))


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await p.start()
    try:
        futs = [await p.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


async def collect(bootstrap: str, topics: list[str], until: Any, timeout: float) -> list[Any]:
    """Read topics from the beginning until ``until(records)`` is true or the timeout passes."""
    c = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None)
    await c.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(out):
            for recs in (await c.getmany(timeout_ms=200)).values():
                out.extend(recs)
    finally:
        await c.stop()
    return out


async def until(cond: Any, what: str, timeout: float = 60.0) -> None:
    """Poll ``cond()`` until true; fail with ``what`` after ``timeout`` seconds (a wait, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def event_line(**fields: Any) -> bytes:
    return orjson.dumps(fields)


def keyed(lines: list[bytes]) -> list[tuple[bytes | None, bytes]]:
    """Key records by user id, as upstream producers do, so one customer's events keep their order."""
    from cjo_stream.runtime.commands import _key_of

    return [(_key_of(line), line) for line in lines]


class GroupWatch:
    """Every distinct membership of consumer groups the broker reports (DescribeGroups) while it runs,
    in order: shows whether a restarted process's new member ever sat in a group beside its old one."""

    def __init__(self, bootstrap: str, groups: list[str]) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[str, list[frozenset[str]]] = {g: [] for g in groups}
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._task: asyncio.Task[None] | None = None

    async def members(self, admin: AIOKafkaAdminClient) -> dict[str, frozenset[str]]:
        out = {}
        for group in self.seen:  # one a request: the local broker garbles an answer about several
            for resp in await admin.describe_consumer_groups([group]):
                for g in resp.groups:  # (error_code, group, state, protocol_type, protocol, members)
                    out[g[1]] = frozenset(m[0] for m in g[5])
        return out

    async def _look(self) -> None:
        for group, members in (await self.members(self._admin)).items():
            if not self.seen[group] or self.seen[group][-1] != members:
                self.seen[group].append(members)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            await self._look()

    async def __aenter__(self) -> GroupWatch:
        await self._admin.start()
        await self._look()
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._admin.close()

    def replaced(self, group: str, old: frozenset[str]) -> bool:
        """``old`` members left before any new one joined, and a new one is in now."""
        seen = self.seen[group]
        return bool(seen) and bool(seen[-1]) and not seen[-1] & old and not any(m & old and m - old for m in seen)
