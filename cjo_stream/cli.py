"""The ``cjo-stream`` command line.

Subcommands import their heavy dependencies (Faust, aiokafka) lazily, so ``validate`` and ``simulate``
start fast and work without a broker.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

from cjo_stream.argtypes import non_negative_float
from cjo_stream.config import TOPOLOGIES_HELP, topologies_dir
from cjo_stream.errors import ExitCode
from cjo_stream.logs import say


def _cmd_validate(args: argparse.Namespace) -> int:
    from cjo_stream.errors import UsageError, load_topology_checked
    from cjo_stream.journeys.catalogs import catalog_rows
    from cjo_stream.journeys.model import status_of

    if args.topologies and args.topologies_flag and args.topologies != args.topologies_flag:
        raise UsageError(f"validate: two journeys directories, {args.topologies} and --topologies "
                         f"{args.topologies_flag}: give one")
    # `--topologies DIR` as simulate, replay and worker take it was refused ("unrecognized arguments")
    args.topologies = args.topologies or args.topologies_flag or topologies_dir()
    topo = load_topology_checked(args.topologies, refusing=None)  # (not "run validate": this is validate)
    for j in sorted(topo.journeys, key=lambda j: (j.id, j.version)):
        n = len(j.steps)
        held = f", {status_of(j)}" if j.paused or j.closed else ""
        print(f"ok  {j.id} v{j.version}  ({n} step{'' if n == 1 else 's'}{held})  {j.source}")
    import os

    if topo.stages is not None:
        print(f"ok  stages: {' -> '.join(topo.stages.names)}  {os.path.join(args.topologies, 'stages.yaml')}")
    for name, table in sorted(topo.catalogs.items()):
        n = catalog_rows(table)
        print(f"ok  catalog {name}  ({n:,} row{'' if n == 1 else 's'})  "
              f"{os.path.join(args.topologies, 'catalogs', name + '.jsonl')}")
    return 0


class _Once(argparse.Action):
    """A flag that may be given once: argparse keeps the last of two ``--events``, and the first file was
    silently not simulated (``replay`` reads several, so the habit carries over)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice: simulate reads one file "
                         "(cjo-stream replay --events A B reads several)")
        setattr(namespace, self.dest, values)


