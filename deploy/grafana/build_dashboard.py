"""Build the Grafana dashboard ``cjo-stream.json`` from a compact panel list.

    python deploy/grafana/build_dashboard.py          # rewrite cjo-stream.json
    python deploy/grafana/build_dashboard.py --check  # exit 1 if cjo-stream.json is stale

Every expression uses metric names from ``cjo_stream/metrics.py`` or recording rules from
``deploy/prometheus/rules.yml`` (tests/deploy/test_grafana.py checks that). Grafana 10+ (schemaVersion 39).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "cjo-stream.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
J = '{journey=~"$journey"}'
C = '{channel=~"$channel"}'
RI = "$__rate_interval"


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping into rows."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.panels: list[dict[str, Any]] = []
        self.next_id = 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False, "panels": [],
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}})
        self.y += 1

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref,
                         "range": not instant, "instant": instant}
    return t


def targets(*pairs: tuple[str, str], instant: bool = False) -> list[dict[str, Any]]:
    return [target(e, lg, chr(ord("A") + i), instant) for i, (e, lg) in enumerate(pairs)]


def timeseries(title: str, desc: str, pairs: list[tuple[str, str]], unit: str = "short",
               stack: bool = False, min0: bool = True) -> dict[str, Any]:
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if stack else 0,
                              "showPoints": "never", "spanNulls": False}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    defaults: dict[str, Any] = {"unit": unit, "custom": custom}
    if min0:
        defaults["min"] = 0
    return {"type": "timeseries", "title": title, "description": desc, "datasource": DS,
            "targets": targets(*pairs), "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title: str, desc: str, expr: str, unit: str = "short",
         thresholds: list[tuple[float | None, str]] | None = None) -> dict[str, Any]:
    steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
    return {"type": "stat", "title": title, "description": desc, "datasource": DS,
            "targets": targets((expr, "")),
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto", "justifyMode": "auto"}}


def bars(title: str, desc: str, pairs: list[tuple[str, str]], unit: str = "short") -> dict[str, Any]:
    """Horizontal bar gauge of instant values over the dashboard's time range (funnels)."""
    return {"type": "bargauge", "title": title, "description": desc, "datasource": DS,
            "targets": targets(*pairs, instant=True),
            "fieldConfig": {"defaults": {"unit": unit, "min": 0,
                                         "thresholds": {"mode": "absolute", "steps": [{"color": "blue", "value": None}]}},
                            "overrides": []},
            "options": {"orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}


def quantiles(metric: str, qs: tuple[float, ...], by: str = "") -> list[tuple[str, str]]:
    extra = f", {by}" if by else ""
    prefix = f"{{{{{by}}}}} " if by else ""
    return [(f"histogram_quantile({q}, sum by (le{extra}) (rate({metric}_bucket[{RI}])))", f"{prefix}p{round(q * 100)}")
            for q in qs]


def build() -> dict[str, Any]:
    L = Layout()
    # ------------------------------------------------------------------ overview
    L.row("Overview")
    red_if = lambda v: [(None, "green"), (v, "red")]  # noqa: E731
    L.add(stat("Workers up", "Scrape targets of job cjo-worker that answer", 'sum(up{job="cjo-worker"})',
               thresholds=[(None, "red"), (1, "green")]), 3, 4)
    L.add(stat("Adapters up", "Processes reporting cjo_up{role=\"adapter\"}", 'sum(cjo_up{role="adapter"})',
               thresholds=[(None, "red"), (1, "green")]), 3, 4)
    L.add(stat("Events / s", "Events accepted by the customer stage (1m rate)", "sum(cjo:events_consumed:rate1m)",
               "ops"), 3, 4)
    L.add(stat("Consumer lag", "Records behind, all topics (max per partition across workers)",
               "sum(cjo:consumer_lag_records:sum_by_topic)", thresholds=[(None, "green"), (10000, "orange"),
                                                                        (100000, "red")]), 3, 4)
    L.add(stat("Dead-letter share", "Input records sent to the DLQ / all input records (5m)",
               "cjo:events_invalid:ratio_rate5m", "percentunit", red_if(0.01)), 3, 4)
    L.add(stat("Worst delivery failure", "Highest failed+bounced+expired share of any channel (5m)",
               "max(cjo:delivery_failure:ratio_rate5m)", "percentunit", red_if(0.05)), 3, 4)
    L.add(stat("Profiles", "Customer profiles stored (owned partitions of all workers)", "sum(cjo_profiles)"), 3, 4)
    L.add(stat("Timers pending", "Durable timers waiting", "sum(cjo_timers_pending)"), 3, 4)
    L.add(stat("Stuck partitions", "Partitions stopped at a record batch their consumer cannot decode "
               "(see /health and the CjoPartitionStuck runbook)", "sum(cjo_partition_stuck) or vector(0)",
               thresholds=red_if(1)), 3, 4)
    L.add(stat("Unknown time zones", "Distinct time zone names customers' data gave that the tz database does not "
               "have (those customers are timed in default_timezone; each name is in the worker log)",
               "max(cjo_unknown_timezones) or vector(0)", thresholds=[(None, "green"), (1, "orange")]), 3, 4)
    L.add(stat("Timers held", "Workers holding back timers for input partitions another worker stopped reading "
               "(a worker gone, until the group rebalances; 30 s at most)", "sum(cjo_timers_held) or vector(0)",
               thresholds=[(None, "green"), (1, "orange")]), 3, 4)

    # ------------------------------------------------------------------ throughput
    L.row("Throughput")
    L.add(timeseries("Events consumed by type and source", "cjo_events_consumed_total, 1m rate",
                     [("sum by (type, source) (cjo:events_consumed:rate1m)", "{{type}} / {{source}}")], "ops",
                     stack=True), 12, 8)
    L.add(timeseries("Events consumed per worker", "Spread of work across workers",
                     [(f"sum by (instance) (rate(cjo_events_consumed_total[{RI}]))", "{{instance}}")], "ops"), 12, 8)
    L.add(timeseries("Dead letters and duplicates", "Records sent to <input>.dlq by reason; duplicate messageIds dropped",
                     [("cjo:events_invalid:rate5m", "dlq: {{reason}}"),
                      ("cjo:events_duplicate:rate5m", "duplicates")], "ops"), 12, 8)
    L.add(timeseries("Records per batch", "Batch size of the customer stage (bigger = more efficient)",
                     quantiles("cjo_batch_records", (0.5, 0.99))), 12, 8)
    L.add(timeseries("Late events", "Events older than their customer's latest (applied at their own time); too late: "
                     "beyond CJO_ALLOWED_LATENESS, no journey started",
                     [("cjo:events_late:rate5m", "late"), ("cjo:events_too_late:rate5m", "too late")], "ops"), 12, 8)
    L.add(timeseries("Events named as consent events that are none", "Events whose name reads as a consent event "
                     "and is none (Unsubscribed, Email Unsubscribed), by name: they change no consent, so their "
                     "senders are still messaged (the CjoConsentLookalikeEvents runbook; each name is in the "
                     "worker log)",
                     [(f"sum by (event) (increase(cjo_consent_lookalike_events_total[{RI}]))", "{{event}}")]), 12, 8)

    # ------------------------------------------------------------------ lag and state
    L.row("Lag, partitions and state")
    L.add(timeseries("Consumer lag by topic", "Records behind the partition ends, summed per topic",
                     [("cjo:consumer_lag_records:sum_by_topic", "{{topic}}")]), 12, 8)
    L.add(timeseries("Consumer lag by partition", "Max across workers per (topic, partition)",
                     [("cjo:consumer_lag_records:max", "{{topic}}[{{partition}}]")]), 12, 8)
    L.add(timeseries("Profiles and timers per worker", "cjo_profiles / cjo_timers_pending of owned partitions",
                     [("sum by (instance) (cjo_profiles)", "profiles {{instance}}"),
                      ("sum by (instance) (cjo_timers_pending)", "timers {{instance}}")]), 8, 8)
    L.add(timeseries("Rebalances and restores", "Partition assignments received; partition restores completed",
                     [(f"sum by (instance) (increase(cjo_rebalances_total[{RI}]))", "assignments {{instance}}"),
                      (f"sum by (instance) (increase(cjo_state_restore_seconds_count[{RI}]))",
                       "restores {{instance}}")]), 8, 8)
    L.add(timeseries("State restore time", "Time to restore one partition from its changelogs",
                     quantiles("cjo_state_restore_seconds", (0.5, 0.99)), "s"), 8, 8)
    L.add(timeseries("Profile size written", "Encoded size of profiles written (msgpack)",
                     quantiles("cjo_profile_size_bytes", (0.5, 0.99)), "bytes"), 12, 8)
    L.add(timeseries("Profile limits reached, push tokens refused", "Events whose new profile keys were left "
                     "out at a profile's limits, and profiles shrunk to stay within the stored size, by what "
                     "(README, \"Profile limits\"): upstream data that grows profiles without bound; and events "
                     "carrying a push token a receipt had dropped, not taken back (README, \"Push tokens\")",
                     [(f"sum by (what) (increase(cjo_profile_limited_total[{RI}]))", "{{what}}"),
                      (f"sum(increase(cjo_push_tokens_refused_total[{RI}]))", "push tokens refused")]), 12, 8)
    L.add(timeseries("Processing time per event", "Worker time per event (batch processing time / batch size)",
                     quantiles("cjo_event_processing_seconds", (0.5,)) +
                     [("cjo:event_processing_seconds:p99", "p99")], "s"), 12, 8)
    L.add(timeseries("Internal records by path", "customer-events records applied by stage 2: loopback (this "
                     "worker's own, handed over in memory) or fetched (from the broker)",
                     [(f"sum by (path) (rate(cjo_internal_records_total[{RI}]))", "{{path}}")], "ops", stack=True),
          12, 8)
    L.add(timeseries("Unreadable record batches", "Batches a consumer could not decode (its partition stops "
                     "there) and batches skipped on an operator's request, by topic; stuck partitions",
                     [(f"sum by (topic) (increase(cjo_record_batches_unreadable_total[{RI}]))", "unreadable {{topic}}"),
                      (f"sum by (topic) (increase(cjo_record_batches_skipped_total[{RI}]))", "skipped {{topic}}"),
                      ("sum by (topic, partition) (cjo_partition_stuck)", "stuck {{topic}}[{{partition}}]")]),
          12, 8)
    L.add(timeseries("RocksDB memory per process", "All RocksDB stores of a process (worker, adapter, analytics) share one budget "
                     "(CJO_ROCKSDB_MEMORY_MB): the block cache in use, and the unflushed memtables charged to it",
                     [("sum by (instance) (cjo_rocksdb_memory_bytes{kind=\"block_cache\"})", "block cache {{instance}}"),
                      ("sum by (instance) (cjo_rocksdb_memory_bytes{kind=\"memtables\"})", "memtables {{instance}}")],
                     "bytes"), 12, 8)
    L.add(timeseries("Scheduled entry scans", "Profiles offered a scheduled journey's occurrence per second, and "
                     "how long one partition's scan takes (README, Scheduled entry)",
                     [(f"sum by (instance) (rate(cjo_schedule_profiles_scanned_total[{RI}]))", "profiles/s {{instance}}"),
                      *quantiles("cjo_schedule_scan_seconds", (0.99,))]), 12, 8)

    # ------------------------------------------------------------------ latency
    L.row("Latency")
    L.add(timeseries("Decision latency", "Event timestamp to delivery command produced (event-triggered sends)",
                     [("cjo:decision_latency_seconds:p50", "p50"), ("cjo:decision_latency_seconds:p90", "p90"),
                      ("cjo:decision_latency_seconds:p99", "p99")], "s"), 12, 8)
    L.add(timeseries("Timer lateness", "Timer fire time minus due time: cluster p50/p99 and p99 per worker",
                     [("cjo:timer_lateness_seconds:p50", "p50"), ("cjo:timer_lateness_seconds:p99", "p99"),
                      *[(e, lg) for e, lg in quantiles("cjo_timer_lateness_seconds", (0.99,), by="instance")]],
                     "s"), 12, 8)
    L.add(timeseries("Events that came after a timer", "Events that arrived after a timer of their customer's "
                     "journey had fired, though they happened before it was due, by journey (its decision went "
                     "without them), and the CJO_TIMER_GRACE_MS that would have applied them first (how long "
                     "after the due time they came; above 60 s no grace can: the CjoEventsOvertaken runbook)",
                     [(f"sum by (journey) (increase(cjo_events_overtaken_total[{RI}]))", "{{journey}}"),
                      *quantiles("cjo_events_overtaken_seconds", (0.5, 0.9))]), 12, 8)

    # ------------------------------------------------------------------ journeys
    L.row("Journeys")
    L.add(timeseries("Journey lifecycle", "Entered, holdout, converted, exited, ended, expired (per second)",
                     [(f"sum by (journey, kind) (cjo:journey_transitions:rate5m{J})", "{{journey}} {{kind}}")],
                     "ops"), 12, 8)
    L.add(timeseries("Conversion rate (1h window)", "Conversions per entry over the last hour",
                     [(f"cjo:journey_conversion:ratio_rate1h{J}", "{{journey}}")], "percentunit"), 12, 8)
    L.add(bars("Funnel: steps reached in range", "How many instances reached each step in the selected time range",
               [(f"sum by (journey, step) (increase(cjo_journey_step_reached_total{J}[$__range]))",
                 "{{journey}} · {{step}}")]), 8, 12)
    L.add(bars("Split arms taken in range", "A/B(/n) split arms chosen in the selected time range",
               [(f"sum by (journey, variant) (increase(cjo_journey_variant_entered_total{J}[$__range]))",
                 "{{journey}} · {{variant}}")]), 8, 12)
    L.add(bars("Conversions per split arm in range", "Converted instances / arm taken, per variant",
               [('sum by (journey, variant) (increase(cjo_journey_transitions_total{journey=~"$journey", '
                 'kind="converted", variant!=""}[$__range])) / sum by (journey, variant) '
                 f"(increase(cjo_journey_variant_entered_total{J}[$__range]))", "{{journey}} · {{variant}}")],
               "percentunit"), 8, 12)
    L.add(bars("Outcomes by variant in range", "How instances ended, per split arm ('' = no split taken)",
               [('sum by (journey, kind, variant) (increase(cjo_journey_transitions_total{journey=~"$journey", '
                 'kind!="entered"}[$__range]))', "{{journey}} · {{variant}} · {{kind}}")]), 12, 10)
    L.add(bars("Sends per step in range", "Delivery commands produced per journey step",
               [(f"sum by (journey, step, channel) (increase(cjo_sends_total{J}[$__range]))",
                 "{{journey}} · {{step}} → {{channel}}")]), 12, 10)
    held = 'cjo_sends_deferred_total{journey=~"$journey", reason="journey_paused"}'
    L.add(timeseries("Paused journeys: paused for", "Journey versions whose file says status: paused, and how long "
                     "since the workers first ran them paused (the earliest worker; CjoJourneyPausedLong past a day). "
                     "Nobody enters them, and each send their customers reach is held (README, Pausing a journey)",
                     [("time() - min by (journey, version) (cjo_journey_paused_since_timestamp_seconds"
                       f"{J})", "{{journey}} v{{version}}")], "s"), 8, 8)
    L.add(bars("Sends held by a pause in range", "Sends held at their step while their journey was paused "
               "(deferred, reason journey_paused), once per held send, those whose customers then converted, "
               "exited or expired while held included (the analytics page's step table has them by cohort)",
               [(f"sum by (journey) (increase({held}[$__range]))", "{{journey}}")]), 8, 8)
    L.add(timeseries("Paused journeys: held, then sent", "Per journey that held sends in the last 7 days: sends "
                     "held per second while paused, and delivery commands per second; after status: live each held "
                     "send is decided again within 15 minutes, so the sends rise as the holds stop",
                     [(f"sum by (journey) (rate({held}[{RI}]))", "{{journey}} held"),
                      (f"sum by (journey) (rate(cjo_sends_total{J}[{RI}])) and on (journey) "
                       f"sum by (journey) (increase({held}[7d])) > 0", "{{journey}} sent")], "ops"), 8, 8)
    L.add(bars("Lifecycle stage flow in range", "Stage changes (stage_changed events) from → to, stages.yaml",
               [('sum by (from, to) (increase(cjo_stage_transitions_total[$__range]))', "{{from}} → {{to}}")]), 12, 10)
    L.add(timeseries("Customers per lifecycle stage (approximate)", "Net placements applied by the workers since "
                     "they started (cjo_stage_customers; a trend, not a census)",
                     [("sum by (stage) (cjo_stage_customers)", "{{stage}}")]), 12, 10)

    # ------------------------------------------------------------------ delivery
    L.row("Delivery")
    L.add(timeseries("Sends by channel", "Delivery commands produced",
                     [(f"sum by (channel) (cjo:sends:rate5m{C})", "{{channel}}")], "ops", stack=True), 8, 8)
    L.add(timeseries("Skips by reason", "Sends decided against (frequency_cap, no_consent, no_address, "
                     "undeliverable: a hard-bounced address, holdout, render_error, global_control), by channel and the subscription topic the send names (none: "
                     "a send of no topic); no_consent of a topic: customers who left it, or never joined an opt_in one",
                     [(f"sum by (channel, topic, reason) (cjo:skips:rate5m{C})", "{{channel}} {{topic}} {{reason}}")],
                     "ops"), 8, 8)
    L.add(timeseries("Deferred sends", "Sends postponed: to the end of quiet hours, to the next window of a throttle, or held while their journey is paused",
                     [(f"sum by (channel, reason) (rate(cjo_sends_deferred_total{C}[{RI}]))", "{{channel}} ({{reason}})")], "ops"), 8, 8)
    L.add(timeseries("Delivery outcomes", "Adapter receipts by status",
                     [(f"cjo:delivery_outcomes:rate5m{C}", "{{channel}} {{status}}")], "ops"), 12, 8)
    L.add(timeseries("Delivery success", "1 - (failed + bounced + expired) / attempts",
                     [(f"1 - cjo:delivery_failure:ratio_rate5m{C}", "{{channel}}")], "percentunit"), 12, 8)
    L.add(timeseries("Provider call duration", "Adapter provider call p99 per channel",
                     [(f"cjo:adapter_delivery_seconds:p99{C}", "{{channel}} p99")], "s"), 8, 8)
    L.add(timeseries("Adapter retries", "Delivery attempts retried",
                     [(f"sum by (channel) (rate(cjo_adapter_retries_total{C}[{RI}]))", "{{channel}}")], "ops"), 8, 8)
    L.add(timeseries("Rate-limit waiting", "Seconds per second adapters wait for their rate limiter (1 = always)",
                     [(f"sum by (channel) (rate(cjo_adapter_rate_limit_wait_seconds_total{C}[{RI}]))",
                       "{{channel}}")], "percentunit"), 8, 8)
    L.add(timeseries("Callbacks asked of other replicas", "Engagement callbacks whose send another adapter replica "
                     "holds: found there, not found anywhere (404), or a holder not answering (failed: 503); "
                     "optional_failed: a callback giving our own ids whose holder did not answer, taken as given (202)",
                     [(f"sum by (channel, outcome) (rate(cjo_adapter_peer_lookups_total{C}[{RI}]))",
                       "{{channel}} {{outcome}}")], "ops"), 24, 8)

    # ------------------------------------------------------------------ security
    L.row("Analytics service")
    L.add(timeseries("Journey events folded", "Journey events the analytics service folded, by kind",
                     [(f"sum by (kind) (rate(cjo_analytics_journey_events_total[{RI}]))", "{{kind}}")], "ops",
                     stack=True), 8, 8)
    L.add(timeseries("Replays, unreadable records, partitions not waited for",
                     "Journey events dropped as replays of a position already applied (a worker re-processed records "
                     "after a crash); records that do not decode; times the service stopped waiting for a partition "
                     "behind that brought nothing for 10 s and folded the others without it (merged instances may "
                     "count out of order)",
                     [(f"sum(rate(cjo_analytics_duplicates_total[{RI}]))", "replays dropped"),
                      (f"sum(rate(cjo_analytics_invalid_total[{RI}]))", "undecodable"),
                      (f"sum(rate(cjo_analytics_lanes_unwaited_total[{RI}]))", "partition not waited for")], "ops"),
          8, 8)
    L.add(timeseries("Page and API answer time", "p99 per view of the analytics service",
                     [(f"histogram_quantile(0.99, sum by (le, view) (rate(cjo_analytics_request_seconds_bucket[{RI}])))",
                       "{{view}}")], "s"), 8, 8)
    L.add(timeseries("Rows in memory", "Rows the analytics service keeps in memory (instances, deliveries, send "
                     "times): up to CJO_ANALYTICS_CACHE_ROWS, then trimmed to half; ~460 bytes of memory each",
                     [("sum by (instance) (cjo_analytics_cached_rows)", "{{instance}}")]), 8, 8)

    L.row("Security")
    L.add(timeseries("State API reads and erasures", "Audited profile reads and erase requests per token name "
                     "(the audit log has each one, customer ids hashed)",
                     [(f"sum by (action, token) (rate(cjo_audit_events_total[{RI}]))", "{{action}} by {{token}}")],
                     "ops"), 12, 8)
    L.add(timeseries("Refused HTTP requests", "401 (no or unknown token) and 403 (scope missing) per process",
                     [(f"sum by (instance, reason) (rate(cjo_api_auth_failures_total[{RI}]))",
                       "{{instance}} {{reason}}")], "ops"), 12, 8)

    def var(name: str, query: str) -> dict[str, Any]:
        return {"name": name, "label": name, "type": "query", "datasource": DS,
                "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
                "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1}

    return {
        "uid": "cjo-stream",
        "title": "cjo-stream",
        "description": "cjo-stream workers and adapters: throughput, lag, latency, journey funnels, delivery",
        "tags": ["cjo-stream", "kafka"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1, "regex": ""},
            var("journey", "label_values(cjo_journey_transitions_total, journey)"),
            var("channel", "label_values(cjo_sends_total, channel)"),
        ]},
        "panels": L.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python deploy/grafana/build_dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
