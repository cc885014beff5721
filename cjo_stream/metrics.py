"""Prometheus metrics of workers, adapters and the analytics service (served on ``/metrics``).

Naming follows Prometheus conventions (base units, ``_total``, ``_seconds``, ``_bytes``); labels are
low-cardinality only (journey, step, channel, reason, variant, status, topic, partition, and the
*names* of configured API tokens) — never a customer id or a token's value. Per-partition gauges are removed when a worker loses the partition, so summing across
workers (``sum without(instance)``) stays correct during and after rebalances.

The hot path never touches these per event: it folds counts into plain dicts and applies them once
per batch (:meth:`BatchCounts.publish`).

Every family is defined here, on :data:`REGISTRY`, and imported where it is moved. A process serves only
its role's families (:data:`ROLE_METRICS`, :func:`exposition`): an adapter's page listing
``cjo_events_late_total 0`` made an SRE wonder whether adapters process events, and a ``count by
(instance)`` of such a series counted processes that never could move it.
"""

from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_left
from collections import Counter as _Counter
from collections import _count_elements  # type: ignore[attr-defined]  # Counter.update's C helper
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Literal, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import HistogramMetricFamily

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from cjo_stream.engine.transition import Transition
    from cjo_stream.journeys.model import Journey

log = logging.getLogger("cjo_stream.metrics")
#: Every family, whichever process moves it: for tests and tools that look a metric up by name. No process
#: serves it whole: each serves its role's (:func:`exposition`).
REGISTRY = CollectorRegistry(auto_describe=True)
PROCESS = ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes, ...

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

EVENTS_CONSUMED = Counter("cjo_events_consumed_total", "Touchpoint events accepted, by envelope type and source "
                          "(context.channel when a short token, among the first 32; 'other', 'receipt', "
                          "'unknown')", ["type", "source"], registry=REGISTRY)
EVENTS_INVALID = Counter("cjo_events_invalid_total", "Records sent to the dead-letter topic, by reason",
                         ["reason"], registry=REGISTRY)
EVENTS_DUPLICATE = Counter("cjo_events_duplicate_total", "Events dropped because their messageId is among the "
                           "customer's recent ones (CJO_DEDUPE_IDS, CJO_DEDUPE_WINDOW_SECONDS)", registry=REGISTRY)
JOURNEY = Counter("cjo_journey_transitions_total", "Journey instance lifecycle: entered, holdout, converted, "
                  "exited, ended, expired, merged", ["journey", "kind", "variant"], registry=REGISTRY)
EVENTS_LATE = Counter("cjo_events_late_total", "Events older than their customer's latest event (applied at their "
                      "own time)", registry=REGISTRY)
EVENTS_TOO_LATE = Counter("cjo_events_too_late_total", "Late events beyond CJO_ALLOWED_LATENESS: profile updated, "
                          "no journey started", registry=REGISTRY)
STEP_REACHED = Counter("cjo_journey_step_reached_total", "Steps reached", ["journey", "step"], registry=REGISTRY)
VARIANT_ENTERED = Counter("cjo_journey_variant_entered_total", "Split arms taken", ["journey", "variant"],
                          registry=REGISTRY)
SENDS = Counter("cjo_sends_total", "Delivery commands produced", ["journey", "step", "channel"], registry=REGISTRY)
SKIPS = Counter("cjo_skips_total", "Sends decided against, by reason; topic: the subscription topic the step's "
                "send names ('' for none)", ["journey", "step", "channel", "reason", "topic"], registry=REGISTRY)
#: (journey, step) -> the subscription topic its send names: ``cjo_skips_total``'s ``topic`` (:func:`set_step_topics`)
_STEP_TOPICS: dict[tuple[str, str], str] = {}
DEFERRALS = Counter("cjo_sends_deferred_total", "Sends deferred (quiet hours, throttle, a paused journey)", ["journey", "channel", "reason"],
                    registry=REGISTRY)
DECISION_LATENCY = Histogram("cjo_decision_latency_seconds", "Event timestamp to delivery command produced",
                             buckets=LATENCY_BUCKETS, registry=REGISTRY)
PROCESSING = Histogram("cjo_event_processing_seconds", "Worker time per event: a batch's processing wall time "
                       "(engine, state, handing outputs to the producer) / its size",
                       buckets=(1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3),
                       registry=REGISTRY)
BATCH_SIZE = Histogram("cjo_batch_records", "Records per processed batch",
                       buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000), registry=REGISTRY)
