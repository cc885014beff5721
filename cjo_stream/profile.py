"""Per-customer state: one compact struct holding everything the engine needs about a customer.

Encoded as a msgpack array (``array_like``) so field names are not repeated in every stored profile;
times are whole epoch seconds (5 bytes in msgpack instead of 9 for a float), except timer due times.
Per event name, count and last time share one entry (``events``) so each name is stored once.
See ``tests/test_profile.py`` for the measured size of a typical customer. Workers store it in a record
that does not repeat what the record holds elsewhere, such as the key (:mod:`cjo_stream.runtime.stored`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from cjo_stream.commands import (
    ADDRESS_DIGEST_ATTRIBUTE,
    ADDRESS_TRAIT,
    UNREGISTERED_ATTRIBUTE,
    address_digest,
    device_digest,
)
from cjo_stream.event import RECEIPT_PREFIX  # receipts name the customer as userId: they make no id known
from cjo_stream.events import Event

# the structs live in a module of their own (no structs in a compiled module), imported from here as before
from cjo_stream.profile_types import ALL_CHANNELS as _ALL_CHANNELS
from cjo_stream.profile_types import Instance as Instance
from cjo_stream.profile_types import Profile as Profile
from cjo_stream.profile_types import Seen as Seen
from cjo_stream.profile_types import bounced_address as bounced_address
from cjo_stream.profile_types import consent_of as consent_of
from cjo_stream.profile_types import undeliverable_view


def profile_to_dict(p: Profile, default_stage: str | None = None,
                    ending: Callable[[Instance], str | None] | None = None) -> dict[str, Any]:
    """A readable rendering for the state API (the stored form is a compact array). ``ending``: why an
    instance ends at the customer's next event or timer (``Engine.ending``), shown as each journey's
    ``ending``; without it, null."""
    from cjo_stream.events import format_ts

    stage = p.stage or default_stage
    seen = bool(p.events)  # (not first_seen: 0 is also an event at 1970-01-01T00:00:00Z, see Profile)
    return {
        "customer_id": p.customer_id,
        "first_seen": format_ts(p.first_seen) if seen else None,
        "last_seen": format_ts(p.last_seen) if seen else None,
        "traits": p.traits,
        "counters": p.counters,
        "last": {k: format_ts(t) for k, t in p.last.items()},
        "consent": p.consent,
        "consent_at": {ch: format_ts(t) for ch, t in p.consent_at.items()},  # when each was given or withdrawn
        # the zone the customer is timed in, as journeys' ``profile.timezone`` (null: default_timezone), and
        # what the last event's context said, which a ``timezone`` trait or an unknown name passes over
        "timezone": p.zone_name(),
        "context_timezone": p.timezone,
        "stage": stage,
        "stage_since": format_ts(p.stage_since or p.first_seen) if stage and seen else None,
        # everything held about the customer is shown (a request for access gets it all): what each instance
        # keeps of its entry event for later steps, and the recent events kept for late ones, were not
        "journeys": {
            j: {"version": i.version, "instance_id": i.instance_id, "step": i.step, "variant": i.variant,
                "holdout": i.holdout, "entered_at": format_ts(i.entered_at), "waiting": i.waiting,
                "due": format_ts(i.due) if i.due is not None else None, "entry_event": i.entry_event,
                "ending": ending(i) if ending is not None else None}
            for j, i in p.instances.items()
        },
        "recent_events": _recent_events(p),
        "entered": {j: format_ts(t) for j, t in
                    {**p.entered, **{j: i.entered_at for j, i in p.instances.items()}}.items()},
        "sends": [{"at": format_ts(t), "channel": ch} for t, ch in p.sends],
        "aliases": p.aliases,
        "devices": p.devices,  # earlier devices' push tokens (the current one: traits.push_token)
        # the devices receipts named unregistered (by digest): an event carrying one of their tokens does not add it
        "dropped_devices": [{"digest": g, "at": format_ts(t)} for g, t in p.dropped],
        # the addresses a hard bounce was for (by digest), and the channels whose current address is one of them
        "bounced_addresses": [{"channel": ch, "digest": g, "at": format_ts(t)} for ch, g, t in p.undeliverable],
        "undeliverable": undeliverable_view(p),
        # best send time (engine.besttime): opens/clicks counted and the decayed weight of each local hour
        "engagement": {ch: {"events": int(e[0]), "hours": list(e[2])} for ch, e in p.engagement.items()},
    }


def _recent_events(p: Profile) -> list[dict[str, Any]]:
    """The recent events a profile keeps for the allowed lateness (``Profile.recent`` with the fields some
    condition reads, and the bare times in ``Profile.events``), oldest first, for the state API."""
    from cjo_stream.events import format_ts

    kept: list[tuple[float, str, dict[str, Any] | None]] = [(s.ts, s.name, s.data) for s in p.recent]
    for name, entry in p.events.items():
        kept.extend((float(t), name, None) for t in entry[2:])
    kept.sort(key=lambda k: (k[0], k[1]))
    return [{"event": name, "at": format_ts(ts), **({"data": data} if data else {})} for ts, name, data in kept]


#: What upstream data may make one profile hold. A walkthrough's producer grew one, with valid events, to
#: 75,000 traits and 4,000 event names: changelog records of 8 MB, beyond what the worker's producer sends
#: and Kafka's default 1 MB. Beyond these, an event's new keys are not added (counted: Result.limited and
#: ``cjo_profile_limited_total``); the keys a profile has keep updating, and the rest of the event applies.
MAX_TRAITS: Final = 1000
MAX_EVENT_NAMES: Final = 1000  # distinct names counted (a journey's watched names keep their times anyway)
MAX_CONSENT_CHANNELS: Final = 64
MAX_ALIASES: Final = 1000
#: What :func:`apply_event` and :func:`merge_profiles` report they left out (bits).
LIMITED_TRAITS: Final = 1
LIMITED_EVENT_NAMES: Final = 2
LIMITED_CONSENT: Final = 4
LIMITED_ALIASES: Final = 8
LIMITED_SIZE: Final = 16
LIMITED_NAMES: Final = {LIMITED_TRAITS: "traits", LIMITED_EVENT_NAMES: "event_names", LIMITED_CONSENT: "consent",
                        LIMITED_ALIASES: "aliases", LIMITED_SIZE: "size"}
LIMITED_ALL: Final = LIMITED_TRAITS | LIMITED_EVENT_NAMES | LIMITED_CONSENT | LIMITED_ALIASES | LIMITED_SIZE
#: Not a limit, reported with them: the event withdrew a consent, or gave one back while some consent was
#: withdrawn, or changed the addresses remembered as hard-bounced (a new one, or a ``bounce_cleared``). The worker
#: tells the adapters (``cjo.consent-changes``), which hold back commands already on their topics for a channel
#: withdrawn since, or to an address that bounced since (a first consent given to no withdrawal is not reported).
CONSENT_CHANGED: Final = 1 << 8
#: Not a limit either, reported with them: the event carried a push token a receipt had dropped (:func:`_refused`),
#: which was not made the customer's device again (``cjo_push_tokens_refused_total``: an app restored from a
#: backup, or an SDK repeating its cached token, shows as a steady count).
PUSH_TOKEN_REFUSED: Final = 1 << 9
#: A stored profile's largest encoded size (the workers' store and changelog record): half of Kafka's
#: default 1 MB record limit. The key counts above bound a profile's keys, not its values (a trait may
#: hold anything an event of up to 256 KiB carries): :func:`shrink` keeps a profile within it.
MAX_PROFILE_BYTES: Final = 512 * 1024

_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Profile)


_astuple: Final = msgspec.structs.astuple  # (a static of the compiled module: no lookup of a global per call)
#: the positions of the last two of :class:`Profile`'s fields, ``dropped`` and ``undeliverable``
#: (``encode_profile`` leaves them out when empty)
_DROPPED: Final = Profile.__struct_fields__.index("dropped")
_UNDELIVERABLE: Final = Profile.__struct_fields__.index("undeliverable")
assert _DROPPED == len(Profile.__struct_fields__) - 2 and _UNDELIVERABLE == _DROPPED + 1


def profile_fields(p: Profile) -> list[Any]:
    """``p``'s fields in order, the array msgspec writes for the array-like struct, without the trailing ones that are
    empty, ``undeliverable`` and then ``dropped`` (nearly every customer): a missing trailing field decodes as its
    default. A list encodes as the struct does (msgpack array16 of its items: ``Profile`` has more than 15 fields),
    so callers may replace items (:mod:`cjo_stream.runtime.stored`) without copying the struct, and no encoded bytes
    are cut afterwards."""
    fields = list(_astuple(p))
    if not fields[_UNDELIVERABLE]:
        fields.pop()  # (the last: asserted above)
        if not fields[_DROPPED]:
            fields.pop()
    return fields


def encode_profile(p: Profile) -> bytes:
    """``p`` as a msgpack array, without its last fields when they are empty (:func:`profile_fields`):
    msgspec writes every field of an array-like struct, one byte for an empty list. Records stay as they were for a
    customer who never lost a device (the median stored state is held to 512 bytes), and every record written before
    ``dropped`` decodes."""
    return _encoder.encode(profile_fields(p))


def decode_profile(raw: bytes) -> Profile:
    return _decoder.decode(raw)


def shrink(p: Profile, budget: int = MAX_PROFILE_BYTES) -> int:
    """Make ``p`` encode within ``budget`` bytes, dropping what journeys need least, in this order: the
    largest trait values, then the event names with no recent times (the least recently seen first),
    then the oldest aliases. Returns :data:`LIMITED_SIZE` if anything was dropped, else 0.

    The workers call it when a profile they write is over :data:`MAX_PROFILE_BYTES` (rare: only values of
    hundreds of kilobytes get there within the key counts), so the cost of encoding here does not matter.
    Deterministic: the same profile shrinks to the same one on every worker (``simulate`` and ``replay`` do
    not encode profiles, and keep one over the bound whole: README, "Profile limits").
    """
    size = len(encode_profile(p))
    if size <= budget:
        return 0
    traits = p.traits
    by_size = sorted(traits, key=lambda k: (-len(_encoder.encode(traits[k])), k))
    for k in by_size:
        if size <= budget:
            break
        size -= len(_encoder.encode(traits.pop(k)))
    size = len(encode_profile(p))
    if size > budget:
        events = p.events
        for k in sorted((k for k, e in events.items() if len(e) <= 2), key=lambda k: (events[k][1], k)):
            if size <= budget:
                break
            del events[k]
            size -= len(k) + 12  # roughly: the name and a count and time (checked below)
            if size <= budget:
                size = len(encode_profile(p))
    while size > budget and p.aliases:
        del p.aliases[:max(1, len(p.aliases) // 2)]
        size = len(encode_profile(p))
    return LIMITED_SIZE


def new_profile(customer_id: str) -> Profile:
    return Profile(customer_id=customer_id, traits={}, events={}, consent={}, instances={}, entered={}, sends=[],
                   aliases=[], recent=[], engagement={}, consent_at={})


#: The consent key that covers every channel at once (defined beside the profile's view, which reads it)
ALL_CHANNELS: Final = _ALL_CHANNELS


def _channel(value: object) -> str | None:
    """A consent channel as journeys name theirs (``Email``, `` SMS`` are ``email``, ``sms``); None if no name."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    return name or None


