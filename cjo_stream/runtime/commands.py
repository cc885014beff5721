"""Runtime subcommands: ``broker``, ``worker``, ``produce``, ``generate``, ``tail``, ``demo``.

A user's mistake (a bad flag or ``CJO_*`` value, a missing file, a broker that does not answer, a
port in use, broken journeys) is raised as a :class:`cjo_stream.errors.UserError`: one line and its
exit code, checked before anything is started or consumed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from cjo_stream.argtypes import (
    channel_name,
    customer_count,
    port,
    positive_float,
    positive_int,
    seconds,
    topic,
)
from cjo_stream.config import TOPOLOGIES_HELP, Settings, topologies_dir
from cjo_stream.errors import ExitCode, UsageError, readable_file
from cjo_stream.gc_tuning import gc_thresholds, tune_gc
from cjo_stream.kafka.connect import CONNECT_TIMEOUT, broker_ready, lost_broker
from cjo_stream.progress import Progress
from cjo_stream.settings_args import check_data_dir, settings_from

if TYPE_CHECKING:
    from cjo_stream.journeys.model import Journey

#: ``--customers`` of ``generate`` and ``demo``: customers keep arriving, so the flag sets how many are about at once
CUSTOMERS_HELP = ("customers arriving per simulated month (default {}); each acts over days of simulated time, "
                  "which the rate plays back, so a short run sees the first of them (the summary counts them)")


def _key_of(line: bytes) -> bytes | None:
    """The key of a line: its ``userId``, else its ``anonymousId``, as the text the decoder reads it as (a whole
    number ``0`` is the customer ``"0"``, which ``or`` passed over for the anonymous id or no key at all)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    for field in ("userId", "anonymousId"):
        k = obj.get(field)
        if type(k) is int or (type(k) is str and k):
            return str(k).encode()
    return None


async def produce_lines(settings: Settings, lines: Iterable[bytes], *, topic: str | None = None,
                        rate: float | None = None, total: int | None = None, progress: bool = False,
                        start: float | None = None, oversized: list[tuple[int, int]] | None = None) -> int:
    """Produce JSON lines to the input topic, keyed by userId/anonymousId (bad lines unkeyed: the worker
    dead-letters them). ``rate`` paces sending in events per second; with ``start`` (epoch seconds) line
    ``n`` is sent at ``start + n / rate``, the time ``generate`` stamps it with, so an event's timestamp
    is when it was sent (decision latency then measures the pipeline, not the generator's start-up).
    A line larger than the producer takes is not sent and, with ``oversized``, noted there as (line
    number, bytes) while the rest is sent (one such line stopped the whole file); without it, it raises."""
    from aiokafka.errors import MessageSizeTooLargeError

    from cjo_stream.kafka.producer import make_producer
    from cjo_stream.kafka.topics import ensure_topics

    topic = topic or settings.input_topic
    await ensure_topics(settings, [topic])
    producer = make_producer(settings)
    await producer.start()
    bar = Progress(total, f"producing to {topic}", force=progress)
    n = 0
    t0 = time.monotonic() if start is None else time.monotonic() + (start - time.time())
    pending: list[Any] = []
    try:
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                pending.append(await producer.send(topic, line, key=_key_of(line)))
            except MessageSizeTooLargeError:
                if oversized is None:
                    raise
                oversized.append((number, len(line)))
                continue
            n += 1
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
            if rate:
                ahead = n / rate - (time.monotonic() - t0)
                if ahead > 0.005:
                    await asyncio.sleep(ahead)
            if n % 500 == 0:
                bar.update(n)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    bar.close(n)
    return n


def _read(path: str) -> Iterator[bytes]:
    """The file's lines as simulate and replay read them (gzip told by content, a byte-order mark dropped)."""
    from cjo_stream.errors import FileProblem
    from cjo_stream.jsonl import Damaged, jsonl_lines

    try:
        yield from jsonl_lines(path)
    except Damaged as e:
        raise FileProblem(f"cannot read events file {e.path}: {e.reason}") from None