TIMER_LATENESS = Histogram("cjo_timer_lateness_seconds", "Timer fire time minus due time",
                           buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 0.55, 0.6, 0.75, 1.0, 2.0, 5.0, 10.0, 60.0),
                           registry=REGISTRY)  # (0.5-1 s finer: timers fire CJO_TIMER_GRACE_MS, 0.5 s, after due)
TIMERS_PENDING = Gauge("cjo_timers_pending", "Durable timers waiting, per owned partition", ["partition"],
                       registry=REGISTRY)
SCHEDULE_PROFILES = Counter("cjo_schedule_profiles_scanned_total", "Profiles a scheduled-entry scan offered their "
                            "journeys' occurrences to (runtime.schedules)", registry=REGISTRY)
SCHEDULE_SCAN = Histogram("cjo_schedule_scan_seconds", "Wall time of one partition's scheduled-entry scan, start to end",
                          buckets=(0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0), registry=REGISTRY)
STAGE_TRANSITIONS = Counter("cjo_stage_transitions_total", "Lifecycle stage changes (stage_changed events), by "
                            "the stage left and the stage entered", ["from", "to"], registry=REGISTRY)
STAGE_CUSTOMERS = Gauge("cjo_stage_customers", "Customers per lifecycle stage, approximate: net of the placements "
                        "this worker process applied since it started (new customers, stage changes, merges)",
                        ["stage"], registry=REGISTRY)
UNKNOWN_TIMEZONES = Gauge("cjo_unknown_timezones", "Distinct time zone names read from customers' data that are no "
                          "zone of the tz database (up to 32; those customers are timed in default_timezone; the "
                          "names are in the log)", registry=REGISTRY)
TIMERS_HELD = Gauge("cjo_timers_held", "1 while this worker holds back timers due after an input partition another "
                    "worker holds stopped being read (a worker gone, until its session times out; 30 s at most)",
                    registry=REGISTRY)
EVENTS_OVERTAKEN = Counter("cjo_events_overtaken_total", "Events that arrived after a timer of their customer's journey "
                           "had fired, though they happened before it was due and after the instance entered (or "
                           "its wait began), and that the journey listens to (goal, exit_on, wait_for): the timer "
                           "decided without them, where replay would not (runtime.overtaken; best effort)",
                           ["journey"], registry=REGISTRY)
EVENTS_OVERTAKEN_SECONDS = Histogram("cjo_events_overtaken_seconds", "The CJO_TIMER_GRACE_MS that would have applied "
                                     "an overtaken event first: how long after the timer's due time it arrived (after "
                                     "the timer fired, plus the grace, for a timer set overdue); above 60 s no grace "
                                     "can", buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
                                                     14400.0, 86400.0),
                                     registry=REGISTRY)
PROFILES = Gauge("cjo_profiles", "Customer profiles stored, per owned partition", ["partition"], registry=REGISTRY)
JOURNEY_PAUSED_SINCE = Gauge("cjo_journey_paused_since_timestamp_seconds", "Each loaded journey version whose file "
                             "says status: paused, and since when (the first start of this worker's data directory "
                             "with it paused; runtime.pauses)", ["journey", "version"], registry=REGISTRY)


PROFILE_LIMITED = Counter("cjo_profile_limited_total", "Events (and merges) whose new profile keys were left out "
                          "at a profile's limits, by what: traits, event_names, consent, aliases; size: profiles "
                          "shrunk to stay within the stored size",
                          ["what"], registry=REGISTRY)
_limits_told: set[str] = set()
PUSH_TOKENS_REFUSED = Counter("cjo_push_tokens_refused_total", "Events carrying a push token a receipt had dropped "
                              "(app uninstalled: FCM's UNREGISTERED), which was not made the customer's device "
                              "again (README, Push tokens)", registry=REGISTRY)
CONSENT_LOOKALIKES = Counter("cjo_consent_lookalike_events_total", "Events whose name reads as a consent event and "
                             "is none (Unsubscribed, Email Unsubscribed): they change no consent, so their "
                             "senders are still messaged; by name (up to 20, then other; each logged once)",
                             ["event"], registry=REGISTRY)


