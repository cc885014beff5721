"""``cjo-stream adapter``: one channel's runner plus its HTTP endpoint, stopped cleanly by SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass

from cjo_stream import tls
from cjo_stream.adapters import config, custom
from cjo_stream.adapters.base import Channel
from cjo_stream.adapters.console import sources_from_env
from cjo_stream.adapters.expiry import ExpiryPolicy
from cjo_stream.adapters.in_app import inbox_topic
from cjo_stream.adapters.peers import PeerLookup, advertised_url
from cjo_stream.adapters.ratelimit import bucket_from_env
from cjo_stream.adapters.registry import make_channel
from cjo_stream.adapters.retry import RetryPolicy
from cjo_stream.adapters.runner import (
    DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_STOP_GRACE,
    AdapterRunner,
    track_topics,
)
from cjo_stream.adapters.web import build_app
from cjo_stream.auth import ApiAuth
from cjo_stream.commands import ALL_CHANNELS
from cjo_stream.config import Settings
from cjo_stream.errors import ExitCode
from cjo_stream.kafka.closing import stop_within
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.serving import bound_port, start_site

log = logging.getLogger(__name__)

DEFAULT_WEB_PORT = 6067
LOST_EXIT = int(ExitCode.INTERNAL)  # 70: the adapter's topics vanished from the cluster (README "Exit codes")
_LOST_GRACE = 15.0  # seconds the shutdown may take after that before the process ends regardless


@dataclass
class AdapterOptions:
    channel: str
    web_port: int = DEFAULT_WEB_PORT  # 0 = any free port; negative = no HTTP endpoint
    concurrency: int = 16
    batch_max: int = 500
    group: str | None = None
    session_timeout: float = 6.0
    sent_retention: float | None = None  # CJO_SENT_RETENTION; default: longest expiry + a day
    channel_class: str | None = None  # module:Class of a channel of your own (adapters.custom)
    class_source: str = custom.CHANNEL_CLASS_ENV  # where channel_class came from, for messages
    stop_grace: float = DEFAULT_STOP_GRACE  # CJO_ADAPTER_STOP_GRACE: provider calls in flight at a stop, then cut
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT  # CJO_ADAPTER_ATTEMPT_TIMEOUT: one provider call at most

    @classmethod
    def from_env(cls, channel: str, env: config.Env | None = None, *, web_port: int | None = None,
                 concurrency: int | None = None, channel_class: str | None = None) -> AdapterOptions:
        e = config.env_of(env)
        flag = channel_class is not None
        return cls(channel=channel,
                   channel_class=channel_class if flag else config.get(e, custom.CHANNEL_CLASS_ENV) or None,
                   class_source="--channel-class" if flag else custom.CHANNEL_CLASS_ENV,
                   web_port=web_port if web_port is not None else
                   config.integer(e, "CJO_ADAPTER_WEB_PORT", DEFAULT_WEB_PORT, minimum=-1, maximum=65535),
                   concurrency=concurrency or config.integer(e, "CJO_ADAPTER_CONCURRENCY", 16, minimum=1),
                   batch_max=config.integer(e, "CJO_ADAPTER_BATCH_MAX", 500, minimum=1),
                   group=config.get(e, "CJO_ADAPTER_GROUP") or None,
                   session_timeout=config.duration(e, "CJO_ADAPTER_SESSION_TIMEOUT", 6.0, low=1.0, high=1800.0),
                   sent_retention=config.duration(e, "CJO_SENT_RETENTION", 0.0) or None,
                   stop_grace=config.duration(e, "CJO_ADAPTER_STOP_GRACE", DEFAULT_STOP_GRACE, high=3600.0),
                   attempt_timeout=config.duration(e, "CJO_ADAPTER_ATTEMPT_TIMEOUT", DEFAULT_ATTEMPT_TIMEOUT,
                                                   low=1.0, high=3600.0))


def check_config(opts: AdapterOptions, env: config.Env | None = None,
                 settings: Settings | None = None) -> Channel | None:
    """Read every setting the adapter will use, so a mistake is reported before anything starts. Returns the
    channel of your own it created (``serve`` runs that one: its ``__init__`` runs once), else ``None``."""
    e = config.env_of(env)
    if settings is not None:  # API tokens and the web port's certificate
        ApiAuth.from_settings(settings)
        tls.server_context(settings)
        tls.client_verify(settings)  # (CJO_WEB_TLS_CA: the other replicas' certificates, asked for sends)
    own = custom.load(opts.channel, opts.channel_class, opts.class_source)
    if own is None and opts.channel != "in_app":  # in_app needs only the broker
        make_channel(opts.channel, e)
    if opts.channel == "in_app":
        _check_inbox(inbox_topic(e), settings)
    sources = sources_from_env(e) if opts.channel == "console" else [opts.channel]
    RetryPolicy.from_env(e)
    bucket_from_env(opts.channel, e)
    ExpiryPolicy.from_env(e, sources)
    config.signing_key(e, "CJO_ENGAGEMENT_SIGNING_KEY")
    return own


def build_runner(settings: Settings, opts: AdapterOptions, env: config.Env | None = None,
                 channel: Channel | None = None) -> AdapterRunner:
    """Everything from configuration (``channel``: one :func:`check_config` made); raises
    :class:`config.ConfigError` before touching the network."""
    e = config.env_of(env)
    producer = make_producer(settings)
    if channel is None:
        channel = custom.load(opts.channel, opts.channel_class, opts.class_source) or \
            make_channel(opts.channel, e, producer)
    # the console adapter's channels, whose expiry it applies (a declared one's default is CUSTOM_EXPIRY)
    sources = sources_from_env(e) if opts.channel == "console" else None
    return AdapterRunner(settings, channel, name=opts.channel, sources=sources, group=opts.group,
                         concurrency=opts.concurrency,
                         batch_max=opts.batch_max, retry=RetryPolicy.from_env(e),
                         limiter=bucket_from_env(opts.channel, e),
                         expiry=ExpiryPolicy.from_env(e, sources or [opts.channel]),
                         producer=producer,
                         session_timeout_ms=int(opts.session_timeout * 1000), sent_retention=opts.sent_retention,
                         state_dir=state_dir(settings, opts), stop_grace=opts.stop_grace,
                         attempt_timeout=opts.attempt_timeout)


def state_dir(settings: Settings, opts: AdapterOptions) -> str | None:
    """Where the sent-record's local copy is kept across restarts: ``CJO_ADAPTER_STATE_DIR`` (one
    directory per adapter process, e.g. a volume), else a temporary one read again from the topic."""
    base = os.environ.get("CJO_ADAPTER_STATE_DIR")
    return os.path.join(base, f"{settings.app_id}-{opts.channel}") if base else None


def _check_inbox(topic: str, settings: Settings | None) -> None:
    """``CJO_INBOX_TOPIC`` naming a topic the workers or adapters read was taken: set to the input, every in-app
    message was dead-lettered by the workers; set to ``cjo.delivery.in_app``, the adapter read its own output."""
    if settings is None:
        return
    reads = {settings.input_topic, settings.receipts_topic, settings.dlq_topic, settings.internal_topic,
             settings.consent_changes_topic, settings.journey_events_topic, settings.skipped_topic}
    if topic in reads or topic.startswith(("cjo.delivery.", "cjo.adapter.")):
        raise config.ConfigError(f"CJO_INBOX_TOPIC={topic!r} is a topic cjo-stream reads or writes itself: in-app "
                                 "messages go to a topic of their own (default cjo.inbox), which apps read")


async def serve(settings: Settings, opts: AdapterOptions, env: config.Env | None = None,
                started: asyncio.Event | None = None, channel: Channel | None = None) -> int:
    """Run until SIGTERM/SIGINT (0), or until the runner finds its topics gone from the cluster (70)."""
    e = config.env_of(env)
    signing_key = config.signing_key(e, "CJO_ENGAGEMENT_SIGNING_KEY")
    api_auth = ApiAuth.from_settings(settings)
    ssl_context = tls.server_context(settings)
    runner = build_runner(settings, opts, e, channel)
    if (why := undeclared(opts.channel, e)) is not None:
        log.warning("%s", why)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, runner.stop)
    await ensure_topics(settings, [settings.receipts_topic])
    await runner.producer.start()
    web_runner = None
    peers: PeerLookup | None = None
    deadline = asyncio.ensure_future(_end_after_loss(runner))
    try:
        await track_topics(runner.producer, [settings.receipts_topic])
        if opts.web_port >= 0:
            peers = PeerLookup(runner.peers, runner.sent.held, runner.sent.used, runner.sent.partition_for,
                               adapter=runner.name, signing_key=signing_key, verify=tls.client_verify(settings),
                               scheme=settings.web_scheme)
            app = build_app(runner.producer, settings.receipts_topic, signing_key, runner.health, api_auth,
                            default_channel="email" if opts.channel in custom.BUILT_IN else opts.channel,
                            channels=callback_channels(opts.channel, e), sent=runner.sent, peers=peers)
            web_runner = await start_site(app, settings.web_host, opts.web_port, ssl_context)
            # how the other replicas reach this one (CJO_WEB_URL), in the group's assignments (adapters.peers)
            runner.peers.url = advertised_url(settings.web_url, settings.web_scheme, settings.web_host,
                                              bound_port(web_runner))
            log.info("adapter %s: other replicas ask this one at %s", runner.name, runner.peers.url)
            if not signing_key:
                log.warning("CJO_ENGAGEMENT_SIGNING_KEY is not set: /engagement accepts unsigned callbacks from "
                            "loopback only")
            log.info("adapter endpoint on %s://%s:%d (/engagement, /metrics, /health)", settings.web_scheme,
                     settings.web_host, bound_port(web_runner))
        else:
            log.warning("adapter %s has no web endpoint (--web-port -1): the other replicas of this adapter cannot ask "
                        "it for the sends of its partitions, so callbacks by provider_message_id alone get 503 on "
                        "them while it runs", runner.name)
        await runner.start()
        if started is not None:
            started.set()
        await runner.run()
    finally:
        await runner.close()
        if web_runner is not None:
            await web_runner.cleanup()
        if peers is not None:
            await peers.close()
        await stop_within(runner.producer, f"the {runner.name} adapter's producer")
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        deadline.cancel()
    return LOST_EXIT if runner.lost else 0


def _declared(env: config.Env) -> tuple[str, frozenset[str] | None]:
    """The ``policies.yaml`` of ``CJO_TOPOLOGIES`` (default ``topologies``) and the channels it declares, None when
    there is none to read (an adapter's container often has no journeys; the worker and `validate` tell what is
    wrong with a broken one)."""
    from cjo_stream.journeys.policies import load_policies
    from cjo_stream.journeys.source import SourceError

    path = os.path.join(config.get(env, "CJO_TOPOLOGIES") or "topologies", "policies.yaml")
    try:
        return path, load_policies(path).channel_names - ALL_CHANNELS if os.path.exists(path) else None
    except SourceError:
        return path, None


def callback_channels(channel: str, env: config.Env) -> frozenset[str]:
    """The channels an engagement callback may name: the built-in ones, the adapter's own, and those declared in
    the ``policies.yaml`` of ``CJO_TOPOLOGIES`` when it is there to read."""
    return frozenset(ALL_CHANNELS | (_declared(env)[1] or frozenset()) | ({channel} - {"console"}))


def undeclared(channel: str, env: config.Env) -> str | None:
    """Why nothing may ever reach a channel of your own's adapter: the ``policies.yaml`` beside it declares no such
    channel (a typo there or on the command line), so no journey sends on it and the adapter waited in silence."""
    from cjo_stream.journeys.policies import closest_channel

    path, declared = _declared(env)
    if channel in custom.BUILT_IN or declared is None or channel in declared:
        return None
    return (f"channel {channel!r} is not declared in {path} (CJO_TOPOLOGIES){closest_channel(channel, declared)}: "
            "journeys there cannot send on it, and this adapter receives nothing until a topology that declares it "
            "is deployed")


async def _end_after_loss(runner: AdapterRunner) -> None:
    """Once the runner found its topics gone, end the process within ``_LOST_GRACE`` s (exit 70) whatever
    the shutdown still waits for: a produce to a vanished topic waits out the request timeout (40 s)."""
    await runner.lost_event.wait()
    await asyncio.sleep(_LOST_GRACE)
    log.error("adapter %s did not stop within %.0f s; ending now", runner.name, _LOST_GRACE)
    os._exit(LOST_EXIT)
