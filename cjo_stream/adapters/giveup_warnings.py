"""The warnings of commands given up (retries spent, or refused for good), a few lines however many there are.

With its provider down (a relay not answering, revoked credentials), an adapter gives up every command of its
backlog once its retry budget is spent, and logged a line each: thousands in the minutes the on-call person reads
the log for the reason (CjoDeliveryFailing's runbook). The first give-up of each kind (``retries_exhausted``,
``permanent_failure``) is logged at once with its reason; the ones after it within a minute are counted and said
in one line, with the latest reason. Each command is still on its dead-letter topic (``cjo-stream dlq --topic``,
with its reason) and counted in ``cjo_delivery_outcomes_total``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cjo_stream.adapters.held_warnings import INTERVAL, HeldWarnings


class GiveUpWarnings(HeldWarnings):
    """Keyed by the dead-letter reason; ``why`` is ``delivery <id>: <reason>``; ``dlq`` names the dead-letter
    topic(s) in the summary line."""

    def __init__(self, log: logging.Logger, adapter: str, dlq: str, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(log, adapter, interval, clock)
        self.dlq = dlq

    def _first(self, key: str, why: str) -> None:
        delivery, _, reason = why.partition(": ")
        self.log.warning("%s %s: %s", delivery, key, reason, extra={"channel": self.adapter, "reason": key})

    def _summary(self, key: str, n: int, why: str, over: float) -> None:
        self.log.warning("adapter %s: %d more command(s) given up (%s) in the last %.0f s, not logged one by one: "
                         "each is on %s (cjo-stream dlq --topic %s); the last: %s", self.adapter, n, key, over,
                         self.dlq, self.dlq, why, extra={"channel": self.adapter, "reason": key})