def _set_consent(p: Profile, channel: str, value: bool, at: float) -> int:
    """Consent for ``channel`` as of event time ``at``, unless a newer consent event was applied already:
    the latest event time wins, as for counters (arrival order lost it: a late subscribe undid a newer
    unsubscribe, and the customer was messaged). Returns :data:`LIMITED_CONSENT` for a new channel beyond
    :data:`MAX_CONSENT_CHANNELS` (not kept), or :data:`CONSENT_CHANGED`, else 0. The name is normalised
    (:func:`_channel`)."""
    name = _channel(channel)
    if name is None:
        return 0
    times = p.consent_at
    if at < times.get(name, at):
        return 0
    consent = p.consent
    before = consent.get(name)
    if before is None and len(consent) >= MAX_CONSENT_CHANNELS:
        return LIMITED_CONSENT
    # a withdrawal, or a consent given back where one is withdrawn (this channel's or every channel's)
    changed = before is not False if not value else (before is False or consent.get(ALL_CHANNELS) is False)
    consent[name] = value
    times[name] = at
    return CONSENT_CHANGED if changed else 0


def _consent_from_traits(p: Profile, traits: dict[str, Any], at: float) -> int:
    """``consent.email: false`` (flat dotted key) or ``consent: {email: false}`` both set consent;
    ``consent: false`` (a bare boolean) sets it for every channel."""
    limited = 0
    for key, value in traits.items():
        if key == "consent":
            if isinstance(value, dict):
                for ch, v in value.items():
                    if isinstance(v, bool):
                        limited |= _set_consent(p, str(ch), v, at)
            elif isinstance(value, bool):
                limited |= _set_consent(p, ALL_CHANNELS, value, at)
        elif key.startswith("consent.") and isinstance(value, bool):
            limited |= _set_consent(p, key[8:], value, at)
    return limited


