"""The journey-event record: one engine transition on ``cjo.journey-events`` (keyed by customer id).

Written by stage 2 of the workers next to the delivery commands (same outbox, same at-least-once and
offset discipline), read by the analytics service; the offline simulator folds the same records.
Besides journey transitions and receipts, a record of kind ``stage`` carries a lifecycle stage move
(``from``/``to``; no ``journey``). JSON, compact (defaults omitted); the schema is
``schemas/journey_event.schema.json``.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from cjo_stream.commands import CUSTOMER_CHANNELS
from cjo_stream.engine.clock import customer_zone, local_minutes
from cjo_stream.engine.types import Result, TransitionKind
from cjo_stream.events import Event

RECEIPT_PREFIX = "message_"


# gc=False: strings, numbers and a tuple of ints only, so it can be in no reference cycle and the cyclic
# garbage collector need not track it (the worker makes ~1.2 an event). (Not in the docstring: the JSON
# schema in schemas/ carries it.)
class JourneyEvent(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One transition of one journey instance (or a receipt, or a stage move), at the event time it was decided at."""

    journey: str = ""  # every transition names its journey; a receipt when its delivery did; a stage move none
    version: int = 0  # the journey's version (transitions)
    # entered, holdout, step, variant, sent, skipped, deferred, converted, exited, ended, expired, merged;
    # or receipt: a message_<status> event (an adapter's receipt, a provider callback) about a delivery;
    # or stage: the customer's lifecycle stage moved (``from`` -> ``to``)
    kind: TransitionKind | Literal["receipt", "stage"]
    instance: str = ""  # transitions: the instance id, stable across identity merges (it moves to the known customer)
    customer_id: str  # the customer id at that moment (an anonymous id before login)
    at: float  # event time, epoch seconds (ms precision): the event's timestamp or the timer's due time
    step: str | None = None  # step reached / deciding / where the instance was when it ended
    variant: str | None = None  # the split arm the instance took (once it passed a split)
    channel: str | None = None  # sent, skipped, deferred
    reason: str | None = None  # skipped: frequency_cap, no_consent, ...; merged: identity, earlier_entry; expired: version_unavailable
    delivery_id: str | None = None  # sent, skipped: joins receipts (cjo.receipts) to journey, step and variant
    local_hour: int | None = None  # sent to a customer-facing channel: the hour (0-23) on the customer's clock
    status: str | None = None  # receipt: delivered, opened, clicked, bounced, unsubscribed, failed, ...
    # stage: the stage left (absent: a new customer placed in the first stage) and the stage entered
    # (absent: the customer's profile was merged into another's on login)
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    # Where it came from: [partition, offset, index] of the internal-topic record whose processing produced
    # it, and its index among that record's journey events (transitions, then its receipt, then stage
    # moves: increasing along the topic). A worker that replays a record after a crash
    # produces the same transitions at the same position, which is how the analytics service drops them.
    src: tuple[int, int, int] | None = None


encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder(JourneyEvent).decode


def journey_events(result: Result, customer_id: str, default_zone: ZoneInfo,
                   src: tuple[int, int] | None = None) -> list[JourneyEvent]:
    """The journey events of one engine call (``src``: partition and offset of the record processed)."""
    out: list[JourneyEvent] = []
    zone: ZoneInfo | None = None
    raw, at = None, 0.0
    for i, t in enumerate(result.transitions):
        if t.at != raw:  # one call's transitions share their time, and round(x, 3) is costly
            raw = t.at
            at = round(raw, 3)
        hour = None
        if t.kind == "sent" and t.channel in CUSTOMER_CHANNELS:
            if zone is None:
                zone = customer_zone(result.profile, default_zone)
            hour = local_minutes(t.at, zone) // 60
        out.append(JourneyEvent(journey=t.journey, version=t.version, kind=t.kind, instance=t.instance,
                                customer_id=customer_id, at=at, step=t.step, variant=t.variant,
                                channel=t.channel, reason=t.reason, delivery_id=t.delivery_id, local_hour=hour,
                                src=(src[0], src[1], i) if src is not None else None))
    return out


def stage_events(result: Result, customer_id: str, src: tuple[int, int] | None = None,
                 first: int = 0) -> list[JourneyEvent]:
    """The lifecycle stage moves of one engine call (``first``: the index of the first in ``src``)."""
    at = round(result.stage_at, 3)
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
                        customer_id=customer_id, at=round(ev.ts, 3), step=step if isinstance(step, str) else None,
                        channel=channel if isinstance(channel, str) else None, delivery_id=did,
                        status=ev.name[len(RECEIPT_PREFIX):], src=(src[0], src[1], index) if src is not None else None)
