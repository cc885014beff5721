"""A stop that comes while a broker connection attempt fails ends the wait for the broker.

Python 3.11's ``asyncio.wait_for`` lets the inner failure through in place of a cancellation that arrives
as it fails; an adapter given SIGTERM while its broker refused connections kept retrying (a test timed out
after 60 s on it). The wait now looks at the task's pending cancellation after a failed attempt.
"""

from __future__ import annotations

import asyncio

import pytest

from cjo_stream.config import Settings
from cjo_stream.kafka import connect


async def _attempt_failing_as_it_is_cancelled(settings: Settings, timeout: float = 0.0) -> None:
    """An attempt whose cancellation turns into its own connection error, as wait_for lets it through."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().call_soon(task.cancel)  # the stop, while the attempt is under way
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        raise OSError("connection refused") from None


def test_a_stop_during_a_failing_attempt_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect, "probe", _attempt_failing_as_it_is_cancelled)
    retried: list[int] = []

    async def wait() -> None:
        await connect.wait_for_broker(Settings(bootstrap="127.0.0.1:1"), timeout=None,
                                      on_retry=lambda attempt, reason, delay: retried.append(attempt))

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(asyncio.wait_for(wait(), 20))  # (bounded: before the fix the wait went on)
    assert retried == []


def test_a_failing_attempt_without_a_stop_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    async def refused(settings: Settings, timeout: float = 0.0) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("connection refused")

    monkeypatch.setattr(connect, "probe", refused)
    monkeypatch.setattr(connect, "BACKOFF_FIRST", 0.01)
    retried: list[int] = []
    asyncio.run(connect.wait_for_broker(Settings(bootstrap="127.0.0.1:1"), timeout=None,
                                        on_retry=lambda attempt, reason, delay: retried.append(attempt)))
    assert retried == [1, 2] and len(calls) == 3