def _event_channels(value: object, withdrawn: bool) -> list[str]:
    """The channels a (un)subscribe event names in ``properties.channel``: one name or a list of names.
    A withdrawal naming none (absent, null, not a name) is for every channel: ignoring it kept messaging
    someone who asked for no more. A consent given must name its channels."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        names = [v for v in value if isinstance(v, str)]
        if names or not withdrawn:
            return names
    return [ALL_CHANNELS] if withdrawn else []


def _topics(value: object) -> list[str] | None:
    """The subscription topics an event's ``properties.topic`` names (one name or a list), None if none."""
    if isinstance(value, str):
        return [value] if value.strip() else None
    if isinstance(value, list):
        names = [v for v in value if isinstance(v, str) and v.strip()]
        return names or None
    return None


def _add_traits(mine: dict[str, Any], traits: dict[str, Any]) -> int:
    """``mine.update(traits)`` within :data:`MAX_TRAITS` keys: new keys beyond it are left out."""
    if len(mine) + len(traits) <= MAX_TRAITS:
        mine.update(traits)
        return 0
    limited = 0
    for k, v in traits.items():
        if k in mine or len(mine) < MAX_TRAITS:
            mine[k] = v
        else:
            limited = LIMITED_TRAITS
    return limited


def update_traits(p: Profile, values: dict[str, Any]) -> int:
    """A journey's ``update`` step (engine): set each trait to its value, a None removes it. Within the limits an
    event's traits have (:data:`MAX_TRAITS`: new keys beyond it are left out; returns :data:`LIMITED_TRAITS`
    then, else 0). The loader refuses the keys :func:`apply_event` gives a meaning of its own (consent, the push
    token), so nothing else of the profile moves."""
    mine = p.traits
    kept: dict[str, Any] = {}
    for k, v in values.items():
        if v is None:
            mine.pop(k, None)
        else:
            kept[k] = v
    return _add_traits(mine, kept) if kept else 0


