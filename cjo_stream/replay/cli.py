"""``cjo-stream replay``: journeys over real history, offline; ``--compare`` two topologies side by side.

Registered by :mod:`cjo_stream.cli`. Reads files or topics, runs the workers' engine in virtual time and
prints the report; it produces to no topic, so it is safe to run against production.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

from cjo_stream.argtypes import non_negative_float, positive_float, positive_int, topic, when
from cjo_stream.config import TOPOLOGIES_HELP, topologies_dir


def _duration(text: str) -> float:
    from cjo_stream.journeys.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:  # why: not a duration, zero (`0s` was "not a duration"), or over 100 years
        why = str(e).partition(": ")[2]
        if why.startswith("use "):
            raise argparse.ArgumentTypeError(f"{text!r} is not a duration (30s, 15m, 1h, 7d, 2w)") from None
        raise argparse.ArgumentTypeError(f"{text!r}: {why}") from None


def _cmd_replay(args: argparse.Namespace) -> int:
    import msgspec

    from cjo_stream.commands import DeliveryCommand
    from cjo_stream.errors import (
        ExitCode,
        FileProblem,
        UsageError,
        distinct_outputs,
        file_problem,
        load_topology_checked,
        not_dash,
        readable_file,
        writable_file,
        write_problem,
    )
    from cjo_stream.gc_tuning import collector_paused, tune_gc
    from cjo_stream.journeys.loader import Topology
    from cjo_stream.journeys.unseen import consent_lookalikes, unseen
    from cjo_stream.jsonl import Damaged, jsonl_lines
    from cjo_stream.kafka.connect import broker_ready
    from cjo_stream.progress import Progress
    from cjo_stream.replay.compare import compare, render
    from cjo_stream.replay.contender import Contender, Outcome, as_side, runs_apart
    from cjo_stream.replay.run import Replay
    from cjo_stream.replay.sources import NoSuchTopic, Raw, Unreadable, topic_records
    from cjo_stream.replay.spill import sweep
    from cjo_stream.settings_args import settings_from
    from cjo_stream.timefmt import format_ts

    now = time.time()
    since = when(args.since, now) if args.since else float("-inf")
    until = when(args.until, now) if args.until else (float("inf") if args.events else now)
    if since > until:
        raise UsageError("--since is after --until")
    if args.warmup and since == float("-inf"):
        raise UsageError("--warmup needs --since: the warm-up is the time before it")
    # flags that would change nothing were taken silently: `--fail-on-change` without --compare passed CI
    # whatever the journeys decided, and `--topic` with --events read the files only
    for flag in ("fail_on_change", "only_changed", "examples", "serial"):  # (--examples: None unless given)
        if getattr(args, flag) not in (None, False) and not args.compare:
            raise UsageError(f"--{flag.replace('_', '-')} needs --compare OTHER_DIR: it compares two topologies")
    if args.html and args.compare:  # the page shows one topology; it was checked writable, then never written
        raise UsageError("--html and --compare: the analytics page shows one topology; run without --compare "
                         "for its page (--compare prints the two side by side)")
    if args.events and args.topic:
        raise UsageError("--topic and --events: give one source, topics (--topic) or files (--events)")
    warmup_from = since - args.warmup if args.warmup else since
    settings = settings_from(args)
    tune_gc(settings.gc_threshold)  # as the workers: millions of live objects make Python's default GC costly
    lateness = settings.allowed_lateness if args.allowed_lateness is None else args.allowed_lateness
    topologies = [(args.topologies, load_topology_checked(args.topologies))]
    if args.compare:
        topologies.append((args.compare, load_topology_checked(args.compare)))
    every = list(topologies)  # (the contender's may run apart: its journeys are still checked for unseen events)
    from cjo_stream.journeys.catalog_misses import count_lookups, missing_row_notes

    counted = count_lookups(topologies[0][1].catalogs)  # the first side's ids with no row, as simulate tells
    for path in args.events or ():
        readable_file(path, "events file")
    outputs = [(flag, path) for flag, path in (("--commands", args.commands), ("--html", args.html),
                                               ("--profiles", args.profiles)) if path]
    distinct_outputs([("events file", path) for path in args.events or ()], outputs)
    if args.html:
        writable_file(args.html, "the page")
    if args.profiles:
        writable_file(args.profiles, "the profiles")
    out = None
    if args.commands:
        try:
            not_dash(args.commands, "the commands file")
            out = open(args.commands, "wb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise FileProblem(f"cannot write the commands file {args.commands}: "
                              f"{(e.strerror or str(e)).lower()}") from None
    encode = msgspec.json.Encoder(order="sorted").encode

    def emit(cmd: DeliveryCommand) -> None:
        assert out is not None
        try:
            out.write(encode(cmd) + b"\n")
        except OSError as e:  # a full disk: not the events file's fault, nor a bug
            raise write_problem(f"the commands file {args.commands}", e) from None

    def new_replay(topos: list[tuple[str, Topology]], on_command: Callable[[DeliveryCommand], None] | None) -> Replay:
        return Replay(topos, since=since, until=until, warmup_from=warmup_from, allowed_lateness=lateness,
                      profiles_in_memory=args.profiles_in_memory, on_command=on_command,
                      dedupe_window=settings.dedupe_window, dedupe_ids=settings.dedupe_ids,
                      analytics=not args.compare,  # a comparison prints no analytics report
                      fingerprints=bool(args.compare))  # ... but who was sent what, when

    stores, freed = sweep()  # what replays killed with SIGKILL left in the temporary directory
    if stores:
        print(f"removed {stores} spill store{'s' if stores > 1 else ''} ({freed / 2**20:,.0f} MiB) that "
              f"killed replays left in {tempfile.gettempdir()}", file=sys.stderr)
    t0 = time.monotonic()
    contender: Contender | None = None
    other = topologies[-1]  # with --compare, the contender
    if args.compare and args.events and not args.serial and runs_apart(args.events):
        topologies.pop()

        def run_contender() -> Outcome:  # in the child: the same files, the other topology
            with collector_paused():
                r = new_replay([other], None)
                try:
                    for path in args.events:
                        r.feed_lines(path, jsonl_lines(path))
                    r.finish()
                finally:
                    r.close()
            side = r.sides[0]
            return Outcome(side.sim.funnel, side.sim.warm_funnel, dict(side.messaged), side.commands, _peak_mib())

        contender = Contender(run_contender)  # forked before this process's replay makes any store
    replay = new_replay(topologies, emit if out is not None else None)
    bar = Progress(None, "replaying", force=args.progress)
    contended: Outcome | None = None
    try:
        if args.events:
            try:
                with collector_paused():  # (topics: the Kafka client's loop may make cycles)
                    for path in args.events:
                        replay.feed_lines(path, jsonl_lines(path), progress=bar.update)
            except Damaged as e:
                raise FileProblem(f"cannot read events file {e.path}: {e.reason}") from None
            except OSError as e:
                raise file_problem("events file", "/".join(args.events), e) from None
        else:
            broker_ready(settings, args)
            topics = args.topic or [settings.input_topic, settings.receipts_topic]

            async def from_topics() -> None:
                got: list[Raw] = []

                def chunks() -> Iterator[Raw]:
                    yield from got

                n = 0
                async for raw in topic_records(settings, topics, warmup_from if warmup_from > 0 else 0.0, until,
                                               required=bool(args.topic)):
                    got.append(raw)
                    if len(got) >= 2000:
                        replay.feed(chunks())
                        n += len(got)
                        bar.update(n)
                        got.clear()
                replay.feed(chunks())
                bar.update(n + len(got))

            try:
                asyncio.run(from_topics())
            except (Unreadable, NoSuchTopic) as e:
                raise UsageError(str(e)) from None
        with collector_paused():
            replay.finish()
        if args.profiles and replay.events:  # before close: spilled profiles are read back from their store
            from cjo_stream.profile_file import write_profiles

            side = replay.sides[0]  # with --compare, --topologies' (as --commands)
            write_profiles(args.profiles, side.sim.profiles, side.sim.engine)
        if contender is not None:
            contended = contender.outcome()
        bar.close(replay.events + replay.outside + len(replay.bad))
    finally:
        if contender is not None:
            contender.stop()
        replay.close()
        if out is not None:
            try:
                out.close()
            except OSError as e:
                raise write_problem(f"the commands file {args.commands}", e) from None
    elapsed = time.monotonic() - t0
    for b in replay.bad:
        print(f"{b.origin}: skipped bad event ({b.reason}): {b.detail}", file=sys.stderr)
    if not replay.events:  # an empty report with exit 0 hid a --since in the wrong year, or an empty export
        from cjo_stream.errors import InvalidInput, no_events

        source = ", ".join(args.events or args.topic or [settings.input_topic, settings.receipts_topic])
        if replay.bad and not replay.outside:  # every record was bad: not JSON lines at all
            raise no_events(source, len(replay.bad), replay.bad[0].reason, replay.bad[0].detail,
                            "line" if args.events else "record")
        lo, hi = warmup_from, until  # not both infinite: files without a range have nothing outside it
        span = ((f"from {format_ts(lo)}" if lo > float("-inf") else "up")
                + (f" to {format_ts(hi)}" if hi < float("inf") else ""))
        if not replay.outside:
            raise InvalidInput(f"{source} hold{'s' if len(args.events) == 1 else ''} no events" if args.events else
                               f"no record was written to {source} in the time range ({span}): topics are "
                               f"read by when their records were written")
        raise InvalidInput(f"no event of {source} is in the time range ({span}): its {replay.outside:,} events "
                           f"run from {format_ts(replay.outside_from)} to {format_ts(replay.outside_to)}")
    first = replay.sides[0]
    peak = _peak_mib() + (contended.peak_mib if contended is not None else 0.0)  # both processes'
    if contended is not None:
        replay.sides.append(as_side(args.compare, other[1], lateness, contended))
    print(f"replayed {replay.events:,} events in {elapsed:.1f} s ({replay.events / max(elapsed, 1e-9):,.0f}/s); "
          f"{len(replay.bad)} bad, {replay.outside:,} outside the time range, "
          f"{first.sim.duplicates:,} duplicates, {first.sim.late:,} late "
          f"({first.sim.too_late:,} too late to start a journey); {len(first.sim.profiles):,} customers, "
          f"peak memory {peak:,.0f} MiB" + (" (two processes)" if contended else ""))
    told: set[str] = set()
    for name, topo in every:  # an entry on `product_veiwed` showed zeros everywhere, and nothing said why
        for note in unseen(topo.journeys, first.sim.names, replay.outside_names, stages=topo.stages is not None):
            if note not in told:
                told.add(note)
                print(f"note: {name + ': ' if args.compare else ''}{note}", file=sys.stderr)
    for note in consent_lookalikes(first.sim.names):  # as simulate tells: `Unsubscribed` withdrew nothing
        print(f"note: {note}", file=sys.stderr)
    for note in missing_row_notes(counted):  # `SKU-1` for `sku-1`: a mail naming no product, unsaid
        print(f"note: {topologies[0][0] + ': ' if args.compare else ''}{note}", file=sys.stderr)
    from cjo_stream.journeys.unset_traits import unset_properties

    for name, topo in every:  # a condition on a property no such event had, as simulate tells (the keys
        # looked for are the first side's: another's are not known here)
        for note in unset_properties(topo.journeys, first.sim.props_carried, first.sim.props_read,
                                     "the time range" if replay.outside else "the input"):
            if note not in told:
                told.add(note)
                print(f"note: {name + ': ' if args.compare else ''}{note}", file=sys.stderr)
    from cjo_stream.journeys.text_numbers import text_number_notes

    for name, topo in every:  # a property compared with a number that events carried as text, as simulate tells
        for note in text_number_notes(topo.journeys, first.sim.text_numbers,
                                      "the time range" if replay.outside else "the input"):
            if note not in told:
                told.add(note)
                print(f"note: {name + ': ' if args.compare else ''}{note}", file=sys.stderr)
    from cjo_stream.journeys.update_skips import update_skip_notes

    for (name, topo), side in zip(every, replay.sides, strict=False):  # why updates wrote nothing, as simulate says
        for line in update_skip_notes(topo.journeys, side.sim.funnel.steps):
            print(f"{name + ': ' if args.compare else ''}{line}", file=sys.stderr)
    from cjo_stream.engine.overtaken import notes as overtaken_notes

    for note in overtaken_notes(first.sim.overtaken, first.sim.overtaken_after):  # files are read in their order
        print(f"note: {note}", file=sys.stderr)
    # customers timed in default_timezone because their data names no zone, as simulate tells; not after
    # profiles were spilled to disk (--profiles-in-memory): reading each back would cost what the replay did
    if not getattr(first.sim.profiles, "spilled", 0):
        from cjo_stream.journeys.text_trait_values import text_trait_notes
        from cjo_stream.journeys.unset_traits import trait_notes, unreached_writers, written_traits
        from cjo_stream.zone_notes import unknown_zones

        traits = {k for p in first.sim.profiles.values() for k in p.traits}
        unreached: dict[str, str] = {}  # as simulate: a trait whose update step no customer reached, not misspelt
        for (_, topo), side in zip(every, replay.sides, strict=False):  # as simulate: what update steps wrote too
            traits |= written_traits(topo.journeys, side.sim.funnel.steps)
            unreached = unreached or unreached_writers(topo.journeys, side.sim.funnel.steps)
        for i, (name, topo) in enumerate(every):  # a condition, or a template writing it bare, on a trait nobody
            # has, as simulate tells; and one a condition compares with a number that customers hold as text (the
            # profiles here are the first side's: another side's may hold what its own updates wrote)
            held = text_trait_notes(topo.journeys, (p.traits for p in first.sim.profiles.values()),
                                    topo.stages) if i == 0 else []
            for note in (*trait_notes(topo.journeys, traits, unreached), *held):
                if note not in told:
                    told.add(note)
                    print(f"note: {name + ': ' if args.compare else ''}{note}", file=sys.stderr)

        zones = unknown_zones(first.sim.profiles.values(), str(every[0][1].policies.default_timezone))
        if zones is not None:
            print(f"note: {zones}", file=sys.stderr)
        from cjo_stream.consent_traits import subscription_event_note, unsubscribed_trait_note

        if (unsub := unsubscribed_trait_note(first.sim.profiles.values())) is not None:  # as simulate tells
            print(f"note: {unsub}", file=sys.stderr)
        if (change := subscription_event_note(first.sim.profiles.values())) is not None:
            print(f"note: {change}", file=sys.stderr)
        from cjo_stream.bounce_notes import cleared_lookalikes, uncleared_bounce_note

        if (uncleared := uncleared_bounce_note(first.sim.profiles.values())) is not None:  # a misspelt channel
            print(f"note: {uncleared}", file=sys.stderr)
        for note in cleared_lookalikes(first.sim.names):  # `Bounce Cleared` cleared nothing, unsaid
            print(f"note: {note}", file=sys.stderr)
    if args.compare:
        cmp = compare(first, replay.sides[1], examples=5 if args.examples is None else args.examples)
        print(render(cmp, only_changed=args.only_changed))
        if cmp.changed and args.fail_on_change:
            return int(ExitCode.INVALID)
        return 0
    from cjo_stream.analytics.offline import render_html, render_text
    from cjo_stream.engine.funnel import step_order

    journeys = topologies[0][1].journeys
    stages = topologies[0][1].stages
    stage_names = stages.names if stages is not None else ()
    from_ = format_ts(since) if since > float("-inf") else None  # the stage flow's moves start there
    covers = range_note(since, warmup_from, until)
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(render_html(first.sim.analytics, journeys, stage_names, from_, covers))
        except OSError as e:
            raise FileProblem(f"cannot write the page {args.html}: {e.strerror}") from None
    print(f"{first.commands:,} delivery commands would have been sent"
          + (f" (written to {args.commands})" if args.commands else "")
          + (f"; the analytics page is in {args.html}" if args.html else "") + "\n")
    if covers:
        print(covers + "\n")
    print(first.sim.funnel.render(step_order(journeys)))
    print()
    print(render_text(first.sim.analytics, journeys, stage_names, from_))
    return 0


def range_note(since: float, warmup_from: float, until: float) -> str | None:
    """What a replay's figures cover, said above the report and the page (a walkthrough could not tell, and
    with ``--warmup`` a step showed more sends than its journey had entries). None without a range."""
    from cjo_stream.timefmt import format_ts

    if since == float("-inf") and until == float("inf"):
        return None
    span = (f"from {format_ts(since)}" if since > float("-inf") else "from the first event") + \
        (f" to {format_ts(until)}" if until < float("inf") else " to the last event")
    out = f"Replayed history {span}: the analytics are of the customers who entered a journey in that range."
    if warmup_from < since:
        out += (f" Warm-up from {format_ts(warmup_from)}: the instances entered then are left out of the analytics, "
                "but the funnel and the commands count their later steps, sends and endings, so there a step may "
                "show more than its journey's entries.")
    return out


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike getrusage's maxrss it is not inherited over exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from cjo_stream.kafka.connect import CONNECT_TIMEOUT

    p = sub.add_parser("replay", help="run journeys over history (topics or files) offline; compare two versions",
                       description="Reads history, runs the journeys as the workers would (same engine, identity, "
                                   "policies, timers) in virtual time and prints what they would have done. "
                                   "Writes to no topic.")
    p.add_argument("--topologies", default=topologies_dir(),
                   help=TOPOLOGIES_HELP)
    p.add_argument("--compare", metavar="OTHER_DIR", help="a second topologies directory, run over the same events")
    p.add_argument("--events", nargs="+", action="extend", metavar="FILE",
                   help="JSONL files (plain or gzip) instead of topics; the flag may be repeated")
    p.add_argument("--topic", action="append", type=topic,
                   help="topic to read (repeatable; default: $CJO_INPUT_TOPIC and $CJO_RECEIPTS_TOPIC)")
    p.add_argument("--broker", help="bootstrap servers host:port[,...] (default: $CJO_BROKER or 127.0.0.1:9092)")
    p.add_argument("--connect-timeout", type=positive_float, default=CONNECT_TIMEOUT, metavar="SECONDS",
                   help=f"give up when the broker does not answer within this time (default {CONNECT_TIMEOUT:g})")
    p.add_argument("--since", help="count decisions from this time: RFC 3339, or a duration ago like 7d")
    p.add_argument("--until", help="stop at this time (default: now for topics, the end for files)")
    p.add_argument("--warmup", type=_duration, metavar="DURATION",
                   help="history before --since that builds profiles, counters and consent, decisions not counted")
    p.add_argument("--commands", metavar="FILE", help="write every command it would have sent (JSON lines; with --compare, those of --topologies)")
    p.add_argument("--html", metavar="FILE", help="write the journey analytics page as one self-contained HTML file")
    p.add_argument("--profiles", metavar="FILE",
                   help="write each customer's profile at the end (traits, counters, stage, journeys) as JSON lines, "
                        "as a worker's state API shows one (with --compare, those of --topologies)")
    p.add_argument("--fail-on-change", action="store_true", help="with --compare: exit 1 when anything differs")
    p.add_argument("--only-changed", action="store_true", help="with --compare: print only the rows that differ")
    p.add_argument("--examples", type=positive_int, help="with --compare: example customer ids per difference "
                                                          "(default 5)")
    p.add_argument("--allowed-lateness", type=non_negative_float, metavar="SECONDS",
                   help="as the workers' CJO_ALLOWED_LATENESS (default: $CJO_ALLOWED_LATENESS or 300)")
    p.add_argument("--profiles-in-memory", type=positive_int, default=50_000, metavar="N",
                   help="profiles kept in memory (and four times as many analytics rows); the rest spill to a "
                        "temporary RocksDB (default 50000)")
    p.add_argument("--serial", action="store_true",
                   help="with --compare: run both topologies in this process (by default, over regular files on "
                        "a machine with 2 or more CPUs, the second runs in a child process)")
    p.add_argument("--progress", action="store_true", help="show progress even when not on a terminal")
    p.set_defaults(func=_cmd_replay)
