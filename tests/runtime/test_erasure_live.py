"""``DELETE /customers/{id}`` live (a privacy walkthrough): broker, worker and analytics service.

The erase deleted the profile, timers and links; the analytics service kept the customer's id (its send
times, ``f:<id>``) in its store and its compacted changelog for good, and those of the anonymous ids
merged into it. Now each erased id reaches the service as an ``erased`` journey event, and its row goes:
a tombstone on ``cjo.analytics-changelog``. Erasing by the anonymous id the visitor had works the same.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from cjo_stream.events import format_ts
from tests.analytics.test_live import AnalyticsProc
from tests.runtime.conftest import collect, event_line, keyed, produce

pytestmark = pytest.mark.broker

OPS = "ops-secret-0123456789abcdef01"
CHANGELOG = "cjo.analytics-changelog"


def _rows(recs: list[Any]) -> dict[bytes, bytes | None]:
    """The analytics changelog's latest value per key (None: a tombstone)."""
    out: dict[bytes, bytes | None] = {}
    for r in recs:
        out[r.key] = r.value
    return out


def test_an_erasure_removes_the_ids_from_the_analytics_service(broker: Any, spawn: Any, tmp_path: Any) -> None:
    env = {"CJO_API_TOKENS": f"ops:read,erase:{OPS}"}
    w = spawn(**env)
    w.wait_ready()
    analytics = AnalyticsProc({**w.env, "CJO_DATA_DIR": str(tmp_path / "analytics")}, str(tmp_path / "analytics.log"))
    analytics.start()
    now = time.time()
    t = [format_ts(now - 5 + i * 0.01) for i in range(10)]
    lines = [
        # a visitor signs up and logs in (its welcome went to the customer id: in_app)
        event_line(messageId="m1", type="track", event="signed_up", userId="u-ada", timestamp=t[0],
                   traits={"first_name": "Ada"}),
        event_line(messageId="m2", type="identify", userId="u-ada", anonymousId="a-ada", timestamp=t[1],
                   traits={"email": "ada@example.com"}),
        # an anonymous visitor is welcomed under its anonymous id, then logs in: its row is the anonymous id's
        event_line(messageId="m3", type="track", event="signed_up", anonymousId="a-bob", timestamp=t[2]),
        # a third customer, not erased
        event_line(messageId="m5", type="track", event="signed_up", userId="u-cy", timestamp=t[4]),
    ]
    asyncio.run(produce(broker.bootstrap, "cjo.touchpoints", keyed(lines)))
    want = {b"f:u-ada", b"f:a-bob", b"f:u-cy"}
    recs = asyncio.run(collect(broker.bootstrap, [CHANGELOG], lambda rs: want <= _rows(rs).keys(), 60))
    assert want <= {k for k, v in _rows(recs).items() if v}, analytics.log()
    login = event_line(messageId="m4", type="identify", userId="u-bob", anonymousId="a-bob", timestamp=t[3],
                       traits={"email": "bob@example.com"})
    asyncio.run(produce(broker.bootstrap, "cjo.touchpoints", keyed([login])))
    auth = {"Authorization": f"Bearer {OPS}"}
    deadline = time.monotonic() + 30
    while httpx.get(f"{w.url}/customers/a-bob", headers=auth).json().get("customer_id") != "u-bob":
        assert time.monotonic() < deadline, "the login was not applied"
        time.sleep(0.2)

    for ident, cid in (("a-ada", "u-ada"), ("u-bob", "u-bob")):  # by the visitor's id, and by the customer's
        r = httpx.delete(f"{w.url}/customers/{ident}", headers=auth)
        assert (r.status_code, r.json()) == (202, {"erased": cid, "status": "accepted"})

    gone = {b"f:u-ada", b"f:a-bob"}

    def erased(rs: list[Any]) -> bool:
        rows = _rows(rs)
        return all(k in rows and rows[k] is None for k in gone)

    recs = asyncio.run(collect(broker.bootstrap, [CHANGELOG], erased, 60))
    rows = _rows(recs)
    assert {k: rows.get(k) for k in gone} == dict.fromkeys(gone), analytics.log()
    assert rows[b"f:u-cy"]  # the others' rows stay
    for ident in ("u-ada", "a-ada", "u-bob", "a-bob"):
        assert httpx.get(f"{w.url}/customers/{ident}", headers=auth).status_code == 404
    # the service keeps counting, and logs no customer id
    assert httpx.get(f"{analytics.url}/health").json()["status"] == "ok"
    log = analytics.log() + w.log()
    assert not any(ident in log for ident in ("u-ada", "a-ada", "u-bob", "a-bob", "ada@example.com")), log
    analytics.kill()



def test_an_erase_by_a_merged_id_drops_its_link_though_the_profile_does_not_list_it(broker: Any, spawn: Any) -> None:
    """A profile lists at most 1,000 merged ids: the 1,001st visitor's link (visitor → customer) survived the
    customer's erase, and an erase naming the visitor was resolved to the customer and left it too."""
    from cjo_stream.profile import MAX_ALIASES

    w = spawn(CJO_API_TOKENS=f"ops:read,erase:{OPS}")
    w.wait_ready()
    now = time.time() - 30
    lines = []
    for i in range(MAX_ALIASES + 1):
        t = now + i * 0.001
        lines.append(event_line(messageId=f"p{i}", type="page", anonymousId=f"v-{i}", timestamp=format_ts(t)))
        lines.append(event_line(messageId=f"i{i}", type="identify", userId="u-many", anonymousId=f"v-{i}",
                                timestamp=format_ts(t + 0.0005)))
    asyncio.run(produce(broker.bootstrap, "cjo.touchpoints", keyed(lines)))
    auth = {"Authorization": f"Bearer {OPS}"}
    deadline = time.monotonic() + 90
    while True:
        r = httpx.get(f"{w.url}/customers/u-many", headers=auth)
        links = asyncio.run(collect(broker.bootstrap, ["cjo.aliases"], lambda rs: False, 1.0))
        linked = {k for k, v in _rows(links).items() if v == b"u-many"}
        absorbed = r.json()["profile"]["counters"].get("page_viewed") if r.status_code == 200 else 0
        if absorbed == MAX_ALIASES + 1 and len(linked) == MAX_ALIASES + 1:  # every visitor merged
            break
        assert time.monotonic() < deadline, (len(linked), w.log())
        time.sleep(0.5)
    listed = set(r.json()["profile"]["aliases"])
    (unlisted,) = [k.decode() for k in linked if k.decode() not in listed]
    assert httpx.delete(f"{w.url}/customers/u-many", headers=auth).status_code == 202

    def links_of(rs: list[Any]) -> set[bytes]:
        return {k for k, v in _rows(rs).items() if v == b"u-many"}

    def read(rs: list[Any]) -> bool:  # every visitor's key read (the topic's start holds them all)
        return len(_rows(rs)) == MAX_ALIASES + 1

    left = asyncio.run(collect(broker.bootstrap, ["cjo.aliases"], lambda rs: read(rs) and len(links_of(rs)) <= 1, 30))
    assert links_of(left) == {unlisted.encode()}  # the link no erase of the customer can find
    r = httpx.delete(f"{w.url}/customers/{unlisted}", headers=auth)
    assert r.json() == {"erased": "u-many", "status": "accepted"}
    left = asyncio.run(collect(broker.bootstrap, ["cjo.aliases"], lambda rs: read(rs) and not links_of(rs), 30))
    assert not links_of(left)