def withdraw_consent(p: Profile, names: tuple[str, ...], at: float) -> int:
    """A journey's ``update: {consent: {email: false}}`` (engine): withdraw each channel's or topic's consent as of
    the decision time ``at``, exactly as an ``unsubscribed`` event of that time does (:func:`_set_consent`: a
    consent event of a later time, applied already or arriving late, wins). Returns :data:`CONSENT_CHANGED` when a
    consent was withdrawn, :data:`LIMITED_CONSENT` for a new name beyond :data:`MAX_CONSENT_CHANNELS`, else 0."""
    bits = 0
    for name in names:
        bits |= _set_consent(p, name, False, at)
    return bits


#: The trait the push channel sends to (commands.ADDRESS_TRAIT), and the longest device token taken from an event's
#: ``context.device.token`` (FCM's are ~160 characters, APNs' 64; a longer value is no token).
PUSH_TOKEN_TRAIT: Final = "push_token"
MAX_DEVICE_TOKEN: Final = 4096
#: Devices whose push tokens are kept: the current ``push_token`` and the earlier ones (``Profile.devices``), most
#: recent first; an older one is forgotten (the phone of three phones ago). At most 5 × 4 KiB a customer.
MAX_DEVICES: Final = 5
#: The length of :func:`commands.device_digest`'s digests (a receipt's other strings name no device)
_DIGEST_LEN: Final = 16


def _replaced_token(p: Profile, old: object) -> None:
    """The ``push_token`` changed from ``old``: it goes first among the earlier devices (when it was a token and
    the new value is one: a token cleared, ``null`` or ``""``, is an app that asked for no more pushes)."""
    now = p.traits.get(PUSH_TOKEN_TRAIT)
    if old == now:
        return
    if not isinstance(now, str) or not now:
        return
    earlier = [d for d in p.devices if d != now and d != old]
    if isinstance(old, str) and old and len(old) <= MAX_DEVICE_TOKEN:
        earlier.insert(0, old)
    if earlier != p.devices:
        p.devices = earlier[:MAX_DEVICES - 1]


