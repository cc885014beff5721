"""``cjo-stream dlq`` as an operator types it, on what a real worker dead-lettered: the reasons and origins
without the payloads, the payloads only when asked, and a re-drive that sends a record back where it came
from (the worker dead-letters it again, from its new offset: the cause was not fixed)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.runtime.conftest import ROOT, collect, event_line, produce

pytestmark = pytest.mark.broker

SECRET = b"jane.doe@example.com"  # in a payload: never printed unless --values


TRACE = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def send_with_header(bootstrap: str, key: bytes, value: bytes) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await p.start()
    try:
        await p.send_and_wait("cjo.touchpoints", value, key=key, headers=[("traceparent", TRACE)])
    finally:
        await p.stop()


def dlq(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    return subprocess.run([sys.executable, "-m", "cjo_stream.cli", "dlq", "--broker", bootstrap, *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)


def test_dlq_lists_reasons_prints_values_on_request_and_redrives(spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    bad: list[tuple[bytes | None, bytes]] = [(b"k1", b'{"messageId": "m1", "email": "' + SECRET + b'"'),  # cut short
           (b"k2", b'{"messageId":"m2","type":"track","event":"x","timestamp":"2026-01-01T00:00:00Z"}'),  # no id
           (None, b"\xff\xfe" + SECRET)]
    good = event_line(messageId="g1", type="track", event="viewed", userId="u1", timestamp="2026-01-01T00:00:00Z")
    asyncio.run(produce(bootstrap, "cjo.touchpoints", [bad[0], (b"u1", good), bad[2]]))
    asyncio.run(send_with_header(bootstrap, b"k2", bad[1][1]))  # a producer's own header: kept, and re-driven
    got = asyncio.run(collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= 3, 60))
    assert len(got) == 3, w.log()

    p = dlq(bootstrap)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 3 and SECRET.decode() not in p.stdout
    assert sorted(line.split()[2] for line in lines) == ["invalid_json", "invalid_json", "missing_id"], lines
    assert all(" from cjo.touchpoints[" in line for line in lines)
    assert "3 dead letter(s) on cjo.touchpoints.dlq" in p.stderr and "invalid_json 2, missing_id 1" in p.stderr

    p = dlq(bootstrap, "--reason", "too_large")  # a reason of none of them: no mistake, said
    assert p.returncode == 0 and p.stdout == "", p.stderr
    assert "0 of 3 dead letter(s) on cjo.touchpoints.dlq: invalid_json 2, missing_id 1 (none for too_large)" \
        in p.stderr, p.stderr

    p = dlq(bootstrap, "--reason", "missing_id", "--values")
    assert p.returncode == 0 and p.stdout.encode() == bad[1][1] + b"\n", p.stderr
    assert "1 of 3 dead letter(s)" in p.stderr

    p = dlq(bootstrap, "--reason", "missing_id", "--redrive")
    assert p.returncode == 0 and "re-drove 1 to cjo.touchpoints" in p.stderr, p.stderr
    again = asyncio.run(collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= 4, 60))
    assert len(again) == 4
    redriven = [r for r in again if r.value == bad[1][1]]
    assert len(redriven) == 2 and redriven[0].key == redriven[1].key == b"k2"
    assert all(dict(r.headers)["traceparent"] == TRACE for r in redriven)
    offsets = {dict(r.headers)["cjo.source.offset"] for r in redriven}
    assert len(offsets) == 2  # read again from where the re-drive put it
    assert w.proc.poll() is None, w.log()

    # replaying the dead letters by mistake says so in a topic's words (it said "expected JSON lines")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "replay", "--broker", bootstrap, "--topic",
                        "cjo.touchpoints.dlq"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                       check=False)
    assert p.returncode == 1 and p.stderr.splitlines()[-1] == (
        "error: no record of cjo.touchpoints.dlq is a touchpoint event (4 bad): expected one Segment event object "
        "per record (a dead-letter topic holds the records that failed)"), p.stderr


def test_a_topic_that_does_not_exist_is_one_line(spawn: Any, worker_env: dict[str, str]) -> None:
    p = dlq(worker_env["CJO_BROKER"], "--topic", "cjo.nothing.dlq")
    assert p.returncode == 2 and p.stderr.startswith("error: topic 'cjo.nothing.dlq' does not exist"), p.stderr
    assert "Traceback" not in p.stderr
    # an adapter's dead-letter topic, before that adapter ever ran: the message said a worker makes it
    p = dlq(worker_env["CJO_BROKER"], "--topic", "cjo.delivery.email.dlq")
    assert p.returncode == 2 and "an adapter its cjo.delivery.<channel>.dlq" in p.stderr, p.stderr


def test_a_topic_that_is_no_dead_letter_topic_is_refused_before_the_broker_is_asked() -> None:
    """``--topic cjo.touchpoints`` (``.dlq`` forgotten) listed the live input as dead letters of reason ``?``."""
    p = dlq("127.0.0.1:1", "--topic", "cjo.touchpoints", "--connect-timeout", "1")
    assert p.returncode == 2 and p.stdout == "", p.stderr
    assert p.stderr == ("error: --topic cjo.touchpoints is no dead-letter topic (they end in .dlq: <input topic>.dlq, "
                        "cjo.delivery.<channel>.dlq); did you mean cjo.touchpoints.dlq?\n"), p.stderr
    p = dlq("127.0.0.1:1", "--redrive", "--to", "cjo.touchpoints.dlq", "--connect-timeout", "1")
    assert p.returncode == 2 and p.stderr.startswith("error: --to cjo.touchpoints.dlq is the dead-letter topic being "
                                                     "read"), p.stderr
    assert "Traceback" not in p.stderr


def stamp(text: str) -> int:
    from cjo_stream.events import parse_ts

    return int(parse_ts(text) * 1000)


async def dead_letters_at(bootstrap: str, topic: str, letters: list[tuple[int, int, bytes, str]]) -> None:
    """(partition, timestamp ms, value, reason): written as a worker dead-letters, in one batch per partition."""
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await p.start()
    try:
        futures = [await p.send(topic, value, key=b"k", partition=part, timestamp_ms=ts,
                                headers=[("cjo.reason", reason.encode()), ("cjo.source.topic", b"cjo.touchpoints"),
                                         ("cjo.source.partition", b"0"), ("cjo.source.offset", b"7")])
                   for part, ts, value, reason in letters]
        await asyncio.gather(*futures)
    finally:
        await p.stop()


def test_since_skips_the_records_dead_lettered_before_it(broker: Any) -> None:
    """A second re-drive re-sent everything the first one had (they stay on the topic): ``--since`` starts
    each partition at its first record stamped then or later (ListOffsets by time), so it need not."""
    topic = "cjo.test.dlq"
    now = int(time.time() * 1000)
    asyncio.run(dead_letters_at(broker.bootstrap, topic, [
        (0, stamp("2026-01-01T00:00:00Z"), b"old-1", "invalid_json"),  # the same batch as the later two
        (0, stamp("2026-01-02T00:00:00Z"), b"old-2", "invalid_json"),
        (0, stamp("2026-06-01T00:00:00Z"), b"june", "missing_id"),
        (0, now, b"now", "too_large"),
        # nothing that late in partition 1: read from its end, which the local broker reports inside the batch
        (1, stamp("2026-01-01T00:00:00Z"), b"old-3", "invalid_json"),
        (1, stamp("2026-01-01T00:00:01Z"), b"old-4", "invalid_json"),
    ]))
    p = dlq(broker.bootstrap, "--topic", topic)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 6, p.stderr

    p = dlq(broker.bootstrap, "--topic", topic, "--since", "2026-03-01T00:00:00Z", "--values")
    assert p.returncode == 0 and p.stdout.splitlines() == ["june", "now"], p.stderr
    assert ("2 dead letter(s) on cjo.test.dlq since 2026-03-01T00:00:00.000Z: missing_id 1, too_large 1"
            in p.stderr), p.stderr
    p = dlq(broker.bootstrap, "--topic", topic, "--since", "1h", "--values")  # a duration ago
    assert p.returncode == 0 and p.stdout.splitlines() == ["now"], p.stderr

    # a --to naming no topic (a typo) re-drove into a new topic nobody reads, and said so as a success
    p = dlq(broker.bootstrap, "--topic", topic, "--since", "2026-03-01T00:00:00Z", "--redrive", "--to", "cjo.again")
    assert p.returncode == 2 and "error: --to cjo.again: no such topic on the cluster (nothing re-driven" in p.stderr, \
        p.stderr
    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    asyncio.run(ensure_topics(Settings(bootstrap=broker.bootstrap), ["cjo.again"]))
    p = dlq(broker.bootstrap, "--topic", topic, "--since", "2026-03-01T00:00:00Z", "--redrive", "--to", "cjo.again")
    assert p.returncode == 0 and "re-drove 2 to cjo.again" in p.stderr, p.stderr
    again = asyncio.run(collect(broker.bootstrap, ["cjo.again"], lambda rs: len(rs) >= 2, 60))
    assert sorted(r.value for r in again) == [b"june", b"now"]

    p = dlq(broker.bootstrap, "--topic", topic, "--since", "yesterday")
    assert p.returncode == 2 and p.stderr.splitlines() == [
        "error: 'yesterday' is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration ago (7d, 12h, 30m)"], \
        p.stderr


def test_a_header_without_a_value_reads_as_empty() -> None:
    """A `cjo.*` header with no value (a producer's own, kept on the dead letter) stopped `dlq` with a traceback."""
    from aiokafka.structs import ConsumerRecord

    from cjo_stream.runtime.dlq import dead_letter

    rec = ConsumerRecord("cjo.touchpoints.dlq", 0, 7, 0, 0, b"k", b"{}", None, 2, 2,
                         headers=[("cjo.reason", b"invalid_json"), ("cjo.trace", None), ("trace-id", None)])
    d = dead_letter(rec)
    assert (d.reason, d.offset, d.headers) == ("invalid_json", 7, [("trace-id", None)])


def test_the_known_reasons_are_those_the_code_dead_letters_with() -> None:
    """``--reason`` refuses what is not in REASONS: a reason added to the code but not there would be
    refused though its records are on the topic."""
    import re
    from pathlib import Path

    from cjo_stream.runtime.dlq import ADAPTER_REASONS, EVENT_REASONS

    root = Path(ROOT)
    src = {p: p.read_text() for p in (root / "cjo_stream").rglob("*.py")}
    events = {r for text in src.values() for r in re.findall(r'InvalidEvent\("([a-z_]+)"', text)}
    classify = src[root / "cjo_stream" / "events.py"].split("def _classify", 1)[1].split("\ndef ", 1)[0]
    events |= set(re.findall(r'return "([a-z_]+)"', classify))
    runner = src[root / "cjo_stream" / "adapters" / "runner.py"]
    adapters = set(re.findall(r'_dead_letter\(rec, "([a-z_]+)"', runner))
    adapters |= set(re.findall(r'dlq_reason = .*"([a-z_]+)"$', runner, re.M))
    assert set(EVENT_REASONS) == events and set(ADAPTER_REASONS) == adapters
    readme = (root / "README.md").read_text().split("A record is refused with a reason code:", 1)[1].split("\n\n")[0]
    assert set(re.findall(r"`([a-z_]+)`", readme)) >= set(EVENT_REASONS)



def test_a_keyless_tombstone_is_left_and_the_rest_redriven(broker: Any) -> None:
    """An upstream's ``produce(key=None, value=None)`` is dead-lettered (``missing_field``, a tombstone): the
    re-drive then stopped with the Kafka client's AssertionError (exit 70) after sending the records before
    it, which a second run sent again. It holds nothing to re-drive: left, counted, the others sent."""
    from confluent_kafka import Producer  # librdkafka writes what aiokafka's send refuses, as upstreams do

    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    topic, target = "cjo.test.tombstones.dlq", "cjo.again.tombstones"
    asyncio.run(ensure_topics(Settings(bootstrap=broker.bootstrap), [topic, target]))
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": False})
    headers = [("cjo.reason", b"missing_field"), ("cjo.source.topic", b"cjo.touchpoints")]
    for key, value in [(None, b"first"), (None, None), (b"k", None), (None, b"last")]:
        p.produce(topic, value=value, key=key, partition=0, headers=headers)
    assert p.flush(30) == 0
    del p  # (its connections close now, not when the broker stops)

    r = dlq(broker.bootstrap, "--topic", topic, "--redrive", "--to", target)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "re-drove 3 to cjo.again.tombstones" in r.stderr and "left 1 record(s) with neither key nor value" \
        in r.stderr, r.stderr
    again = asyncio.run(collect(broker.bootstrap, [target], lambda rs: len(rs) >= 3, 60))
    assert sorted((x.key or b"", x.value or b"") for x in again) == [(b"", b"first"), (b"", b"last"), (b"k", b"")]
    assert [x.value for x in again if x.key == b"k"] == [None]  # a keyed tombstone is re-driven as one


def test_values_prints_a_pretty_printed_record_on_one_line_produce_reads(broker: Any, tmp_path: Any) -> None:
    """Correcting records is ``--values`` into a file, fix, ``produce --events``, which sends a record per
    line: a pretty-printed dead letter (workers read those) became three broken records, one per line."""
    import json

    topic = "cjo.test.pretty.dlq"
    pretty = json.dumps({"messageId": "m-1", "type": "track", "event": "x\ny", "userId": "u-1"}, indent=2).encode()
    assert pretty.count(b"\n") > 3
    asyncio.run(dead_letters_at(broker.bootstrap, topic, [(0, int(time.time() * 1000), pretty, "missing_field"),
                                                          (0, int(time.time() * 1000), b"{\r\n}", "missing_field")]))
    p = dlq(broker.bootstrap, "--topic", topic, "--values")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and json.loads(lines[0]) == json.loads(pretty) and json.loads(lines[1]) == {}, lines

    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(lines[0].replace('"userId"', '"timestamp": "2026-03-02T10:00:00Z", "userId"') + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    r = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "produce", "--broker", broker.bootstrap, "--events",
                        str(fixed), "--topic", "cjo.test.fixed", "--create"], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=120, check=False)
    assert r.returncode == 0 and "produced 1 records" in r.stdout + r.stderr, r.stdout + r.stderr
