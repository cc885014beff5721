"""Records as upstream systems produce them, against a real worker: each is decided on or dead-lettered
with a reason, and none stops the worker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from tests.runtime.conftest import collect, produce

pytestmark = pytest.mark.broker

NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def signup(uid: str, n: int = 0, **extra: Any) -> bytes:
    return orjson.dumps({"messageId": f"{uid}-{n}", "type": "track", "event": "signed_up", "userId": uid,
                         "timestamp": NOW, **extra})


def test_a_time_zone_name_that_is_no_zone_does_not_stop_the_worker(spawn: Any, worker_env: dict[str, str]) -> None:
    """``America`` is a directory of the tz database and a 300-character name too long a file name: ZoneInfo
    raised OSError for both, which stopped the worker at the decision and again after every restart."""
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    records = [signup("tz-region", context={"timezone": "America"}),
               signup("tz-long", traits={"timezone": "x" * 300}),
               orjson.dumps({"messageId": "tz-trait-0", "type": "identify", "userId": "tz-trait",
                             "timestamp": NOW, "traits": {"timezone": "Etc"}}),
               signup("tz-trait", 1),
               signup("tz-after")]
    asyncio.run(produce(bootstrap, "cjo.touchpoints", [(None, r) for r in records]))

    want = {"tz-region", "tz-long", "tz-trait", "tz-after"}
    inbox = asyncio.run(collect(bootstrap, ["cjo.delivery.in_app"],
                                lambda rs: want <= {orjson.loads(r.value)["customer_id"] for r in rs}, 60))
    assert want <= {orjson.loads(r.value)["customer_id"] for r in inbox}, w.log()
    assert w.proc.poll() is None, w.log()
    assert "Traceback" not in w.log()