def _forget_devices(p: Profile, gone: object, at: float) -> None:
    """Drop the devices a push receipt of time ``at`` names as unregistered (``gone``: :func:`commands.device_digest`
    of each token; the app was uninstalled), and remember them (``Profile.dropped``, :func:`_refused`): a late event
    carrying one of those tokens brought it back, and the next push went to the uninstalled app again."""
    if not isinstance(gone, list) or not gone:
        return
    named = list(dict.fromkeys(g for g in gone[:MAX_DEVICES] if isinstance(g, str) and len(g) == _DIGEST_LEN))
    if not named:
        return
    _drop_devices(p, set(named))
    when = int(at)
    _remember_dropped(p, [*((g, when) for g in named), *p.dropped])


def _remember_dropped(p: Profile, dropped: list[tuple[str, int]]) -> None:
    """``Profile.dropped`` from ``dropped``: each digest once, at its latest drop, the latest first (then by digest:
    the same on every worker), the :data:`MAX_DEVICES` latest kept (a customer has no more devices at once)."""
    latest: dict[str, int] = {}
    for g, t in dropped:
        if t >= latest.get(g, t):
            latest[g] = t
    p.dropped = sorted(latest.items(), key=lambda d: (-d[1], d[0]))[:MAX_DEVICES]


def _refused(p: Profile, token: object) -> bool:
    """Whether ``token`` is one a receipt named unregistered (``Profile.dropped``): an event carrying it, in
    ``context.device.token`` or as the ``push_token`` trait, does not make it a device again.

    Whatever the event's time. Stamped before the drop, it is a late event or an SDK's batch from its cache. Stamped
    after it, FCM's word still holds: ``UNREGISTERED`` means the token "is no longer valid and a new one must be
    used", and a reinstalled app gets a new token (which is taken as any other), so the same token again is a cache
    (an app's data restored from a backup, an SDK repeating the token it stored): taken back, every push would go
    to the dead token until a receipt dropped it again, and the next event brought it back. (APNs' rule, a token
    registered again after its 410's timestamp, is for APNs' device tokens, which a reinstall may keep; FCM's are
    per app instance.) The memory is bounded (:data:`MAX_DEVICES` digests): a token dropped long ago, pushed out by
    later drops, is taken again, and the next push's receipt drops it once more. Costs nothing while it is empty."""
    dropped = p.dropped
    if not dropped or not isinstance(token, str) or not token:
        return False
    digest = device_digest(token)
    for g, _t in dropped:
        if g == digest:
            return True
    return False


def _drop_devices(p: Profile, named: set[str]) -> None:
    """Drop the devices whose token's digest is ``named``: from ``devices``, and when it is the ``push_token``, the
    most recent remaining device becomes the ``push_token`` (none left: the trait is removed, and a push is skipped
    ``no_address``). Kept, each later push went to the uninstalled app first, and to all until newer devices pushed
    it out. By digest, not by position in the command: a token that arrived since the send moved the devices down."""
    devices = [d for d in p.devices if device_digest(d) not in named]
    current = p.traits.get(PUSH_TOKEN_TRAIT)
    if isinstance(current, str) and current and device_digest(current) in named:
        if devices:
            p.traits[PUSH_TOKEN_TRAIT] = devices.pop(0)
        else:
            del p.traits[PUSH_TOKEN_TRAIT]
    if len(devices) != len(p.devices):
        p.devices = devices


#: Addresses remembered as hard-bounced (``Profile.undeliverable``), the latest first: a customer has few addresses
#: a channel; an older one, pushed out, is sent to again (and forgotten again at its next bounce).
MAX_UNDELIVERABLE: Final = 4
#: What providers' bounce callbacks call a soft (temporary) bounce, in ``bounce_type``, ``type`` or ``severity``
#: (SES ``Transient``/``Undetermined``, Mailgun ``temporary``, Postmark ``SoftBounce``, SendGrid ``blocked``): a full
#: mailbox may take mail tomorrow, so it is not remembered. Any other ``bounced`` is a hard one (the adapters report
#: ``bounced`` only for a permanent refusal: an SMTP 5xx for the recipient, Twilio's unreachable-number codes).
SOFT_BOUNCES: Final = frozenset({"soft", "softbounce", "soft_bounce", "transient", "temporary", "undetermined",
                                 "blocked"})


