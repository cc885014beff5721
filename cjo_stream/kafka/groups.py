"""Consumer-group membership details shared by the worker's stages and the adapters."""

from __future__ import annotations

from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest

_patched = False


def heartbeat_ms(session_timeout_ms: int) -> int:
    """Heartbeat often enough that a missed one or two do not end the session (Kafka: at most a third)."""
    return max(100, min(1_000, session_timeout_ms // 6))


def leave_group_on_close() -> None:
    """Make a stopping consumer leave its group whatever its generation (idempotent).

    aiokafka sends LeaveGroup only when the generation is above 0, since Kafka numbers generations
    from 1; the local Tansu broker starts at 0, so a member that joined once and stopped cleanly
    stayed in the group until its session timed out, and the next start of the same worker waited for
    that (a restart after SIGTERM took as long as one after SIGKILL). Leaving hands its partitions to
    the other members at once.
    """
    global _patched
    if _patched:
        return
    original = GroupCoordinator._maybe_leave_group

    async def _maybe_leave_group(self: Any) -> None:
        if (self.generation == 0 and self._group_instance_id is None
                and self.member_id != JoinGroupRequest.UNKNOWN_MEMBER_ID):
            try:
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except KafkaError:
                pass  # a best effort, as aiokafka's own
            self.reset_generation()
            return
        await original(self)

    GroupCoordinator._maybe_leave_group = _maybe_leave_group  # type: ignore[method-assign]
    _patched = True
