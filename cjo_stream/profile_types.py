"""The per-customer state's structs (:mod:`cjo_stream.profile` has the functions and imports these as before).

In a module of their own because :mod:`cjo_stream.profile` is compiled with mypyc (``cjo_stream.native``),
and msgspec decodes a struct defined in a compiled module wrongly. Their methods need nothing of it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cjo_stream.zones import zone


class Instance(msgspec.Struct, array_like=True, omit_defaults=True):
    """One customer's active run through one journey.

    ``seq`` increases every time the instance schedules a timer; a timer carrying an older ``seq`` is
    stale (the instance moved on) and is ignored, so cancelled timers need not be found and deleted.
    """

    journey: str
    version: int
    instance_id: str
    step: str
    entered_at: float  # the entry event's time, exact (late events fall before or after it)
    entry_event: dict[str, Any]  # what the steps read of the entry event (journeys.snapshot)
    variant: str | None = None
    holdout: bool = False
    waiting: str | None = None  # "wait" | "wait_for" | "quiet" while parked at ``step``
    due: float | None = None
    seq: int = 0
    #: when a wait_for began, in ms after ``entered_at`` (its timeout may be edited while it runs; an int: 0,
    #: the usual first step, is one byte); trailing, so older workers ignore it
    since_ms: int | None = None


class Seen(msgspec.Struct, array_like=True, omit_defaults=True):
    """A recent event a goal, exit or ``wait_for`` may still need: kept for the allowed lateness.

    When an event arrives late (or a merge brings an instance from another id), the instances it
    affects catch up with the events that happened after it (:mod:`cjo_stream.engine.recent`). Events
    whose conditions read nothing of them are kept as bare times in ``Profile.events``; this form,
    with ``data`` holding just the fields those conditions read, is for the others.
    """

    ts: float
    name: str
    data: dict[str, Any] | None = None


class Profile(msgspec.Struct, array_like=True, omit_defaults=True):
    """Everything known about one customer.

    ``last_seen`` is the customer's event clock: the latest event time seen (exact, not rounded), against
    which an arriving event is in order or late.

    Whether the customer has been seen at all is whether ``events`` holds anything (every event applied
    adds to it, nothing removes from it), not ``first_seen``: its 0 is both "never" and an event at
    1970-01-01T00:00:00Z, the earliest time an event may carry. (An ``int | None`` would say it, but an
    id known only as an alias is stored unseen, and workers before it could not read that record.)
    """

    customer_id: str
    first_seen: int = 0
    last_seen: float = 0.0
    traits: dict[str, Any] = {}
    # event name -> [count, last time (whole seconds), *recent times]; the recent times (exact, ascending)
    # are kept for the allowed lateness for names a goal, exit or wait_for listens to (engine.recent)
    events: dict[str, list[Any]] = {}
    consent: dict[str, bool] = {}
    timezone: str | None = None
    instances: dict[str, Instance] = {}  # journey -> its active instance (keyed by ``Instance.journey``)
    entered: dict[str, int] = {}  # journey -> entry time of its last ended instance (re-entry rules)
    sends: list[tuple[int, str]] = []  # (time, channel), newest last, for frequency caps
    aliases: list[str] = []  # other ids (anonymous ids) merged into this customer
    recent: list[Seen] = []  # recent watched events whose fields some condition reads, ascending by time
    # Fields added later go last, with defaults, so profiles stored before them still decode.
    stage: str = ""  # lifecycle stage (journeys.stages) since its last change; "" = never changed: the first stage
    stage_since: int = 0  # when the stage last changed (whole seconds); 0 = never: since first_seen
    # channel -> [opens+clicks, last update (s), 24 bytes of decayed hour weights] (engine.besttime)
    engagement: dict[str, list[Any]] = {}
    # channel -> event time (exact) of the consent in ``consent``: a late consent event older than it is
    # not applied (a late re-subscribe must not undo a newer unsubscribe); absent for consent set before it
    consent_at: dict[str, float] = {}
    # an event named this id as its userId (receipts aside, which name the customer so): a known customer is
    # never merged into another as if it were an anonymous id. An identify {userId: mallory, anonymousId:
    # alice} moved alice's profile, consent and later events to mallory (a security review). Workers before
    # this field read the record without it (msgspec ignores an array's extra trailing items).
    known: bool = False

    @property
    def counters(self) -> dict[str, int]:
        return {k: int(v[0]) for k, v in self.events.items()}

    @property
    def last(self) -> dict[str, int]:
        return {k: int(v[1]) for k, v in self.events.items()}

    def zone_name(self) -> str | None:
        """``profile.timezone``: the zone the engine times this customer in (``engine.clock.customer_zone``),
        the ``timezone`` trait, else the last event's ``context.timezone`` (an unknown name is passed over);
        None when neither names one, and the policies' ``default_timezone`` applies."""
        for name in (self.traits.get("timezone"), self.timezone):
            if isinstance(name, str) and name and zone(name) is not None:
                return name
        return None

    def view(self, default_stage: str | None = None) -> dict[str, Any]:
        """The mapping expressions and templates see as ``profile`` (``default_stage``: the first
        lifecycle stage, which a profile that never changed stage is in; None without stages)."""
        stage = self.stage or default_stage
        return {
            "customer_id": self.customer_id,
            "traits": self.traits,
            "counters": self.counters,
            "last": self.last,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "consent": self.consent,
            "timezone": self.zone_name(),
            "stage": stage,
            "stage_since": (self.stage_since or self.first_seen) if stage else None,
        }
