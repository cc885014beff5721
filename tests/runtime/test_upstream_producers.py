"""Records as upstream systems produce them, against a real worker: each is decided on or dead-lettered
with a reason, and none stops the worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
import pytest

from tests.runtime.conftest import ROOT, collect, produce

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


def receipt(**fields: Any) -> bytes:
    r = {"delivery_id": "d-unknown-1", "customer_id": "rc-1", "channel": "email", "status": "opened", "at": NOW}
    return orjson.dumps({k: v for k, v in {**r, **fields}.items() if v is not None})


def test_receipts_refused_in_their_own_terms_and_unknown_deliveries_become_events(
        spawn: Any, worker_env: dict[str, str]) -> None:
    """A receipt's customer_id or delivery_id that cannot be an id was refused as the event it becomes
    (``missing_id``/``bad_id``: "an event needs userId or anonymousId", "messageId ... are 1 to 512"), naming
    fields the receipt's writer never sent; a receipt for a delivery no journey knows is an event all the same."""
    token = "ops-receipts-secret-0123456789"
    w = spawn(CJO_API_TOKENS=f"ops:read:{token}")
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    bad = [receipt(customer_id=""), receipt(customer_id="rc-\u0000"), receipt(delivery_id="d" * 600)]
    good = [receipt(), receipt(delivery_id="d-unknown-2", status="clicked", attributes={"url": "https://x.example"})]
    asyncio.run(produce(bootstrap, "cjo.receipts", [(None, r) for r in bad + good]))

    dlq = asyncio.run(collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= len(bad), 60))
    got = sorted((dict(r.headers)["cjo.reason"].decode(), dict(r.headers)["cjo.detail"].decode()) for r in dlq)
    assert got == [("bad_receipt", "customer_id is 1 to 512 printable characters")] * 2 + [
        ("bad_receipt", "delivery_id is 1 to 497 printable characters")], got

    deadline = time.monotonic() + 60
    counters: dict[str, int] = {}
    while time.monotonic() < deadline and counters != {"message_opened": 1, "message_clicked": 1}:
        r = httpx.get(f"{w.url}/customers/rc-1", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        counters = r.json()["profile"]["counters"] if r.status_code == 200 else {}
        time.sleep(0.2)
    assert counters == {"message_opened": 1, "message_clicked": 1}
    assert w.proc.poll() is None, w.log()


def test_epoch_number_timestamps_and_empty_values_are_dead_lettered_saying_so(
        spawn: Any, worker_env: dict[str, str]) -> None:
    """Epoch numbers were ``wrong_type`` "Expected `datetime`, got `int`" (a type producers never see, and not
    under ``--reason bad_timestamp``); an empty value was "Input data was truncated", as if cut short on the way."""
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    seconds = int(time.time())
    records = [signup("epoch-s", timestamp=seconds), signup("epoch-ms", timestamp=seconds * 1000), b"", b" \n"]
    asyncio.run(produce(bootstrap, "cjo.touchpoints", [(b"k", r) for r in records]))

    dlq = asyncio.run(collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= len(records), 60))
    got = sorted((dict(r.headers)["cjo.reason"].decode(), dict(r.headers)["cjo.detail"].decode()) for r in dlq)
    number = ("bad_timestamp", "timestamp is an RFC 3339 string such as 2026-03-02T10:00:00Z, not `int` "
                               "(epoch numbers are not read)")
    assert got == [number, number] + [("invalid_json", "the record's value is empty")] * 2, got
    assert w.proc.poll() is None, w.log()


