"""Watching the broker from a running process: does it answer, do the process's own topics still exist.

Shared by the worker (:mod:`cjo_stream.runtime.worker`) and the channel adapters
(:mod:`cjo_stream.adapters.runner`). Why: a local broker restarted with memory storage loses every topic
and group, and aiokafka does not say so: it retries a commit the broker refuses as "retriable" forever (a
commit to a topic it no longer knows included) and logs that once a minute (``logs.Repeats``), so a
process spun while its ``/health`` said ok. A :class:`BrokerWatch` asks for the cluster's full topic list
every ``WATCH_EVERY`` seconds (one metadata request, nothing per record; every ``RETRY_EVERY`` seconds
while the broker does not answer, so a broker back without the topics is seen before the consumers'
rejoined groups act on it): a broker unanswered, or a commit pending, for ``STALL`` seconds is the
process's ``trouble`` (``/health`` 503 with it as the reason), and its own topics missing, or made again
with another partition count, end the process (exit 70, one line) so that its supervisor starts it again
and it makes its topics as on a first start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

WATCH_EVERY = 5.0  # seconds between two looks at the cluster's topic list (one metadata request)
RETRY_EVERY = 0.5  # the same while the broker does not answer
STALL = 20.0  # a commit pending, or the broker unanswered, this long turns /health to 503 (seconds)
GONE_HINT = "(broker restarted with memory storage?)"


async def topic_partitions(client: Any, timeout: float = WATCH_EVERY) -> dict[str, int] | None:
    """Every topic of the cluster with its partition count, in one metadata request; None if the broker
    did not answer within ``timeout``.

    ``client`` is an aiokafka client (a consumer's ``_client``, a producer's ``client``): their public
    ``topics()`` gives names only. The list is asked for in full: a metadata request naming a topic has
    the local Tansu broker create it (4 partitions, no compaction).
    """
    try:
        cluster = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
    except Exception:  # the broker gone or slow: aiokafka logs its connection errors itself
        return None
    return {t: len(cluster.partitions_for_topic(t) or ()) for t in cluster.topics()}


def missing(topics: Mapping[str, int], present: Iterable[str], counts: Mapping[str, int]) -> str | None:
    """What is wrong with a process's own topics on a cluster holding ``topics`` (name -> partitions):
    some of ``present`` missing, or a topic of ``counts`` with another partition count; None if nothing.

    Worded to follow "<who>: " and precede :data:`GONE_HINT` in one log line.
    """
    gone = [t for t in present if t not in topics]
    if gone:
        return (f"topic {gone[0]} no longer exists on the cluster" if len(gone) == 1 else
                f"topics {', '.join(gone)} no longer exist on the cluster")
    for t, n in counts.items():
        if topics.get(t) != n:
            return f"topic {t} has {topics.get(t, 0)} partitions, not {n}: it was made again"
    return None


class BrokerWatch:
    """The process's ``trouble`` (why it cannot make progress now, for ``/health``) and its watch loop.

    ``look`` asks the broker (one metadata request) and ends the process if its topics are gone; it
    returns False if the broker did not answer. ``pending`` gives the ``time.monotonic()`` at which each
    commit still in progress began (0: none).
    """

    def __init__(self, who: str, log: logging.Logger, look: Callable[[], Awaitable[bool]],
                 pending: Callable[[], Iterable[float]]) -> None:
        self.who = who
        self.log = log
        self.look = look
        self.pending = pending
        self.trouble: str | None = None
        #: as of the last look: seconds since the broker last answered, the oldest pending commit's age (the
        #: ``cjo_broker_unanswered_seconds`` and ``cjo_commit_pending_seconds`` gauges: an alert needs them,
        #: since ``up`` and ``cjo_up`` stay 1 and the lag gauges freeze while the broker is away)
        self.unanswered = 0.0
        self.pending_for = 0.0
        self.answers = 0  # looks the broker answered (tests wait for some instead of sleeping)

    async def run(self, stopping: asyncio.Event) -> None:
        """Look every ``WATCH_EVERY`` s (``RETRY_EVERY`` s while unanswered) until ``stopping`` is set."""
        answered = time.monotonic()
        ok = True
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), WATCH_EVERY if ok else RETRY_EVERY)
            if stopping.is_set():
                return
            ok = await self.look()
            if stopping.is_set():  # (the look found the topics gone and stopped the process)
                return
            if ok:
                answered = time.monotonic()
                self.answers += 1
            self.update(time.monotonic(), answered)

    def update(self, now: float, answered: float) -> None:
        """Set ``trouble`` from the last answer and the pending commits; log as it begins and as it ends."""
        stalled = max((now - t for t in self.pending() if t), default=0.0)
        self.unanswered, self.pending_for = now - answered, stalled
        if now - answered > STALL:
            trouble: str | None = f"the broker has not answered for {now - answered:.0f} s"
        elif stalled > STALL:
            trouble = f"an offset commit has been pending for {stalled:.0f} s"
        else:
            trouble = None
        if (trouble is None) != (self.trouble is None):  # said once as it begins and once as it ends
            if trouble is None:
                self.log.warning("%s: commits and the broker answer again; /health answers 200", self.who)
            else:
                self.log.warning("%s: %s; /health answers 503 until it recovers", self.who, trouble)
        self.trouble = trouble