def _count_limited(bits: list[int]) -> None:
    from cjo_stream.profile import LIMITED_NAMES, PUSH_TOKEN_REFUSED

    refused = sum(1 for b in bits if b & PUSH_TOKEN_REFUSED)
    if refused:
        PUSH_TOKENS_REFUSED.inc(refused)
    for bit, what in LIMITED_NAMES.items():
        n = sum(1 for b in bits if b & bit)
        if n:
            PROFILE_LIMITED.labels(what).inc(n)
            if what not in _limits_told:  # once a process: the metric counts them (no ids, no values)
                _limits_told.add(what)
                log.warning("a customer profile reached its limit of %s: new ones are left out (see "
                            "cjo_profile_limited_total; README, \"Profile limits\")", what)


class SizeHistogram:
    """``cjo_profile_size_bytes``: a histogram of the sizes of profiles written, counted a batch at a time.

    ``Histogram.observe`` takes ~1 µs (a lock and a Python bucket search) and a worker writes about a
    profile an event: the stores hand the batch's sizes to :meth:`add` (``BatchCounts.profile_sizes``),
    which bins them with one C-level count, and :meth:`collect` serves them as the histogram Prometheus
    reads (``_bucket{le}``, ``_sum``, ``_count``). It was declared and never observed (a walkthrough
    found ``_count 0`` after thousands of writes).
    """

    def __init__(self, name: str, doc: str, bounds: tuple[int, ...]) -> None:
        self.name, self.doc, self.bounds = name, doc, bounds
        self._bin = partial(bisect_left, bounds)  # a size equal to a bound is in that bound's bucket (le)
        self.counts: _Counter[int] = _Counter()
        self.total = 0
        self._lock = threading.Lock()  # collect runs on the metrics server's thread

    def add(self, sizes: list[int]) -> None:
        if sizes:
            with self._lock:
                _count_elements(self.counts, map(self._bin, sizes))
                self.total += sum(sizes)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = dict(self.counts), self.total
        cum, buckets = 0, []
        for i, bound in enumerate((*self.bounds, float("inf"))):
            cum += counts.get(i, 0)
            buckets.append((str(float(bound)) if bound != float("inf") else "+Inf", cum))
        yield HistogramMetricFamily(self.name, self.doc, buckets=buckets, sum_value=total)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.doc)


PROFILE_BYTES = SizeHistogram("cjo_profile_size_bytes", "Encoded size of profiles written",
                              (128, 256, 384, 512, 768, 1024, 2048, 4096, 16384))
REGISTRY.register(PROFILE_BYTES)  # type: ignore[arg-type]  # a collector: collect() and describe()
CONSUMER_LAG = Gauge("cjo_consumer_lag_records", "Records behind the partition end", ["topic", "partition"],
                     registry=REGISTRY)
INTERNAL_RECORDS = Counter("cjo_internal_records_total", "Internal-topic records applied by stage 2, by path: "
                           "loopback (handed over in-process) or fetched (read from the broker)", ["path"],
                           registry=REGISTRY)
RECORD_BATCHES_UNREADABLE = Counter("cjo_record_batches_unreadable_total", "Record batches a consumer could not "
                                    "decode (missing or unknown codec, corrupt batch); the partition stops there",
                                    ["topic"], registry=REGISTRY)
RECORD_BATCHES_SKIPPED = Counter("cjo_record_batches_skipped_total", "Unreadable record batches skipped on an "
                                 "operator's request (cjo-stream skip)", ["topic"], registry=REGISTRY)
PARTITION_STUCK = Gauge("cjo_partition_stuck", "1 while a partition is stopped at a record batch this process "
                        "cannot decode", ["topic", "partition"], registry=REGISTRY)
REBALANCES = Counter("cjo_rebalances_total", "Partition assignments received", registry=REGISTRY)
RESTORE_SECONDS = Histogram("cjo_state_restore_seconds", "Time to restore a partition's state from changelogs",
                            buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 120), registry=REGISTRY)
DELIVERY_OUTCOMES = Counter("cjo_delivery_outcomes_total", "Adapter outcomes by channel and receipt status",
                            ["channel", "status"], registry=REGISTRY)
ADAPTER_PEER_LOOKUPS = Counter("cjo_adapter_peer_lookups_total",
                               "Engagement callbacks whose send was looked up on the other replicas of an adapter "
                               "(outcome: found, not_found, failed: a holder unknown or not answering, the "
                               "callback answered 503; optional_failed: the same for a callback giving our own ids, "
                               "answered 202 as given)", ["channel", "outcome"], registry=REGISTRY)
ADAPTER_RETRIES = Counter("cjo_adapter_retries_total", "Delivery attempts retried", ["channel"], registry=REGISTRY)
ADAPTER_RATE_WAIT = Counter("cjo_adapter_rate_limit_wait_seconds_total", "Time spent waiting for the rate limiter",
                            ["channel"], registry=REGISTRY)