def test_segment_library_payloads_and_time_formats_are_decided_at_their_time(
        spawn: Any, worker_env: dict[str, str]) -> None:
    """What Segment's libraries and its Kafka destination write (extra envelope fields, ``userId: null``,
    times with offsets, microseconds or nanoseconds, no zone, a device clock to correct), under any key and with
    headers: each decided at its own time; a ``group`` call and ids sent as numbers are read, not dead-lettered."""
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    t = int(time.time()) - 5
    day = time.strftime("%Y-%m-%dT", time.gmtime(t))
    hms = time.strftime("%H:%M:%S", time.gmtime(t))
    plus2 = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + 7200))
    lib = {"name": "analytics.js", "version": "next-1.70.0"}
    segment = {"anonymousId": "seg-anon", "channel": "client", "context": {"library": lib, "ip": "10.0.0.1",
               "page": {"path": "/"}, "userAgentData": {"brands": [], "mobile": False}, "timezone": "Europe/Berlin"},
               "event": "signed_up", "integrations": {}, "messageId": "ajs-next-1", "originalTimestamp": day + hms + ".100Z",
               "properties": {}, "receivedAt": day + hms + ".456Z", "sentAt": day + hms + ".120Z",
               "timestamp": day + hms + ".436Z", "type": "track", "userId": "seg-user", "version": 2,
               "_metadata": {"bundled": ["Segment.io"], "unbundled": []}, "writeKey": "w"}
    python = {"integrations": {}, "anonymousId": None, "properties": {}, "timestamp": day + hms + ".123456+00:00",
              "context": {"library": {"name": "analytics-python", "version": "2.3.3"}}, "userId": "py-user",
              "type": "track", "event": "signed_up", "messageId": "py-1", "sentAt": day + hms + ".200000+00:00"}
    cases = {  # customer: (record, the decision's time)
        "seg-user": (segment, ".436"),
        "py-user": (python, ".123"),
        "ts-plus2": (orjson.loads(signup("ts-plus2", timestamp=plus2 + ".250+02:00")), ".250"),
        "ts-nomillis": (orjson.loads(signup("ts-nomillis", timestamp=day + hms + "Z")), ".000"),
        "ts-nanos": (orjson.loads(signup("ts-nanos", timestamp=day + hms + ".987654321Z")), ".987"),
        "ts-nozone": (orjson.loads(signup("ts-nozone", timestamp=day + hms + ".5")), ".500"),
    }
    keys = [None, b"seg-anon", b"py-user", b"\xff\xfe\x00binary", b"", b"k"]
    headers = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), ("bin", b"\xff\x00")]
    group = orjson.dumps({"type": "group", "groupId": 31, "traits": {"name": "Acme"}, "userId": 4242,
                          "messageId": 7, "timestamp": day + hms + "Z"})
    cases["4243"] = (orjson.loads(signup("x", timestamp=day + hms + ".050Z")) | {"userId": 4243}, ".050")
    keys.append(b"4243")
    # a phone whose clock is a day behind, through a collector that stamps receivedAt: decided at the collector's
    # time, Segment's correction (timestamp + receivedAt - sentAt), not yesterday's
    yday = time.strftime("%Y-%m-%dT", time.gmtime(t - 86_400))
    phone = orjson.loads(signup("phone-behind", timestamp=yday + hms + ".300Z"))
    cases["phone-behind"] = (phone | {"sentAt": yday + hms + ".700Z", "receivedAt": day + hms + ".900Z"}, ".500")
    keys.append(b"phone-behind")
    bad = b'{"type": "Group", "messageId": "b1"}'

    async def send() -> None:
        from aiokafka import AIOKafkaProducer

        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        try:
            for key, (record, _) in zip(keys, cases.values(), strict=True):
                await p.send_and_wait("cjo.touchpoints", orjson.dumps(record), key=key, headers=headers)
            await p.send_and_wait("cjo.touchpoints", group, headers=headers)
            await p.send_and_wait("cjo.touchpoints", bad, headers=headers)
        finally:
            await p.stop()

    asyncio.run(send())
    inbox = asyncio.run(collect(bootstrap, ["cjo.delivery.in_app"], lambda rs: set(cases) <= {
        orjson.loads(r.value)["customer_id"] for r in rs if orjson.loads(r.value)["step"] == "hello"}, 60))
    decided = {c["customer_id"]: c["decided_at"] for c in map(orjson.loads, (r.value for r in inbox))
               if c["step"] == "hello"}
    assert decided == {cid: day + hms + ms + "Z" for cid, (_, ms) in cases.items()}, decided
    dlq = asyncio.run(collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= 1, 30))
    assert [(dict(r.headers)["cjo.reason"], r.value) for r in dlq] == [(b"unknown_type", bad)]
    seen, deadline = "", time.monotonic() + 30  # the group call is applied: counted as consumed, not dead-lettered
    while 'cjo_events_consumed_total{source="unknown",type="group"} 1.0' not in seen:
        assert time.monotonic() < deadline, [m for m in seen.splitlines() if "consumed_total{" in m]
        time.sleep(0.2)
        seen = httpx.get(f"{w.url}/metrics").text
    assert w.proc.poll() is None, w.log()


def test_a_tombstone_is_dead_lettered_and_re_driven_as_a_tombstone(spawn: Any, worker_env: dict[str, str]) -> None:
    """``cjo-stream dlq --redrive`` sends "key, value ... unchanged"; a tombstone (a keyed record without a
    value, as a compacting upstream deletes a key) went back as an empty value, a record it never was."""
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]

    async def tombstone() -> None:
        from aiokafka import AIOKafkaProducer

        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        try:
            await p.send_and_wait("cjo.touchpoints", None, key=b"deleted-customer")
        finally:
            await p.stop()

    asyncio.run(tombstone())
    dlq = asyncio.run(collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= 1, 60))
    assert [(r.key, r.value, dict(r.headers)["cjo.reason"]) for r in dlq] == [
        (b"deleted-customer", None, b"missing_field")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    asyncio.run(ensure_topics(Settings(bootstrap=bootstrap), ["cjo.redriven"]))  # --to names an existing topic
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "dlq", "--broker", bootstrap, "--redrive",
                        "--to", "cjo.redriven"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                       check=False)
    assert p.returncode == 0 and "0 B  record has no value (tombstone)" in p.stdout, p.stderr
    back = asyncio.run(collect(bootstrap, ["cjo.redriven"], lambda rs: len(rs) >= 1, 30))
    assert [(r.key, r.value) for r in back] == [(b"deleted-customer", None)]


