"""Hostile records and templates against a real worker: every bad record lands on the DLQ with its reason,
a template that tries to loop 10^9 times or render 100 MB skips that one send (``render_error``), good
records before and after are processed, and the worker keeps running."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import orjson
import pytest

from cjo_stream.events import MAX_EVENT_BYTES
from tests.runtime.conftest import ROOT, collect, produce

pytestmark = pytest.mark.broker

NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def env(uid: str, **extra: Any) -> dict[str, Any]:
    return {"messageId": f"{uid}-{len(extra)}-{time.monotonic_ns()}", "type": "track", "event": "viewed",
            "userId": uid, "timestamp": NOW, **extra}


def raw(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def poke(uid: str, n: int, s: str, tag: str) -> bytes:
    return orjson.dumps(env(uid, event="poke", properties={"n": n, "s": s, "tag": tag}))


HOSTILE: list[tuple[str, bytes]] = [
    ("too_deep", raw(env("h"))[:-1] + b',"properties":{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}}"),
    ("too_deep", raw(env("h"))[:-1] + b',"properties":{"a":' + b"{\"b\":" * 40 + b"1" + b"}" * 40 + b"}}"),
    ("bad_number", raw(env("h", properties={"n": 2**64}))),
    ("bad_number", raw(env("h"))[:-1] + b',"properties":{"x":1e400}}'),
    ("invalid_json", raw(env("h"))[:-1] + b',"properties":{"x":NaN}}'),
    ("invalid_json", raw(env("h"))[:-1] + b',"properties":{"x":-Infinity}}'),
    ("invalid_encoding", raw(env("h"))[:-1] + b',"properties":{"x":"\xc3\x28"}}'),
    ("duplicate_key", raw(env("h"))[:-1] + b',"userId":"victim"}'),
    ("bad_id", raw(env("h\u0000x"))),
    ("bad_id", raw(env("h" * 600))),
    ("too_large", raw(env("h", properties={"s": "x" * MAX_EVENT_BYTES}))),
    ("invalid_json", b"\x00\x01\x02"),
]


def test_hostile_records_and_templates_never_stop_the_worker(spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn(CJO_TOPOLOGIES=os.path.join(ROOT, "tests", "runtime", "topologies_hostile"))
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    good_before = poke("good", 2, "ab", "first")
    huge_ok = [raw(env("big", properties={"list": [7] * 60_000})),
               raw(env("big", properties={"s": "y" * (MAX_EVENT_BYTES - 500)}))]
    bombs = [poke("bomb", 10**9, "x", "one"), poke("bomb", 1000, "z" * 100_000, "two")]
    good_after = poke("bomb", 1, "ok", "three")  # the same customer (and partition) right after the bombs
    records = [good_before, *[r for _, r in HOSTILE], *huge_ok, *bombs, good_after]
    asyncio.run(produce(bootstrap, "cjo.touchpoints", [(None, r) for r in records]))

    dlq = asyncio.run(collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= len(HOSTILE), 60))
    got = sorted((dict(r.headers)["cjo.reason"].decode(), r.value) for r in dlq)
    assert got == sorted(HOSTILE), [g[0] for g in got]  # each one, unchanged, with its reason

    inbox = asyncio.run(collect(bootstrap, ["cjo.delivery.in_app"], lambda rs: len(rs) >= 6, 60))
    bodies = sorted((orjson.loads(r.value)["customer_id"], orjson.loads(r.value)["content"]["body"][:20])
                    for r in inbox)
    assert bodies == [("bomb", "after one"), ("bomb", "after three"), ("bomb", "after two"), ("bomb", "ok"),
                      ("good", "abab"), ("good", "after first")]
    skips = asyncio.run(collect(bootstrap, ["cjo.delivery.skipped"], lambda rs: len(rs) >= 2, 30))
    details = sorted((orjson.loads(r.value)["reason"], orjson.loads(r.value)["detail"]) for r in skips)
    assert details == [("render_error", "limit: loop iteration limit reached"),
                       ("render_error", "limit: output stream limit reached")]
    assert w.proc.poll() is None, w.log()
    w.wait_ready(timeout=10)
    assert "Traceback" not in w.log()
