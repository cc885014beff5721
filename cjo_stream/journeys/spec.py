"""The journey file format as msgspec structs: the single source of truth for loading and the JSON Schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from cjo_stream.commands import ChannelName

Id = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]+$")]
#: An event name to match: ``event: ""`` passed validate and made a journey no event ever starts.
EventName = Annotated[str, msgspec.Meta(min_length=1)]


class EventMatchSpec(msgspec.Struct, forbid_unknown_fields=True):
    """An event name and an optional condition over it (``entry``, ``goal``, ``exit_on`` items)."""

    event: EventName
    when: str | None = None


class ExitSpec(msgspec.Struct, forbid_unknown_fields=True):
    """An ``exit_on`` item: an event (and a condition over it), or a ``condition`` on the profile alone, tested
    after each event and as a timer wakes the instance (Customer.io's "no longer matches", Klaviyo's flow filter)."""

    event: EventName | None = None
    when: str | None = None
    condition: str | None = None


class GoalSpec(EventMatchSpec, forbid_unknown_fields=True):
    """The conversion event; ``within``: counted only that long after the customer entered (Braze's conversion
    deadline, Customer.io's conversion window), so a purchase a month on is not the reminder's doing."""

    within: str | None = None


class ScheduleSpec(msgspec.Struct, forbid_unknown_fields=True):
    """``{every: 1d, at: "09:00"}`` or ``{cron: "0 9 * * MON"}``, in the customer's time zone."""

    every: str | None = None
    at: str | None = None
    cron: str | None = None


class EntrySpec(msgspec.Struct, forbid_unknown_fields=True):
    """What starts a journey: an event (``event``), or a schedule for every known profile (``schedule``)."""

    event: EventName | None = None
    schedule: ScheduleSpec | None = None
    when: str | None = None


class ThrottleSpec(msgspec.Struct, forbid_unknown_fields=True):
    """At most ``max`` sends ``per`` window; more are deferred, in order, to the next window."""

    max: Annotated[int, msgspec.Meta(ge=1)]
    per: str


# (one struct for both forms: msgspec takes no union of two untagged structs; the loader checks which fields go
# together, each at its line)
class WaitUntilSpec(msgspec.Struct, forbid_unknown_fields=True):
    """``{at: "09:00", days: [mon, fri]}`` (or ``days: weekdays`` / ``weekend``): the next such local time on one of
    those days (with ``until: "17:00"``, a time window: inside it, at once); or ``{best_time: email, default: "10:00", within: 24h}``: the customer's best local hour for the
    channel."""

    # a customer-facing channel, built in or declared in policies.yaml (the loader checks: it learns from opens and
    # clicks, which internal channels have none of)
    best_time: ChannelName | None = None
    default: str | None = None
    within: str | None = None
    at: str | None = None
    days: list[str] | str | None = None  # day names, or `weekdays` / `weekend`
    until: str | None = None  # with at: a time window [at, until) on the days, gone through at once inside it
    #: or a moment taken from the data (``profile.traits.appointment_at``), with ``before``/``after`` and ``at``;
    #: ``if_missing``: where an instance goes whose data names no time (default: it ends)
    time: str | None = None
    before: str | None = None
    after: str | None = None
    if_missing: str | None = None


class WaitPathSpec(msgspec.Struct, forbid_unknown_fields=True):
    """One way on from a ``wait_for`` with ``paths``: its event (and condition), and the step it leads to."""

    event: EventName
    when: str | None = None
    next: str | None = None


class WaitForSpec(msgspec.Struct, forbid_unknown_fields=True):
    """``{event, timeout, when?}`` (with ``on_event``), or ``{paths: [...], timeout}``: the first path whose event
    comes (in order among the paths one event matches) takes the instance on, as Canvas's Action Paths do; or
    ``{condition, timeout}``: until a condition on the profile holds (Customer.io's Wait Until)."""

    timeout: str
    event: EventName | None = None
    when: str | None = None
    paths: Annotated[list[WaitPathSpec], msgspec.Meta(min_length=1)] | None = None
    condition: str | None = None
    #: with a condition reading the time or a catalog: how often it is tested again while nothing happens
    every: str | None = None


class BranchCaseSpec(msgspec.Struct, forbid_unknown_fields=True):
    """``{when: expr, next: step}``, or ``{else: step}`` as the last case."""

    when: str | None = None
    next: str | None = None
    else_: str | None = msgspec.field(default=None, name="else")


class SplitArmSpec(msgspec.Struct, forbid_unknown_fields=True):
    variant: Id
    weight: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]  # .inf put everyone in the last arm
    next: str | None = None