def _cmd_simulate(args: argparse.Namespace) -> int:
    import msgspec

    from cjo_stream.commands import DeliveryCommand
    from cjo_stream.engine import Engine
    from cjo_stream.errors import (
        FileProblem,
        distinct_outputs,
        file_problem,
        load_topology_checked,
        readable_file,
        writable_file,
        write_problem,
    )
    from cjo_stream.jsonl import Damaged, jsonl_lines
    from cjo_stream.simulator import Simulator

    until = _until(args.until) if args.until else None  # checked before the work starts
    topo = load_topology_checked(args.topologies)
    readable_file(args.events, "events file")
    outputs = [(flag, path) for flag, path in (("--html", args.html), ("--journey-events", args.journey_events),
                                               ("--profiles", args.profiles)) if path]
    if outputs:
        distinct_outputs([("events file", args.events)], outputs)
    if args.html:
        writable_file(args.html, "the page")
    if args.profiles:
        writable_file(args.profiles, "the profiles")
    out = sys.stdout.buffer
    # one JSON object per line, keys sorted: the delivery-command schema (schemas/delivery_command.schema.json)
    encode = msgspec.json.Encoder(order="sorted").encode

    def emit(cmd: DeliveryCommand) -> None:
        try:
            out.write(encode(cmd) + b"\n")
        except BrokenPipeError:
            raise
        except OSError as e:  # not the events file's fault (the handler below would say so)
            raise write_problem("the delivery commands to standard output", e) from None

    from cjo_stream.settings_args import settings_from

    settings = settings_from(args)  # CJO_ALLOWED_LATENESS and CJO_DEDUPE_*, as the workers read them
    lateness = settings.allowed_lateness if args.allowed_lateness is None else args.allowed_lateness
    # (no status changes during a run: a held send waits with one timer, not one every 15 minutes)
    from cjo_stream.journeys.catalog_misses import count_lookups, missing_row_notes

    counted = count_lookups(topo.catalogs)  # (every journey holds this mapping: the ids looked up, for a note)
    engine = Engine(topo.journeys, topo.policies, lateness, stages=topo.stages, paused_recheck=float("inf"))
    transitions = None
    if args.journey_events:  # what the report counts, one record each, to check it by hand (a walkthrough)
        from cjo_stream.analytics.journey_event_file import JourneyEventFile

        transitions = JourneyEventFile(writable_file(args.journey_events, "the journey events"), engine)
    sim = Simulator(engine, on_command=emit, dedupe_window=settings.dedupe_window, dedupe_ids=settings.dedupe_ids,
                    on_result=transitions.write if transitions is not None else None,
                    on_receipt=transitions.receipt if transitions is not None else None)
    try:
        sim.run_lines(jsonl_lines(args.events))  # plain or gzip, as replay reads it
    except BrokenPipeError:
        raise
    except Damaged as e:
        raise FileProblem(f"cannot read events file {e.path}: {e.reason}") from None
    except OSError as e:
        raise file_problem("events file", args.events, e) from None
    last = sim.clock  # the latest event time read
    # virtual time is already at the last event: a timer due before it is due, whatever --until says (the
    # timers of a line read after a later one's, from a file out of time order, were left pending for good)
    sim.finish(until if until is None else max(until, last))
    if transitions is not None:
        transitions.close()
    if args.profiles:  # what an update step wrote, as the state API shows a worker's customer (GET /customers/<id>)
        from cjo_stream.profile_file import write_profiles

        write_profiles(args.profiles, sim.profiles, engine)
    try:
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise write_problem("the delivery commands to standard output", e) from None
    stage_names = topo.stages.names if topo.stages is not None else ()
    for b in sim.bad:
        print(f"{args.events}:{b.line}: skipped bad event ({b.reason}): {b.detail}", file=sys.stderr)  # as replay
    if not sim.profiles:  # no line was an event (each makes a profile)
        from cjo_stream.errors import InvalidInput, no_events

        if sim.bad:  # not JSON lines at all
            raise no_events(args.events, len(sim.bad), sim.bad[0].reason, sim.bad[0].detail)
        # an empty file (or blank lines only) exited 0 with an empty report, where replay said so
        raise InvalidInput(f"{args.events} holds no events")
    from cjo_stream.journeys.unseen import consent_lookalikes, unseen

    for note in unseen(topo.journeys, sim.names, stages=topo.stages is not None):  # `product_veiwed`: zeros, no why
        print(f"note: {note}", file=sys.stderr)
    for note in consent_lookalikes(sim.names):  # `Unsubscribed` withdrew nothing, and nothing said so
        print(f"note: {note}", file=sys.stderr)
    for note in missing_row_notes(counted):  # `SKU-1` for `sku-1`: a mail naming no product, unsaid
        print(f"note: {note}", file=sys.stderr)
    from cjo_stream.journeys.unset_traits import (
        trait_notes,
        unreached_writers,
        unset_properties,
        written_traits,
    )

    # (and those an update step wrote: a later `null` may have removed them by the end)
    traits = {k for p in sim.profiles.values() for k in p.traits} | written_traits(topo.journeys, sim.funnel.steps)
    unreached = unreached_writers(topo.journeys, sim.funnel.steps)  # not misspelt: their update never ran
    # a condition on `loyalty_tier`, which nobody had (zeros, no why); `Hi {{ profile.traits.frist_name }}`
    # ("Hi " in every e-mail): one line per journey and trait
    for note in trait_notes(topo.journeys, traits, unreached):
        print(f"note: {note}", file=sys.stderr)
    for note in unset_properties(topo.journeys, sim.props_carried, sim.props_read):
        print(f"note: {note}", file=sys.stderr)  # `event.properties.cart_vlaue`, which no event had: the same
    from cjo_stream.journeys.text_numbers import text_number_notes

    for note in text_number_notes(topo.journeys, sim.text_numbers):  # `"revenue": "30"` never >= 10, unsaid
        print(f"note: {note}", file=sys.stderr)
    from cjo_stream.journeys.text_trait_values import text_trait_notes

    # a lone {{ }} of a quoted number stored "250", which `>= 100` never held for, unsaid
    for note in text_trait_notes(topo.journeys, (p.traits for p in sim.profiles.values()), topo.stages):
        print(f"note: {note}", file=sys.stderr)
    from cjo_stream.engine.overtaken import notes as overtaken_notes

    for note in overtaken_notes(sim.overtaken, sim.overtaken_after):  # a late line decided as live would, unsaid
        print(f"note: {note}", file=sys.stderr)
    from cjo_stream.zone_notes import unknown_zones

    zones = unknown_zones(sim.profiles.values(), str(topo.policies.default_timezone))
    if zones is not None:
        print(f"note: {zones}", file=sys.stderr)
    from cjo_stream.consent_traits import subscription_event_note, unsubscribed_trait_note

    if (unsub := unsubscribed_trait_note(sim.profiles.values())) is not None:  # Customer.io's `unsubscribed: true`
        print(f"note: {unsub}", file=sys.stderr)
    if (change := subscription_event_note(sim.profiles.values())) is not None:  # Dittofeed's DFSubscriptionChange
        print(f"note: {change}", file=sys.stderr)
    from cjo_stream.bounce_notes import cleared_lookalikes, uncleared_bounce_note

    if (uncleared := uncleared_bounce_note(sim.profiles.values())) is not None:  # bounce_cleared of channel 'emial'
        print(f"note: {uncleared}", file=sys.stderr)
    for note in cleared_lookalikes(sim.names):  # `Bounce Cleared` cleared nothing, unsaid
        print(f"note: {note}", file=sys.stderr)
    if until is not None and last > until:  # a walkthrough took it for replay's --until: nothing said otherwise
        from cjo_stream.timefmt import format_ts

        print(f"note: --until {format_ts(until)} is before the last event ({format_ts(last)}): simulate reads "
              "every event, and --until only bounds the timers fired after the last one; to stop reading at a "
              "time, use `cjo-stream replay --events FILE --until TIME`", file=sys.stderr)
    # a template that failed on the data skipped those sends: only a count showed (`render_error=14`), so
    # the author could not tell why; the detail names the failure, never the data
    from cjo_stream.journeys.source import step_line

    failed: dict[tuple[str, int, str, str], int] = {}
    for skip in sim.skips:
        if skip.reason == "render_error":
            key = (skip.journey, skip.journey_version, skip.step, skip.detail or "")
            failed[key] = failed.get(key, 0) + 1
    sources = {(j.id, j.version): j.source for j in topo.journeys}
    for (journey, version, step, detail), n in sorted(failed.items()):
        source = sources.get((journey, version), "")  # at the send, as validate would place it
        at = step_line(source, step, "send") if source else None
        print(f"{f'{source}:{at}: ' if at is not None else ''}{journey} v{version} step {step}: {n} send(s) "
              f"skipped, the template failed on their data (render_error: {detail})", file=sys.stderr)
    from cjo_stream.journeys.update_skips import update_skip_notes

    for line in update_skip_notes(topo.journeys, sim.funnel.steps):  # `skipped:not_a_number=3` alone: which, why?
        print(line, file=sys.stderr)
    if args.report:
        from cjo_stream.analytics.offline import render_text
        from cjo_stream.engine.funnel import step_order

        print("", file=sys.stderr)
        print(sim.funnel.render(step_order(topo.journeys)), file=sys.stderr)
        print("", file=sys.stderr)
        print(render_text(sim.analytics, topo.journeys, stage_names), file=sys.stderr)
        print(f"\n{len(sim.commands)} delivery commands, {len(sim.skips)} skips, {len(sim.bad)} bad lines, "
              f"{sim.duplicates} duplicates, {sim.late} late events ({sim.too_late} too late to start a "
              f"journey), {sim.pending_timers} timers still pending, {len(sim.profiles)} customers", file=sys.stderr)
        if topo.stages is not None:  # lifecycle stages: customers in each now, and the changes made
            stages = ", ".join(f"{name} {n}" for name, n in sim.stage_counts().items())
            moves = ", ".join(f"{a} -> {b} {n}" for (a, b), n in sorted(sim.stage_transitions.items()))
            print(f"stages: {stages}; changes: {moves or 'none'}", file=sys.stderr)
    if args.html:
        from cjo_stream.analytics.offline import render_html

        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(render_html(sim.analytics, topo.journeys, stage_names))
        except OSError as e:
            raise FileProblem(f"cannot write the page {args.html}: {e.strerror}") from None
        print(f"analytics page written to {args.html}", file=sys.stderr)
    return 0