ADAPTER_LATENCY = Histogram("cjo_adapter_delivery_seconds", "Provider call duration", ["channel"],
                            buckets=LATENCY_BUCKETS, registry=REGISTRY)
API_AUTH_FAILURES = Counter("cjo_api_auth_failures_total", "HTTP requests refused by token checks: "
                            "unauthenticated (401: no or unknown token) or forbidden (403: scope missing)",
                            ["reason"], registry=REGISTRY)
API_TOKENS_RELOAD_FAILED = Gauge("cjo_api_tokens_reload_failed", "1 while the current CJO_API_TOKENS_FILE could not be "
                                 "loaded and the previous tokens stay in use; 0 once a version loads",
                                 registry=REGISTRY)
AUDIT_EVENTS = Counter("cjo_audit_events_total", "Audited state-API actions (profile reads, erase requests) by "
                       "the name of the token used", ["action", "token"], registry=REGISTRY)
ANALYTICS_EVENTS = Counter("cjo_analytics_journey_events_total", "Journey events folded by the analytics service, "
                           "by kind (entered, step, sent, ..., receipt)", ["kind"], registry=REGISTRY)
ANALYTICS_DUPLICATES = Counter("cjo_analytics_duplicates_total", "Journey events dropped as replays of a source "
                               "position already applied (a worker re-processed records after a crash)",
                               registry=REGISTRY)
ANALYTICS_INVALID = Counter("cjo_analytics_invalid_total", "Records on the journey-events topic that do not decode "
                            "(skipped)", registry=REGISTRY)
ANALYTICS_CACHED_ROWS = Gauge("cjo_analytics_cached_rows", "Rows the analytics service keeps in memory after its last "
                              "write: at most CJO_ANALYTICS_CACHE_ROWS, then trimmed to half", registry=REGISTRY)
ANALYTICS_UNWAITED = Counter("cjo_analytics_lanes_unwaited_total", "Times the analytics service stopped waiting for "
                             "a partition that was behind but brought no records for 10 s (its leader did not answer) "
                             "and folded the others' records without it: an instance moved by an identity merge may "
                             "count out of order", registry=REGISTRY)
ANALYTICS_REQUEST = Histogram("cjo_analytics_request_seconds", "Analytics API and page answer time, by view",
                              ["view"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5),
                              registry=REGISTRY)
ROCKSDB_MEMORY = Gauge("cjo_rocksdb_memory_bytes", "Memory of this process's RocksDB stores, all partitions: "
                       "memtables (unflushed writes) and the block cache that includes them; bounded by "
                       "CJO_ROCKSDB_MEMORY_MB", ["kind"], registry=REGISTRY)
UP = Gauge("cjo_up", "1 while the process runs (role: worker, adapter or analytics)", ["role"], registry=REGISTRY)
BROKER_UNANSWERED = Gauge("cjo_broker_unanswered_seconds", "Seconds since the broker last answered the process's "
                          "look at the cluster (every 5 s; /health answers 503 past 20 s)", ["role"], registry=REGISTRY)
COMMIT_PENDING = Gauge("cjo_commit_pending_seconds", "Age of the oldest offset commit still in progress (0: none)",
                       ["role"], registry=REGISTRY)


Role = Literal["worker", "adapter", "analytics"]
#: What every process that consumes from Kafka and serves HTTP with token checks moves.
_COMMON = (PROCESS, UP, BROKER_UNANSWERED, COMMIT_PENDING, CONSUMER_LAG, REBALANCES, RECORD_BATCHES_UNREADABLE,
           RECORD_BATCHES_SKIPPED, PARTITION_STUCK, API_AUTH_FAILURES, API_TOKENS_RELOAD_FAILED)
