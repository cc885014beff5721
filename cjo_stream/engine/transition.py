"""One analytics fact of an engine call: funnel counters, metrics and journey events are folded from these."""

from __future__ import annotations

from typing import Literal

TransitionKind = Literal[
    "entered", "holdout", "global_control", "step", "variant", "sent", "skipped", "deferred", "converted", "exited",
    "ended", "expired", "merged",
]


class Transition:
    """One analytics fact (funnel counters, metrics and journey events are folded from these); no customer data.

    ``at`` is the event time the engine decided it at (``run.now``: the event's timestamp, a timer's due
    time), ``instance`` and ``version`` the journey instance it belongs to, ``delivery_id`` the send it
    is about (``sent``, ``skipped``). Treated as immutable.

    A class compiled by mypyc (it was a msgspec struct): the engine makes ~2 an event and the fold, the
    funnel and the workers' journey events read ~15 fields an event, which compiled code reads directly
    and read through Python's attribute lookup from a struct (2026-12-02).
    """

    journey: str
    kind: TransitionKind
    step: str | None
    variant: str | None
    channel: str | None
    reason: str | None
    at: float
    instance: str
    version: int
    delivery_id: str | None
    #: ``step`` of an ``update`` step that withdrew consent: the channels and topics it withdrew (sorted), else None
    withdrawn: tuple[str, ...] | None

    def __init__(self, journey: str, kind: TransitionKind, step: str | None = None, variant: str | None = None,
                 channel: str | None = None, reason: str | None = None, at: float = 0.0, instance: str = "",
                 version: int = 0, delivery_id: str | None = None, withdrawn: tuple[str, ...] | None = None) -> None:
        self.journey = journey
        self.kind = kind
        self.step = step
        self.variant = variant
        self.channel = channel
        self.reason = reason
        self.at = at
        self.instance = instance
        self.version = version
        self.delivery_id = delivery_id
        self.withdrawn = withdrawn

    def __repr__(self) -> str:
        return (f"Transition({self.journey!r}, {self.kind!r}, step={self.step!r}, variant={self.variant!r}, "
                f"channel={self.channel!r}, reason={self.reason!r}, at={self.at!r}, instance={self.instance!r}, "
                f"version={self.version!r}, delivery_id={self.delivery_id!r}"
                + (f", withdrawn={self.withdrawn!r})" if self.withdrawn is not None else ")"))