def hard_bounce(attrs: dict[str, Any]) -> bool:
    """Whether a ``bounced`` receipt's attributes say the address is dead: not ``permanent: false``, and no
    :data:`SOFT_BOUNCES` type."""
    if attrs.get("permanent") is False:
        return False
    for key in ("bounce_type", "type", "severity"):
        kind = attrs.get(key)
        if isinstance(kind, str) and kind.strip().lower().replace("-", "_") in SOFT_BOUNCES:
            return False
    return True


def _bounced(p: Profile, channel: str, attrs: dict[str, Any], at: float) -> int:
    """Remember the address a hard bounce on ``channel`` was for (``Profile.undeliverable``): the receipt's
    :data:`~cjo_stream.commands.ADDRESS_DIGEST_ATTRIBUTE` (the adapter's: the address the message went to), else,
    for a provider's callback that names none, the customer's address trait for the channel as it is now.
    :data:`CONSENT_CHANGED` when the address is a new one: adapters hold back commands to it already queued."""
    if not hard_bounce(attrs):
        return 0
    digest = attrs.get(ADDRESS_DIGEST_ATTRIBUTE)
    if not (isinstance(digest, str) and len(digest) == _DIGEST_LEN):
        trait = ADDRESS_TRAIT.get(channel)
        addr = p.traits.get(trait) if trait is not None else None
        if addr is None or addr == "":  # (the address a send reads: engine.core)
            return 0
        digest = address_digest(str(addr))
    before = _bounced_keys(p)
    _remember_undeliverable(p, [(channel, digest, int(at)), *p.undeliverable])
    return CONSENT_CHANGED if _bounced_keys(p) != before else 0


def bounced_told(p: Profile) -> list[str]:
    """The addresses remembered as hard-bounced as ``cjo.consent-changes`` lists them for the adapters
    (``ConsentChange.bounced``): ``<channel>:<address digest>``, sorted, never the address."""
    return sorted({f"{ch}:{g}" for ch, g, _t in p.undeliverable}) if p.undeliverable else []


def _bounced_keys(p: Profile) -> set[tuple[str, str]]:
    """The (channel, digest) of the addresses remembered as hard-bounced: what adapters are told of them."""
    return {(ch, g) for ch, g, _t in p.undeliverable}


def _remember_undeliverable(p: Profile, gone: list[tuple[str, str, int]]) -> None:
    """``Profile.undeliverable`` from ``gone``: each address once, at its latest bounce, the latest first (then by
    channel and digest: the same on every worker), the :data:`MAX_UNDELIVERABLE` latest kept."""
    latest: dict[tuple[str, str], int] = {}
    for ch, g, t in gone:
        key = (ch, g)
        if t >= latest.get(key, t):
            latest[key] = t
    p.undeliverable = [(k[0], k[1], t) for k, t in
                       sorted(latest.items(), key=lambda d: (-d[1], d[0]))][:MAX_UNDELIVERABLE]


#: The event that clears remembered hard bounces (an ESP's "remove from the bounce list", Customer.io's
#: "unsuppress"): support confirmed the address works, or a full mailbox was taken for a dead one.
BOUNCE_CLEARED: Final = "bounce_cleared"
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _clear_bounces(p: Profile, props: dict[str, Any], at: float) -> int:
    """A ``bounce_cleared`` event of time ``at``: forget the bounces remembered for ``properties.channel`` (one name
    or a list; none or ``all``: every channel), only those of ``properties.address`` (or its
    ``properties.address_digest``, as the state API shows it) when one is named, and only those stamped no later
    than ``at`` (a bounce after it is a new one: a late clear does not forget it). :data:`CONSENT_CHANGED` when one
    was forgotten: adapters send to it again."""
    gone = p.undeliverable
    if not gone:
        return 0
    channels = {c for c in (_channel(n) for n in _event_channels(props.get("channel"), True)) if c is not None}
    every = _ALL_CHANNELS in channels
    digest: str | None = None
    address, given = props.get("address"), props.get("address_digest")
    if isinstance(address, str) and address.strip():
        digest = address_digest(address)
    elif isinstance(given, str) and len(given) >= _DIGEST_LEN and all(c in _HEX for c in given):
        digest = given[:_DIGEST_LEN].lower()  # (a whole SHA-256 of the address too: the digest is its first 16)
    elif address is not None or given is not None:
        return 0  # an address named unreadably ('', a digest cut short): taken for none, it cleared every address
    kept = [(ch, g, t) for ch, g, t in gone
            if not ((every or ch in channels) and (digest is None or g == digest) and t <= at)]
    if len(kept) == len(gone):
        return 0
    p.undeliverable = kept
    return CONSENT_CHANGED


