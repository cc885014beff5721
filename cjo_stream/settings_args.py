"""Settings from ``CJO_*`` variables and a command's flags, checked as a user's mistake.

Every long-running service and client verb (worker, adapter, analytics, replay, skip, ...) builds its
:class:`~cjo_stream.config.Settings` here, so a bad value is refused the same way everywhere: one line
naming the variable or flag (:class:`~cjo_stream.errors.UsageError`), before anything starts.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from cjo_stream.config import Settings
from cjo_stream.errors import UsageError, readable_file

_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings from ``CJO_*`` variables and flags; a bad value is a UsageError naming the variable."""
    try:
        s = Settings.from_env(bootstrap=getattr(args, "broker", None), **extra)
    except ValueError as e:
        raise UsageError(str(e)) from None
    checks = [
        (s.partitions >= 1, f"CJO_PARTITIONS={s.partitions}: must be 1 or more"),
        (s.replication >= 1, f"CJO_REPLICATION={s.replication}: must be 1 or more"),
        (s.concurrency >= 1, f"CJO_CONCURRENCY={s.concurrency}: must be 1 or more"),
        (s.batch_max >= 1, f"CJO_BATCH_MAX={s.batch_max}: must be 1 or more"),
        (0 <= s.allowed_lateness < float("inf"), f"CJO_ALLOWED_LATENESS={s.allowed_lateness}: seconds, 0 or more"),
        (0 < s.dedupe_window < float("inf"), f"CJO_DEDUPE_WINDOW_SECONDS={s.dedupe_window}: seconds, more than 0"),
        (0 <= s.linger_ms <= 10_000, f"CJO_LINGER_MS={s.linger_ms}: 0 to 10000 ms"),
        (0 <= s.ingest_interval_ms <= 10_000, f"CJO_INGEST_INTERVAL_MS={s.ingest_interval_ms}: 0 to 10000 ms"),
        (1 <= s.commit_interval_ms <= 600_000, f"CJO_COMMIT_INTERVAL_MS={s.commit_interval_ms}: 1 to 600000 ms"),
        (s.rocksdb_memory_mb >= 8, f"CJO_ROCKSDB_MEMORY_MB={s.rocksdb_memory_mb}: 8 or more (MiB)"),
        (1 <= s.dedupe_ids <= 4096, f"CJO_DEDUPE_IDS={s.dedupe_ids}: 1 to 4096 ids per customer"),
        (1 <= s.web_port <= 65535, f"CJO_WEB_PORT={s.web_port}: a port is 1-65535"),
        (s.security_protocol in _PROTOCOLS, f"CJO_SECURITY_PROTOCOL={s.security_protocol!r}: use one of "
                                           f"{', '.join(_PROTOCOLS)}"),
        (s.sasl_mechanism in _MECHANISMS, f"CJO_SASL_MECHANISM={s.sasl_mechanism!r}: use PLAIN, SCRAM-SHA-256 "
                                         "or SCRAM-SHA-512"),
        # a SASL protocol without its mechanism and credentials: aiokafka's ValueError, a traceback (exit 70)
        (not s.security_protocol.startswith("SASL_") or bool(s.sasl_mechanism),
         f"CJO_SECURITY_PROTOCOL={s.security_protocol} needs CJO_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or "
         "SCRAM-SHA-512), CJO_SASL_USERNAME and CJO_SASL_PASSWORD"),
        (not s.security_protocol.startswith("SASL_") or (bool(s.sasl_username) and bool(s.sasl_password)),
         f"CJO_SECURITY_PROTOCOL={s.security_protocol} with CJO_SASL_MECHANISM={s.sasl_mechanism} needs "
         "CJO_SASL_USERNAME and CJO_SASL_PASSWORD"),
        # SASL settings with a protocol that does not use them were ignored without a word
        (s.security_protocol.startswith("SASL_") or not s.sasl_mechanism,
         f"CJO_SASL_MECHANISM={s.sasl_mechanism} is set but CJO_SECURITY_PROTOCOL={s.security_protocol} does not "
         "use SASL: set CJO_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), or unset CJO_SASL_MECHANISM"),
        # never implemented (the hot path's producers are not transactional): refused, not silently ignored
        (not s.exactly_once, "CJO_EXACTLY_ONCE=true: Kafka transactions are not implemented; processing is "
                             "at-least-once with idempotent effects (adapters drop repeated delivery_ids): unset it"),
        (bool(s.bootstrap.strip()), f"{'--broker' if getattr(args, 'broker', None) is not None else 'CJO_BROKER'} "
                                    "is empty: give host:port of the Kafka broker(s)"),
        (not (bad := _bad_broker_port(s.bootstrap)), f"broker address {bad!r} (--broker or CJO_BROKER): host:port, "
                                                      "the port is 1-65535, as in 127.0.0.1:9092 or [::1]:9092"),
    ]
    for ok, problem in checks:
        if not ok:
            raise UsageError(problem)
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(s, name)
        if path:
            readable_file(path, Settings.ENV[name])
    # TLS files with a protocol without TLS were ignored without a word, as SASL settings were: the process
    # spoke plaintext, to a TLS listener only "broker not reachable" for ever
    tls_files = [Settings.ENV[n] for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if getattr(s, n)]
    if tls_files and s.security_protocol not in ("SSL", "SASL_SSL"):
        raise UsageError(f"{' and '.join(tls_files)} set but CJO_SECURITY_PROTOCOL={s.security_protocol} does not "
                         "use TLS: set CJO_SECURITY_PROTOCOL=SSL (or SASL_SSL), or unset "
                         f"{'them' if len(tls_files) > 1 else 'it'}")
    if s.security_protocol in ("SSL", "SASL_SSL"):
        import ssl

        try:  # files that exist but hold no certificate: the broker wait said "connection refused" for ever
            s.kafka_kwargs()
        except (ssl.SSLError, OSError, ValueError) as e:
            raise UsageError(f"CJO_SSL_CAFILE / CJO_SSL_CERTFILE / CJO_SSL_KEYFILE: cannot load them "
                             f"({type(e).__name__}: {getattr(e, 'reason', None) or e})") from None
    return s


def _bad_broker_port(bootstrap: str) -> str:
    """The first entry aiokafka cannot take as ``host:port`` with a port 1-65535 (a client ended with a
    traceback on it, a service retried it forever), or ``""``. Parsed as aiokafka parses it: ``[v6]:port``,
    a bare IPv6 address or a name without a port (the client's default port), else ``host:port``."""
    import socket

    for raw in bootstrap.split(","):
        entry = raw.strip()
        if entry.startswith("["):
            _, closed, rest = entry[1:].partition("]")
            if not closed or (rest and not rest.startswith(":")):
                return entry  # '[::1' or '[::1]9092': aiokafka's ValueError
            if not rest:
                continue
            port = rest[1:]
        elif ":" not in entry:
            continue
        else:
            try:
                socket.inet_pton(socket.AF_INET6, entry)
                continue  # '::1': a bare IPv6 address
            except OSError:
                port = entry.rpartition(":")[2]  # '::::' is no address: its port is ''
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            return entry
    return ""


def private_files() -> None:
    """Files and directories this process makes from now on are its user's only (umask 077): a service's
    stores hold customers' addresses and traits, and they were world-readable (644 in 755 directories; a
    security review). Called by the services before they make anything."""
    os.umask(0o077)


def check_data_dir(path: str) -> None:
    from cjo_stream.errors import writable_dir

    private_files()
    writable_dir(path, f"the data directory {path} (--data-dir / CJO_DATA_DIR)")
