"""The ``CJO_*`` variables cjo-stream reads, to tell a misspelt one at start.

Every setting is an environment variable, and one spelt wrong was ignored without a word: ``CJO_PARTITONS=4``
started a worker with the default 8 partitions (fixed once its topics exist), ``CJO_RATE_EMIAL=5/s`` an adapter
with the default rate. A name none of cjo-stream's code reads that is close to one it reads is now a warning at
start, naming the one meant. Names far from every known one stay unsaid: a channel of your own may read
variables of its own (``tests/test_envnames.py`` keeps :data:`KNOWN` equal to the names the code reads).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Final

from cjo_stream.commands import ALL_CHANNELS

#: Every ``CJO_*`` name the code reads (besides the per-channel families below and ``<secret>_FILE``).
KNOWN: Final = frozenset({
    "CJO_ADAPTER_ATTEMPT_TIMEOUT", "CJO_ADAPTER_BATCH_MAX", "CJO_ADAPTER_CONCURRENCY", "CJO_ADAPTER_GROUP",
    "CJO_ADAPTER_SESSION_TIMEOUT", "CJO_ADAPTER_STATE_DIR", "CJO_ADAPTER_STOP_GRACE", "CJO_ADAPTER_WEB_PORT",
    "CJO_ALLOWED_LATENESS", "CJO_ANALYTICS_CACHE_ROWS", "CJO_ANALYTICS_WEB_PORT", "CJO_API_TOKENS",
    "CJO_API_TOKENS_FILE", "CJO_APP_ID", "CJO_AUDIT_KEY", "CJO_AUDIT_KEY_FILE", "CJO_BATCH_MAX", "CJO_BROKER",
    "CJO_CHANNEL_CLASS", "CJO_COMMIT_INTERVAL_MS", "CJO_COMPRESSION", "CJO_CONCURRENCY", "CJO_CONSOLE_CHANNELS",
    "CJO_CONSOLE_FORMAT", "CJO_CRM_AUTH_HEADER", "CJO_CRM_AUTH_SCHEME", "CJO_CRM_BODY", "CJO_CRM_METHOD",
    "CJO_CRM_TIMEOUT", "CJO_CRM_TOKEN", "CJO_CRM_URL", "CJO_DATA_DIR", "CJO_DEDUPE_IDS", "CJO_DEDUPE_WINDOW_SECONDS",
    "CJO_EMAIL_FROM", "CJO_EMAIL_LIST_UNSUBSCRIBE_MAILTO", "CJO_EMAIL_LIST_UNSUBSCRIBE_URL",
    "CJO_EMAIL_MESSAGE_ID_DOMAIN", "CJO_EMAIL_REPLY_TO", "CJO_EMAIL_RETURN_PATH", "CJO_ENGAGEMENT_SIGNING_KEY",
    "CJO_EXACTLY_ONCE", "CJO_FCM_ACCESS_TOKEN", "CJO_FCM_ACCESS_TOKEN_FILE", "CJO_FCM_BASE_URL", "CJO_FCM_PROJECT_ID",
    "CJO_FETCH_MAX_WAIT_MS", "CJO_GC_THRESHOLD", "CJO_INBOX_TOPIC", "CJO_INGEST_INTERVAL_MS", "CJO_INPUT_ISOLATION",
    "CJO_INPUT_TOPIC", "CJO_JOURNEY_EVENTS", "CJO_LINGER_MS", "CJO_LOG_FORMAT", "CJO_LOG_LEVEL", "CJO_LOOPBACK",
    "CJO_METRICS_AUTH", "CJO_PARTITIONS", "CJO_PROBE_FILE", "CJO_PROBE_SECONDS", "CJO_PURE_PYTHON", "CJO_PUSH_TIMEOUT",
    "CJO_RECEIPTS_TOPIC", "CJO_REPLICATION", "CJO_RETRY_BASE_DELAY", "CJO_RETRY_BUDGET", "CJO_RETRY_MAX_ATTEMPTS",
    "CJO_RETRY_MAX_DELAY", "CJO_ROCKSDB_MEMORY_MB", "CJO_SASL_MECHANISM", "CJO_SASL_PASSWORD", "CJO_SASL_USERNAME",
    "CJO_SECURITY_PROTOCOL", "CJO_SENT_RETENTION", "CJO_SESSION_TIMEOUT_MS", "CJO_SLACK_TIMEOUT",
    "CJO_SLACK_WEBHOOK_URL", "CJO_SMS_FROM", "CJO_SMS_TIMEOUT", "CJO_SMTP_CA_FILE", "CJO_SMTP_HOST",
    "CJO_SMTP_PASSWORD", "CJO_SMTP_POOL", "CJO_SMTP_PORT", "CJO_SMTP_SECURITY", "CJO_SMTP_TIMEOUT",
    "CJO_SMTP_USERNAME", "CJO_SMTP_VALIDATE_CERTS", "CJO_SSL_CAFILE", "CJO_SSL_CERTFILE", "CJO_SSL_KEYFILE",
    "CJO_STORE", "CJO_STORED_LAYOUT", "CJO_TANSU_BIN", "CJO_TIMER_GRACE_MS", "CJO_TIMER_INTERVAL_SECONDS",
    "CJO_TOPOLOGIES", "CJO_TWILIO_ACCOUNT_SID", "CJO_TWILIO_AUTH_TOKEN", "CJO_TWILIO_BASE_URL",
    "CJO_TWILIO_MESSAGING_SERVICE_SID", "CJO_TWILIO_STATUS_CALLBACK", "CJO_WEBHOOK_ALLOW_PRIVATE",
    "CJO_WEBHOOK_ALLOW_TO_URL", "CJO_WEBHOOK_HEADERS", "CJO_WEBHOOK_SIGNING_KEY", "CJO_WEBHOOK_TIMEOUT",
    "CJO_WEBHOOK_URL", "CJO_WEB_HOST",
    "CJO_WEB_PORT", "CJO_WEB_TLS_CA", "CJO_WEB_TLS_CERT", "CJO_WEB_TLS_KEY", "CJO_WEB_URL", "CJO_WORKER_ID",
})

#: Per-channel families: ``CJO_RATE_<CHANNEL>``, ``CJO_RATE_<CHANNEL>_BURST``, ``CJO_EXPIRY_<CHANNEL>``
_FAMILY = re.compile(r"(CJO_RATE_|CJO_EXPIRY_)([A-Z0-9_]+?)(_BURST)?")
_CHANNELS: Final = tuple(c.upper() for c in sorted({*ALL_CHANNELS, "console"}))


def _meant(name: str) -> str | None:
    """The known name ``name`` is likely a misspelling of, or None (known, or close to nothing known)."""
    if name in KNOWN or (name.endswith("_FILE") and name[:-5] in KNOWN):
        return None
    family = _FAMILY.fullmatch(name)
    if family is not None:
        prefix, channel, burst = family.groups()
        if channel in _CHANNELS:
            return None
        close = difflib.get_close_matches(channel, _CHANNELS, n=1, cutoff=0.75)
        return f"{prefix}{close[0]}{burst or ''}" if close else None  # (far from all: a channel of your own)
    close = difflib.get_close_matches(name, KNOWN, n=1, cutoff=0.85)
    return close[0] if close else None


def misspelt(env: Mapping[str, str], names: Iterable[str] | None = None) -> list[str]:
    """One warning per ``CJO_*`` variable in ``env`` that looks like a misspelt setting."""
    out = []
    for name in sorted(names if names is not None else env):
        if not name.startswith("CJO_"):
            continue
        meant = _meant(name)
        if meant is not None:
            out.append(f"warning: {name} is not a setting cjo-stream reads (did you mean {meant}?); it is ignored")
    return out


__all__ = ["KNOWN", "misspelt"]
