"""A replay: one or two topologies over the same history, in one pass, with the workers' engine.

Each topology gets its own :class:`~cjo_stream.simulator.Simulator` (profiles, identity links, timers),
fed the same decoded events, so ``--compare`` costs one decode per event and two engine runs. Events
from ``warmup_from`` on build profiles, counters and consent; decisions are counted from ``since``.
Nothing is produced anywhere: commands go to the caller's callback (a file), never to a topic.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec
import xxhash

from cjo_stream.analytics.fold import Analytics
from cjo_stream.commands import DeliveryCommand
from cjo_stream.engine import Engine
from cjo_stream.events import Event, InvalidEvent, decode_event
from cjo_stream.journeys.loader import Topology
from cjo_stream.receipts import receipt_line
from cjo_stream.replay.sources import Raw
from cjo_stream.replay.spill import Spilling, spilling_profiles, spilling_rows
from cjo_stream.simulator import DEDUPE_WINDOW, Simulator


@dataclass
class BadRecord:
    origin: str  # file:line or topic:partition:offset
    reason: str
    detail: str


@dataclass
class Side:
    """One topology's run: its simulator and who it would have messaged, per journey: customer -> the
    :func:`fingerprint` of what they were sent (0 when not compared)."""

    name: str
    sim: Simulator
    messaged: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    commands: int = 0


_sorted_json = msgspec.json.Encoder(order="sorted").encode


def fingerprint(prev: int, cmd: DeliveryCommand) -> int:
    """``prev`` (a customer's fingerprint so far, 0 at first) and what ``cmd`` sends, when and to whom, as
    one 64-bit hash: equal on both sides of a comparison when a customer gets the same messages at the same
    times. Delivery and instance ids and the journey version are left out (they change with the version);
    ``--fail-on-change`` missed a changed subject or wait, since only who was messaged was compared."""
    return xxhash.xxh3_64_intdigest(_sorted_json((prev, cmd.step, cmd.channel, cmd.to, cmd.content, cmd.decided_at,
                                                  cmd.expires_at, cmd.variant, cmd.triggered_by)))

#: Analytics rows kept in memory per profile of the budget. The bench input makes ~2.5 rows per customer
#: (127,032 for 50,000): with 2 per profile its rows spilled at the default budget, which cost 17 % of
#: the replay's time (20.8 against 17.7 s, make bench's input, 2026-12-01); 4 adds ~30 MB at most.
ROWS_PER_PROFILE: Final = 4


class Replay:
    def __init__(self, topologies: list[tuple[str, Topology]], *, since: float = float("-inf"),
                 until: float = float("inf"), warmup_from: float | None = None, allowed_lateness: float = 300.0,
                 profiles_in_memory: int = 50_000, on_command: Callable[[DeliveryCommand], None] | None = None,
                 dedupe_window: float = DEDUPE_WINDOW, dedupe_ids: int = 32, analytics: bool = True,
                 fingerprints: bool = False) -> None:
        """``analytics``: fold each side's decisions into its ``sim.analytics`` (the report and page);
        a comparison reads only the funnels and who was messaged, so it turns this off. ``fingerprints``:
        keep what each customer was sent (:func:`fingerprint`), for a comparison; otherwise only who."""
        self.since = since
        self.until = until
        self.warmup_from = since if warmup_from is None else warmup_from
        self.events = 0
        self.read = 0  # records read (files: their non-blank lines), for the progress bar
        self.outside = 0  # records before the warm-up or after ``until`` (files hold any range)
        self.outside_from = float("inf")  # their earliest and latest times: where the history is, when
        self.outside_to = float("-inf")  # none falls in the range
        self.outside_names: set[str] = set()  # their names: a journey's event only outside is told so
        self.bad: list[BadRecord] = []
        self.sides: list[Side] = []
        for i, (name, topo) in enumerate(topologies):
            store = spilling_profiles(profiles_in_memory)
            # the fold's rows grow with every delivery and instance of the history: spilled as well
            # (ROWS_PER_PROFILE as many as profiles: ~300 B each as objects against a profile's ~2.8 KB)
            rows = spilling_rows(ROWS_PER_PROFILE * profiles_in_memory)
            # a paused journey is paused from `since` on: the warm-up is history from before the pause, whose
            # in-flight customers the prediction of pausing now is about (README, "Pausing a journey")
            engine = Engine(topo.journeys, topo.policies, allowed_lateness, stages=topo.stages, paused_from=since,
                            paused_recheck=math.inf)  # (no status changes during a run: one timer per held send)
            sim = Simulator(engine, profiles=store, keep=False,
                            count_from=since, dedupe_window=dedupe_window,
                            dedupe_ids=dedupe_ids, analyse=analytics,
                            analytics=Analytics(rows, default_zone=topo.policies.default_timezone,
                                                customer_channels=topo.policies.customer_channels,
                                                unseen_entries=False,  # a warm-up's instances: not a cohort
                                                live_totals=False))  # the report reads them once, at the end
            side = Side(name, sim)
            sim.on_command = self._recorder(side, on_command if i == 0 else None, fingerprints)
            self.sides.append(side)

    @staticmethod
    def _recorder(side: Side, out: Callable[[DeliveryCommand], None] | None,
                  fingerprints: bool) -> Callable[[DeliveryCommand], None]:
        messaged = side.messaged

        def record(cmd: DeliveryCommand) -> None:
            side.commands += 1
            sent = messaged[cmd.journey]
            if fingerprints:
                sent[cmd.customer_id] = fingerprint(sent.get(cmd.customer_id, 0), cmd)
            elif cmd.customer_id not in sent:
                sent[cmd.customer_id] = 0
            if out is not None:
                out(cmd)

        return record

    def feed(self, records: Iterable[Raw], progress: Callable[[int], None] | None = None) -> None:
        """Records of a source (:func:`~cjo_stream.replay.sources.topic_records`)."""
        for raw in records:
            self.read += 1
            if progress is not None and self.read % 5000 == 0:
                progress(self.read)
            ev = raw.event
            if ev is None:
                if raw.value is None:
                    err = raw.error or InvalidEvent("invalid_json", "empty record")
                    self.bad.append(BadRecord(raw.origin, err.reason, err.detail))
                    continue
                try:
                    ev = decode_event(raw.value)
                except InvalidEvent as e:
                    self.bad.append(BadRecord(raw.origin, e.reason, e.detail))
                    continue
            self._take(ev)
        if progress is not None:
            progress(self.read)

    def feed_lines(self, path: str, lines: Iterable[bytes], progress: Callable[[int], None] | None = None) -> None:
        """A JSONL file's lines (:func:`~cjo_stream.jsonl.jsonl_lines`): as :meth:`feed` of its records, but
        without a record object per line (the file source's generator and records were ~3 % of a replay)."""
        n = 0
        for raw in lines:
            n += 1
            line = raw.strip()
            if not line:
                continue
            self.read += 1
            if progress is not None and self.read % 5000 == 0:
                progress(self.read)
            try:
                ev = decode_event(line)
            except InvalidEvent as e:
                receipt = receipt_line(line)  # a receipt (tail --receipts) reads as the event the workers make of it
                if receipt is None:
                    self.bad.append(BadRecord(f"{path}:{n}", e.reason, e.detail))
                    continue
                ev = receipt
            self._take(ev)
        if progress is not None:
            progress(self.read)

    def _take(self, ev: Event) -> None:
        ts = ev.ts
        if not self.warmup_from <= ts <= self.until:
            self.outside += 1
            self.outside_from = min(self.outside_from, ts)
            self.outside_to = max(self.outside_to, ts)
            self.outside_names.add(ev.name)
            return
        self.events += 1
        for side in self.sides:
            side.sim.handle(ev)

    def finish(self) -> None:
        """Fire the timers due up to ``until`` (all of them without one)."""
        for side in self.sides:
            side.sim.finish(None if self.until == float("inf") else self.until)

    def close(self) -> None:
        for side in self.sides:
            for store in (side.sim.profiles, side.sim.analytics.rows):
                if isinstance(store, Spilling):
                    store.close()
