"""The per-customer state's structs (:mod:`cjo_stream.profile` has the functions and imports these as before).

In a module of their own because :mod:`cjo_stream.profile` is compiled with mypyc (``cjo_stream.native``),
and msgspec decodes a struct defined in a compiled module wrongly. Their methods need nothing of it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cjo_stream.zones import zone

#: The consent key that covers every channel at once: ``unsubscribed`` naming no channel, ``channel: all``,
#: traits ``consent: false`` or ``consent: {all: false}``. Such withdrawals were stored under a key no send
#: read (or not at all), and mail went on (a privacy walkthrough); :func:`consent_of` reads it.
ALL_CHANNELS = "all"
#: the built-in channels that reach a customer (cjo_stream.commands.CUSTOMER_CHANNELS; not imported: this
#: module is below the commands)
_FACING = ("email", "in_app", "push", "sms")
#: the profile traits holding the built-in channels' addresses (cjo_stream.commands.ADDRESS_TRAIT, not imported:
#: as above), but push's, whose dead tokens go by ``Profile.dropped``
_ADDRESS_TRAITS = {"email": "email", "sms": "phone"}


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
    # push tokens of the customer's earlier devices, most recent first, the current one being the ``push_token``
    # trait (profile.MAX_DEVICES in all): a push goes to each (engine.core). Empty for one device (one byte); a
    # worker from before it reads the record without it (msgspec ignores an array's extra trailing items).
    devices: list[str] = []
    # push tokens a receipt named unregistered (FCM's UNREGISTERED: the app was uninstalled), by digest
    # (commands.device_digest, never the token) with the receipt's time (whole seconds), the latest drop first
    # (profile.MAX_DEVICES): an event carrying one of them does not bring it back (profile._refused). Empty, it is
    # not stored at all (profile.encode_profile ends the array before it): no byte for a customer who lost no device.
    dropped: list[tuple[str, int]] = []
    # addresses a hard bounce was for: (channel, commands.address_digest of the address, the receipt's time in whole
    # seconds), the latest first (profile.MAX_UNDELIVERABLE). A send on that channel to the same address is skipped
    # ``undeliverable`` (engine.core); another address (a new e-mail trait) is sent to. Empty, it is not stored (as
    # ``dropped``, profile.encode_profile ends the array before it): no byte for a customer nothing bounced for. A worker
    # from before it reads the record without it (msgspec ignores an array's extra trailing items).
    undeliverable: list[tuple[str, str, int]] = []

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

    def view(self, default_stage: str | None = None, topics: tuple[str, ...] = ()) -> dict[str, Any]:
        """The mapping expressions and templates see as ``profile`` (``default_stage``: the first
        lifecycle stage, which a profile that never changed stage is in; None without stages; ``topics``: the
        subscription topics the policies declare, :func:`consent_view`)."""
        stage = self.stage or default_stage
        return {
            "customer_id": self.customer_id,
            "traits": self.traits,
            "counters": self.counters,
            "last": self.last,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "consent": consent_view(self, topics),
            "timezone": self.zone_name(),
            "stage": stage,
            "stage_since": (self.stage_since or self.first_seen) if stage else None,
            "undeliverable": undeliverable_view(self),
        }


def consent_of(p: Profile, channel: str) -> bool | None:
    """The customer's consent for ``channel``: its own or the one given for every channel
    (:data:`ALL_CHANNELS`), whichever was given later; None if neither was ever given.

    At equal times the channel's own wins (``consent: {all: false, email: true}``: e-mail only); when
    either time is unknown (profiles from before ``consent_at``) and they differ, the withdrawal wins.
    """
    consent = p.consent
    own = consent.get(channel)
    every = consent.get(ALL_CHANNELS)
    if every is None or every == own:
        return own
    if own is None:
        return every
    t_own, t_every = p.consent_at.get(channel), p.consent_at.get(ALL_CHANNELS)
    if t_own is None or t_every is None:
        return False
    return own if t_own >= t_every else every


def consent_view(p: Profile, topics: tuple[str, ...] = ()) -> dict[str, bool | None]:
    """``profile.consent`` as conditions and templates read it: each channel's and subscription topic's consent as
    a send reads it (:func:`consent_of`), so a branch on ``profile.consent.email`` sees a withdrawal for every
    channel. A topic's default (``opt_out``/``opt_in`` in the policies), like the channels' ``consent:`` default,
    is no consent the customer gave: null until they say something.

    It read the stored per-channel values: after traits ``consent: false`` and then a ``subscribed`` for
    push, ``profile.consent.email`` was null, a push fallback on ``== false`` took the e-mail branch, and
    that send was skipped ``no_consent`` (a walkthrough). Without a consent for every channel it is the
    stored mapping itself (no copy); with one, each built-in customer channel and each of ``topics`` (the
    declared ones: ``profile.consent.newsletter`` was null after ``consent: false``, which the newsletter's send
    read as false) is listed, and ``all`` too.
    """
    consent = p.consent
    if ALL_CHANNELS not in consent:
        return consent  # type: ignore[return-value]
    out: dict[str, bool | None] = {ch: consent_of(p, ch) for ch in consent}
    every = consent[ALL_CHANNELS]
    for ch in (*_FACING, *topics):
        if ch not in out:
            out[ch] = every
    return out


def bounced_address(p: Profile, channel: str, address: str | None) -> bool:
    """Whether a hard bounce was for ``address`` on ``channel`` (``Profile.undeliverable``): sending to it again hurts
    the sender's reputation. False for no address; costs nothing while nothing bounced."""
    gone = p.undeliverable
    if not gone or not address:
        return False
    from cjo_stream.commands import address_digest

    digest = address_digest(address)
    for ch, g, _t in gone:
        if ch == channel and g == digest:
            return True
    return False


def undeliverable_view(p: Profile) -> dict[str, bool]:
    """``profile.undeliverable`` as conditions read it: ``email: true`` when the customer's e-mail trait is an address
    that hard-bounced (a journey branches to SMS), each channel with a bounce likewise (a channel of a deployment's own
    whose address trait the profile does not know: true once an address of it bounced); empty (every channel null,
    which ``== true`` reads as false) when nothing bounced or the address changed since."""
    if not p.undeliverable:
        return {}
    out: dict[str, bool] = {}
    for ch in dict.fromkeys(ch for ch, _g, _t in p.undeliverable):
        trait = _ADDRESS_TRAITS.get(ch)
        if trait is None:
            out[ch] = True
            continue
        addr = p.traits.get(trait)  # (as a send reads it: engine.core)
        if addr is not None and addr != "" and bounced_address(p, ch, str(addr)):
            out[ch] = True
    return out
