"""A process's consumer-group member ids, kept in its state directory so that its next run can remove
the members a crash left behind instead of waiting out their session timeout.

A process killed hard (SIGKILL, OOM, ``os._exit``) sends no LeaveGroup: its members stay in their
groups until their sessions expire, and until then they hold their partitions (the local Tansu broker
even keeps a dead leader, so a restarted worker's join waited for it: ready 12.6 s after SIGKILL vs
4.4 s after SIGTERM). The worker (and an adapter with a state directory) writes the member id it got in
each group to ``group-members.json`` whenever it is assigned partitions; at the next start, before its
consumers join, it sends LeaveGroup for those ids, so the broker drops the dead run's members at once.

Safety: the ids are removed only by the process holding this directory's lock (``owner.lock``, an
exclusive ``flock`` held for the process's life and released by the kernel however it ends: :mod:`cjo_stream.dirlock`). Getting it
proves that no process using this directory is alive, so the ids written there belong to a dead run;
a second process started on the same directory (a misconfiguration: two workers sharing a data
directory) does not get it and neither removes nor records anything. Only the groups the caller is
about to join are touched, and member ids are unique per join, so another process's members (other
workers of the same groups, the adapters' groups) can never be named. An id that already expired is
answered UNKNOWN_MEMBER_ID and changes nothing.

There is no client API for this: Kafka's ``removeMembersFromConsumerGroup`` only takes static members
(``group.instance.id``), which the local broker does not support, so LeaveGroup is sent directly.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka.client import AIOKafkaClient, ConnectionGroup, CoordinationType
from aiokafka.protocol.group import LeaveGroupRequest

from cjo_stream import dirlock
from cjo_stream.config import Settings

log = logging.getLogger("cjo_stream.memberships")

LOCK = dirlock.LOCK
FILE = "group-members.json"


class Memberships:
    """The member ids of this directory's process in each consumer group (see the module docstring)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._fd: int | None = None
        self._members: dict[str, str] = {}
        self.holder: str | None = None  # the pid of the live process :meth:`claim` found holding the lock

    def claim(self, warn: bool = True) -> bool:
        """Take the directory's lock; False (and a warning, with ``warn``) if a live process holds it (then
        :attr:`holder`) or it cannot be made."""
        if self._fd is not None:
            return True
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(os.path.join(self.directory, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning("cannot lock %s (%s): group members a crash leaves behind will wait out their session",
                        self.directory, e.strerror)
            return False
        if not dirlock.take(fd):
            holder = self.holder = dirlock.holder(fd)
            os.close(fd)
            if not warn:
                return False
            log.warning("%s is in use by another live process (pid %s): two processes must not share a state "
                        "directory; this one leaves that process's group members alone", self.directory, holder)
            return False
        self._fd = fd
        return True

    def left_behind(self, groups: Iterable[str]) -> dict[str, str]:
        """The member ids a previous run of this directory recorded in ``groups`` (only once claimed)."""
        if self._fd is None:
            return {}
        try:
            with open(os.path.join(self.directory, FILE), "rb") as f:
                recorded = orjson.loads(f.read()).get("members", {})
        except (OSError, ValueError, AttributeError):
            return {}  # none yet, or cut short by a crash mid-write: nothing to remove
        wanted = set(groups)
        return {g: m for g, m in recorded.items() if g in wanted and isinstance(m, str) and m}

    def remember(self, group: str, member_id: str) -> None:
        """Record this process's member id in ``group`` (rewritten only when it changed)."""
        if self._fd is None or not member_id or self._members.get(group) == member_id:
            return
        self._members[group] = member_id
        path = os.path.join(self.directory, FILE)
        try:
            with open(path + ".tmp", "wb") as f:
                f.write(orjson.dumps({"pid": os.getpid(), "members": self._members}))
            os.replace(path + ".tmp", path)
        except OSError as e:
            log.warning("cannot record the group member ids in %s: %s", path, e.strerror)

    def forget(self) -> None:
        """Drop the record after the consumers left their groups on a clean stop: nothing is left behind."""
        if self._fd is None:
            return
        self._members.clear()
        try:
            os.remove(os.path.join(self.directory, FILE))
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("cannot remove %s: %s", os.path.join(self.directory, FILE), e.strerror)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # (closing releases the flock)

    async def remove_left_behind(self, settings: Settings, groups: Iterable[str], timeout: float = 5.0) -> list[str]:
        """Send LeaveGroup for the ids a previous run left in ``groups``; returns the groups that accepted it.

        Best effort: on any error the members simply expire after their session timeout, as before.
        """
        members = self.left_behind(groups)
        if not members:
            return []
        try:
            removed = await asyncio.wait_for(leave_groups(settings, members), timeout)
        except Exception as e:  # (a broker not reachable yet: the consumers will wait for it anyway)
            log.warning("could not remove the group members a previous run left behind (%s): %s", ", ".join(members),
                        e.__class__.__name__)
            return []
        if removed:
            log.info("left %s for the members a previous run of this process left behind: their partitions are "
                     "reassigned now, not after their session timeout", ", ".join(removed))
        return removed


async def leave_groups(settings: Settings, members: dict[str, str]) -> list[str]:
    """LeaveGroup for each ``group -> member id``; returns the groups whose coordinator accepted it.

    (LeaveGroup v0/v1 answer UNKNOWN_MEMBER_ID for a member already gone on Kafka; the local broker
    answers no error either way.)
    """
    client = AIOKafkaClient(**settings.kafka_kwargs())
    try:
        await client.bootstrap()
        removed = []
        for group, member_id in members.items():
            node = await client.coordinator_lookup(CoordinationType.GROUP, group)
            resp = await client.send(node, LeaveGroupRequest(group, member_id), group=ConnectionGroup.COORDINATION)
            if resp.error_code == 0:
                removed.append(group)
        return removed
    finally:
        await client.close()


def member_id(consumer: Any) -> str:
    """The member id an aiokafka consumer holds in its group ("" before its first join)."""
    coordinator: Any = getattr(consumer, "_coordinator", None)
    return str(getattr(coordinator, "member_id", "") or "")
