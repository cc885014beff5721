"""``cjo-stream adapter``: registered by :mod:`cjo_stream.cli` (imports nothing heavy until it runs)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cjo_stream.argtypes import channel_name, port_or_auto, positive_int
from cjo_stream.logs import say

if TYPE_CHECKING:
    from cjo_stream.config import Settings

CHANNELS = ("email", "sms", "push", "in_app", "webhook", "slack", "crm", "console")


def _cmd_adapter(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from cjo_stream.adapters.base import ChannelStartError
    from cjo_stream.adapters.config import ConfigError
    from cjo_stream.adapters.service import AdapterOptions, check_config, serve, state_dir
    from cjo_stream.diskfull import disk_full, no_space
    from cjo_stream.errors import ExitCode, InvalidInput, UsageError, UserError, port_free
    from cjo_stream.kafka.connect import wait_for_broker_or_stop, where
    from cjo_stream.logs import configure_from_env
    from cjo_stream.settings_args import settings_from

    settings = settings_from(args)
    try:
        configure_from_env()
        opts = AdapterOptions.from_env(args.channel, web_port=args.web_port, concurrency=args.concurrency,
                                       channel_class=args.channel_class)
        if args.group:
            opts.group = args.group
        own = check_config(opts, settings=settings)  # a channel of your own: created here, run below
    except (ConfigError, ValueError) as e:
        raise UsageError(str(e)) from None
    _check_state_dir(state_dir(settings, opts))
    port_free(settings.web_host, opts.web_port, "--web-port / CJO_ADAPTER_WEB_PORT")
    log = logging.getLogger("cjo_stream.adapters")
    source = where(settings, args.broker)

    say(f"cjo-stream adapter {args.channel}: broker {settings.bootstrap}" + _endpoint(settings, opts.web_port))
    try:
        if not wait_for_broker_or_stop(settings, source, log):
            return 0
        # 70: its topics vanished from the cluster, said in one line (a broker restarted with memory storage)
        return asyncio.run(serve(settings, opts, channel=own))
    except KeyboardInterrupt:
        return 130
    except UserError:  # (a state directory another live adapter holds)
        raise
    except ChannelStartError as e:  # its own code, not cjo-stream's: one line (--debug: the traceback too)
        log.debug("the channel's start() failed", exc_info=e.__cause__)
        raise (UsageError if e.config else InvalidInput)(str(e)) from None
    except Exception as e:  # the process exits; its supervisor restarts it and it resumes from Kafka
        if disk_full(e):  # RocksDB's IO error: one line, exit 3, as an unwritable state directory at start
            import tempfile

            where_ = state_dir(settings, opts) or f"{tempfile.gettempdir()} (no CJO_ADAPTER_STATE_DIR)"
            say(f"error: {no_space(f'adapter {args.channel}', where_)}", "ERROR")
            return int(ExitCode.NO_FILE)
        log.exception("adapter %s stopped on an error", args.channel)
        say(f"error: adapter stopped: {type(e).__name__}; see the log above", "ERROR")
        return int(ExitCode.INTERNAL)


def _endpoint(settings: Settings, web_port: int) -> str:
    """The banner's endpoint: with ``--web-port 0`` the port is chosen when it binds, after the broker answered
    (it said ``:0``, a URL nobody can call); the log line ``adapter endpoint on ...`` names it then."""
    where = f"{settings.web_scheme}://{settings.web_host}"
    if web_port < 0:
        return ""
    if web_port == 0:
        return f", endpoint {where} on a free port (logged once bound: 'adapter endpoint on ...')"
    return f", endpoint {where}:{web_port}"


def _check_state_dir(path: str | None) -> None:
    """CJO_ADAPTER_STATE_DIR naming a file (or a place that cannot be written) let the adapter run with a
    NotADirectoryError traceback at every partition assignment and no local sent-record; now exit 3."""
    from cjo_stream.errors import writable_dir
    from cjo_stream.settings_args import private_files

    private_files()  # its sent-record and store are the adapter's user's only
    if path is not None:
        writable_dir(path, f"the adapter's state directory {path} (CJO_ADAPTER_STATE_DIR)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("adapter", help="deliver a channel's commands (and serve provider engagement callbacks)")
    p.add_argument("--channel", required=True, type=channel_name, metavar="NAME",
                   help=f"the channel to deliver: {', '.join(CHANNELS)}, or your own with --channel-class")
    p.add_argument("--channel-class", metavar="MODULE:CLASS",
                   help="your own channel class for --channel, imported from the working directory or PYTHONPATH "
                        "(default: $CJO_CHANNEL_CLASS; docs/adapters.md, 'Your own channel')")
    p.add_argument("--broker", help="bootstrap servers (default: $CJO_BROKER or 127.0.0.1:9092)")
    p.add_argument("--web-port", type=port_or_auto,
                   help="port of /engagement, /metrics, /health (default: $CJO_ADAPTER_WEB_PORT or 6067; "
                        "0 = any free port, -1 = none)")
    p.add_argument("--concurrency", type=positive_int, help="deliveries in flight (default: $CJO_ADAPTER_CONCURRENCY or 16)")
    p.add_argument("--group", help="consumer group (default: cjo-adapter-<channel>)")
    p.set_defaults(func=_cmd_adapter)