class SendSpec(msgspec.Struct, forbid_unknown_fields=True):
    channel: ChannelName  # built in, or declared in policies.yaml (the topology's loader checks which)
    content: dict[str, str]
    to: str | None = None  # template; overrides the profile address (mostly for internal channels)
    expires_in: str | None = None
    throttle: ThrottleSpec | None = None
    # a message the customer asked for (a password reset, a receipt): no consent, quiet hours, frequency cap or
    # global control holds it back, and it counts toward no cap
    transactional: bool = False
    # a subscription topic declared in policies.yaml (`topics:`): the send also needs the customer's consent to it
    topic: str | None = None


#: A value an update writes, as the JSON Schema tells editors (the loader says why another is refused).
TraitValueSpec = Annotated[Any, msgspec.Meta(extra_json_schema={"type": ["string", "number", "boolean", "null"]})]


#: A consent an update writes: false only, as the JSON Schema tells editors (the loader says why true is refused).
ConsentValueSpec = Annotated[Any, msgspec.Meta(extra_json_schema={"const": False})]


class UpdateSpec(msgspec.Struct, forbid_unknown_fields=True):
    """``{traits: {name: value}, increment: {name: number}, consent: {channel: false}}``: write to the customer's
    profile, as Braze's User Update step. A string is a Liquid template rendered at decision time: one ``{{ expr }}``
    alone stores the value with its type (a number, a boolean, text; nil removes the trait), any other template
    stores its text; a number or a boolean is stored as given; null removes the trait; an increment adds to a number
    trait (the loader refuses mappings, lists and the keys the profile gives a meaning of its own); a consent of a
    customer-facing channel, a declared topic or ``all`` set to false is withdrawn as an unsubscribed event would."""

    # Any, checked by the loader: msgspec's own refusal of a mapping named a union of types, not what to do
    traits: dict[str, TraitValueSpec] | None = None
    # ``{visits: 1}``: add to a number trait (Braze's "increment"), counting from 0 for a trait not set
    increment: dict[str, TraitValueSpec] | None = None
    # ``{email: false}``: withdraw a channel's or a subscription topic's consent, as an ``unsubscribed`` event
    # (a sunset flow); only false: a journey does not give consent (the loader says why)
    consent: dict[str, ConsentValueSpec] | None = None


class StepSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A step does exactly one of: wait, wait_until, wait_for, branch, split, send, enter, update."""

    id: Id
    wait: str | None = None
    wait_until: str | WaitUntilSpec | None = None  # "09:00", {at, days}, or the customer's best time for a channel
    wait_for: WaitForSpec | None = None
    on_event: str | None = None
    on_timeout: str | None = None
    branch: list[BranchCaseSpec] | None = None
    split: list[SplitArmSpec] | None = None
    send: SendSpec | None = None
    enter: Id | None = None  # hand over: enter this journey now (its entry `when` and re_entry apply)
    update: UpdateSpec | None = None  # write traits to the customer's profile, or withdraw a consent
    next: str | None = None


class JourneySpec(msgspec.Struct, forbid_unknown_fields=True):
    """Schema of ``topologies/journeys/*.yaml``."""

    journey: Id
    entry: EntrySpec
    steps: Annotated[list[StepSpec], msgspec.Meta(min_length=1)]
    # le: a signed 64-bit integer, as every consumer (msgpack state, Java) can hold (a bigger one broke
    # storing a profile that held an instance of it)
    version: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] = 1
    description: str = ""
    re_entry: str = "once"
    holdout: Annotated[float, msgspec.Meta(ge=0, lt=100)] = 0
    goal: GoalSpec | None = None
    exit_on: list[ExitSpec] = []
    max_duration: str = "30d"
    throttle: ThrottleSpec | None = None  # customer-facing sends of the whole journey
    # paused: nobody enters, and each send an instance reaches is held (deferred, reason journey_paused) until the
    # journey is live again: an incident's stop that keeps every customer where they are (README "Pausing")
    # closed: nobody enters, and those in it go on and get its sends as live (README "Closing a journey")
    status: Literal["live", "paused", "closed"] = "live"
    # one zone for the whole journey's clock (its waits, time windows, schedule, calendar functions) instead of
    # each customer's: an IANA name; quiet hours stay the customer's (README "A journey's own time zone")
    timezone: str | None = None


ACTIONS = ("wait", "wait_until", "wait_for", "branch", "split", "send", "enter", "update")
