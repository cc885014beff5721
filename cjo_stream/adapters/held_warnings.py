"""Warnings that would come once per failure, held to a few lines however many failures there are.

An adapter whose provider or peer is down fails the same way for every command or callback: a line each was
thousands a minute, in the minutes the on-call person reads the log for the reason. The first failure of each key
is logged at once; the ones after it within ``interval`` are counted and said in one line per key per interval,
with the latest reason (at the next failure, when the interval ends, or at :meth:`HeldWarnings.flush`). The metrics
still count every one. Subclasses word the two lines: :mod:`~cjo_stream.adapters.peer_warnings`,
:mod:`~cjo_stream.adapters.giveup_warnings`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

#: Seconds between two lines about one key.
INTERVAL = 60.0


class HeldWarnings:
    """The first failure of each key at once, then one line per ``interval`` per key with how many were held."""

    def __init__(self, log: logging.Logger, adapter: str, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.adapter = adapter
        self.interval = interval
        self.clock = clock
        self._said: dict[str, float] = {}  # key -> when a line about it was last logged
        self._held: dict[str, tuple[int, str]] = {}  # key -> failures not logged since, and the latest's why
        self._timers: dict[str, asyncio.TimerHandle] = {}  # key -> when its held failures are said

    def warn(self, key: str, why: str) -> None:
        """A failure of ``key``, ``why`` (what happened and what to do): logged now, or held for a while."""
        now = self.clock()
        n, _ = self._held.pop(key, (0, ""))
        said = self._said.get(key)
        if said is not None and now - said < self.interval:
            self._held[key] = (n + 1, why)
            if key not in self._timers:
                self._later(key, said + self.interval - now)
            return
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if n:
            self._summary(key, n + 1, why, 0.0 if said is None else now - said)
        else:
            self._first(key, why)
        self._said[key] = now

    def flush(self) -> None:
        """Say the failures held back (at a stop: none is left unsaid)."""
        for key in list(self._held):
            self._due(key)

    def _later(self, key: str, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # (no loop: said at the next failure after the interval)
            return
        self._timers[key] = loop.call_later(delay, self._due, key)

    def _due(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        held = self._held.pop(key, None)
        if held is None:
            return
        now = self.clock()
        self._summary(key, held[0], held[1], now - self._said.get(key, now))
        self._said[key] = now

    def _first(self, key: str, why: str) -> None:
        """The line of a key's first failure (or its first after a quiet interval)."""
        raise NotImplementedError

    def _summary(self, key: str, n: int, why: str, over: float) -> None:
        """The line of ``n`` failures of ``key`` held over the last ``over`` seconds, the latest ``why``."""
        raise NotImplementedError
