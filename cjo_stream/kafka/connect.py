"""Wait until the Kafka broker answers, or say clearly which address did not.

Command-line clients (``produce``, ``tail``, ``generate``) give up after a bounded wait with a
:class:`~cjo_stream.errors.BrokerUnreachable` error (exit 4); long-running services (``worker``,
``adapter``, ``analytics``) wait with exponential backoff and log every attempt, as Kafka clients do, so they can be
started before the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator

from cjo_stream.config import Settings
from cjo_stream.errors import BrokerUnreachable

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
ATTEMPT_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0  # a client verb's default --connect-timeout


def where(settings: Settings, flag: str | None) -> str:
    """Where the bootstrap address came from, for the error message."""
    if flag:
        return "from --broker"
    if "CJO_BROKER" in os.environ:
        return "from CJO_BROKER"
    return "the default; set CJO_BROKER or --broker"


def _diagnose(bootstrap: str, tls: ssl.SSLContext | None = None) -> str:
    """Why the first bootstrap server does not answer (refused, timed out, unknown host; with ``tls``, the
    settings' context when the protocol is SSL or SASL_SSL, a failed handshake: "certificate verify failed"
    was told as "does not answer as a Kafka broker")."""
    from aiokafka.conn import get_ip_port_afi

    first = bootstrap.split(",")[0].strip()
    try:  # as the client parses it: a name without a port is the client's default port (a bare 'kafka' is valid)
        host, port, _ = get_ip_port_afi(first)
    except ValueError:
        return f"{first!r} is not host:port"
    # (the address is named as given: say which port was tried when it had none)
    assumed = "" if first.endswith(f":{port}") else f" (port {port}, none given)"
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2) as sock:
            if tls is not None:
                try:
                    with tls.wrap_socket(sock, server_hostname=host or None):
                        pass
                except ssl.SSLError as e:
                    return f"the TLS handshake failed ({e.reason or e}): check CJO_SSL_CAFILE, CJO_SSL_CERTFILE " \
                           "and CJO_SSL_KEYFILE against the broker's certificate" + assumed
                except OSError:
                    return "it accepts connections but closed the TLS handshake: is it a TLS listener?" + assumed
                return ("it completes a TLS handshake but does not answer as a Kafka broker (SASL mechanism or "
                        "credentials refused?)" + assumed)
            return "it accepts connections but does not answer as a Kafka broker" + assumed
    except (ValueError, OverflowError):  # OverflowError: a port beyond 65535
        return f"{first!r} is not host:port"
    except socket.gaierror as e:
        return f"unknown host ({e.strerror})"
    except OSError as e:
        return (os.strerror(e.errno) if e.errno else str(e) or type(e).__name__).lower() + assumed


@contextlib.contextmanager
def _quiet_client_logs() -> Iterator[None]:
    """aiokafka logs every refused connection at ERROR; the caller reports the outcome once instead
    (unless debug logging is on)."""
    logger = logging.getLogger("aiokafka")
    if logger.getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


async def probe(settings: Settings, timeout: float = ATTEMPT_TIMEOUT) -> None:
    """One bootstrap (metadata request) to the configured servers; raises on failure."""
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(**settings.kafka_kwargs(), request_timeout_ms=int(timeout * 1000))
    try:
        with _quiet_client_logs():
            await asyncio.wait_for(client.bootstrap(), timeout)
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def wait_for_broker(settings: Settings, *, timeout: float | None, source: str = "",
                          on_retry: Callable[[int, str, float], None] | None = None) -> None:
    """Return once the broker answers. ``timeout=None`` waits forever (``on_retry`` is told of each
    failed attempt: number, reason, seconds until the next); otherwise raises BrokerUnreachable."""
    from aiokafka.errors import KafkaError

    start = time.monotonic()
    delay = BACKOFF_FIRST
    attempt = 0
    while True:
        attempt += 1
        left = None if timeout is None else timeout - (time.monotonic() - start)
        try:
            await probe(settings, ATTEMPT_TIMEOUT if left is None else max(0.5, min(ATTEMPT_TIMEOUT, left)))
            return
        except (TimeoutError, KafkaError, OSError):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # a stop (SIGTERM) that came as the attempt failed: Python 3.11's asyncio.wait_for lets the
                # attempt's error through in its place, and the wait went on for ever (an adapter given
                # SIGTERM while its broker refused connections kept retrying; tests/test_broker_wait_stop.py)
                raise asyncio.CancelledError from None
            reason = _diagnose(settings.bootstrap, settings.kafka_kwargs().get("ssl_context"))
        left = None if timeout is None else timeout - (time.monotonic() - start)
        if left is not None and left <= 0:
            raise BrokerUnreachable(
                f"cannot reach the Kafka broker at {settings.bootstrap} ({source or where(settings, None)}) "
                f"after {timeout:g} s and {attempt} attempt(s): {reason}. Is it running? "
                "`cjo-stream broker` starts a local one; set the address with --broker or CJO_BROKER")
        if on_retry is not None:
            on_retry(attempt, reason, delay)
        await asyncio.sleep(delay if left is None else min(delay, left))
        delay = min(delay * 2, BACKOFF_MAX)


def wait_for_broker_or_stop(settings: Settings, source: str, log: logging.Logger) -> bool:
    """A service's wait for its broker (forever, one warning per failed attempt). False when SIGTERM or
    Ctrl-C stopped it first: a service stopped before it connected has nothing to clean up, and exits 0
    as after any stop, not killed by the signal (Kubernetes and Compose stop it so while the broker is away)."""

    def retry(attempt: int, reason: str, delay: float) -> None:
        log.warning("broker %s (%s) not reachable, attempt %d: %s; retrying in %.1f s",
                    settings.bootstrap, source, attempt, reason, delay)

    async def wait() -> bool:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stopped: list[int] = []
        signals = [signal.SIGTERM]
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # ignored in a background job: keep it so
            signals.append(signal.SIGINT)

        def stop(sig: int) -> None:
            stopped.append(sig)
            task.cancel()

        for sig in signals:
            loop.add_signal_handler(sig, stop, sig)
        try:
            await wait_for_broker(settings, timeout=None, source=source, on_retry=retry)
            return True
        except asyncio.CancelledError:
            if stopped:
                log.info("stopped while waiting for the broker")
                return False
            raise
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    return asyncio.run(wait())


__all__ = ["probe", "wait_for_broker", "wait_for_broker_or_stop", "where"]


def broker_ready(settings: Settings, args: argparse.Namespace) -> None:
    """A client verb's bounded wait for the broker (``--connect-timeout``), else BrokerUnreachable."""
    asyncio.run(wait_for_broker(settings, timeout=args.connect_timeout,
                                source=where(settings, getattr(args, "broker", None))))


def lost_broker(settings: Settings, args: argparse.Namespace, e: Exception) -> BrokerUnreachable:
    return BrokerUnreachable(f"lost the Kafka broker at {settings.bootstrap} "
                             f"({where(settings, getattr(args, 'broker', None))}): {type(e).__name__}: {e}")
