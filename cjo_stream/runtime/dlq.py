"""``cjo-stream dlq``: what is on a dead-letter topic and why, and sending it back once the cause is fixed.

Workers dead-letter the input records they cannot decode to ``<input>.dlq``; adapters, the delivery
commands they gave up on to ``cjo.delivery.<channel>.dlq``. Each record is the original, unchanged, with
headers saying why (``cjo.reason``, ``cjo.detail``), where it came from and when. This lists them with
their reason, origin and size (never the payload, which may hold personal data, unless ``--values``),
counts them by reason, and with ``--redrive`` produces them back to the topic each came from, key,
value and the producer's own headers as they were. ``--since`` starts each partition at the first record
dead-lettered at or after a time (the records' timestamps, by ListOffsets): a second re-drive skips what
the first one re-drove. Debian's kcat cannot talk to the local broker: this is the way to look on a laptop.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cjo_stream.argtypes import positive_float, positive_int, topic, when
from cjo_stream.config import Settings

#: Every ``cjo.reason`` a dead letter can carry: a worker's (the event model's reason codes, README
#: "Event model") and an adapter's (docs/adapters.md). ``--reason`` takes only these: a misspelt one
#: listed "0 of N" and exited 0, as if that reason had no records (tests/runtime/test_dlq_cli.py checks
#: this list against the code that dead-letters).
EVENT_REASONS = ("invalid_json", "invalid_encoding", "missing_field", "wrong_type", "bad_timestamp", "bad_number",
                 "bad_id", "duplicate_key", "unknown_type", "missing_id", "too_large", "too_deep", "bad_receipt")
ADAPTER_REASONS = ("invalid_command", "permanent_failure", "retries_exhausted")
REASONS = EVENT_REASONS + ADAPTER_REASONS


@dataclass
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone (dead-lettered as such, re-driven as one)
    reason: str
    detail: str
    source_topic: str
    source: str  # topic[partition]@offset of the original record
    failed_at: str  # RFC 3339
    headers: list[tuple[str, bytes]]  # the producer's own (tracing, schema ids): sent back on a re-drive


def dead_letter(rec: Any) -> DeadLetter:
    """A consumer record of a dead-letter topic, its headers read (a header missing reads as empty)."""
    from cjo_stream.timefmt import format_ts

    # (a header without a value, from whoever produced the record, reads as empty)
    h = {k: (v or b"").decode("utf-8", "replace") for k, v in (rec.headers or ()) if k.startswith("cjo.")}
    failed = h.get("cjo.failed_at", "")
    try:
        failed = format_ts(float(failed))  # workers write epoch seconds, adapters RFC 3339
    except ValueError:
        pass
    src = h.get("cjo.source.topic", "")
    return DeadLetter(rec.partition, rec.offset, rec.key, rec.value, h.get("cjo.reason", "?"),
                      h.get("cjo.detail", ""), src,
                      f"{src}[{h.get('cjo.source.partition', '?')}]@{h.get('cjo.source.offset', '?')}", failed,
                      [(k, v) for k, v in (rec.headers or ()) if not k.startswith("cjo.")])


async def read_dead_letters(settings: Settings, name: str, visit: Callable[[DeadLetter], None],
                            since: float | None = None) -> None:
    """Every record on ``name``, from its beginning (``since``: its first record stamped then or later) to
    its end now, to ``visit`` as it is read (a topic of millions is not held in memory); ValueError if
    there is no such topic."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from cjo_stream.kafka.guard import FetchGuard
    from cjo_stream.kafka.reading import read_to_end

    c = AIOKafkaConsumer(**settings.kafka_kwargs(), group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest")
    await c.start()
    try:
        await c.topics()
        parts = c.partitions_for_topic(name)
        if not parts:
            raise ValueError(f"topic {name!r} does not exist on {settings.bootstrap} (a worker makes "
                             f"{settings.dlq_topic} when it starts, an adapter its cjo.delivery.<channel>.dlq; "
                             "--topic names another)")
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        c.assign(tps)
        guard = FetchGuard(c, settings, "dlq")  # a batch this process cannot decode: logged, the rest is read
        since_ms = -1
        if since is not None:
            since_ms = max(0, int(since * 1000))
            found = await c.offsets_for_times({tp: since_ms for tp in tps})
            ends = await c.end_offsets(tps)
            for tp in tps:
                at = found.get(tp)  # None: no record that late, nothing to read there
                guard.seek(tp, at.offset if at is not None and at.timestamp >= 0 else ends[tp])

        def each(recs: list[Any]) -> None:
            for r in recs:
                # by record time too: the local broker answers ListOffsets with the base offset of the first
                # batch holding a later record (measured: offset 0 for any time before its last record), a
                # fetch returns whole batches, and a later record may carry an earlier time (another clock)
                if r.timestamp >= since_ms:
                    visit(dead_letter(r))

        await read_to_end(c, tps, each, guard)
    finally:
        await c.stop()


async def redrive(settings: Settings, letters: Iterable[DeadLetter], to: str | None) -> Counter[str]:
    """Produce each dead letter's key, value and the producer's own headers to ``to`` or the topic it came
    from; count per topic (``""``: records with neither key nor value, not sent).

    Every record is checked before the first is sent: a record naming no source topic stopped a re-drive
    half-way, and a keyless tombstone (an upstream's ``produce(key=None, value=None)``, dead-lettered as
    ``missing_field``) stopped it with a traceback from the Kafka client, which sends no record with neither
    key nor value, after it had sent the ones before: run again, those went twice. Such a record holds
    nothing to re-drive, so it is left on the dead-letter topic and counted.
    """
    from cjo_stream.kafka.producer import make_producer

    every = list(letters)
    todo = [d for d in every if d.key is not None or d.value is not None]
    sent: Counter[str] = Counter({"": len(every) - len(todo)})
    for d in todo:
        if not (to or d.source_topic):
            raise ValueError(f"the record at {d.partition}:{d.offset} does not say where it came from "
                             "(no cjo.source.topic header): give --to TOPIC (nothing re-driven)")
    p = make_producer(settings)
    await p.start()
    try:
        futures = []
        for d in todo:
            target = to or d.source_topic
            futures.append(await p.send(target, d.value, key=d.key, headers=d.headers or None))
            sent[target] += 1
        await asyncio.gather(*futures)
    finally:
        await p.stop()
    return +sent


def value_line(value: bytes | None) -> bytes:
    """A dead letter's value as one line of ``--values``: its line breaks written as spaces.

    Why: ``--values`` into a file, fix it, ``cjo-stream produce --events FILE`` is how records are corrected,
    and ``produce`` sends one record per line; a pretty-printed record (Jackson's ``INDENT_OUTPUT``, Python's
    ``indent=2``), which workers read, became one broken record per line of it. In JSON a line break can only
    be whitespace between tokens (in a string it is escaped), so the line is the same document.
    """
    return (value or b"").replace(b"\r", b" ").replace(b"\n", b" ") + b"\n"


def _line(d: DeadLetter) -> str:
    detail = " ".join(d.detail.split())[:160]
    return f"{d.partition}:{d.offset}  {d.failed_at or '-'}  {d.reason}  from {d.source}  {len(d.value or b'')} B  {detail}"


def check_reasons(given: list[str] | None) -> None:
    """A UsageError naming the known reasons for a ``--reason`` that is none of them (before the broker is asked)."""
    import difflib

    from cjo_stream.errors import UsageError

    for r in given or ():
        if r not in REASONS:
            close = difflib.get_close_matches(r, REASONS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"--reason {r!r} is no dead-letter reason{hint}: one of {', '.join(REASONS)}")


def check_topics(name: str, to: str | None) -> None:
    """A UsageError for a ``--topic`` that is no dead-letter topic, or a ``--to`` naming the topic read.

    Every dead-letter topic ends in ``.dlq`` (``<input>.dlq``, ``cjo.delivery.<channel>.dlq``). In a drill,
    ``--topic cjo.touchpoints`` (the input, ``.dlq`` forgotten) listed 14,940 live events as dead letters of
    reason ``?``, and with ``--redrive --to`` would have produced the whole input topic again.
    """
    from cjo_stream.errors import UsageError

    if not name.endswith(".dlq"):
        raise UsageError(f"--topic {name} is no dead-letter topic (they end in .dlq: <input topic>.dlq, "
                         f"cjo.delivery.<channel>.dlq); did you mean {name}.dlq?")
    if to == name:
        raise UsageError(f"--to {to} is the dead-letter topic being read: re-drive to the topic the records "
                         "came from (leave --to out) or another one")


def _cmd_dlq(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from cjo_stream.errors import UsageError
    from cjo_stream.kafka.connect import broker_ready, lost_broker
    from cjo_stream.settings_args import settings_from
    from cjo_stream.timefmt import format_ts

    if args.to and not args.redrive:
        raise UsageError("--to names where --redrive produces: give --redrive too")
    check_reasons(args.reason)
    since = when(args.since, time.time()) if args.since else None
    s = settings_from(args)
    name = args.topic or s.dlq_topic
    check_topics(name, args.to)
    broker_ready(s, args)
    by_reason: Counter[str] = Counter()
    shown: list[DeadLetter] = []  # kept for --redrive only
    listed = 0
    out = sys.stdout

    def visit(d: DeadLetter) -> None:
        nonlocal listed
        by_reason[d.reason] += 1
        if (args.reason and d.reason not in args.reason) or (args.limit is not None and listed >= args.limit):
            return
        if args.values:
            out.buffer.write(value_line(d.value))
        else:
            out.write(_line(d) + "\n")
        listed += 1
        if args.redrive:
            shown.append(d)

    try:
        asyncio.run(read_dead_letters(s, name, visit, since))
    except ValueError as e:
        raise UsageError(str(e)) from None
    except KafkaError as e:
        raise lost_broker(s, args, e) from None
    out.flush()
    total = sum(by_reason.values())
    reasons = ", ".join(f"{r} {n}" for r, n in by_reason.most_common())
    of = f"{listed} of " if listed != total else ""
    after = f" since {format_ts(since)}" if since is not None else ""
    # a known reason with no record here is no mistake: said, exit 0
    none = f" (none for {', '.join(args.reason)})" if args.reason and not listed else ""
    print(f"dlq: {of}{total} dead letter(s) on {name}{after}" + (f": {reasons}" if reasons else "") + none,
          file=sys.stderr)
    if args.redrive and shown and args.to:
        from cjo_stream.kafka.topics import partition_counts

        # producing to a topic that does not exist creates it on brokers that auto-create: a typo in --to
        # re-drove everything into a new topic nobody reads, and said so as a success
        if not asyncio.run(partition_counts(s, [args.to])):
            raise UsageError(f"--to {args.to}: no such topic on the cluster (nothing re-driven; producing there "
                             "would create it): name an existing topic")
    if args.redrive and shown:
        try:
            sent = asyncio.run(redrive(s, shown, args.to))
        except ValueError as e:
            raise UsageError(str(e)) from None
        except KafkaError as e:
            raise lost_broker(s, args, e) from None
        empty = sent.pop("", 0)
        print(f"dlq: re-drove {', '.join(f'{n} to {t}' for t, n in sorted(sent.items())) or 'nothing'} (they stay on "
              f"{name}; a record that still fails is dead-lettered again)", file=sys.stderr)
        if empty:
            print(f"dlq: left {empty} record(s) with neither key nor value (a keyless tombstone holds no event; "
                  "Kafka clients send no such record)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dlq", help="list the records on a dead-letter topic with their reasons; re-drive them",
                       description="Reads a dead-letter topic from its beginning (or --since) to its end now and "
                                   "prints one line "
                                   "per record: partition:offset, when, reason, origin, size, detail (not the "
                                   "payload); a count by reason on stderr.")
    p.add_argument("--broker", help="bootstrap servers host:port[,...] (default: $CJO_BROKER or 127.0.0.1:9092)")
    p.add_argument("--connect-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                   help="give up when the broker does not answer within this time (default 10; exit code 4)")
    p.add_argument("--topic", type=topic, help="dead-letter topic (default: $CJO_INPUT_TOPIC.dlq, cjo.touchpoints.dlq; "
                                               "an adapter's: cjo.delivery.<channel>.dlq)")
    p.add_argument("--reason", action="append", metavar="REASON",
                   help="only records dead-lettered for this reason (repeatable), e.g. too_large; a reason code of "
                        "the event model or an adapter's (invalid_command, permanent_failure, retries_exhausted)")
    p.add_argument("--since", metavar="WHEN",
                   help="only records dead-lettered at or after this time: RFC 3339, or a duration ago like 2h "
                        "(a second --redrive: from when the first one ran, skipping what it re-drove)")
    p.add_argument("--limit", type=positive_int, help="at most this many records (the first ones)")
    p.add_argument("--values", action="store_true",
                   help="print each record's value as it is (the payload, may hold personal data), one per line (its "
                        "line breaks, whitespace in JSON, as spaces: `cjo-stream produce --events` reads the file)")
    p.add_argument("--redrive", action="store_true",
                   help="produce the records listed back to the topic each came from, key, value and the "
                        "producer's headers unchanged")
    p.add_argument("--to", type=topic, metavar="TOPIC", help="with --redrive: produce to this topic instead")
    p.set_defaults(func=_cmd_dlq)