def test_null_properties_traits_and_context_are_absent(spawn: Any, worker_env: dict[str, str]) -> None:
    """A producer serialising every field of its envelope class (Jackson's default, a Go struct without
    omitempty) writes ``"traits": null`` on a track and ``"properties": null`` on an identify: each such
    event was dead-lettered as ``wrong_type`` "Expected `object`, got `null`"."""
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    every: dict[str, Any] = {"messageId": None, "type": None, "event": None, "userId": None, "anonymousId": None,
             "previousId": None, "timestamp": NOW, "properties": None, "traits": None, "context": None}
    records = [
        {**every, "messageId": "j-1", "type": "identify", "userId": "java-1", "traits": {"first_name": "Ada"}},
        {**every, "messageId": "j-2", "type": "track", "event": "signed_up", "userId": "java-1",
         "context": {"library": {"name": "analytics-java", "version": "3.5.1"}}},
        {**every, "messageId": "j-3", "type": "track", "event": "signed_up", "userId": "java-2"},
    ]
    asyncio.run(produce(bootstrap, "cjo.touchpoints", [(r["userId"].encode(), orjson.dumps(r)) for r in records]))
    inbox = asyncio.run(collect(bootstrap, ["cjo.delivery.in_app"], lambda rs: len(rs) >= 2, 60))
    bodies = sorted((c["customer_id"], c["content"]["body"]) for c in (orjson.loads(r.value) for r in inbox)
                    if c["step"] == "hello")
    assert bodies == [("java-1", "Welcome Ada"), ("java-2", "Welcome ")], bodies
    assert w.proc.poll() is None, w.log()


def test_a_dead_letter_topic_made_with_fewer_partitions_takes_every_dead_letter(
        spawn: Any, worker_env: dict[str, str]) -> None:
    """docs/operations.md lets an operator make the dead-letter topic with any partition count; one made with
    fewer than ``CJO_PARTITIONS`` stopped stage 1 at the first bad record of a higher input partition
    (aiokafka's "Unrecognized partition", exit 70), and again after every restart, which read it again."""
    from aiokafka import AIOKafkaProducer

    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    bootstrap = worker_env["CJO_BROKER"]
    dlq = "cjo.touchpoints.dlq"
    asyncio.run(ensure_topics(Settings(bootstrap=bootstrap), [dlq], partitions={dlq: 1}))
    w = spawn()
    w.wait_ready()

    async def bad_on_every_partition() -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        try:
            for part in range(int(worker_env["CJO_PARTITIONS"])):
                await p.send_and_wait("cjo.touchpoints", b"not json", partition=part)
        finally:
            await p.stop()

    asyncio.run(bad_on_every_partition())
    asyncio.run(produce(bootstrap, "cjo.touchpoints", [(None, signup("after-dlq"))]))
    letters = asyncio.run(collect(bootstrap, [dlq], lambda rs: len(rs) >= 4, 60))
    assert sorted(dict(r.headers)["cjo.source.partition"] for r in letters) == [b"0", b"1", b"2", b"3"], w.log()
    inbox = asyncio.run(collect(bootstrap, ["cjo.delivery.in_app"],
                                lambda rs: any(orjson.loads(r.value)["customer_id"] == "after-dlq" for r in rs), 60))
    assert any(orjson.loads(r.value)["customer_id"] == "after-dlq" for r in inbox), w.log()
    assert w.proc.poll() is None and "Unrecognized partition" not in w.log(), w.log()


def test_output_topics_made_with_fewer_partitions_take_every_command(
        spawn: Any, worker_env: dict[str, str]) -> None:
    """docs/operations.md sizes a delivery topic by its adapter's replicas; commands go to the customer's
    partition number, so one made with fewer partitions than ``CJO_PARTITIONS`` stopped the worker at the
    first command for a higher partition ("Unrecognized partition", exit 70, again at each restart)."""
    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    bootstrap = worker_env["CJO_BROKER"]
    narrow = ["cjo.delivery.in_app", "cjo.delivery.skipped", "cjo.journey-events"]
    asyncio.run(ensure_topics(Settings(bootstrap=bootstrap), narrow, partitions=dict.fromkeys(narrow, 1)))
    w = spawn()
    w.wait_ready()
    want = {f"narrow-{i}" for i in range(12)}  # customers on every one of the 4 partitions
    asyncio.run(produce(bootstrap, "cjo.touchpoints", [(c.encode(), signup(c)) for c in sorted(want)]))
    inbox = asyncio.run(collect(bootstrap, ["cjo.delivery.in_app"],
                                lambda rs: want <= {orjson.loads(r.value)["customer_id"] for r in rs}, 60))
    assert want <= {orjson.loads(r.value)["customer_id"] for r in inbox}, w.log()
    assert {r.partition for r in inbox} == {0}
    assert w.proc.poll() is None and "Unrecognized partition" not in w.log(), w.log()
