"""Generate ``rules.test.yml`` (the ``promtool test rules`` suite for ``rules.yml``).

promtool compares every annotation of a firing alert, so the static annotation texts (runbooks,
descriptions) are copied from ``rules.yml`` here instead of being duplicated by hand; the cases below
(input series, evaluation times, expected labels and the rendered ``summary``) are written by hand.

    python deploy/prometheus/gen_rules_test.py          # rewrite rules.test.yml
    python deploy/prometheus/gen_rules_test.py --check  # exit 1 if rules.test.yml is stale

tests/deploy/test_prometheus.py runs the check and then ``promtool test rules``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules.yml"
OUT = HERE / "rules.test.yml"

W0 = {"job": "cjo-worker", "instance": "w0:6066"}
W1 = {"job": "cjo-worker", "instance": "w1:6066"}
W2 = {"job": "cjo-worker", "instance": "w2:6066"}
A0 = {"job": "cjo-adapter", "instance": "a0:6067"}
A1 = {"job": "cjo-adapter", "instance": "a1:6067"}


def s(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def hist(name: str, labels: dict[str, str], buckets: list[str], values_by_le: dict[str, str],
         default: str) -> list[dict[str, str]]:
    """Cumulative histogram bucket series; buckets not named in ``values_by_le`` get ``default``."""
    return [s(f"{name}_bucket", {**labels, "le": le}, values_by_le.get(le, default)) for le in buckets]


TIMER_LE = ["0.01", "0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "60.0", "+Inf"]
LATENCY_LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0",
              "60.0", "+Inf"]
RESTORE_LE = ["0.1", "0.5", "1.0", "5.0", "10.0", "30.0", "60.0", "120.0", "+Inf"]


def fires(alert: str, labels: dict[str, str], summary: str, **annotations: str) -> dict[str, Any]:
    return {"alert": alert, "labels": labels, "summary": summary, **annotations}


# Each test: input series, then (eval_time, alertname, [expected firing alerts]) checks.
TESTS: list[dict[str, Any]] = [
    {
        "name": "worker and adapter liveness",
        "series": [
            s("up", W0, "1 1 0 0 0 0 0 0 0 0 0"),          # scrape fails from 2m
            s("up", W1, "1x10"),
            s("cjo_up", {**W1, "role": "worker"}, "1x10"),
            s("up", W2, "1x10"),                          # serves HTTP, cjo_up never set
            s("up", A0, "1 0x10"),                        # adapter down from 1m
            s("up", A1, "1x10"),
            s("up", {"job": "cjo-analytics", "instance": "n0:6068"}, "1 1 0x10"),  # analytics down from 2m
        ],
        "checks": [
            ("3m", "CjoWorkerDown", []),                  # pending (2m of `for: 2m` not yet over)
            ("4m", "CjoWorkerDown", [fires("CjoWorkerDown", {**W0, "severity": "critical"},
                                           "cjo-stream worker w0:6066 cannot be scraped")]),
            ("4m", "CjoWorkerNotStarted", []),
            ("5m", "CjoWorkerNotStarted", [fires("CjoWorkerNotStarted", {**W2, "severity": "warning"},
                                                 "Worker w2:6066 serves HTTP but its stream machinery has "
                                                 "not started")]),
            ("5m", "CjoAdapterDown", []),
            ("6m", "CjoAdapterDown", [fires("CjoAdapterDown", {**A0, "severity": "warning"},
                                            "cjo-stream adapter a0:6067 cannot be scraped")]),
            ("10m", "CjoNoWorkerRunning", []),            # w1 and w2 are up
            ("6m", "CjoAnalyticsDown", []),
            ("7m", "CjoAnalyticsDown", [fires("CjoAnalyticsDown", {"job": "cjo-analytics", "instance": "n0:6068",
                                                                   "severity": "warning"},
                                              "cjo-stream analytics n0:6068 cannot be scraped")]),
        ],
    },
    {
        "name": "every worker down",
        "series": [s("up", W0, "1 1 0x10"), s("up", W1, "1 1 0x10")],
        "checks": [
            ("6m", "CjoNoWorkerRunning", []),
            ("7m", "CjoNoWorkerRunning", [fires("CjoNoWorkerRunning", {"severity": "critical"},
                                                "No cjo-stream worker is up: no journey is advancing")]),
        ],
    },
    {
        "name": "no worker discovered at all",
        "series": [s("up", {"job": "prometheus", "instance": "localhost:9090"}, "1x10")],
        "checks": [
            ("4m", "CjoNoWorkerRunning", []),
            ("5m", "CjoNoWorkerRunning", [fires("CjoNoWorkerRunning", {"severity": "critical"},
                                                "No cjo-stream worker is up: no journey is advancing")]),
        ],
    },
    {
        "name": "crash-looping worker",
        "series": [
            # a crash loop: each start has one rebalance, so that counter shows no reset; the start time moves
            s("cjo_rebalances_total", W0, "1x10"),
            s("process_start_time_seconds", W0, "100 100 220 220 340 340 460 460 460 460"),  # 2m, 4m, 6m
            s("process_start_time_seconds", W1, "100x10"),
            s("process_start_time_seconds", A0, "100 220 340 460 580 700 820 940 1060 1180"),  # not a worker
        ],
        "checks": [
            ("5m", "CjoWorkerRestarting", []),
            ("7m", "CjoWorkerRestarting", [fires("CjoWorkerRestarting", {**W0, "severity": "warning"},
                                                 "Worker w0:6066 restarted 3 times in 30 minutes")]),
        ],
    },
    {
        "name": "commands an adapter cannot decode",
        "series": [
            s("cjo_delivery_outcomes_total", {**A0, "channel": "email", "status": "invalid"}, "0 0 0 12 12 12 12"),
            s("cjo_delivery_outcomes_total", {**A0, "channel": "email", "status": "sent"}, "0+100x6"),
            s("cjo_delivery_outcomes_total", {**A1, "channel": "push", "status": "invalid"}, "0x6"),
        ],
        "checks": [
            ("2m", "CjoCommandsInvalid", []),
            ("4m", "CjoCommandsInvalid", [fires("CjoCommandsInvalid", {"channel": "email", "severity": "warning"},
                                                "About 12 email commands could not be decoded in 15 minutes: "
                                                "not sent")]),
        ],
    },
    {
        "name": "stale commands skipped",
        "series": [
            s("cjo_delivery_outcomes_total", {**A0, "channel": "email", "status": "stale"}, "0 0 0 40 40 40 40"),
            s("cjo_delivery_outcomes_total", {**A0, "channel": "email", "status": "sent"}, "0+100x6"),
            s("cjo_delivery_outcomes_total", {**A1, "channel": "push", "status": "stale"}, "0x6"),
        ],
        "checks": [
            ("2m", "CjoCommandsStale", []),
            ("4m", "CjoCommandsStale", [fires("CjoCommandsStale", {"channel": "email", "severity": "warning"},
                                              "About 40 email commands skipped as stale in 15 minutes: not sent")]),
        ],
    },
    {
        "name": "adapter replicas that cannot ask each other",
        "series": [
            # email: a lookup fails every minute from 1m; push: a rebalance's failures at 1m, then none;
            # sms: lookups of callbacks giving our own ids fail every minute, each answered 202 anyway
            s("cjo_adapter_peer_lookups_total", {**A0, "channel": "email", "outcome": "failed"}, "0 1+1x30"),
            s("cjo_adapter_peer_lookups_total", {**A1, "channel": "push", "outcome": "failed"}, "0 3x30"),
            s("cjo_adapter_peer_lookups_total", {**A1, "channel": "push", "outcome": "found"}, "0+5x30"),
            s("cjo_adapter_peer_lookups_total", {**A1, "channel": "sms", "outcome": "optional_failed"}, "0 1+1x30"),
        ],
        "checks": [
            ("10m", "CjoAdapterPeerLookupsFailing", []),  # pending
            ("20m", "CjoAdapterPeerLookupsFailing", [
                fires("CjoAdapterPeerLookupsFailing", {"channel": "email", "severity": "warning"},
                      "email adapter replicas cannot ask each other for sends: provider callbacks answered 503")]),
        ],
    },
    {
        "name": "events that came after a timer they happened before",
        "series": [
            # one journey's overtaken events: 1 a minute from 11m (10 within the hour by 20m); another's: a few
            s("cjo_events_overtaken_total", {**W0, "journey": "cart"}, "0x10 1+1x70"),
            s("cjo_events_overtaken_total", {**W1, "journey": "cart"}, "0x80"),
            s("cjo_events_overtaken_total", {**W1, "journey": "welcome"}, "0x10 3x70"),
        ],
        "checks": [
            ("15m", "CjoEventsOvertaken", []),
            ("25m", "CjoEventsOvertaken", [
                fires("CjoEventsOvertaken", {"journey": "cart", "severity": "warning"},
                      "About 15 events of journey cart in the last hour came after a timer they happened before")]),
            ("75m", "CjoEventsOvertaken", [
                fires("CjoEventsOvertaken", {"journey": "cart", "severity": "warning"},
                      "About 60 events of journey cart in the last hour came after a timer they happened before")]),
        ],
    },
    {
        "name": "events named as consent events that are none",
        "series": [
            # a worker's first Unsubscribed events at 10m: a new series, its whole value counts for an hour
            s("cjo_consent_lookalike_events_total", {**W0, "event": "Unsubscribed"}, "_x10 2x120"),
            # an old series that grows from 71m on; one that stopped growing long ago
            s("cjo_consent_lookalike_events_total", {**W1, "event": "Email Unsubscribed"}, "0x70 1+1x60"),
            s("cjo_consent_lookalike_events_total", {**W1, "event": "Subscribed"}, "5x130"),
        ],
        "checks": [
            ("9m", "CjoConsentLookalikeEvents", [
                fires("CjoConsentLookalikeEvents", {"event": "Subscribed", "severity": "warning"},
                      "About 5 events named Subscribed in the last hour changed no consent: their senders are "
                      "still messaged")]),  # no sample an hour before (as just after Prometheus starts)
            ("12m", "CjoConsentLookalikeEvents", [
                fires("CjoConsentLookalikeEvents", {"event": "Subscribed", "severity": "warning"},
                      "About 5 events named Subscribed in the last hour changed no consent: their senders are "
                      "still messaged"),
                fires("CjoConsentLookalikeEvents", {"event": "Unsubscribed", "severity": "warning"},
                      "About 2 events named Unsubscribed in the last hour changed no consent: their senders are "
                      "still messaged")]),
            ("69m", "CjoConsentLookalikeEvents", [
                fires("CjoConsentLookalikeEvents", {"event": "Unsubscribed", "severity": "warning"},
                      "About 2 events named Unsubscribed in the last hour changed no consent: their senders are "
                      "still messaged")]),
            ("75m", "CjoConsentLookalikeEvents", [
                fires("CjoConsentLookalikeEvents", {"event": "Email Unsubscribed", "severity": "warning"},
                      "About 5 events named Email Unsubscribed in the last hour changed no consent: their senders "
                      "are still messaged")]),
        ],
    },
    {
        "name": "a journey paused for over a day",
        "series": [
            # w0 first started with cart v1 paused 86,000 s before the test's start (time() is 0 then), w1 (a new
            # volume) later: the earliest counts. welcome v2 was paused 10 minutes in (w0 restarted).
            s("cjo_journey_paused_since_timestamp_seconds", {**W0, "journey": "cart", "version": "1"}, "-86000x20"),
            s("cjo_journey_paused_since_timestamp_seconds", {**W1, "journey": "cart", "version": "1"}, "-3600x20"),
            s("cjo_journey_paused_since_timestamp_seconds", {**W0, "journey": "welcome", "version": "2"},
              "_x10 600x10"),
        ],
        "checks": [
            ("6m", "CjoJourneyPausedLong", []),           # 86,360 s
            ("7m", "CjoJourneyPausedLong", [fires("CjoJourneyPausedLong",
                                                  {"journey": "cart", "version": "1", "severity": "warning"},
                                                  "Journey cart version 1 has been paused for 1d 0h 0m 20s: "
                                                  "nobody enters it and its customers' sends are held")]),
            ("15m", "CjoJourneyPausedLong", [fires("CjoJourneyPausedLong",
                                                   {"journey": "cart", "version": "1", "severity": "warning"},
                                                   "Journey cart version 1 has been paused for 1d 0h 8m 20s: "
                                                   "nobody enters it and its customers' sends are held")]),
        ],
    },
    {
        "name": "broker unanswered, commit stalled",
        "series": [
            # the look every 5 s answered, then not from 1m on (the gauge is the time since the last answer)
            s("cjo_broker_unanswered_seconds", {**W0, "role": "worker"}, "3 60+60x9"),
            s("cjo_broker_unanswered_seconds", {**W1, "role": "worker"}, "4x10"),
            s("cjo_commit_pending_seconds", {**A0, "role": "adapter"}, "0 0+60x9"),
            s("cjo_commit_pending_seconds", {**W1, "role": "worker"}, "0x10"),
        ],
        "checks": [
            ("2m", "CjoBrokerUnanswered", []),            # over 60 s from 2m on: pending for its minute
            ("3m", "CjoBrokerUnanswered", [fires("CjoBrokerUnanswered", {**W0, "severity": "critical"},
                                                 "w0:6066: the Kafka broker has not answered for 3m 0s")]),
            ("5m", "CjoCommitStalled", []),
            ("6m", "CjoCommitStalled", [fires("CjoCommitStalled", {**A0, "severity": "warning"},
                                              "a0:6067: an offset commit has been pending for 5m 0s")]),
        ],
    },
    {
        "name": "consumer lag: growing, flat, small",
        "series": [
            s("cjo_consumer_lag_records", {**W0, "topic": "cjo.customer-events", "partition": "0"}, "20000+1000x30"),
            # a stale copy of partition 0 left on the worker that lost it: max() ignores it
            s("cjo_consumer_lag_records", {**W1, "topic": "cjo.customer-events", "partition": "0"}, "5000x30"),
            s("cjo_consumer_lag_records", {**W1, "topic": "cjo.customer-events", "partition": "1"}, "0x30"),
            s("cjo_consumer_lag_records", {**W0, "topic": "cjo.touchpoints", "partition": "0"}, "50000x30"),
            s("cjo_consumer_lag_records", {**W0, "topic": "cjo.receipts", "partition": "0"}, "100+100x30"),
            # an adapter behind on its commands (a provider's rate limit): the same alert, per topic
            s("cjo_consumer_lag_records", {**A0, "topic": "cjo.delivery.email", "partition": "2"}, "15000+500x30"),
        ],
        "checks": [
            ("10m", "CjoConsumerLagGrowing", []),
            ("15m", "CjoConsumerLagGrowing", [fires("CjoConsumerLagGrowing",
                                                    {"topic": "cjo.customer-events", "severity": "warning"},
                                                    "Consumer lag on cjo.customer-events is 35k records and "
                                                    "growing"),
                                              fires("CjoConsumerLagGrowing",
                                                    {"topic": "cjo.delivery.email", "severity": "warning"},
                                                    "Consumer lag on cjo.delivery.email is 22.5k records and "
                                                    "growing")]),
        ],
        "exprs": [
            ("15m", "cjo:consumer_lag_records:max{topic=\"cjo.customer-events\"}",
             [({"topic": "cjo.customer-events", "partition": "0"}, 35000),
              ({"topic": "cjo.customer-events", "partition": "1"}, 0)]),
            ("15m", "cjo:consumer_lag_records:sum_by_topic",
             [({"topic": "cjo.customer-events"}, 35000), ({"topic": "cjo.touchpoints"}, 50000),
              ({"topic": "cjo.receipts"}, 1600), ({"topic": "cjo.delivery.email"}, 22500)]),
        ],
    },
    {
        "name": "dead letters: 1 in 11 records rejected",
        "series": [
            s("cjo_events_consumed_total", {**W0, "type": "track", "source": "web"}, "0+600x30"),   # 10/s
            s("cjo_events_invalid_total", {**W0, "reason": "invalid_json"}, "0+60x30"),            # 1/s
        ],
        "checks": [
            ("10m", "CjoDeadLetterRate", []),
            ("12m", "CjoDeadLetterRate", [fires("CjoDeadLetterRate", {"severity": "warning"},
                                                "9.091% of input records go to the dead-letter topic")]),
        ],
        "exprs": [
            ("12m", "cjo:events_invalid:rate5m", [({"reason": "invalid_json"}, 1)]),
            ("12m", "cjo:events_consumed:rate1m", [({"type": "track", "source": "web"}, 10)]),
        ],
    },
    {
        "name": "refused API requests: a client guessing tokens, another one occasionally wrong",
        "series": [
            s("cjo_api_auth_failures_total", {**W0, "reason": "unauthenticated"}, "0+60x30"),   # 1/s
            s("cjo_api_auth_failures_total", {**W1, "reason": "forbidden"}, "0+6x30"),          # 0.1/s
        ],
        "checks": [
            ("8m", "CjoApiAuthFailures", []),
            ("16m", "CjoApiAuthFailures", [fires("CjoApiAuthFailures", {**W0, "severity": "warning"},
                                                 "w0:6066 refuses 1 HTTP requests per second (401/403)")]),
        ],
    },
    {
        "name": "a token file that did not load: its process keeps the previous tokens",
        "series": [
            s("cjo_api_tokens_reload_failed", W0, "0 0 1x20"),
            s("cjo_api_tokens_reload_failed", W1, "1 1 0x20"),  # fixed within minutes
        ],
        "checks": [
            ("5m", "CjoApiTokensNotReloaded", []),
            ("8m", "CjoApiTokensNotReloaded", [fires("CjoApiTokensNotReloaded", {**W0, "severity": "warning"},
                                                     "w0:6066 keeps its previous API tokens: CJO_API_TOKENS_FILE "
                                                     "could not be loaded")]),
        ],
    },
    {
        "name": "dead letters: a trickle of bad records does not page",
        "series": [
            s("cjo_events_invalid_total", {**W0, "reason": "too_large"}, "0+3x30"),   # 0.05/s, ratio 100 %
            s("cjo_events_consumed_total", {**W0, "type": "track", "source": "web"}, "0x30"),
        ],
        "checks": [("15m", "CjoDeadLetterRate", [])],
        "exprs": [("15m", "cjo:events_invalid:ratio_rate5m", [({}, 1)])],
    },
    {
        "name": "delivery failures by channel",
        "series": [
            s("cjo_delivery_outcomes_total", {**A0, "channel": "email", "status": "sent"}, "0+540x30"),   # 9/s
            s("cjo_delivery_outcomes_total", {**A0, "channel": "email", "status": "failed"}, "0+60x30"),  # 1/s
            s("cjo_delivery_outcomes_total", {**A1, "channel": "sms", "status": "sent"}, "0+600x30"),
            s("cjo_delivery_outcomes_total", {**A1, "channel": "sms", "status": "bounced"}, "0+6x30"),    # 1 %
            s("cjo_delivery_outcomes_total", {**A1, "channel": "webhook", "status": "failed"}, "0+60x30"),  # all
            s("cjo_delivery_outcomes_total", {**A1, "channel": "push", "status": "expired"}, "0+0.3x30"),  # too few
        ],
        "checks": [
            ("5m", "CjoDeliveryFailing", []),
            ("7m", "CjoDeliveryFailing", [fires("CjoDeliveryFailing", {"channel": "webhook", "severity": "critical"},
                                                "Most webhook deliveries fail (100%)",
                                                description="More than half of webhook delivery attempts "
                                                            "failed for 5 minutes.")]),
            ("10m", "CjoDeliveryFailureRatio", []),
            ("12m", "CjoDeliveryFailureRatio", [
                fires("CjoDeliveryFailureRatio", {"channel": "email", "severity": "warning"},
                      "10% of email deliveries fail",
                      description="More than 5% of email delivery attempts failed, bounced or expired for 10 "
                                  "minutes."),
                fires("CjoDeliveryFailureRatio", {"channel": "webhook", "severity": "warning"},
                      "100% of webhook deliveries fail",
                      description="More than 5% of webhook delivery attempts failed, bounced or expired for 10 "
                                  "minutes."),
            ]),
        ],
        "exprs": [
            ("12m", "cjo:delivery_failure:ratio_rate5m",
             [({"channel": "email"}, 0.1), ({"channel": "sms"}, 0.01), ({"channel": "webhook"}, 1),
              ({"channel": "push"}, 1)]),
        ],
    },
    {
        "name": "timer lateness p99 above 5 s",
        "series": hist("cjo_timer_lateness_seconds", W0, TIMER_LE, {"10.0": "0+60x30", "60.0": "0+60x30",
                                                                     "+Inf": "0+60x30"}, "0x30"),
        "checks": [
            ("10m", "CjoTimerLatenessHigh", []),
            ("12m", "CjoTimerLatenessHigh", [fires("CjoTimerLatenessHigh", {"severity": "warning"},
                                                   "Timers fire 9.95s late (p99)")]),
        ],
    },
    {
        "name": "timer lateness normal",
        "series": hist("cjo_timer_lateness_seconds", W0, TIMER_LE, {"0.01": "0x30", "0.05": "0x30", "0.1": "0x30",
                                                                     "0.25": "0x30"}, "0+60x30"),
        "checks": [("15m", "CjoTimerLatenessHigh", [])],
        "exprs": [("15m", "cjo:timer_lateness_seconds:p50", [({}, 0.375)])],
    },
    {
        "name": "decision latency p99 above 30 s",
        "series": hist("cjo_decision_latency_seconds", W0, LATENCY_LE,
                       {"60.0": "0+60x30", "+Inf": "0+60x30"}, "0x30"),
        "checks": [
            ("15m", "CjoDecisionLatencyHigh", []),
            ("17m", "CjoDecisionLatencyHigh", [fires("CjoDecisionLatencyHigh", {"severity": "warning"},
                                                     "p99 from event timestamp to delivery command is 59.7s")]),
        ],
    },
    {
        "name": "slow and fast state restores",
        "series": [
            # w0 restores one partition in 90 s at 5m; w1 restores one in 2 s at 5m
            *hist("cjo_state_restore_seconds", W0, RESTORE_LE, {"120.0": "0x4 1x20", "+Inf": "0x4 1x20"}, "0x25"),
            *hist("cjo_state_restore_seconds", W1, RESTORE_LE, {"0.1": "0x25", "0.5": "0x25", "1.0": "0x25"},
                  "0x4 1x20"),
        ],
        "checks": [
            ("3m", "CjoStateRestoreSlow", []),
            ("6m", "CjoStateRestoreSlow", [fires("CjoStateRestoreSlow", {**W0, "severity": "warning"},
                                                 "A partition restore on w0:6066 took longer than 60 s")]),
        ],
    },
    {
        "name": "rebalance storm",
        "series": [
            s("cjo_rebalances_total", W0, "0+1x20"),     # one assignment a minute
            s("cjo_rebalances_total", W1, "0+1x3 3x17"),  # three at start-up, then quiet
            # a counter first scraped inside the window: increase() extrapolates (8.5 here), the page rounds it
            s("cjo_rebalances_total", W2, "_x12 5 6 7 8 9 10 11 12"),
            s("cjo_rebalances_total", A0, "0+1x20"),  # adapters count theirs too: the page named it a worker
        ],
        "checks": [
            ("20m", "CjoRebalanceStorm", [fires("CjoRebalanceStorm", {**W0, "severity": "warning"},
                                                "cjo-worker w0:6066 got about 15 partition assignments in 15 minutes"),
                                          fires("CjoRebalanceStorm", {**W2, "severity": "warning"},
                                                "cjo-worker w2:6066 got about 8 partition assignments in 15 minutes"),
                                          fires("CjoRebalanceStorm", {**A0, "severity": "warning"},
                                                "cjo-adapter a0:6067 got about 15 partition assignments in 15 "
                                                "minutes")]),
        ],
    },
    {
        "name": "a partition stuck at an unreadable batch",
        "series": [
            s("cjo_partition_stuck", {**W0, "topic": "cjo.touchpoints", "partition": "3"}, "1x10"),
            s("cjo_partition_stuck", {**W1, "topic": "cjo.touchpoints", "partition": "5"}, "0 1 0 0 0 0 0 0 0 0"),  # a blip: no page
        ],
        "checks": [
            ("5m", "CjoPartitionStuck", [fires("CjoPartitionStuck", {**W0, "severity": "critical",
                                                                     "topic": "cjo.touchpoints", "partition": "3"},
                                               "w0:6066 cannot decode a record batch in cjo.touchpoints[3]")]),
        ],
    },
    {
        "name": "funnel recording rules",
        "series": [
            s("cjo_journey_transitions_total", {**W0, "journey": "cart", "kind": "entered", "variant": ""},
              "0+120x70"),
            s("cjo_journey_transitions_total", {**W1, "journey": "cart", "kind": "entered", "variant": ""},
              "0+120x70"),
            s("cjo_journey_transitions_total", {**W0, "journey": "cart", "kind": "converted", "variant": "coupon"},
              "0+30x70"),
            s("cjo_journey_transitions_total", {**W1, "journey": "cart", "kind": "converted", "variant": "control"},
              "0+15x70"),
            s("cjo_journey_step_reached_total", {**W0, "journey": "cart", "step": "remind"}, "0+60x70"),
            s("cjo_journey_step_reached_total", {**W1, "journey": "cart", "step": "remind"}, "0+60x70"),
        ],
        "checks": [],
        "exprs": [
            # 4/s entered, 0.75/s converted
            ("65m", "cjo:journey_conversion:ratio_rate1h", [({"journey": "cart"}, 0.1875)]),
            ("65m", "cjo:journey_step_reached:rate5m", [({"journey": "cart", "step": "remind"}, 2)]),
            ("65m", "cjo:journey_transitions:rate5m{kind=\"converted\"}",
             [({"journey": "cart", "kind": "converted", "variant": "coupon"}, 0.5),
              ({"journey": "cart", "kind": "converted", "variant": "control"}, 0.25)]),
        ],
    },
]

_LABEL = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")


def _alerts(rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}


def _annotations(rule: dict[str, Any], exp: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, text in rule.get("annotations", {}).items():
        if key in exp:
            out[key] = exp[key]
            continue
        if "$value" in text or ("{{" in _LABEL.sub("", text)):
            raise SystemExit(f"{rule['alert']}: annotation {key!r} is templated; give its expected text")
        out[key] = _LABEL.sub(lambda m: exp["labels"][m.group(1)], text)
    return out


def build() -> str:
    rules = yaml.safe_load(RULES.read_text())
    alerts = _alerts(rules)
    tested = set()
    tests = []
    for t in TESTS:
        case: dict[str, Any] = {"name": t["name"], "interval": "1m", "input_series": t["series"]}
        checks = []
        for at, name, expected in t["checks"]:
            tested.add(name)
            exp_alerts = []
            for e in expected:
                assert e["alert"] == name, (name, e)
                exp_alerts.append({"exp_labels": e["labels"], "exp_annotations": _annotations(alerts[name], e)})
            checks.append({"eval_time": at, "alertname": name, "exp_alerts": exp_alerts})
        if checks:
            case["alert_rule_test"] = checks
        if t.get("exprs"):
            case["promql_expr_test"] = [
                {"expr": expr, "eval_time": at,
                 "exp_samples": [{"labels": _labels(expr, lbl), "value": v} for lbl, v in samples]}
                for at, expr, samples in t["exprs"]]
        tests.append(case)
    missing = set(alerts) - tested
    if missing:
        raise SystemExit(f"alerts without a test case: {sorted(missing)}")
    doc = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    header = ("# GENERATED by deploy/prometheus/gen_rules_test.py from rules.yml: edit the cases there, then run\n"
              "#   python deploy/prometheus/gen_rules_test.py\n"
              "# Run: promtool test rules deploy/prometheus/rules.test.yml\n")
    return header + yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True)


def _labels(expr: str, labels: dict[str, str]) -> str:
    name = expr.split("{", 1)[0]
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python {Path(__file__).relative_to(HERE.parent.parent)}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
