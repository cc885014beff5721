"""Runtime settings, read from environment variables (documented in the README's table).

Every broker setting (bootstrap servers, SASL, TLS), topic sizing and store choice is configuration,
so the same worker runs against the local Tansu broker and a production Kafka cluster.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")  # Kafka's codecs
ISOLATION = ("read_committed", "read_uncommitted")  # Kafka consumers' isolation levels


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def switch(raw: str) -> bool:
    """An on/off setting's value (1/0, true/false, yes/no, on/off; any case); ValueError for anything else,
    so a typo (``CJO_METRICS_AUTH=enabled``) is refused, not read as false. Workers' and adapters' switches."""
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(raw)


#: Bounds of the numeric settings the workers' own checks (settings_args.settings_from) leave open:
#: beyond them a worker ended with a traceback (partitions past Kafka's int32, a RocksDB budget past 2**64
#: bytes), hung (100,000 partitions per topic took the worker's start a CPU for over ten minutes; a
#: negative session timeout never joined its group) or spun (a negative timer interval). field -> (low,
#: high, what the value is).
_RANGES: dict[str, tuple[float, float, str]] = {
    "partitions": (1, 10_000, "partitions per topic"),
    "replication": (1, 32_767, "copies of each partition, at most the brokers in the cluster"),
    "concurrency": (1, 256, "worker processes on this machine, about one core each"),
    "rocksdb_memory_mb": (8, 1_048_576, "MiB"),
    "batch_max": (1, 1_000_000, "events per batch"),
    "timer_interval": (0.001, 60, "seconds"),
    "timer_grace_ms": (0, 60_000, "ms"),
    "fetch_max_wait_ms": (0, 10_000, "ms"),
    "session_timeout_ms": (1_000, 1_800_000, "ms"),
    "analytics_web_port": (1, 65_535, "a port"),
    "analytics_cache_rows": (1_000, 100_000_000, "rows the analytics service keeps in memory"),
}


def _num(x: float) -> str:
    return f"{x:g}" if x < 1 else str(int(x))


#: Kafka's rule for topic names (its Topic.validate): these characters, at most 249 of them. The app id
#: and the input topic are the start of longer names (``<app>.analytics-changelog``, ``<input>.dlq``).
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]+")


def kafka_name(value: str, longest: int = 249) -> bool:
    """Whether Kafka takes ``value`` as (the start of) a topic name ``longest`` characters at most."""
    return bool(TOPIC_NAME.fullmatch(value)) and len(value) <= longest
_NAMES = {"app_id": 249 - len(".analytics-changelog"), "input_topic": 249 - len(".dlq"), "receipts_topic": 249}


def _check_names(s: Settings) -> None:
    """ValueError for an app id or topic Kafka would refuse (``CJO_INPUT_TOPIC='my topic'`` reached the
    topic creation of every worker); the local broker accepted such names, a Kafka cluster does not."""
    for name, longest in _NAMES.items():
        value = getattr(s, name)
        if not kafka_name(value, longest):
            raise ValueError(f"{Settings.ENV[name]}={value!r}: Kafka names are 1 to {longest} characters of "
                             "A-Z, a-z, 0-9, '.', '_' and '-'")


def _check_inputs(s: Settings) -> None:
    """ValueError for an input topic that is the other one, or a topic cjo-stream writes itself: with
    ``CJO_RECEIPTS_TOPIC`` set to the input, every event was read as a receipt and dead-lettered
    (``bad_receipt``); set to the input's DLQ or ``<app>.customer-events``, each record a worker wrote
    came back to it as input, without end."""
    if s.input_topic == s.receipts_topic:
        raise ValueError(f"CJO_INPUT_TOPIC and CJO_RECEIPTS_TOPIC are both {s.input_topic!r}: events and "
                         "adapters' receipts need topics of their own (every event would be read as a receipt)")
    written = {s.dlq_topic, s.internal_topic, s.profiles_changelog, s.timers_changelog, s.aliases_topic,
               s.workers_topic, s.skips_topic, s.skipped_topic, s.consent_changes_topic, s.journey_events_topic,
               s.analytics_changelog, "cjo.inbox"}
    for name in ("input_topic", "receipts_topic"):
        topic = getattr(s, name)
        if topic in written or topic.startswith(("cjo.delivery.", "cjo.adapter.")):
            raise ValueError(f"{Settings.ENV[name]}={topic!r} is a topic cjo-stream writes itself (with "
                             f"CJO_APP_ID={s.app_id!r}): its records would be read back as input; name the "
                             "topic the upstream producers write")


def _check_web_url(s: Settings) -> None:
    """CJO_WEB_URL is how other workers (or an adapter's other replicas) reach this one: 'notaurl' or 'http://[::1' passed, and every
    request forwarded to this worker failed later. CJO_WORKER_ID goes into logs and group member ids:
    a control character (a newline) would forge log lines."""
    if s.web_url:
        try:
            parts = urlsplit(s.web_url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"CJO_WEB_URL={s.web_url!r}: expected http(s)://host[:port], how other workers "
                             "(or an adapter's other replicas) reach this one")
        if parts.scheme != s.web_scheme:  # the others (serving as this one does) refused to call it: a 502 or 503 later
            raise ValueError(f"CJO_WEB_URL={s.web_url!r}: {parts.scheme}, but this process serves {s.web_scheme} ("
                             f"CJO_WEB_TLS_CERT and CJO_WEB_TLS_KEY {'set' if s.web_tls_cert else 'unset'}), and the "
                             f"other workers or replicas call only {s.web_scheme} URLs: use {s.web_scheme}://")
    if s.worker_id and (not s.worker_id.isprintable() or len(s.worker_id) > 255):
        raise ValueError("CJO_WORKER_ID: at most 255 printable characters (no newlines or control characters)")


def _check_ranges(s: Settings) -> None:
    """ValueError naming the variable for a number outside its bounds (NaN included)."""
    for name, (low, high, what) in _RANGES.items():
        value = getattr(s, name)
        var = f"{Settings.ENV[name]}={value}" + (f" (or --{name})" if name in ("partitions", "concurrency") else "")
        if value != value:  # NaN
            raise ValueError(f"{var}: not a number ({what}, {_num(low)} to {_num(high)})")
        if value < low:
            raise ValueError(f"{var}: must be {_num(low)} or more ({what})")
        if value > high:
            raise ValueError(f"{var}: at most {_num(high)} ({what})")
    last_port = s.web_port + s.concurrency - 1
    if s.concurrency > 1 and last_port > 65_535:
        raise ValueError(f"CJO_CONCURRENCY={s.concurrency} (--concurrency): worker process i serves on CJO_WEB_PORT + i "
                         f"= {s.web_port} + {s.concurrency - 1}, beyond port 65535; use fewer processes or a lower "
                         "port")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


#: ``--topologies``' help: the directory holding journeys/ and policies.yaml ("journeys directory" had newcomers
#: give topologies/journeys)
TOPOLOGIES_HELP = "the topologies directory, holding journeys/ and policies.yaml (default: $CJO_TOPOLOGIES or topologies)"


def topologies_dir() -> str:
    """The journeys directory of the offline commands (``validate``, ``simulate``, ``replay``) when none is
    given: ``$CJO_TOPOLOGIES``, as the worker's, or ``topologies``."""
    return os.environ.get("CJO_TOPOLOGIES") or "topologies"


@dataclass
class Settings:
    """All knobs of a worker or adapter. ``Settings.from_env()`` reads ``CJO_*`` variables."""

    app_id: str = "cjo"
    bootstrap: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = ""  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    input_topic: str = "cjo.touchpoints"
    receipts_topic: str = "cjo.receipts"
    partitions: int = 8
    replication: int = 1
    topologies: str = "topologies"
    store: str = "rocksdb"  # rocksdb | memory
    # One memory budget for all RocksDB stores of a worker process: block cache, memtables charged to it
    # (kv.RocksMemory); beyond it reads go to the OS page cache.
    rocksdb_memory_mb: int = 64
    data_dir: str = "data"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    web_url: str = ""  # how other workers, or an adapter's replicas, reach this one (default http(s)://<web_host>:<web_port>)
    # HTTP API security (cjo_stream.auth, cjo_stream.tls): bearer tokens with scopes, TLS on the web port.
    api_tokens: str = field(default="", repr=False)  # "name:scope,scope:secret ..." (never logged)
    api_tokens_file: str = ""  # the same, one per line, from a file (a mounted Kubernetes Secret)
    metrics_auth: bool = False  # /metrics needs a token with scope `metrics`
    web_tls_cert: str = ""  # PEM certificate (chain) of the web port; with web_tls_key: HTTPS
    web_tls_key: str = ""
    web_tls_ca: str = ""  # CA bundle to verify other workers when forwarding (default: system CAs)
    audit_key: str = field(default="", repr=False)  # HMAC key for customer ids in audit records
    # messageId dedupe, per customer in its stored record (cjo_stream.dedupe): the customer's last
    # `dedupe_ids` ids, forgotten after `dedupe_window` seconds without an event of that customer.
    dedupe_window: float = 86400.0
    dedupe_ids: int = 32
    # Seconds an event may arrive after a later event of the same customer and still start a journey
    # (decisions are made at event time; see the README, "Event time and lateness").
    allowed_lateness: float = 300.0
    batch_max: int = 5000
    exactly_once: bool = False
    timer_interval: float = 0.05
    # A live worker fires a timer this long after it is due: an event that happened just before the due
    # time but was still in flight (the producer's linger, the broker, the two stages: 25-412 ms in the
    # restart drill on a loaded machine) is applied first, as replay would. Bounded out-of-orderness, as a
    # stream processor's watermark; the command's decided_at stays the due time.
    timer_grace_ms: int = 500
    # How long the broker may hold a fetch with no data. Short, because a broker that does not answer a
    # held fetch as soon as data arrives (Tansu here) would otherwise add up to this much to every hop.
    fetch_max_wait_ms: int = 10
    # Fewer, bigger record batches for the broker (README "Performance", "The local broker's limits"):
    # the least time between two fetches of the ingest stage (records that arrive meanwhile come in one
    # fetch and go on as one internal batch per partition), how long producers that send record by record
    # (`produce`, `generate`, adapters' receipts) wait to fill a batch, and how often consumed offsets
    # and the changelog records kept since the last commit are written.
    ingest_interval_ms: int = 0
    linger_ms: int = 5
    commit_interval_ms: int = 100
    # Python cyclic-GC thresholds for the worker ("off": Python's defaults); see gc_tuning.tune_gc.
    gc_threshold: str = "50000,50,100"
    # Hand internal-topic records this worker wrote straight to its own stage 2 (runtime.loopback).
    loopback: bool = True
    concurrency: int = 1  # worker processes per `cjo-stream worker` (runtime.supervisor)
    # Codec of the record batches our producers write (output, internal and changelog topics); every codec
    # is read whatever this says. zstd: `make bench`'s compression section measured the broker holding
    # 0.17x the bytes of `none` (like gzip) for +2 % worker CPU per event (gzip costs ~15 µs per record
    # written, lz4 at aiokafka's level 9 ~6), events/s within run-to-run noise (docs/benchmarks.md).
    compression: str = "zstd"
    # How the worker (and a replay of a topic) reads the input and receipts topics: "read_committed" skips
    # the records of aborted transactions (an upstream Kafka Streams, Flink or Debezium job writing with
    # exactly-once), and reads a partition only up to its open transactions, as Kafka Streams does;
    # "read_uncommitted" decides on every record written. The same for non-transactional producers.
    input_isolation: str = "read_committed"
    worker_id: str = ""
    # Workers write every journey transition to cjo.journey-events for the analytics service.
    journey_events: bool = True
    analytics_web_port: int = 6068  # `cjo-stream analytics`: the API and the page
    # The analytics fold's rows (instances, deliveries, send times) kept in memory: past it, trimmed to half,
    # oldest first (analytics/state.py RowCache); the rest are read from its RocksDB store when needed again.
    analytics_cache_rows: int = 500_000
    # Consumer-group session of the worker's stages: a crashed worker's partitions move after this long,
    # and joining a group costs up to half of it on the local broker (Kafka's smallest allowed: 6 s).
    session_timeout_ms: int = 6000
    # Layout of the stored profile records (runtime/stored.py): 3, or 2 / 1 for the first step of a rolling
    # upgrade from workers that cannot read layout 3 / 2 (docs/operations.md, "Upgrading").
    stored_layout: int = 3

    ENV = {
        "app_id": "CJO_APP_ID", "bootstrap": "CJO_BROKER", "security_protocol": "CJO_SECURITY_PROTOCOL",
        "sasl_mechanism": "CJO_SASL_MECHANISM", "sasl_username": "CJO_SASL_USERNAME",
        "sasl_password": "CJO_SASL_PASSWORD", "ssl_cafile": "CJO_SSL_CAFILE", "ssl_certfile": "CJO_SSL_CERTFILE",
        "ssl_keyfile": "CJO_SSL_KEYFILE", "input_topic": "CJO_INPUT_TOPIC", "receipts_topic": "CJO_RECEIPTS_TOPIC",
        "partitions": "CJO_PARTITIONS", "replication": "CJO_REPLICATION", "topologies": "CJO_TOPOLOGIES",
        "store": "CJO_STORE", "rocksdb_memory_mb": "CJO_ROCKSDB_MEMORY_MB", "data_dir": "CJO_DATA_DIR", "web_host": "CJO_WEB_HOST", "web_port": "CJO_WEB_PORT",
        "web_url": "CJO_WEB_URL", "api_tokens": "CJO_API_TOKENS", "api_tokens_file": "CJO_API_TOKENS_FILE",
        "metrics_auth": "CJO_METRICS_AUTH", "web_tls_cert": "CJO_WEB_TLS_CERT", "web_tls_key": "CJO_WEB_TLS_KEY",
        "web_tls_ca": "CJO_WEB_TLS_CA", "audit_key": "CJO_AUDIT_KEY",
        "dedupe_window": "CJO_DEDUPE_WINDOW_SECONDS", "dedupe_ids": "CJO_DEDUPE_IDS",
        "allowed_lateness": "CJO_ALLOWED_LATENESS",
        "batch_max": "CJO_BATCH_MAX",
        "exactly_once": "CJO_EXACTLY_ONCE", "timer_interval": "CJO_TIMER_INTERVAL_SECONDS",
        "timer_grace_ms": "CJO_TIMER_GRACE_MS",
        "fetch_max_wait_ms": "CJO_FETCH_MAX_WAIT_MS",
        "ingest_interval_ms": "CJO_INGEST_INTERVAL_MS", "linger_ms": "CJO_LINGER_MS",
        "commit_interval_ms": "CJO_COMMIT_INTERVAL_MS", "gc_threshold": "CJO_GC_THRESHOLD",
        "concurrency": "CJO_CONCURRENCY", "loopback": "CJO_LOOPBACK", "compression": "CJO_COMPRESSION",
        "input_isolation": "CJO_INPUT_ISOLATION",
        "worker_id": "CJO_WORKER_ID", "journey_events": "CJO_JOURNEY_EVENTS",
        "analytics_web_port": "CJO_ANALYTICS_WEB_PORT", "analytics_cache_rows": "CJO_ANALYTICS_CACHE_ROWS",
        "session_timeout_ms": "CJO_SESSION_TIMEOUT_MS", "stored_layout": "CJO_STORED_LAYOUT",
    }

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        s = cls()
        for f in fields(cls):
            var = cls.ENV.get(f.name)
            if var and var in os.environ:
                raw = os.environ[var]
                current = getattr(s, f.name)
                try:
                    if isinstance(current, bool):
                        value: Any = switch(raw) if raw.strip() else False  # set but empty: off
                    elif isinstance(current, int):
                        value = int(raw)
                    elif isinstance(current, float):
                        value = float(raw)
                    else:
                        value = raw
                except ValueError:
                    if isinstance(current, bool):
                        raise ValueError(f"{var}={raw!r}: use true or false (1/0, yes/no, on/off)") from None
                    raise ValueError(f"{var}={raw!r} is not a valid {type(current).__name__}") from None
                setattr(s, f.name, value)
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        if s.store not in ("rocksdb", "memory"):
            raise ValueError(f"CJO_STORE={s.store!r}: use 'rocksdb' or 'memory'")
        s.compression = s.compression.strip().lower()
        if s.compression not in COMPRESSION:
            raise ValueError(f"CJO_COMPRESSION={s.compression!r}: use one of {', '.join(COMPRESSION)}")
        s.input_isolation = s.input_isolation.strip().lower()
        if s.input_isolation not in ISOLATION:
            raise ValueError(f"CJO_INPUT_ISOLATION={s.input_isolation!r}: use {' or '.join(ISOLATION)}")
        if s.stored_layout not in (1, 2, 3):
            raise ValueError(f"CJO_STORED_LAYOUT={s.stored_layout}: use 3 (the default), or 2 or 1 while workers "
                             "that cannot read layout 3 or 2 still run")
        _check_ranges(s)
        _check_names(s)
        _check_inputs(s)
        _check_web_url(s)
        if bool(s.web_tls_cert) != bool(s.web_tls_key):
            raise ValueError("CJO_WEB_TLS_CERT and CJO_WEB_TLS_KEY go together: set both for HTTPS, or neither")
        if not s.audit_key and os.environ.get("CJO_AUDIT_KEY_FILE"):
            s.audit_key = _read_secret_file("CJO_AUDIT_KEY_FILE", os.environ["CJO_AUDIT_KEY_FILE"])
        return s

    @property
    def web_scheme(self) -> str:
        return "https" if self.web_tls_cert else "http"

    def kafka_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments shared by aiokafka producers, consumers and admin clients."""
        kw: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            kw.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                      sasl_plain_password=self.sasl_password)
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            kw["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile or None,
                                                   certfile=self.ssl_certfile or None,
                                                   keyfile=self.ssl_keyfile or None)
        return kw

    # Internal topic names derive from app_id (the DLQ from the input topic); the output topics below (delivery,
    # skip records, journey events) have fixed names, shared by every deployment on a cluster (docs/operations.md).
    @property
    def dlq_topic(self) -> str:
        return f"{self.input_topic}.dlq"

    @property
    def internal_topic(self) -> str:
        return f"{self.app_id}.customer-events"

    @property
    def profiles_changelog(self) -> str:
        return f"{self.app_id}.profiles-changelog"

    @property
    def timers_changelog(self) -> str:
        return f"{self.app_id}.timers-changelog"

    @property
    def aliases_topic(self) -> str:
        return f"{self.app_id}.aliases"

    @property
    def workers_topic(self) -> str:
        return f"{self.app_id}.workers"

    @property
    def skips_topic(self) -> str:
        """Operator requests to skip a record batch that cannot be decoded (cjo_stream.kafka.skips)."""
        return f"{self.app_id}.skips"

    @property
    def skipped_topic(self) -> str:
        return "cjo.delivery.skipped"

    @property
    def consent_changes_topic(self) -> str:
        """Consent withdrawn or given back, and erasures, per customer (:class:`~cjo_stream.commands.ConsentChange`):
        adapters hold back commands already on their topics that were decided before."""
        return "cjo.consent-changes"

    @property
    def journey_events_topic(self) -> str:
        """Every engine transition as a compact record (cjo_stream.analytics.records), keyed by customer."""
        return "cjo.journey-events"

    @property
    def analytics_changelog(self) -> str:
        """The analytics service's state (one partition: one store, flushed as whole record batches)."""
        return f"{self.app_id}.analytics-changelog"

    @staticmethod
    def delivery_topic(channel: str) -> str:
        return f"cjo.delivery.{channel}"


def _read_secret_file(var: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().strip()
    except OSError as e:
        raise ValueError(f"{var}={path!r} cannot be read ({e.strerror})") from None
    except UnicodeDecodeError:  # said only "'utf-8' codec can't decode byte 0xb8 ...", no variable
        raise ValueError(f"{var}={path!r} is not UTF-8 text") from None
    if not value:
        raise ValueError(f"{var}={path!r} is empty")
    return value


def env_table() -> str:
    """Markdown table of every variable with its default (used to keep the README honest)."""
    s = Settings()
    rows = ["| variable | default |", "|---|---|"]
    for f in fields(Settings):
        var = Settings.ENV.get(f.name)
        if var:
            rows.append(f"| `{var}` | `{getattr(s, f.name)!s}` |")
    return "\n".join(rows)


__all__ = ["COMPRESSION", "Settings", "env_table", "_env"]
