"""``cjo-stream analytics``: registered by :mod:`cjo_stream.cli` (imports nothing heavy until it runs)."""

from __future__ import annotations

import argparse
import sys

from cjo_stream.argtypes import port
from cjo_stream.logs import say


def _cmd_analytics(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from cjo_stream.auth import ApiAuth, AuthConfigError
    from cjo_stream.diskfull import disk_full, no_space
    from cjo_stream.errors import ExitCode, UsageError, load_topology_checked, port_free
    from cjo_stream.logs import configure_from_env
    from cjo_stream.settings_args import check_data_dir, settings_from
    from cjo_stream.tls import TLSConfigError, server_context

    configure_from_env()
    # the workers' checks, in their order: flags and CJO_* values (exit 2), files (3), journeys (1), port (5)
    s = settings_from(args, topologies=args.topologies, data_dir=args.data_dir, store=args.store,
                      analytics_web_port=args.web_port)
    if not 1 <= s.analytics_web_port <= 65535:
        raise UsageError(f"CJO_ANALYTICS_WEB_PORT={s.analytics_web_port}: a port is 1-65535")
    try:
        ApiAuth.from_settings(s)
        server_context(s)
    except (AuthConfigError, TLSConfigError) as e:
        raise UsageError(str(e)) from None
    topo = load_topology_checked(s.topologies, refusing="refusing to start")
    check_data_dir(s.data_dir)
    port_free(s.web_host, s.analytics_web_port, "--web-port / CJO_ANALYTICS_WEB_PORT")  # before the broker wait
    from cjo_stream.logs import from_env

    if from_env()[1] != "DEBUG":  # (debugging, the client's own lines show: logging_config)
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
    from cjo_stream.analytics.service import serve
    from cjo_stream.journeys.loader import loaded_text

    say(f"cjo-stream analytics: broker {s.bootstrap}, {loaded_text(topo.journeys)}, page and API on "
        f"{s.web_scheme}://{s.web_host}:{s.analytics_web_port}/")
    from cjo_stream.kafka.connect import wait_for_broker_or_stop, where

    try:
        # a service may start before its broker (Compose starts everything at once): wait as workers do
        if not wait_for_broker_or_stop(s, where(s, args.broker), logging.getLogger("cjo_stream.analytics")):
            return 0
        asyncio.run(serve(s, topo, s.analytics_web_port))
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        if disk_full(e):
            say(f"error: {no_space('analytics', s.data_dir)}", "ERROR")
            return int(ExitCode.NO_FILE)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # its supervisor restarts it; it resumes from its store
        if disk_full(e):  # RocksDB's IO error: one line, exit 3, as an unwritable --data-dir at start
            say(f"error: {no_space('analytics', s.data_dir)}", "ERROR")
            return int(ExitCode.NO_FILE)
        logging.getLogger("cjo_stream.analytics").exception("analytics stopped on an error")
        say(f"error: analytics stopped: {type(e).__name__}; see the log above", "ERROR")
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("analytics", help="journey analytics: fold journey events, serve the API and the page")
    p.add_argument("--broker", help="bootstrap servers (default: $CJO_BROKER or 127.0.0.1:9092)")
    p.add_argument("--topologies", help="the topologies directory, for the maps (default: $CJO_TOPOLOGIES or topologies)")
    p.add_argument("--web-port", type=port, help="port of the page and API (default: $CJO_ANALYTICS_WEB_PORT or 6068)")
    p.add_argument("--data-dir", help="local state directory (default: $CJO_DATA_DIR or data)")
    p.add_argument("--store", choices=["rocksdb", "memory"], help="state store (default: $CJO_STORE or rocksdb)")
    p.set_defaults(func=_cmd_analytics)