def _device_token(context: dict[str, Any]) -> str | None:
    """Segment's ``context.device.token``: the push token of the device that sent the event, or None."""
    device = context.get("device")
    if not isinstance(device, dict):
        return None
    token = device.get("token")
    return token if isinstance(token, str) and 0 < len(token) <= MAX_DEVICE_TOKEN else None


def apply_event(p: Profile, ev: Event) -> int:
    """Fold one event into the profile (in place): counters, times, traits, consent, time zone.

    Runs for every event: fields are read once into locals (each attribute read of a struct costs).
    Returns what was left out for the profile's limits (``LIMITED_*`` bits; 0 nearly always).
    """
    limited = 0
    exact, name = ev.ts, ev.name
    uid = ev.user_id
    if uid is not None and uid == p.customer_id and not p.known and not name.startswith(RECEIPT_PREFIX):
        p.known = True
    if exact > p.last_seen:
        p.last_seen = exact
    ts = int(exact)
    events = p.events
    if not events or ts < p.first_seen:  # its first event (see Profile: first_seen 0 may be one at the epoch)
        p.first_seen = ts
    entry = events.get(name)
    if entry is None:
        if len(events) < MAX_EVENT_NAMES:
            events[name] = [1, ts]
        else:
            limited = LIMITED_EVENT_NAMES
    else:
        entry[0] += 1
        if ts > entry[1]:
            entry[1] = ts
    traits = ev.traits
    if traits:
        old = p.traits.get(PUSH_TOKEN_TRAIT) if PUSH_TOKEN_TRAIT in traits else None
        mine = traits
        if p.dropped and PUSH_TOKEN_TRAIT in traits and _refused(p, traits[PUSH_TOKEN_TRAIT]):
            mine = {k: v for k, v in traits.items() if k != PUSH_TOKEN_TRAIT}  # (the event's own left as it came)
            limited |= PUSH_TOKEN_REFUSED
        limited |= _add_traits(p.traits, mine)
        limited |= _consent_from_traits(p, traits, exact)
        if PUSH_TOKEN_TRAIT in traits:
            _replaced_token(p, old)
    if name == "subscribed" or name == "unsubscribed":
        given = name == "subscribed"
        props = ev.properties
        # a subscription topic's (un)subscribe names it, and changes that topic's consent alone: read as one
        # naming no channel, an unsubscribe from the newsletter withdrew every channel
        names = _topics(props.get("topic"))
        for ch in names if names else _event_channels(props.get("channel"), not given):
            limited |= _set_consent(p, ch, given, exact)
    elif name == "message_unsubscribed" or name == "message_complained":
        # an unsubscribe (a List-Unsubscribe click, a provider's callback) or a spam complaint reported on
        # a message withdraws that channel's consent: the receipt alone left it, and mail went on (a walkthrough);
        # an unsubscribe from a message of a topic withdraws the topic (a complaint still the channel)
        props = ev.properties
        names = _topics(props.get("topic")) if name == "message_unsubscribed" else None
        for ch in names if names else _event_channels(props.get("channel"), True):
            limited |= _set_consent(p, ch, False, exact)
    elif name == "message_sent" or name == "message_bounced" or name == "message_failed":
        # a push's receipt names the devices whose app was uninstalled (FCM's UNREGISTERED): they are dropped
        props = ev.properties
        attrs = props.get("attributes")
        channel = props.get("channel")
        if isinstance(attrs, dict) and UNREGISTERED_ATTRIBUTE in attrs and channel == "push":
            _forget_devices(p, attrs[UNREGISTERED_ATTRIBUTE], exact)
        elif name == "message_bounced" and isinstance(channel, str) and channel != "push" and channel != "in_app":
            limited |= _bounced(p, channel, attrs if isinstance(attrs, dict) else {}, exact)
    elif name == BOUNCE_CLEARED:
        limited |= _clear_bounces(p, ev.properties, exact)
    context = ev.context
    if context:
        tz = context.get("timezone")
        if tz and isinstance(tz, str) and tz != p.timezone:
            p.timezone = tz
        # the device's push token (Segment's mobile libraries send it on every event once registered): pushes go
        # to the device the customer used last; a `push_token` trait of the same event says it itself
        if "device" in context and not (traits and PUSH_TOKEN_TRAIT in traits):
            token = _device_token(context)
            old = p.traits.get(PUSH_TOKEN_TRAIT)
            if token is not None and old != token:
                if _refused(p, token):
                    limited |= PUSH_TOKEN_REFUSED
                else:
                    limited |= _add_traits(p.traits, {PUSH_TOKEN_TRAIT: token})
                    _replaced_token(p, old)
    return limited


