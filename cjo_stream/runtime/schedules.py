"""Scheduled entry in the workers: each partition brings its scheduled journeys round for its own profiles.

A scheduled journey (``entry.schedule``) comes round for every known customer at their local time (one with its
own ``timezone``: at that zone's, for all). The simulator keeps one pending occurrence per customer in memory; a
worker holding millions of profiles on disk cannot, so each partition remembers, per journey, the time up to
which occurrences have been offered (``through``: stored with the profiles under :data:`SCHEDULES_KEY`,
changelogged like them, so the next owner of the partition carries on from it) and, when an occurrence can have come round since
in a zone its customers live in, pages through its profiles in the background. Each customer is
offered the latest occurrence in ``(max(through, first_seen), until]`` in their zone — the one the
simulator would have offered them — and the engine enters them if ``when`` and ``re_entry`` allow.
An occurrence offered again (a scan repeated after a crash) enters no one twice (``Engine.schedule``).

**When a scan runs.** At the earliest next occurrence, over the scheduled journeys, in any zone the last
complete scan met (and the default zone), and at least every :data:`MAX_GAP` seconds, so a customer
in a zone new to the partition waits at most that long: such a customer is entered at the occurrence's
own time, with what happened since caught up (as a late timer is). A partition scans once as soon as
it is opened: occurrences that came round while no worker held it are offered then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import msgspec

from cjo_stream.engine.clock import zone as zone_named
from cjo_stream.journeys.model import Journey
from cjo_stream.profile import Profile

#: Key of a partition's schedule marks in its profile store (and changelog); see THROTTLES_KEY.
SCHEDULES_KEY = b"\x00schedules"
#: The first key a customer's profile can have: keys below it are the partition's own records.
FIRST_PROFILE_KEY = b"\x01"
#: Longest time between two scans of a partition that has scheduled journeys (seconds).
MAX_GAP = 3600.0
#: Shortest time between two scans (a scan bounded by a lagging event clock may end before now).
MIN_GAP = 1.0


class Marks(msgspec.Struct, array_like=True):
    """What a partition stores: per scheduled journey, occurrences up to this time were offered."""

    through: dict[str, float] = {}


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Marks)


def _key(z: ZoneInfo) -> str:
    return z.key or str(z)


@dataclass
class Scan:
    """One pass over a partition's profiles: offers occurrences in ``(start[journey], until]``."""

    until: float
    start: dict[str, float]
    next_key: bytes = FIRST_PROFILE_KEY
    zones: set[str] = field(default_factory=set)
    profiles: int = 0
    _occ: dict[tuple[str, str], float | None] = field(default_factory=dict)

    def offers(self, journeys: Sequence[Journey], profile: Profile, tz: ZoneInfo) -> list[tuple[str, float]]:
        """The occurrences to offer this customer (``tz``: their zone): (journey, time), one per journey at most."""
        zk = _key(tz)
        self.zones.add(zk)
        out: list[tuple[str, float]] = []
        for j in journeys:
            jz = j.timezone if j.timezone is not None else tz  # a journey's own zone is every customer's
            k = (j.id, zk if j.timezone is None else _key(jz))
            if k in self._occ:
                at = self._occ[k]
            else:  # the same for every customer of the zone: computed once a scan
                assert j.schedule is not None
                at = self._occ[k] = j.schedule.latest(self.start[j.id], self.until, jz)
            if at is not None and at > profile.first_seen:  # as the simulator: after their first event
                out.append((j.id, at))
        return out


class SchedulePlan:
    """A partition's schedule marks and when its next scan is due."""

    def __init__(self, journeys: Sequence[Journey], default_zone: ZoneInfo, raw: bytes | None) -> None:
        self.journeys = list(journeys)
        self.default_zone = default_zone
        self.through: dict[str, float] = _dec.decode(raw).through if raw is not None else {}
        self.zones: set[str] = set()
        self.next_at = 0.0  # scan as soon as the partition is open
        self.scan: Scan | None = None

    def due(self, now: float) -> bool:
        return bool(self.journeys) and self.scan is None and now >= self.next_at

    def begin(self, until: float) -> Scan:
        """Start a scan offering what came round up to ``until``. A journey this partition never scanned
        for starts now: occurrences before it was deployed are not made up."""
        start = {j.id: min(self.through.get(j.id, until), until) for j in self.journeys}
        self.scan = Scan(until, start)
        return self.scan

    def finish(self, now: float) -> bytes:
        """The scan in hand completed: advance the marks (returned encoded, to be stored) and plan the next."""
        scan = self.scan
        assert scan is not None
        self.scan = None
        self.through = {j: max(t, scan.until) for j, t in scan.start.items()}
        self.zones = scan.zones
        self.next_at = self._next(now)
        return _enc.encode(Marks(self.through))

    def abandon(self) -> None:
        """The scan in hand will not complete (the partition was given up): the marks stay."""
        self.scan = None

    def _next(self, now: float) -> float:
        if not self.through:
            return now + MAX_GAP
        zones = [self.default_zone, *(z for k in self.zones if (z := zone_named(k)) is not None)]
        nxt = min(self.through.values()) + MAX_GAP
        for j in self.journeys:
            assert j.schedule is not None
            after = self.through[j.id]
            for z in zones if j.timezone is None else [j.timezone]:
                nxt = min(nxt, j.schedule.next_after(after, z))
        return max(nxt, now + MIN_GAP)