def _refuse_json_array(path: str) -> None:
    """A file that is not JSON lines, refused before anything is sent, with the hint simulate and replay
    give: a JSON array (an export) sent as is is one record the workers dead-letter (``wrong_type``), and
    a file whose first line is no JSON object at all (``--events README.md``, a CSV, a pretty-printed
    export) was sent line by line, every line to the dead-letter topic."""
    from cjo_stream.errors import InvalidInput

    for number, line in enumerate(_read(path), start=1):
        text = line.strip()
        if text:
            if text.startswith(b"["):
                raise InvalidInput(f"{path} holds a JSON array, not JSON lines (one Segment event object per "
                                   "line): `jq -c '.[]' FILE > FILE.jsonl` writes one event per line; nothing sent")
            if not text.startswith(b"{") or text == b"{":
                raise InvalidInput(f"{path}:{number}: not a JSON object, expected JSON lines (one Segment event "
                                   "object per line; `jq -c . FILE > FILE.jsonl` turns pretty-printed JSON into "
                                   "them); nothing sent")
            return


def _cmd_broker(args: argparse.Namespace) -> int:
    from cjo_stream.errors import InvalidInput
    from cjo_stream.kafka.local_broker import BrokerError, serve_forever

    try:
        return serve_forever(args.port)
    except BrokerError as e:
        raise InvalidInput(str(e)) from None


def _cmd_worker(args: argparse.Namespace) -> int:
    import logging
    import logging.config

    from cjo_stream.errors import load_topology_checked
    from cjo_stream.journeys.loader import loaded_text
    from cjo_stream.logs import from_env, level_name, logging_config, say

    s = settings_from(args, topologies=args.topologies, store=args.store, web_port=args.web_port,
                      data_dir=args.data_dir, partitions=args.partitions, concurrency=args.concurrency)
    try:
        json_logs, env_level = from_env()
    except ValueError as e:
        raise UsageError(str(e)) from None
    # a flag given wins over the variable, as every flag does (README, Configuration); neither: warn
    level = level_name(args.loglevel) if args.loglevel else env_level if "CJO_LOG_LEVEL" in os.environ else "WARNING"
    gc_thresholds(s.gc_threshold)
    # journeys first: with errors nothing is started and nothing consumed
    topo = load_topology_checked(s.topologies, refusing="refusing to start; nothing was consumed",
                                 warn=not args.supervised)
    _check_worker_ports(s)
    check_data_dir(s.data_dir)
    if not args.supervised:  # (a supervisor told it once for its processes)
        from cjo_stream.runtime.edits import changes_since_last_start

        changes = changes_since_last_start(s.data_dir, topo.journeys)
        for jid, version in changes.edited:
            say(f"warning: journey {jid} version {version} was edited since the last start without a new "
                "version: customers already in it go on under the edited definition (README, Versions; "
                "bump `version` and keep the old file to keep them on the old one)", "WARNING")
        for jid in changes.removed:
            say(f"warning: journey {jid} was loaded at the last start and is not now: customers in it leave it "
                "(expired, version_unavailable) at their next event or timer; until then the state API shows "
                "them in it with `ending` set", "WARNING")
    _tell_pauses(s.data_dir, topo.journeys, told=args.supervised)
    from cjo_stream.auth import ApiAuth, AuthConfigError
    from cjo_stream.tls import TLSConfigError, client_verify, server_context

    try:  # unusable tokens or certificates: one line and exit 2, before anything connects (or is started)
        ApiAuth.from_settings(s)
        server_context(s)
        client_verify(s)  # the CA a worker checks the others' HTTPS with (it was a traceback at the first query)
    except (AuthConfigError, TLSConfigError) as e:
        raise UsageError(str(e)) from None
    if s.concurrency > 1:
        from cjo_stream.runtime.supervisor import ConcurrencyError, run_workers

        try:
            return run_workers(s, s.concurrency, level.lower())
        except ConcurrencyError as e:
            raise UsageError(str(e)) from None
    logging.config.dictConfig(logging_config(json_logs, level))
    from cjo_stream.kafka.connect import where

    source = where(s, getattr(args, "broker", None))
    if not args.supervised:  # (a supervisor's processes: it said it started them)
        # the first line a user sees: without it, a worker whose broker is not up showed only warnings
        say(f"cjo-stream worker: {loaded_text(topo.journeys)} loaded; waiting for the broker at "
            f"{s.bootstrap} ({source})")
    if not _wait_for_broker_forever(s, source):
        return 0
    check_partition_counts(s)
    from cjo_stream.runtime.host import start_early

    loop, stream, started = start_early(s, topo)  # joins the stage groups while Faust is imported
    from faust import Worker

    from cjo_stream.runtime.app import build_app

    app, _ = build_app(s, topo, stream, started)
    tune_gc(s.gc_threshold)
    if level != "DEBUG":  # (debugging, the client's own lines show: logging_config)
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
    # CJO_LOG_FORMAT=json gives one JSON object per line; no payloads or addresses either way
    worker = Worker(app, loop=loop, loglevel=level, logging_config=logging_config(json_logs, level), quiet=True,
                    redirect_stdouts=False)
    worker.spinner = None  # Faust's start-up spinner writes cursor escapes even into a log file
    say(f"cjo-stream worker: broker {s.bootstrap}, {loaded_text(topo.journeys)}, store {s.store}, "
        f"state API {s.web_scheme}://{s.web_host}:{s.web_port}/customers/<id>")
    worker.execute_from_commandline()
    return 0


