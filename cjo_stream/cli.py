"""The ``cjo-stream`` command line.

Subcommands import their heavy dependencies (Faust, aiokafka) lazily, so ``validate`` and ``simulate``
start fast and work without a broker.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable

import msgspec
import orjson


def _cmd_validate(args: argparse.Namespace) -> int:
    from cjo_stream.journeys.loader import JourneyLoadError, load_topology

    try:
        topo = load_topology(args.topologies)
    except JourneyLoadError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        print(f"{len(e.problems)} problem(s) found; nothing was loaded.", file=sys.stderr)
        return 1
    for j in sorted(topo.journeys, key=lambda j: (j.id, j.version)):
        print(f"ok  {j.id} v{j.version}  ({len(j.steps)} steps)  {j.source}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from cjo_stream.commands import DeliveryCommand
    from cjo_stream.engine import Engine
    from cjo_stream.events import parse_ts
    from cjo_stream.journeys.loader import JourneyLoadError, load_topology
    from cjo_stream.simulator import Simulator, read_lines

    try:
        topo = load_topology(args.topologies)
    except JourneyLoadError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        return 1
    out = sys.stdout.buffer

    def emit(cmd: DeliveryCommand) -> None:
        out.write(orjson.dumps(msgspec.to_builtins(cmd), option=orjson.OPT_SORT_KEYS) + b"\n")

    sim = Simulator(Engine(topo.journeys, topo.policies), on_command=emit)
    try:
        sim.run_lines(read_lines(args.events))
    except FileNotFoundError:
        print(f"events file not found: {args.events}", file=sys.stderr)
        return 1
    until = parse_ts(args.until) if args.until else None
    sim.finish(until)
    out.flush()
    for b in sim.bad:
        print(f"{args.events}:{b.line}: skipped bad event: {b.detail}", file=sys.stderr)
    if args.report:
        from cjo_stream.analytics.offline import render_text

        print("", file=sys.stderr)
        print(sim.funnel.render(), file=sys.stderr)
        print("", file=sys.stderr)
        print(render_text(sim.analytics, topo.journeys), file=sys.stderr)
        print(f"\n{len(sim.commands)} delivery commands, {len(sim.skips)} skips, {len(sim.bad)} bad lines, "
              f"{sim.duplicates} duplicates, {sim.pending_timers} timers still pending, "
              f"{len(sim.profiles)} customers", file=sys.stderr)
    if args.html:
        from cjo_stream.analytics.offline import render_html

        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(render_html(sim.analytics, topo.journeys))
        except OSError as e:
            print(f"cannot write {args.html}: {e.strerror}", file=sys.stderr)
            return 1
        print(f"analytics page written to {args.html}", file=sys.stderr)
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from cjo_stream.schemas_export import write_all

    for path in write_all(args.out):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cjo-stream", description="Kafka-native customer journey orchestration.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check journey files and policies; print every problem")
    p.add_argument("topologies", nargs="?", default="topologies")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("simulate", help="run journeys over a JSONL file of events in virtual time")
    p.add_argument("--topologies", default="topologies")
    p.add_argument("--events", required=True, help="JSON lines of Segment-style touchpoint events")
    p.add_argument("--until", help="fire pending timers due up to this RFC 3339 time (default: all)")
    p.add_argument("--report", action="store_true", help="print the funnel and journey analytics to stderr")
    p.add_argument("--html", metavar="FILE", help="write the journey analytics page as one self-contained HTML file")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("schemas", help="write JSON Schemas generated from the code")
    p.add_argument("--out", default="schemas")
    p.set_defaults(func=_cmd_schemas)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Subcommands of the runtime and adapters (their modules import Faust/aiokafka lazily)."""
    from cjo_stream.runtime.commands import register as runtime_commands

    found: list[Callable[[argparse._SubParsersAction], None]] = [runtime_commands]  # type: ignore[type-arg]
    if importlib.util.find_spec("cjo_stream.adapters.commands") is not None:
        from cjo_stream.adapters.commands import register as adapter_commands

        found.append(adapter_commands)
    from cjo_stream.analytics.commands import register as analytics_commands

    found.append(analytics_commands)
    return found


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
