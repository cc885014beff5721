"""The journey-event record: one engine transition on ``cjo.journey-events`` (keyed by customer id).

Written by stage 2 of the workers next to the delivery commands (same outbox, same at-least-once and
offset discipline), read by the analytics service; the offline simulator folds the same records.
Besides journey transitions and receipts, a record of kind ``stage`` carries a lifecycle stage move
(``from``/``to``; no ``journey``). JSON, compact (defaults omitted); the schema is
``schemas/journey_event.schema.json``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import msgspec

# the struct lives in a module of its own (no structs in a compiled module), imported from here as before
from cjo_stream.analytics.journey_event import JourneyEvent as JourneyEvent
from cjo_stream.commands import CUSTOMER_CHANNELS
from cjo_stream.engine.clock import customer_zone, local_minutes
from cjo_stream.engine.result import Result
from cjo_stream.event import RECEIPT_PREFIX
from cjo_stream.events import Event
from cjo_stream.profile_types import Profile
from cjo_stream.timefmt import round_ms

encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder(JourneyEvent).decode


def journey_events(result: Result, customer_id: str, default_zone: ZoneInfo,
                   src: tuple[int, int] | None = None,
                   customer_channels: frozenset[str] = CUSTOMER_CHANNELS) -> list[JourneyEvent]:
    """The journey events of one engine call (``src``: partition and offset of the record processed). A send on
    one of ``customer_channels`` (the policies': built in and declared customer-facing) has its ``local_hour``."""
    out: list[JourneyEvent] = []
    zone: ZoneInfo | None = None
    raw, at = None, 0.0
    for i, t in enumerate(result.transitions):
        if t.at != raw:  # one call's transitions share their time, and rounding is not free
            raw = t.at
            at = round_ms(raw)
        hour = None
        if t.kind == "sent" and t.channel in customer_channels:
            if zone is None:
                zone = customer_zone(result.profile, default_zone)
            hour = local_minutes(t.at, zone) // 60
        out.append(JourneyEvent(journey=t.journey, version=t.version, kind=t.kind, instance=t.instance,
                                customer_id=customer_id, at=at, step=t.step, variant=t.variant,
                                channel=t.channel, reason=t.reason, delivery_id=t.delivery_id, local_hour=hour,
                                withdrawn=t.withdrawn,
                                src=(src[0], src[1], i) if src is not None else None))
    return out


def erased_event(customer_id: str, at: float, src: tuple[int, int], index: int = 0) -> JourneyEvent:
    """The record that tells the analytics service a customer id was erased: it deletes what it keeps under
    the id (its latest send times, ``f:<id>``), which an erasure left there, changelogged, for good."""
    return JourneyEvent(kind="erased", customer_id=customer_id, at=round_ms(at), src=(src[0], src[1], index))


def erasure_events(customer_id: str, profile: Profile | None, at: float, src: tuple[int, int]) -> list[JourneyEvent]:
    """An erasure's records: each journey instance the erased profile was in ends ``expired`` with reason
    ``erased`` at the step it stood at (its timers are deleted with the profile: it stayed "in the journey now",
    waiting at that step, for good), then the ``erased`` record (``at``: the erasure's wall-clock time)."""
    out: list[JourneyEvent] = []
    if profile is not None:
        for inst in profile.instances.values():
            out.append(JourneyEvent(journey=inst.journey, version=inst.version, kind="expired", instance=inst.instance_id,
                                    customer_id=customer_id, at=round_ms(at), step=inst.step, variant=inst.variant,
                                    reason="erased", src=(src[0], src[1], len(out))))
    out.append(erased_event(customer_id, at, src, len(out)))
    return out


def linked_event(result: Result, customer_id: str, src: tuple[int, int] | None = None,
                 index: int = 0) -> JourneyEvent:
    """The record telling the analytics service that the id ``result.absorbed`` was merged into the customer (a
    login): its sends count with the customer's for sends a week. ``at``: the merged profile's latest event."""
    return JourneyEvent(kind="linked", customer_id=customer_id, at=round_ms(result.profile.last_seen),
                        from_=result.absorbed, src=(src[0], src[1], index) if src is not None else None)


def stage_events(result: Result, customer_id: str, src: tuple[int, int] | None = None,
                 first: int = 0) -> list[JourneyEvent]:
    """The lifecycle stage moves of one engine call (``first``: the index of the first in ``src``)."""
    at = round_ms(result.stage_at)
    return [JourneyEvent(kind="stage", customer_id=customer_id, at=at, from_=frm or None, to=to or None,
                         src=(src[0], src[1], first + i) if src is not None else None)
            for i, (frm, to) in enumerate(result.stage_moves)]


def receipt_event(ev: Event, customer_id: str, src: tuple[int, int] | None = None,
                  index: int = 0) -> JourneyEvent | None:
    """The journey event of a ``message_<status>`` event that names its ``delivery_id``, else None."""
    if not ev.name.startswith(RECEIPT_PREFIX):
        return None
    props = ev.properties
    did = props.get("delivery_id") if isinstance(props, dict) else None
    if not isinstance(did, str) or not did:
        return None
    step, channel, journey = props.get("step"), props.get("channel"), props.get("journey")
    return JourneyEvent(journey=journey if isinstance(journey, str) else "", version=0, kind="receipt", instance="",
                        customer_id=customer_id, at=round_ms(ev.ts), step=step if isinstance(step, str) else None,
                        channel=channel if isinstance(channel, str) else None, delivery_id=did,
                        status=ev.name[len(RECEIPT_PREFIX):], src=(src[0], src[1], index) if src is not None else None)
