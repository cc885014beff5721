"""Logging setup for workers and adapters: plain text or one JSON object per line.

``CJO_LOG_FORMAT=json|text`` (default ``text``) and ``CJO_LOG_LEVEL`` (default ``INFO``) select it.
Logs never carry event payloads, message contents or recipient addresses:

- the JSON formatter writes a fixed set of fields (time, level, logger, message, exception) plus only
  the ``extra`` keys listed in :data:`SAFE_FIELDS` (ids and counters, no payloads);
- every message and traceback (both formats) goes through :func:`redact`, which masks e-mail
  addresses, E.164 phone numbers, credentials in URLs, bearer tokens and ``password=``/``token=``-style
  values, and cuts messages longer than :data:`MAX_MESSAGE` characters (a payload that slipped into a
  message is not written whole).

Redaction is a safety net, not a licence: code must still not put payloads into log messages.

Kafka clients (aiokafka) log every failed connection, fetch and heartbeat: with the broker gone a worker
wrote ~190 such lines a second, an adapter ~75. Below debug level, :class:`Repeats` lets each of their
messages through at most once a minute.

Faust hosts the worker and (re)configures logging when it starts; pass :func:`logging_config` to it:
``faust.Worker(app, logging_config=logging_config(*from_env()), ...)``.
"""

from __future__ import annotations

import json as _json
import logging
import logging.config
import os
import re
import sys
import time
from typing import IO, Any

MAX_MESSAGE = 2000

#: ``extra={...}`` keys the JSON formatter keeps: identifiers of our own objects and numbers, never
#: customer data. Anything else passed as ``extra`` is dropped.
SAFE_FIELDS = frozenset({
    "worker_id", "app_id", "topic", "partition", "partitions", "offset", "journey", "version", "step",
    "channel", "reason", "status", "count", "records", "events", "duration_s", "attempt", "delivery_id",
    "role", "action", "token", "customer_hash", "outcome", "at",  # audit records (token = its name)
})

_LEVELS = {"crit": "CRITICAL", "critical": "CRITICAL", "error": "ERROR", "warn": "WARNING", "warning": "WARNING",
           "info": "INFO", "debug": "DEBUG"}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d[\d ().-]{6,}\d")
_URL_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_SECRET_KV = re.compile(
    r"""(?ix)
    (?P<key>["']?[\w.-]*(?:password|passwd|secret|token|api[_-]?key|authorization|signing[_-]?key)[\w.-]*["']?
       \s*[:=]\s*)
    (?P<q>["']?)(?P<value>[^\s"',;}&]+)""")


def redact(text: str) -> str:
    """Mask addresses and credentials in ``text`` and cut it to :data:`MAX_MESSAGE` characters."""
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + f"…[{len(text) - MAX_MESSAGE} chars cut]"
    text = _URL_CREDS.sub(r"\g<scheme>***@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    text = _SECRET_KV.sub(lambda m: f"{m.group('key')}{m.group('q')}***", text)
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub("<phone>", text)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad %-format must not lose the record
        return str(record.msg)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, optional exc and safe extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(_message(record)),
        }
        for key in sorted(SAFE_FIELDS):
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value if isinstance(value, (int, float, bool)) else redact(str(value))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return _json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual one-line text format, redacted like the JSON one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class Repeats(logging.Filter):
    """Each message of the Kafka client libraries (by its format string, so 'Unable connect to node with id
    %s: %s' counts as one) at most once per ``every`` seconds; other loggers' records all pass. With the
    broker gone, aiokafka retries every ~100 ms per connection and logs each failure at ERROR: 11,576 lines
    in 60 s from one worker, 4,437 from a console adapter."""

    LOGGERS = frozenset({"aiokafka", "kafka"})

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self.last: dict[str, float] = {}  # aiokafka's format strings: a few dozen at most

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.partition(".")[0] not in self.LOGGERS:
            return True
        now, key = record.created, str(record.msg)
        if now - self.last.get(key, -self.every) < self.every:
            return False
        self.last[key] = now
        return True


def level_name(level: str | int) -> str:
    if isinstance(level, int):
        return logging.getLevelName(level)
    name = _LEVELS.get(level.strip().lower(), level.strip().upper())
    if name not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"):
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning, error or critical")
    return name


def from_env(environ: dict[str, str] | None = None) -> tuple[bool, str]:
    """``(json, level)`` from ``CJO_LOG_FORMAT`` (json|text) and ``CJO_LOG_LEVEL``."""
    env = os.environ if environ is None else environ
    fmt = env.get("CJO_LOG_FORMAT", "text").strip().lower()
    if fmt not in ("json", "text"):
        raise ValueError(f"CJO_LOG_FORMAT={fmt!r}: use 'json' or 'text'")
    return fmt == "json", level_name(env.get("CJO_LOG_LEVEL", "INFO"))


def logging_config(json: bool, level: str | int = "INFO", stream: str = "ext://sys.stderr") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dict (also what Faust/mode's ``Worker(logging_config=)`` takes)."""
    lvl = level_name(level)
    quiet = lvl != "DEBUG"  # debug logging shows every repeat
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cjo": {"()": JsonFormatter if json else TextFormatter}},
        "filters": {"repeats": {"()": Repeats}} if quiet else {},
        "handlers": {"cjo": {"class": "logging.StreamHandler", "formatter": "cjo", "stream": stream,
                             "filters": ["repeats"] if quiet else []}},
        "root": {"level": lvl, "handlers": ["cjo"]},
        # chatty client libraries: their INFO lines are connection noise, except when debugging (a worker stuck
        # joining its groups said nothing even with --debug: the client's group and coordinator lines are INFO;
        # its DEBUG is a line per request); audit records at any level
        # (set at every level: a configuration applied before, e.g. the CLI's for --debug, must not linger)
        "loggers": {**{name: {"level": ("INFO" if lvl == "DEBUG" and name != "httpx" else "WARNING")
                              if lvl in ("INFO", "DEBUG") else lvl} for name in ("aiokafka", "kafka", "httpx")},
                    "cjo_stream.audit": {"level": "INFO"}},
    }


def configure_logging(json: bool = False, level: str | int = "INFO", stream: IO[str] | None = None) -> None:
    """Replace the root logger's handlers with one writing text or JSON lines (stderr by default)."""
    cfg = logging_config(json, level)
    logging.config.dictConfig(cfg)
    if stream is not None:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter() if json else TextFormatter())
        if level_name(level) != "DEBUG":
            handler.addFilter(Repeats())
        root = logging.getLogger()
        root.handlers[:] = [handler]


def say(text: str, level: str = "INFO") -> None:
    """A line for whoever runs the process (a service's banner, an ``error:`` line), on stderr: as written,
    or with ``CJO_LOG_FORMAT=json`` as one JSON object like the log's (a pipeline parsing the process's
    output as JSON got these few lines as text). Redacted like log records."""
    if os.environ.get("CJO_LOG_FORMAT", "").strip().lower() != "json":
        print(text, file=sys.stderr, flush=True)
        return
    now = time.time()
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
              "level": level, "logger": "cjo_stream.cli", "msg": redact(text)}
    print(_json.dumps(record, ensure_ascii=False), file=sys.stderr, flush=True)


def configure_from_env() -> None:
    """:func:`configure_logging` with :func:`from_env`'s settings."""
    json_, level = from_env()
    configure_logging(json_, level, stream=sys.stderr)


__all__ = ["JsonFormatter", "Repeats", "TextFormatter", "configure_from_env", "configure_logging", "from_env", "level_name",
           "logging_config", "redact", "say"]
