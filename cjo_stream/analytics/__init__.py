"""Journey analytics: journey events folded into hourly buckets, statistics, the report and its page.

Everything here is pure (no Kafka, no clock): the live service (:mod:`cjo_stream.analytics.service`),
``cjo-stream simulate --report/--html`` and replays fold the same engine results with the same code,
so they show the same numbers.
"""

from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.records import JourneyEvent, journey_events

__all__ = ["Analytics", "JourneyEvent", "journey_events"]