def _tell_pauses(data_dir: str, journeys: Iterable[Journey], *, told: bool) -> None:
    """Since when each paused journey version has been paused (runtime.pauses): served as a metric, a warning
    for one paused over a day (a pause left in by mistake holds its customers' sends for good), and a line for
    one live again (the resume took). ``told``: a supervisor's process, whose supervisor said it."""
    from cjo_stream import metrics
    from cjo_stream.engine.core import PAUSED_RECHECK
    from cjo_stream.logs import say
    from cjo_stream.runtime.pauses import PAUSED_LONG, paused_since
    from cjo_stream.timefmt import format_ts

    now = time.time()
    pauses = paused_since(data_dir, journeys, now)
    metrics.publish_paused(pauses.since)
    if told:
        return
    for (jid, version), at in sorted(pauses.since.items()):
        if now - at >= PAUSED_LONG:
            days = int((now - at) // 86400)
            say(f"warning: journey {jid} version {version} has been paused since {format_ts(at)} "
                f"({days} day{'' if days == 1 else 's'}): nobody enters it and its customers' sends are held until its "
                "file says status: live (README, Pausing a journey)", "WARNING")
    for jid, version, at in pauses.resumed:  # the on-call engineer's confirmation that the resume took
        say(f"journey {jid} version {version} is live again (paused since {format_ts(at)}): each send it held is "
            f"decided within {PAUSED_RECHECK / 60:.0f} minutes, with the file as it is now")


def _check_worker_ports(s: Settings) -> None:
    from cjo_stream.errors import port_free

    for i in range(s.concurrency):
        what = "--web-port / CJO_WEB_PORT" + (f" + {i} for worker process {i}" if i else "")
        port_free(s.web_host, s.web_port + i, what)


def check_partition_counts(s: Settings) -> None:
    """Refuse to start when the topics a worker partitions by customer exist with another partition count.

    Customers are placed by ``hash % CJO_PARTITIONS``; a worker restarted with another count sent to
    partitions that do not exist and ended in aiokafka's AssertionError ('Unrecognized partition').
    """
    from cjo_stream.kafka.topics import partition_counts

    names = [s.internal_topic, s.profiles_changelog, s.timers_changelog, s.aliases_topic]
    counts = asyncio.run(partition_counts(s, names))
    for name in names:
        n = counts.get(name)
        if n is not None and n != s.partitions:
            raise UsageError(f"topic {name} has {n} partitions but CJO_PARTITIONS={s.partitions} (or --partitions): "
                             f"a worker's partition count is fixed once its topics exist; set {n}, or use a new "
                             "CJO_APP_ID")


def _wait_for_broker_forever(s: Settings, source: str) -> bool:
    """A worker may start before its broker: retry with backoff, one log line per failed attempt.
    False when SIGTERM or Ctrl-C stopped it first."""
    import logging

    from cjo_stream.kafka.connect import wait_for_broker_or_stop

    return wait_for_broker_or_stop(s, source, logging.getLogger("cjo_stream.worker"))


def _cmd_produce(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    s = settings_from(args)
    readable_file(args.events, "events file")
    # the progress bar's total needs a first pass, which only a regular file allows: a pipe
    # (`--events /dev/stdin`, a named pipe) gives its bytes once, and they are for sending
    regular = stat.S_ISREG(os.stat(args.events).st_mode)
    if regular:
        _refuse_json_array(args.events)
    total = sum(1 for line in _read(args.events) if line.strip()) if regular else None
    broker_ready(s, args)
    if args.topic and not args.create:
        from cjo_stream.kafka.topics import partition_counts

        # a misspelt --topic was created and filled, "produced N records" and exit 0, while the workers read
        # another (a walkthrough); the default input topic is still made when missing (a fresh cluster)
        if not asyncio.run(partition_counts(s, [args.topic])):
            raise UsageError(f"--topic {args.topic}: no such topic on the cluster (nothing sent; producing there "
                             "would create it): name an existing topic, or add --create")
    oversized: list[tuple[int, int]] = []
    try:
        n = asyncio.run(produce_lines(s, _read(args.events), topic=args.topic, rate=args.rate, total=total,
                                      progress=args.progress, oversized=oversized))
    except KafkaError as e:
        raise lost_broker(s, args, e) from None
    print(f"produced {n} records to {args.topic or s.input_topic}", file=sys.stderr)
    if oversized:
        for number, size in oversized:
            print(f"{args.events}:{number}: {size:,} bytes, larger than the producer sends; not sent", file=sys.stderr)
        print(f"error: {len(oversized)} line(s) not sent (above)", file=sys.stderr)
        return int(ExitCode.INVALID)
    return 0


def _on_time(event: dict[str, Any], due: float) -> dict[str, Any]:
    """An event sent later than its stamp ``due`` (the generator fell behind its rate, e.g. on a busy
    machine) carries the time it is sent: latency downstream then measures the pipeline, not the generator."""
    from cjo_stream.events import format_ts

    now = time.time()
    if now - due > 0.05:
        event["timestamp"] = format_ts(now)
    return event


def _generated(args: argparse.Namespace, start: float) -> tuple[int, set[int], Iterator[dict[str, Any]]]:
    """``generate``'s seed, the customers seen so far (filled as events are drawn) and its events from ``start``.

    A second run with one fixed default seed resent the first run's messageIds: workers dropped it all as
    duplicates (a walkthrough); so a seed of its own each run unless one is given."""
    from cjo_stream.generator import generate_events

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2, 1_000_000)
    seen: set[int] = set()
    events = generate_events(customers=args.customers, seed=seed, start=start, duration=args.duration,
                             rate=args.rate, seen=seen)
    return seed, seen, events


def _cmd_generate(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    s = settings_from(args)
    total = int(args.rate * args.duration)
    start = 0.0
    if args.start:  # checked before the broker's wait, as every flag (a typo cost 10 s and gave exit 4)
        from cjo_stream.events import parse_ts

        try:
            start = parse_ts(args.start)
        except ValueError:
            raise UsageError(f"--start {args.start!r} is not an RFC 3339 time from 1970 to 2106") from None
    if args.out:
        return _generate_file(args, total, start or float(int(time.time())))
    broker_ready(s, args)
    if not args.start:
        start = time.time() + 0.5  # topics and producer first; events are sent at the time they carry
    seed, seen, events = _generated(args, start)
    if args.start:  # the times asked for, as they are (the simulator can then compute the same)
        lines = (orjson.dumps(e) for _, e in zip(range(total), events, strict=False))
    else:
        lines = (orjson.dumps(_on_time(e, start + i / args.rate)) for i, e in zip(range(total), events, strict=False))
    try:
        n = asyncio.run(produce_lines(s, lines, rate=args.rate, total=total,
                                      start=None if args.start else start))
    except KafkaError as e:
        raise lost_broker(s, args, e) from None
    print(f"generated {n} events from {len(seen)} customers (seed {seed})", file=sys.stderr)
    return 0


def _generate_file(args: argparse.Namespace, total: int, start: float) -> int:
    """``generate --out FILE``: the events a live run would send (event ``n`` stamped ``start + n / rate``), as JSON
    lines for ``simulate`` and ``replay``, with no broker: a journey author had test data only from a broker."""
    from cjo_stream.errors import FileProblem, writable_file, write_problem

    path = writable_file(args.out, "the events file")
    seed, seen, events = _generated(args, start)
    n = 0
    try:
        with open(path, "wb") as f:
            for _, e in zip(range(total), events, strict=False):
                f.write(orjson.dumps(e) + b"\n")
                n += 1
    except OSError as e:
        if n == 0 and not os.path.exists(path):
            raise FileProblem(f"cannot write the events file {path}: {e.strerror}") from None
        raise write_problem(f"the events file {path}", e) from None
    print(f"generated {n} events from {len(seen)} customers (seed {seed}) into {path}", file=sys.stderr)
    return 0


async def tail(settings: Settings, topics: list[str], *, from_beginning: bool, limit: int | None,
               out: Any = None, timeout: float | None = None, keep: Callable[[bytes], bool] | None = None,
               to_end: bool = False) -> int:
    """Print the records of ``topics`` (those ``keep`` takes) as they arrive; how many were printed. ``to_end``:
    those already on the topics, from the beginning, then stop (who got a message: a command that ends)."""
    from aiokafka import AIOKafkaConsumer

    from cjo_stream.kafka.guard import FetchGuard
    from cjo_stream.kafka.topics import ensure_topics

    await ensure_topics(settings, topics)
    out = out or sys.stdout
    c = AIOKafkaConsumer(*topics, **settings.kafka_kwargs(), group_id=None,
                         auto_offset_reset="earliest" if from_beginning else "latest", enable_auto_commit=False)
    # an unreadable record batch is reported on stderr and stops only its partition
    guard = FetchGuard(c, settings, "tail", reset="earliest" if from_beginning else "latest")
    await c.start()
    for tp in c.assignment():  # resolve the start positions now, so nothing after the line below is missed
        await c.position(tp)
    if to_end:
        return await _tail_to_end(c, guard, topics, settings, out, limit, keep)
    if not from_beginning:
        # "latest" is the reported end, which the local broker puts one past the last batch's base offset:
        # the rest of each partition's last batch (old commands) would print as new. Read past it unseen.
        from cjo_stream.kafka.reading import read_to_end

        await read_to_end(c, list(c.assignment()), lambda recs: None, guard)
    print(f"tail: following {', '.join(topics)} on {settings.bootstrap} "
          f"({'from the beginning' if from_beginning else 'new records'}); Ctrl-C stops", file=sys.stderr, flush=True)
    n = 0
    deadline = time.monotonic() + timeout if timeout else None
    try:
        while limit is None or n < limit:
            if deadline and time.monotonic() > deadline:
                break
            got = [r.value or b"" for recs in (await guard.getmany(timeout_ms=200)).values() for r in recs]
            got = [v for v in got if keep is None or keep(v)]
            for v in got if limit is None else got[:limit - n]:  # a fetch may hold more than the limit
                out.write(v.decode() + "\n")
                n += 1
            out.flush()
    finally:
        await c.stop()
    return n


async def _tail_to_end(c: Any, guard: Any, topics: list[str], settings: Settings, out: Any, limit: int | None,
                       keep: Callable[[bytes], bool] | None) -> int:
    """``tail --to-end``: the records on the topics now, from the beginning, then stop (the consumer too)."""
    from cjo_stream.kafka.reading import read_to_end

    print(f"tail: reading {', '.join(topics)} on {settings.bootstrap} from the beginning to the end",
          file=sys.stderr, flush=True)
    printed = [0]

    def write(recs: list[Any]) -> None:
        for r in recs:
            v = r.value or b""
            if (keep is None or keep(v)) and (limit is None or printed[0] < limit):
                out.write(v.decode() + "\n")
                printed[0] += 1
        out.flush()

    try:
        await read_to_end(c, list(c.assignment()), write, guard)
    finally:
        await c.stop()
    return printed[0]


def _cmd_tail(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    s = settings_from(args)
    if args.journey and not args.journey_events:
        raise UsageError("--journey follows one journey's journey events: give --journey-events too")
    if args.journey_events:  # what the workers decided, step by step: an update step shows only here
        if args.receipts or args.channel:
            raise UsageError(f"--journey-events follows {s.journey_events_topic} alone: leave out "
                             f"{'--receipts' if args.receipts else '--channel'} (to follow one journey: --journey NAME)")
        topics, keep = [s.journey_events_topic], journey_events_of(args.journey) if args.journey else None
        for note in unknown_journeys(args.journey or [], args.topologies or topologies_dir()):
            print(f"warning: {note}", file=sys.stderr)
    else:
        every = args.receipts and not args.channel  # every channel's receipts: no policies.yaml to read
        channels = [] if every else tail_channels(args.channel, args.topologies or topologies_dir(),
                                                  given=bool(args.topologies or os.environ.get("CJO_TOPOLOGIES")))
        topics = [s.receipts_topic] if args.receipts else [s.delivery_topic(c) for c in channels]
        keep = receipts_of(channels) if args.receipts and not every else None
    broker_ready(s, args)
    try:
        asyncio.run(tail(s, topics, from_beginning=args.from_beginning or args.to_end, limit=args.limit, keep=keep,
                         to_end=args.to_end))
    except KafkaError as e:
        raise lost_broker(s, args, e) from None
    return 0


def _naming(field: str, wanted: list[str], *, unnamed: bool) -> Callable[[bytes], bool]:
    """A ``tail`` filter: the JSON records whose ``field`` is one of ``wanted``; one naming none (no text there)
    is kept if ``unnamed``; a record that is no JSON object is kept (printed as it is)."""
    names = frozenset(wanted)

    def keep(value: bytes) -> bool:
        try:
            name = orjson.loads(value).get(field)
        except (orjson.JSONDecodeError, AttributeError):
            return True
        return name in names if isinstance(name, str) else unnamed

    return keep


def journey_events_of(journeys: list[str]) -> Callable[[bytes], bool]:
    """``tail --journey-events --journey``: those journeys' journey events (a stage move or a receipt names no
    journey: left out); a record that is none is printed, as analytics would count it invalid."""
    return _naming("journey", journeys, unnamed=False)


def unknown_journeys(named: list[str], root: str) -> list[str]:
    """``tail --journey NAME`` naming no journey of ``root``: one note each, with the closest id. A typo followed
    nothing, for ever, without a word; still followed (the workers may run journeys this directory lacks)."""
    import difflib

    from cjo_stream.journeys.loader import JourneyLoadError, load_topology

    try:
        ids = sorted({j.id for j in load_topology(root).journeys})
    except (JourneyLoadError, OSError):
        return []  # no journeys to compare with: nothing to say
    notes = []
    for name in dict.fromkeys(named):
        if name not in ids:
            close = difflib.get_close_matches(name, ids, n=1, cutoff=0.6)
            meant = f" (did you mean {close[0]!r}?)" if close else f" ({', '.join(ids)})"
            notes.append(f"--journey {name}: no journey of that id in {root}{meant}; following it anyway")
    return notes


def receipts_of(channels: list[str]) -> Callable[[bytes], bool]:
    """``tail --receipts --channel``: the receipts of those channels (one topic holds every channel's); a record
    that is no receipt is printed, as the workers would dead-letter it (``bad_receipt``)."""
    return _naming("channel", channels, unnamed=True)


def tail_channels(named: list[str] | None, root: str, given: bool = False) -> list[str]:
    """The channels ``tail`` follows: those named (built in, or declared in ``<root>/policies.yaml``), else every
    one. A name neither built in nor declared is a usage error naming the closest (following it created a topic
    for a typo and waited on it for ever). A directory ``given`` (flag or CJO_TOPOLOGIES) must exist: a mistyped
    one left out its declared channels without a word; the default ``topologies`` may be missing."""
    from cjo_stream.commands import ALL_CHANNELS
    from cjo_stream.errors import existing_dir
    from cjo_stream.journeys.policies import topology_policies, unknown_channel
    from cjo_stream.journeys.source import SourceError

    names = list(dict.fromkeys(named or ()))
    if names and all(n in ALL_CHANNELS for n in names):
        return names  # built-in ones only: policies.yaml is not needed
    if given:
        existing_dir(root, "topologies directory (--topologies / CJO_TOPOLOGIES)")
    try:
        policies = topology_policies(root)
    except SourceError as e:
        raise UsageError(f"cannot read the channels declared in {e.problems[0]} (tail reads them from "
                         "--topologies or CJO_TOPOLOGIES)") from None
    for n in names:
        problem = unknown_channel(n, policies, root)
        if problem is not None:
            raise UsageError(f"--channel {n}: {problem}")
    return names or sorted(policies.channel_names)


def _cmd_demo(args: argparse.Namespace) -> int:
    from cjo_stream.errors import load_topology_checked
    from cjo_stream.runtime.demo import run, unheard

    topo = load_topology_checked(args.topologies, refusing="the demo did not start")
    for note in unheard(topo.journeys):
        print(f"note: {note}", file=sys.stderr)
    duration = args.duration
    if duration is None:
        duration = 0.0 if sys.stdin.isatty() else 60.0  # interactive: until Ctrl-C; CI/pipes: bounded
    return run(duration, args.customers, args.rate, args.topologies)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def broker_arg(p: argparse.ArgumentParser, client: bool = True) -> None:
        p.add_argument("--broker", help="bootstrap servers host:port[,...] (default: $CJO_BROKER or 127.0.0.1:9092)")
        if client:
            p.add_argument("--connect-timeout", type=positive_float, default=CONNECT_TIMEOUT, metavar="SECONDS",
                           help=f"give up when the broker does not answer within this time (default "
                                f"{CONNECT_TIMEOUT:g}; exit code 4)")

    p = sub.add_parser("broker", help="run the local Tansu Kafka-protocol broker in the foreground")
    p.add_argument("--port", type=port, default=9092, help="port to listen on, on 127.0.0.1 (default 9092)")
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("worker", help="run a streaming worker (Faust host + batch hot path)",
                       description="Waits for the broker with backoff (one log line per attempt) and refuses "
                                   "to start on journey errors.")
    broker_arg(p, client=False)
    p.add_argument("--topologies", help=TOPOLOGIES_HELP)
    p.add_argument("--store", choices=["rocksdb", "memory"], help="state store (default: $CJO_STORE or rocksdb)")
    p.add_argument("--web-port", type=port, help="state API / metrics port (default: $CJO_WEB_PORT or 6066)")
    p.add_argument("--data-dir", help="local state directory (default: $CJO_DATA_DIR or data)")
    p.add_argument("--partitions", type=positive_int,
                   help="partitions of topics this worker creates ($CJO_PARTITIONS)")
    p.add_argument("--concurrency", type=positive_int,
                   help="worker processes to run on this machine, about one core each (default: $CJO_CONCURRENCY or 1)")
    # the names CJO_LOG_LEVEL takes are accepted too (critical, warning): one vocabulary for both
    p.add_argument("--loglevel", default=None,
                   choices=["crit", "critical", "error", "warn", "warning", "info", "debug"],
                   help="log level (default: $CJO_LOG_LEVEL, else warn)")
    # set by `--concurrency N` on its processes: the topology's warnings were shown once, by the supervisor
    p.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("produce", help="produce a JSONL file of touchpoint events to the input topic")
    broker_arg(p)
    p.add_argument("--events", required=True, metavar="FILE",
                   help="JSON lines (plain or gzip), one Segment event per line, each sent as one record")
    p.add_argument("--topic", type=topic, help="an existing topic (default: $CJO_INPUT_TOPIC or cjo.touchpoints, "
                                               "made if missing)")
    p.add_argument("--create", action="store_true", help="make the --topic if it does not exist")
    p.add_argument("--rate", type=positive_float, help="events per second (default: as fast as possible)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=_cmd_produce)

    p = sub.add_parser("generate", help="produce realistic touchpoint traffic in real time")
    broker_arg(p)
    p.add_argument("--customers", type=customer_count, default=1000, help=CUSTOMERS_HELP.format(1000))
    p.add_argument("--rate", type=positive_float, default=100.0, help="events per second (default 100)")
    p.add_argument("--duration", type=seconds, default=60.0, help="seconds, or a duration: 90s, 5m, 1h (default 60)")
    p.add_argument("--seed", type=int, help="random seed (default: a new one each run, printed at the end); the "
                                            "same seed sends the same events, messageIds included, which workers "
                                            "drop as duplicates")
    p.add_argument("--start", help="event time of the first event, RFC 3339 (default: now); e.g. a past time "
                                   "to replay a backlog whose timers are all due")
    p.add_argument("--out", metavar="FILE", help="write the events as JSON lines to FILE instead of a broker (for "
                                                 "simulate and replay): --rate x --duration of them, event n stamped "
                                                 "--start + n / --rate, at once")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("demo", help="live demo: broker, worker and generator; prints delivery commands")
    p.add_argument("--duration", type=seconds,
                   help="seconds, or a duration: 90s, 5m (default: until Ctrl-C on a terminal, else 60 s)")
    p.add_argument("--customers", type=customer_count, default=300, help=CUSTOMERS_HELP.format(300))
    p.add_argument("--rate", type=positive_float, default=40.0, help="events per second (default 40)")
    p.add_argument("--topologies", default="topologies/demo",
                   help="the topologies directory, holding journeys/ and policies.yaml (default topologies/demo)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("tail", help="print delivery commands (or, --receipts, the adapters' receipts; "
                                    "--journey-events, the workers' journey events) as they arrive")
    broker_arg(p)
    p.add_argument("--channel", action="append", type=channel_name, metavar="NAME",
                   help="channel to follow: built in, or declared in the topologies' policies.yaml (repeatable; "
                        "default: all of them)")
    p.add_argument("--topologies", help="the topologies directory whose policies.yaml declares channels of your own "
                                        "(default: $CJO_TOPOLOGIES or topologies)")
    p.add_argument("--receipts", action="store_true",
                   help="print the adapters' receipts ($CJO_RECEIPTS_TOPIC) instead: sent, delivered, failed with "
                        "its reason, opened, ... (with --channel: of those channels)")
    p.add_argument("--journey-events", action="store_true",
                   help="print the workers' journey events (cjo.journey-events) instead: entered, each step reached "
                        "(an update step too), sent, skipped with its reason, converted, ...")
    p.add_argument("--journey", action="append", metavar="NAME",
                   help="with --journey-events: that journey's only (repeatable)")
    p.add_argument("--from-beginning", action="store_true", help="print the commands already on the topics first")
    p.add_argument("--to-end", action="store_true",
                   help="print the records already on the topics (from the beginning) and stop at their end: e.g. "
                        "who got a message, as a command that ends")
    p.add_argument("--limit", type=positive_int, help="stop after this many commands")
    p.set_defaults(func=_cmd_tail)

    from cjo_stream.runtime.dlq import register as register_dlq
    from cjo_stream.runtime.skip import register as register_skip

    register_skip(sub)
    register_dlq(sub)