#: The families each role's process serves: those it moves (a metric two roles move is in both).
ROLE_METRICS: dict[Role, tuple[Collector, ...]] = {
    "worker": (*_COMMON, EVENTS_CONSUMED, EVENTS_INVALID, EVENTS_DUPLICATE, JOURNEY, EVENTS_LATE, EVENTS_TOO_LATE,
               STEP_REACHED, VARIANT_ENTERED, SENDS, SKIPS, DEFERRALS, DECISION_LATENCY, PROCESSING, BATCH_SIZE,
               TIMER_LATENESS, TIMERS_PENDING, SCHEDULE_PROFILES, SCHEDULE_SCAN, STAGE_TRANSITIONS, STAGE_CUSTOMERS,
               UNKNOWN_TIMEZONES, TIMERS_HELD, EVENTS_OVERTAKEN, EVENTS_OVERTAKEN_SECONDS, PROFILES, PROFILE_LIMITED,
               PUSH_TOKENS_REFUSED, CONSENT_LOOKALIKES, PROFILE_BYTES, INTERNAL_RECORDS, RESTORE_SECONDS, AUDIT_EVENTS, ROCKSDB_MEMORY,
               JOURNEY_PAUSED_SINCE),
    "adapter": (*_COMMON, DELIVERY_OUTCOMES, ADAPTER_PEER_LOOKUPS, ADAPTER_RETRIES, ADAPTER_RATE_WAIT, ADAPTER_LATENCY,
                ROCKSDB_MEMORY),
    "analytics": (*_COMMON, ANALYTICS_EVENTS, ANALYTICS_DUPLICATES, ANALYTICS_INVALID, ANALYTICS_CACHED_ROWS,
                  ANALYTICS_UNWAITED, ANALYTICS_REQUEST, RESTORE_SECONDS, ROCKSDB_MEMORY),
}


def _registry(collectors: Iterable[Collector]) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=True)
    for c in collectors:
        reg.register(c)  # the same objects as REGISTRY's: a value moved once shows on both
    return reg


ROLE_REGISTRIES: dict[Role, CollectorRegistry] = {role: _registry(cs) for role, cs in ROLE_METRICS.items()}


def exposition(role: Role) -> bytes:
    """The role's ``/metrics`` page (text format 0.0.4)."""
    return generate_latest(ROLE_REGISTRIES[role])


class _Watched(Protocol):
    unanswered: float
    pending_for: float


def watch_gauges(role: str, watch: _Watched) -> None:
    """Serve ``watch``'s (a :class:`~cjo_stream.kafka.watch.BrokerWatch`) figures as the role's gauges, read
    at each scrape."""
    BROKER_UNANSWERED.labels(role).set_function(lambda: watch.unanswered)
    COMMIT_PENDING.labels(role).set_function(lambda: watch.pending_for)


#: Distinct ``source`` label values a process gives ``cjo_events_consumed_total`` (besides ``receipt``,
#: ``unknown`` and ``other``).
MAX_SOURCES = 32
_SOURCE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")


class SourceLabels:
    """The ``source`` label of an event: its ``context.channel``, a value upstream systems choose.

    A walkthrough's producer put an e-mail address and a 100 KB string there, and 300 distinct values
    made 600 series on the unauthenticated ``/metrics``. So a value is a label only when it is a short
    token (letters, digits, ``_ . -``: no ``@``, no spaces) and among the first :data:`MAX_SOURCES` this
    process saw; any other counts as ``other`` (told once in the log, without the value).
    """

    __slots__ = ("limit", "seen", "told")

    def __init__(self, limit: int = MAX_SOURCES) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        self.told = False

    def __call__(self, source: str) -> str:
        if source in self.seen or source in ("receipt", "unknown"):
            return source
        if _SOURCE_TOKEN.match(source) is None:
            return "other"
        if len(self.seen) >= self.limit:
            if not self.told:
                self.told = True
                log.warning("more than %d distinct context.channel values: further ones are counted as "
                            "source=\"other\" in cjo_events_consumed_total", self.limit)
            return "other"
        self.seen.add(source)
        return source


source_label = SourceLabels()

#: What a transition is counted by: the labels of every metric folded from it (:meth:`BatchCounts.publish`).
_TRANSITION_KEY = attrgetter("journey", "kind", "step", "variant", "channel", "reason")