def _until(text: str) -> float:
    from cjo_stream.errors import UsageError
    from cjo_stream.events import parse_ts

    try:
        return parse_ts(text)
    except ValueError:
        raise UsageError(f"--until {text!r}: expected an RFC 3339 time from 1970 to 2106, like "
                         "2026-03-09T00:00:00Z") from None


def _cmd_schemas(args: argparse.Namespace) -> int:
    from cjo_stream.errors import FileProblem
    from cjo_stream.schemas_export import write_all

    try:
        paths = write_all(args.out)
    except OSError as e:
        raise FileProblem(f"cannot write schemas to {args.out}: {(e.strerror or str(e)).lower()}") from None
    for path in paths:
        print(path)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, telling a mistake on the command line in one line with where to read more: the verb's
    usage printed before it (nine lines for ``replay``) buried the line saying what was wrong. The verbs'
    parsers are of this class too (``add_subparsers`` makes them of the parent's class).

    A flag is taken only as spelt in full: argparse's prefixes took ``simulate --journey welcome_series``, a
    filter the user thought it had, as ``--journey-events`` and wrote every journey event to a file named
    ``welcome_series`` (a walkthrough); a prefix also changes meaning when a flag is added later."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    #: the command line being parsed (main sets it): a required flag misspelt (``simulate --event F``) was told
    #: only as missing, argparse checking what is required before what it does not know
    given: ClassVar[list[str]] = []

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            message += "".join(f"; {given} is no flag: did you mean {meant}?" for given, meant in _meant_flags(self, self.given))
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cjo-stream", description="Kafka-native customer journey orchestration.",
                                     epilog="Exit codes: see the README's \"Exit codes\" table.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="version", version=f"cjo-stream {_version()}",
                        help="print the installed version (for a bug report) and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check journey files and policies; print every problem")
    p.add_argument("topologies", nargs="?", help=TOPOLOGIES_HELP)
    p.add_argument("--topologies", dest="topologies_flag", metavar="DIR",
                   help="the same, as simulate, replay and worker take it")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("simulate", help="run journeys over a JSONL file of events in virtual time")
    p.add_argument("--topologies", default=topologies_dir(),
                   help=TOPOLOGIES_HELP)
    p.add_argument("--events", required=True, metavar="FILE", action=_Once,
                   help="JSON lines of Segment-style touchpoint events (plain or gzip; one file)")
    p.add_argument("--until", help="after the last event, fire pending timers due up to this RFC 3339 time "
                                    "(default: all); every event is read (replay --until stops reading there)")
    p.add_argument("--report", action="store_true", help="print the funnel and journey analytics to stderr")
    p.add_argument("--html", metavar="FILE", help="write the journey analytics page as one self-contained HTML file")
    p.add_argument("--journey-events", metavar="FILE",
                   help="write every journey event the report counts (entered, step, variant, sent, converted, "
                        "...) as JSON lines, as the workers write them to cjo.journey-events")
    p.add_argument("--profiles", metavar="FILE",
                   help="write each customer's profile at the end (traits, counters, stage, journeys) as JSON "
                        "lines, as a worker's state API shows one")
    p.add_argument("--allowed-lateness", type=non_negative_float, metavar="SECONDS",
                   help="how much older than a customer's latest event an event may be and still start a "
                        "journey (default: $CJO_ALLOWED_LATENESS or 300)")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("schemas", help="write JSON Schemas generated from the code")
    p.add_argument("--out", default="schemas", metavar="DIR", help="directory to write them to (default schemas)")
    p.set_defaults(func=_cmd_schemas)

    for register in _extensions():
        register(sub)
    for verb in sub.choices.values():  # `--debug` after the verb too, as kubectl takes flags anywhere
        verb.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def _version() -> str:
    """The installed distribution's version: ``cjo-stream --version`` said only that a command was required."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cjo-stream")
    except PackageNotFoundError:  # the sources on PYTHONPATH, not installed
        return "(not installed)"


def _verb_parser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps its subcommands only there
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[verb]  # type: ignore[no-any-return]
    return parser


def _meant_flags(parser: argparse.ArgumentParser, extra: list[str]) -> list[tuple[str, str]]:
    """(given, meant) for each misspelt flag (``--topologie``, ``--comapre``, ``--event``): with prefixes refused,
    a letter short of a flag's name was "unrecognized" alone. Only a near spelling is named: ``--journey`` meant
    as a filter is not ``--journey-events``, and saying so would lead back to that trap."""
    import difflib

    flags = sorted(o for a in parser._actions for o in a.option_strings if o.startswith("--"))
    meant: list[tuple[str, str]] = []
    for token in extra:
        flag = token.split("=", 1)[0]
        if token.startswith("--") and flag not in flags:
            meant += [(flag, c) for c in difflib.get_close_matches(flag, flags, n=1, cutoff=0.8)]
    return meant


DEBUG_HELP = "debug logging, and a traceback with every error (same as CJO_LOG_LEVEL=debug)"

#: Verbs that are Kafka clients run from a shell (no logging of their own): aiokafka's messages reach
#: the terminal through Python's last-resort handler.
CLIENT_VERBS = frozenset({"produce", "tail", "generate", "skip", "replay", "dlq"})


def _quiet_kafka_client() -> None:
    """With the broker gone, ``tail`` wrote ~40 lines a second and ``produce`` ~1,500 before its one-line
    error: each aiokafka message now shows at most once a minute (:class:`cjo_stream.logs.Repeats`)."""
    from cjo_stream.logs import Repeats

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(Repeats())
    log = logging.getLogger("aiokafka")
    log.addHandler(handler)
    log.propagate = False


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Subcommands of the runtime and adapters (their modules import Faust/aiokafka lazily)."""
    from cjo_stream.replay.cli import register as replay_commands
    from cjo_stream.runtime.commands import register as runtime_commands

    found: list[Callable[[argparse._SubParsersAction], None]] = [runtime_commands, replay_commands]  # type: ignore[type-arg]
    if importlib.util.find_spec("cjo_stream.adapters.commands") is not None:
        from cjo_stream.adapters.commands import register as adapter_commands

        found.append(adapter_commands)
    from cjo_stream.analytics.commands import register as analytics_commands

    found.append(analytics_commands)
    return found