def merge_profiles(into: Profile, other: Profile) -> int:
    """Merge what another id (an anonymous visitor) knows into the known customer's profile.

    Counters add up, the most recent time wins, the known profile's traits win over anonymous ones,
    recent events are pooled, and the other id is remembered. Journey instances are not touched here:
    which instance survives, and what it must catch up with, is the engine's decision
    (:meth:`cjo_stream.engine.Engine.absorb`). Within the profile's limits (``MAX_*``): the known
    profile's keys first; returns what was left out (``LIMITED_*`` bits).
    """
    limited = 0
    if other.events and (not into.events or other.first_seen < into.first_seen):
        into.first_seen = other.first_seen
    into.last_seen = max(into.last_seen, other.last_seen)
    for k, theirs in other.events.items():
        mine = into.events.get(k)
        if mine is None:
            if len(into.events) < MAX_EVENT_NAMES or len(theirs) > 2:  # (recent times: a watched name)
                into.events[k] = list(theirs)
            else:
                limited |= LIMITED_EVENT_NAMES
        else:
            mine[:] = [mine[0] + theirs[0], max(mine[1], theirs[1]), *sorted(mine[2:] + theirs[2:])]
    if len(into.traits) + len(other.traits) <= MAX_TRAITS:
        into.traits = {**other.traits, **into.traits}
    else:
        kept = {k: v for k, v in other.traits.items() if k in into.traits}  # their keys, where the order of a
        kept.update(into.traits)  # full merge puts them (values: the known customer's)
        for k, v in other.traits.items():
            if k not in kept:
                if len(kept) >= MAX_TRAITS:
                    limited |= LIMITED_TRAITS
                    break
                kept[k] = v
        into.traits = kept
    for ch, given in other.consent.items():  # the newer consent event wins; without times, the known customer's
        at, known_at = other.consent_at.get(ch), into.consent_at.get(ch)
        if ch not in into.consent and len(into.consent) >= MAX_CONSENT_CHANNELS:
            limited |= LIMITED_CONSENT
            continue
        if ch not in into.consent or (at is not None and (known_at is None or at > known_at)):
            into.consent[ch] = given
            if at is not None:
                into.consent_at[ch] = at
    if other.consent and False in into.consent.values():
        limited |= CONSENT_CHANGED  # (the other id's pending commands are told too: it is listed in aliases)
    into.timezone = into.timezone or other.timezone
    # (names of their own: mypyc types a local once, and ``mine``/``theirs`` are lists above)
    current = into.traits.get(PUSH_TOKEN_TRAIT)  # the other id's devices come after the known customer's
    tokens = [t for t in (other.traits.get(PUSH_TOKEN_TRAIT), *other.devices) if isinstance(t, str) and t]
    if tokens:
        pooled = [d for d in dict.fromkeys([*into.devices, *tokens]) if d != current]
        into.devices = pooled[:MAX_DEVICES - 1]
    if other.dropped:  # either id's receipts dropped a device: none comes back through the other
        _remember_dropped(into, [*into.dropped, *other.dropped])
    if into.dropped:
        _drop_devices(into, {g for g, _t in into.dropped})
    if other.undeliverable:  # an address that bounced for either id is as dead for the other
        _remember_undeliverable(into, [*into.undeliverable, *other.undeliverable])
        limited |= CONSENT_CHANGED  # (the other id's pending commands to it are held back too)
    for j, t in other.entered.items():
        into.entered[j] = max(t, into.entered.get(j, 0))
    into.sends = sorted(into.sends + other.sends)  # the engine keeps what its caps count
    into.recent = sorted(into.recent + other.recent, key=lambda s: s.ts)
    for ch, e in other.engagement.items():
        into.engagement.setdefault(ch, e)  # (the known customer's own history wins)
    for a in [other.customer_id, *other.aliases]:
        if a not in into.aliases and a != into.customer_id:
            if len(into.aliases) >= MAX_ALIASES:
                limited |= LIMITED_ALIASES
                break
            into.aliases.append(a)
    return limited
