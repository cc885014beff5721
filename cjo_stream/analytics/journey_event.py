"""The journey-event struct (:mod:`cjo_stream.analytics.records` builds them and imports it as before).

In a module of its own because :mod:`cjo_stream.analytics.records` is compiled with mypyc
(``cjo_stream.native``), and msgspec decodes a struct defined in a compiled module wrongly.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from cjo_stream.engine.transition import TransitionKind


# gc=False: strings, numbers and tuples of ints or strings only, so it can be in no reference cycle and the cyclic
# garbage collector need not track it (the worker makes ~1.2 an event). (Not in the docstring: the JSON
# schema in schemas/ carries it.)
class JourneyEvent(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One transition of one journey instance (or a receipt, or a stage move), at the event time it was decided at."""

    journey: str = ""  # every transition names its journey; a receipt when its delivery did; a stage move none
    version: int = 0  # the journey's version (transitions)
    # entered, holdout, step, variant, sent, skipped, deferred, converted, exited, ended, expired, merged;
    # or receipt: a message_<status> event (an adapter's receipt, a provider callback) about a delivery;
    # or stage: the customer's lifecycle stage moved (``from`` -> ``to``); or erased: the customer (or an id
    # merged into it) was erased (``DELETE /customers/{id}``), and the analytics service forgets the id; or
    # linked: the id ``from`` was merged into the customer on login, and its sends count with theirs
    kind: TransitionKind | Literal["receipt", "stage", "erased", "linked"]
    instance: str = ""  # transitions: the instance id, stable across identity merges (it moves to the known customer)
    customer_id: str  # the customer id at that moment (an anonymous id before login)
    at: float  # event time, epoch seconds (ms precision): the event's timestamp or the timer's due time
    step: str | None = None  # step reached / deciding / where the instance was when it ended
    variant: str | None = None  # the split arm the instance took (once it passed a split)
    channel: str | None = None  # sent, skipped, deferred
    reason: str | None = None  # skipped: frequency_cap, no_consent, ...; merged: identity, earlier_entry; expired: version_unavailable, step_unavailable, erased (none: max_duration)
    delivery_id: str | None = None  # sent, skipped: joins receipts (cjo.receipts) to journey, step and variant
    local_hour: int | None = None  # sent to a customer-facing channel: the hour (0-23) on the customer's clock
    status: str | None = None  # receipt: delivered, opened, clicked, bounced, unsubscribed, failed, ...
    # step of an update step that withdrew consent (``update: {consent: ...}``, a sunset flow): the channels and
    # topics it withdrew, sorted (one the customer had withdrawn already is not listed); names only, no values
    withdrawn: tuple[str, ...] | None = None
    # stage: the stage left (absent: a new customer placed in the first stage) and the stage entered
    # (absent: the customer's profile was merged into another's on login); linked: the id merged in
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    # Where it came from: [partition, offset, index] of the internal-topic record whose processing produced
    # it, and its index among that record's journey events (transitions, then its receipt, then stage
    # moves: increasing along the topic). A worker that replays a record after a crash
    # produces the same transitions at the same position, which is how the analytics service drops them.
    src: tuple[int, int, int] | None = None
