"""The warnings of failed peer lookups, a few lines however many callbacks fail.

Every callback whose send another replica holds asks that replica (:mod:`cjo_stream.adapters.peers`): when it cannot
be reached, a provider's burst of callbacks logged a line each, thousands a minute. The first failure at a peer is
logged at once (with what to set); the ones after it within ``interval`` are counted, and said in one line per peer
per interval, with the latest reason. ``cjo_adapter_peer_lookups_total`` still counts every lookup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

#: Seconds between two lines about one peer's failed lookups.
INTERVAL = 60.0


class PeerWarnings:
    """Warnings about failed lookups at each peer URL: the first at once, then one line per ``interval`` per peer."""

    def __init__(self, log: logging.Logger, adapter: str, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.adapter = adapter
        self.interval = interval
        self.clock = clock
        self._said: dict[str, float] = {}  # peer URL -> when a line about it was last logged
        self._held: dict[str, tuple[int, str]] = {}  # peer URL -> failures not logged since, and the latest's why
        self._timers: dict[str, asyncio.TimerHandle] = {}  # peer URL -> when its held failures are said

    def warn(self, url: str, why: str) -> None:
        """A lookup at ``url`` failed, ``why`` (what happened and what to set): logged now, or held for a while."""
        now = self.clock()
        n, _ = self._held.pop(url, (0, ""))
        said = self._said.get(url)
        if said is not None and now - said < self.interval:
            self._held[url] = (n + 1, why)
            if url not in self._timers:
                self._later(url, said + self.interval - now)
            return
        timer = self._timers.pop(url, None)
        if timer is not None:
            timer.cancel()
        if n:
            self._summary(url, n + 1, why, 0.0 if said is None else now - said)
        else:
            self._first(url, why)
        self._said[url] = now

    def flush(self) -> None:
        """Say the failures held back (at a stop: none is left unsaid)."""
        for url in list(self._held):
            self._due(url)

    def _later(self, url: str, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # (no loop: said at the next failure after the interval)
            return
        self._timers[url] = loop.call_later(delay, self._due, url)

    def _due(self, url: str) -> None:
        timer = self._timers.pop(url, None)
        if timer is not None:
            timer.cancel()
        held = self._held.pop(url, None)
        if held is None:
            return
        now = self.clock()
        self._summary(url, held[0], held[1], now - self._said.get(url, now))
        self._said[url] = now

    def _first(self, url: str, why: str) -> None:
        self.log.warning("adapter %s: peer lookup at %s %s", self.adapter, url, why)

    def _summary(self, url: str, n: int, why: str, over: float) -> None:
        self.log.warning("adapter %s: %d more peer lookup(s) at %s failed in the last %.0f s (not logged one by one); "
                         "the last %s", self.adapter, n, url, over, why)