_TIME_FLAGS = ("--since", "--until", "--warmup")


def _negative_time(argv: list[str]) -> str | None:
    """``replay --since -7d``: argparse reads ``-7d`` as a flag and said only "expected one argument"."""
    import re

    for flag, value in zip(argv, argv[1:], strict=False):
        if flag in _TIME_FLAGS and re.fullmatch(r"-\d+(\.\d+)?[smhdw]?", value):
            prog = "cjo-stream" if argv[0].startswith("-") else f"cjo-stream {argv[0]}"  # as argparse names it
            return (f"{prog}: error: argument {flag}: {value!r}: a duration is written without the minus "
                    f"({flag} {value[1:]})")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run a verb. A user's mistake is one ``error:`` line and its exit code (cjo_stream.errors);
    anything else is a bug and keeps its traceback (exit 70)."""
    from cjo_stream.errors import ExitCode, UserError

    negative = _negative_time(sys.argv[1:] if argv is None else argv)
    if negative is not None:
        print(negative, file=sys.stderr)
        return int(ExitCode.USAGE)
    try:
        parser = build_parser()  # imports every verb's module: Ctrl-C can come meanwhile
        _Parser.given = list(sys.argv[1:] if argv is None else argv)
        args, extra = parser.parse_known_args(argv)
        if extra:  # argparse's own parse_args says so with the top-level usage, not the verb's flags
            verb = _verb_parser(parser, args.command)
            meant = " or ".join(m for _, m in _meant_flags(verb, extra))
            verb.error(f"unrecognized arguments: {' '.join(extra)}" + (f"; did you mean {meant}?" if meant else ""))
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    if args.debug:
        os.environ["CJO_LOG_LEVEL"] = "debug"  # the verb's logging and the processes it starts
    from cjo_stream.logs import from_env

    try:
        from_env()  # every verb's, not only the services': a typo there passed `simulate`, `replay` unsaid
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return int(ExitCode.USAGE)
    from cjo_stream.envnames import misspelt

    if not getattr(args, "supervised", False):  # (a --concurrency supervisor told it once for its processes)
        for line in misspelt(os.environ):  # CJO_PARTITONS=4 was ignored without a word
            say(line, "WARNING")
    debug = os.environ.get("CJO_LOG_LEVEL", "").strip().lower() == "debug"
    if debug:
        from cjo_stream.logs import configure_logging

        configure_logging(os.environ.get("CJO_LOG_FORMAT", "text").strip().lower() == "json", "DEBUG")
    elif args.command in CLIENT_VERBS:
        _quiet_kafka_client()
    if os.environ.get("CJO_PROBE_FILE"):  # off by default: a measuring harness's look inside (cjo_stream/probe.py)
        from cjo_stream.probe import start_from_env

        start_from_env()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a full disk is then one line, not 'Exception ignored'
        return code
    except UserError as e:
        if debug:
            traceback.print_exc()
        for line in e.details:
            say(line, "ERROR")
        say(f"error: {e}", "ERROR")
        return int(e.code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        from cjo_stream.errors import WRITE_ERRNOS, FileProblem

        if e.errno not in WRITE_ERRNOS:
            return _internal_error()
        # `replay > /dev/full`: the output could not be written; nothing more is (Python's own flush at exit)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if debug:
            traceback.print_exc()
        print(f"error: cannot write the output: {(e.strerror or str(e)).lower()}", file=sys.stderr)
        return int(FileProblem.code)
    except Exception:
        return _internal_error()


def _internal_error() -> int:
    from cjo_stream.errors import ExitCode

    traceback.print_exc()
    print("error: internal error (a bug in cjo-stream, not in your input): please report it with the "
          f"traceback above and the version, {_version()}; --debug or CJO_LOG_LEVEL=debug logs more", file=sys.stderr)
    return int(ExitCode.INTERNAL)

if __name__ == "__main__":
    sys.exit(main())
