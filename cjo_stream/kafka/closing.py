"""Stopping Kafka clients at shutdown within a bound, whatever the broker does.

A broker that is gone refuses connections, and aiokafka's ``stop()`` returns at once. A broker that does
not answer (a network partition, a frozen host) is different: a consumer's ``stop()`` first lets its
coordinator finish the request in flight, up to the request timeout (40 s), before it leaves the group,
and a producer's waits for its flush. A worker then took 48 s to stop, an adapter 50 s and the analytics
service 40 s: past some pods' grace period (30 s), after which the SIGKILL loses what a clean stop
would have kept (checkpoints, the sent-records in the producer's buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from aiokafka import AIOKafkaProducer

log = logging.getLogger("cjo_stream.kafka")

#: Seconds a client's stop may take at shutdown before it is given up (a LeaveGroup or a flush the broker
#: does not answer); the group's other members then take its partitions after the session timeout instead.
STOP_WITHIN = 5.0


class Stoppable(Protocol):
    async def stop(self) -> None: ...


#: What a cut stop leaves undone, by kind of client (for the log line).
LEFT_UNDONE = {
    "consumer": "its group's other members take its partitions after the session timeout",
    "producer": "records it still held are not written; what they stood for is done again after a restart",
}


async def stop_within(client: Stoppable, what: str, seconds: float = STOP_WITHIN) -> bool:
    """Stop ``client``, giving up after ``seconds``; True if it stopped (or failed on its own), False if cut.

    Cut, its stop is cancelled where it waits (the coordinator's request, the flush): nothing else of the
    process waits for that broker, and what is left of the client goes with the event loop.
    """
    task = asyncio.ensure_future(client.stop())
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            # (a failure of its own, e.g. aiokafka#647's re-raised fetch cancellation, is as good as a stop here)
            task.result()
        return True
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the caller is being cancelled, not only the stop we cut
    except Exception:  # (cut: how it ended does not matter)
        pass
    kind = "producer" if isinstance(client, AIOKafkaProducer) else "consumer"
    log.warning("%s: the broker did not answer its stop within %.0f s; given up (%s)", what, seconds,
                LEFT_UNDONE[kind])
    return False