class BatchCounts:
    """Per-batch tallies folded from engine transitions; :meth:`publish` applies them to Prometheus.

    The batch step adds a record's transitions and stage moves with one C-level count each
    (``collections``' counting helper over an ``attrgetter``), and :meth:`publish` sorts them into
    metrics once a batch: per record that is a few hundred instructions instead of a Python loop.
    """

    __slots__ = ("consumed", "duplicates", "late", "limited", "lookalikes", "overtaken", "profile_sizes", "stages",
                 "too_late", "transitions")

    def __init__(self) -> None:
        # (journey, kind, step, variant, channel, reason) -> transitions
        self.transitions: _Counter[tuple[str, str, str | None, str | None, str | None, str | None]] = _Counter()
        self.consumed: _Counter[tuple[str, str]] = _Counter()
        self.duplicates = 0
        self.late = 0
        self.too_late = 0
        self.stages: _Counter[tuple[str, str]] = _Counter()
        self.profile_sizes: list[int] = []  # encoded sizes of the profiles the batch wrote
        self.limited: list[int] = []  # what profile limits left out of events (cjo_stream.profile LIMITED_*)
        # events named as consent events that are none, by name: published by runtime.lookalikes.publish
        self.lookalikes: _Counter[str] = _Counter()
        # (journey, the grace the timer would have needed) of events that came after a timer they happened
        # before: published by runtime.overtaken.publish
        self.overtaken: list[tuple[str, float]] = []

    def add_stages(self, moves: Iterable[tuple[str, str]]) -> None:
        _count_elements(self.stages, moves)

    def add(self, transitions: Iterable[Transition]) -> None:
        _count_elements(self.transitions, map(_TRANSITION_KEY, transitions))

    def series(self) -> _Counter[tuple[Counter, tuple[str, ...]]]:
        """The batch's transitions as increments of metric series: (metric, label values) -> n."""
        out: _Counter[tuple[Counter, tuple[str, ...]]] = _Counter()
        for (j, k, step, variant, channel, reason), n in self.transitions.items():
            if k == "step":
                out[(STEP_REACHED, (j, step or ""))] += n
            elif k == "sent":
                out[(SENDS, (j, step or "", channel or ""))] += n
            elif k == "skipped":
                out[(SKIPS, (j, step or "", channel or "", reason or "", _STEP_TOPICS.get((j, step or ""), "")))] += n
            elif k == "variant":
                out[(VARIANT_ENTERED, (j, variant or ""))] += n
            elif k == "deferred":
                out[(DEFERRALS, (j, channel or "", reason or ""))] += n
            else:
                out[(JOURNEY, (j, k, variant or ""))] += n
        return out

    def publish(self) -> None:
        for (metric, labels), n in self.series().items():
            metric.labels(*labels).inc(n)
        for (t, s), n in self.consumed.items():
            EVENTS_CONSUMED.labels(t, source_label(s)).inc(n)
        PROFILE_BYTES.add(self.profile_sizes)
        if self.limited:
            _count_limited(self.limited)
        if self.duplicates:
            EVENTS_DUPLICATE.inc(self.duplicates)
        if self.late:
            EVENTS_LATE.inc(self.late)
            EVENTS_TOO_LATE.inc(self.too_late)
        for (frm, to), n in self.stages.items():
            if frm and to:
                STAGE_TRANSITIONS.labels(frm, to).inc(n)
            if frm:
                STAGE_CUSTOMERS.labels(frm).dec(n)
            if to:
                STAGE_CUSTOMERS.labels(to).inc(n)


def set_step_topics(journeys: Iterable[Journey]) -> None:
    """The topic label of each send step's skips: the no_consent skips of a newsletter and of the order mail on
    one channel were one series. By journey and step id (a transition's key has no version): where versions of a
    journey give one step different topics, the highest version's counts."""
    _STEP_TOPICS.clear()
    for j in sorted(journeys, key=attrgetter("version")):
        for sid, step in j.steps.items():
            if step.send is not None:
                _STEP_TOPICS[(j.id, sid)] = step.send.topic or ""


def publish_paused(since: dict[tuple[str, int], float]) -> None:
    """``cjo_journey_paused_since_timestamp_seconds``: one series per paused journey version (set at start: a
    status changes with a rolling restart), none for a live one."""
    JOURNEY_PAUSED_SINCE.clear()
    for (journey, version), at in since.items():
        JOURNEY_PAUSED_SINCE.labels(journey, str(version)).set(at)


def watch_rocksdb(usage: Callable[[], dict[str, int]]) -> None:
    """Read RocksDB's memory at scrape time (nothing on the hot path)."""
    for kind in ("memtables", "block_cache"):
        ROCKSDB_MEMORY.labels(kind).set_function(lambda kind=kind: usage()[kind])  # type: ignore[misc]


def forget_partition(partition: int) -> None:
    """Drop per-partition gauges when this worker no longer owns the partition."""
    for g in (TIMERS_PENDING, PROFILES):
        try:
            g.remove(str(partition))
        except KeyError:
            pass
    # lag series of this partition (any topic) belong to the new owner now
    for labels in [k for k in CONSUMER_LAG._metrics if k[1] == str(partition)]:  # noqa: SLF001
        try:
            CONSUMER_LAG.remove(*labels)
        except KeyError:
            pass
