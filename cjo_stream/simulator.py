"""Offline simulation: run journeys over a file of events in virtual time, no Kafka needed.

The file's order is the arrival order, and each event is decided at its own timestamp, exactly as the
live workers do (see :class:`~cjo_stream.engine.Engine` on event time and lateness). Virtual time is the
latest timestamp read so far: before an event is handled, every timer due at or before its timestamp
fires, in due order (ties in the order they were scheduled) — as the workers' timers fire on the wall
clock. Identity works as live: an event linking an anonymous id is applied to the known customer, then
the anonymous profile (with its journeys) is absorbed into it. The same pure engine runs in the
streaming workers, so what the simulator prints is what the runtime decides for the same input.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cjo_stream.commands import DeliveryCommand, SkipRecord
from cjo_stream.dedupe import admit
from cjo_stream.engine import Engine, Result, Timer
from cjo_stream.engine.funnel import Funnel
from cjo_stream.events import Event, InvalidEvent, decode_event
from cjo_stream.identity import customer_of, new_links
from cjo_stream.profile import Profile, new_profile


@dataclass
class BadLine:
    line: int
    reason: str
    detail: str


@dataclass
class Simulator:
    engine: Engine
    on_command: Callable[[DeliveryCommand], None] | None = None
    on_skip: Callable[[SkipRecord], None] | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    funnel: Funnel = field(default_factory=Funnel)
    commands: list[DeliveryCommand] = field(default_factory=list)
    skips: list[SkipRecord] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    too_late: int = 0
    _timers: list[tuple[float, int, Timer]] = field(default_factory=list)
    _cancelled: set[str] = field(default_factory=set)
    _tick: int = 0
    recent_ids: dict[str, bytes] = field(default_factory=dict)  # recent messageIds per customer, as live
    clock: float = 0.0
    dedupe_window: float = 86400.0  # CJO_DEDUPE_WINDOW_SECONDS
    dedupe_ids: int = 32  # CJO_DEDUPE_IDS

    def _collect(self, res: Result) -> None:
        for t in res.cancelled:
            self._cancelled.add(t.key)
        for t in res.timers:
            self._tick += 1
            self._cancelled.discard(t.key)
            heapq.heappush(self._timers, (t.due, self._tick, t))
        for c in res.commands:
            self.commands.append(c)
            if self.on_command:
                self.on_command(c)
        for s in res.skips:
            self.skips.append(s)
            if self.on_skip:
                self.on_skip(s)
        self.funnel.add(res.transitions)

    def advance(self, until: float) -> None:
        """Fire every timer due at or before ``until``."""
        while self._timers and self._timers[0][0] <= until:
            due, _, timer = heapq.heappop(self._timers)
            self.clock = max(self.clock, due)
            if timer.key in self._cancelled:
                self._cancelled.discard(timer.key)
                continue
            profile = self.profiles.get(timer.customer_id)
            if profile is not None:
                self._collect(self.engine.fire(profile, timer, due))

    def handle(self, ev: Event) -> None:
        # the customer is known before this event's own links apply (they only link ids it carries
        # next to the user id it is decided for), so duplicates are dropped per customer, as live
        cid = customer_of(self.links, ev)
        ids = admit(self.recent_ids.get(cid, b""), ev.message_id, max(self.clock, ev.ts), self.dedupe_window,
                    self.dedupe_ids)
        if ids is None:
            self.duplicates += 1
            return
        self.recent_ids[cid] = ids
        self.advance(ev.ts)
        self.clock = max(self.clock, ev.ts)
        links = new_links(self.links, ev)
        for src, dst in links:
            self.links[src] = dst
        profile = self.profiles.get(cid)
        if profile is None:
            profile = self.profiles[cid] = new_profile(cid)
        res = self.engine.process(profile, ev, ev.ts)
        self.late += res.late
        self.too_late += res.too_late
        self._collect(res)
        for src, dst in links:  # as live: the linking event first, then what the other id knew
            anon = self.profiles.pop(src, None)
            self.recent_ids.pop(src, None)  # live: the anonymous record goes, its recent ids with it
            if anon is not None:
                target = self.profiles.setdefault(dst, new_profile(dst))
                self._collect(self.engine.absorb(target, anon))

    def finish(self, until: float | None = None) -> None:
        """Fire the remaining timers (all of them, or those due up to ``until``)."""
        self.advance(float("inf") if until is None else until)

    @property
    def pending_timers(self) -> int:
        return len(self._timers) - len(self._cancelled)

    def run_lines(self, lines: Iterable[bytes]) -> None:
        for n, raw in enumerate(lines, start=1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                ev = decode_event(raw)
            except InvalidEvent as e:
                self.bad.append(BadLine(n, e.reason, e.detail))
                continue
            self.handle(ev)


def read_lines(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        yield from f
