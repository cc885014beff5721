"""Per-customer state: one compact struct holding everything the engine needs about a customer.

Encoded as a msgpack array (``array_like``) so field names are not repeated in every stored profile;
times are whole epoch seconds (5 bytes in msgpack instead of 9 for a float), except timer due times.
Per event name, count and last time share one entry (``events``) so each name is stored once.
See ``tests/test_profile.py`` for the measured size of a typical customer. Workers store it in a record
that does not repeat what the record holds elsewhere, such as the key (:mod:`cjo_stream.runtime.stored`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cjo_stream.events import Event

# the structs live in a module of their own (no structs in a compiled module), imported from here as before
from cjo_stream.profile_types import Instance as Instance
from cjo_stream.profile_types import Profile as Profile
from cjo_stream.profile_types import Seen as Seen


def profile_to_dict(p: Profile, default_stage: str | None = None) -> dict[str, Any]:
    """A readable rendering for the state API (the stored form is a compact array)."""
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
        "journeys": {
            j: {"version": i.version, "instance_id": i.instance_id, "step": i.step, "variant": i.variant,
                "holdout": i.holdout, "entered_at": format_ts(i.entered_at), "waiting": i.waiting,
                "due": format_ts(i.due) if i.due is not None else None}
            for j, i in p.instances.items()
        },
        "entered": {j: format_ts(t) for j, t in
                    {**p.entered, **{j: i.entered_at for j, i in p.instances.items()}}.items()},
        "sends": [{"at": format_ts(t), "channel": ch} for t, ch in p.sends],
        "aliases": p.aliases,
        # best send time (engine.besttime): opens/clicks counted and the decayed weight of each local hour
        "engagement": {ch: {"events": int(e[0]), "hours": list(e[2])} for ch, e in p.engagement.items()},
    }


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Profile)


def encode_profile(p: Profile) -> bytes:
    return _encoder.encode(p)


def decode_profile(raw: bytes) -> Profile:
    return _decoder.decode(raw)


def new_profile(customer_id: str) -> Profile:
    return Profile(customer_id=customer_id, traits={}, events={}, consent={}, instances={}, entered={}, sends=[],
                   aliases=[], recent=[], engagement={}, consent_at={})


def _set_consent(p: Profile, channel: str, value: bool, at: float) -> None:
    """Consent for ``channel`` as of event time ``at``, unless a newer consent event was applied already:
    the latest event time wins, as for counters (arrival order lost it: a late subscribe undid a newer
    unsubscribe, and the customer was messaged)."""
    times = p.consent_at
    if at < times.get(channel, at):
        return
    p.consent[channel] = value
    times[channel] = at


def _consent_from_traits(p: Profile, traits: dict[str, Any], at: float) -> None:
    """``consent.email: false`` (flat dotted key) or ``consent: {email: false}`` both set consent."""
    for key, value in traits.items():
        if key == "consent" and isinstance(value, dict):
            for ch, v in value.items():
                if isinstance(v, bool):
                    _set_consent(p, str(ch), v, at)
        elif key.startswith("consent.") and isinstance(value, bool):
            _set_consent(p, key[8:], value, at)


def apply_event(p: Profile, ev: Event) -> None:
    """Fold one event into the profile (in place): counters, times, traits, consent, time zone.

    Runs for every event: fields are read once into locals (each attribute read of a struct costs).
    """
    exact, name = ev.ts, ev.name
    if exact > p.last_seen:
        p.last_seen = exact
    ts = int(exact)
    events = p.events
    if not events or ts < p.first_seen:  # its first event (see Profile: first_seen 0 may be one at the epoch)
        p.first_seen = ts
    entry = events.get(name)
    if entry is None:
        events[name] = [1, ts]
    else:
        entry[0] += 1
        if ts > entry[1]:
            entry[1] = ts
    traits = ev.traits
    if traits:
        p.traits.update(traits)
        _consent_from_traits(p, traits, exact)
    if name == "subscribed" or name == "unsubscribed":
        ch = ev.properties.get("channel")
        if isinstance(ch, str):
            _set_consent(p, ch, name == "subscribed", exact)
    context = ev.context
    if context:
        tz = context.get("timezone")
        if tz and isinstance(tz, str) and tz != p.timezone:
            p.timezone = tz


def merge_profiles(into: Profile, other: Profile) -> None:
    """Merge what another id (an anonymous visitor) knows into the known customer's profile.

    Counters add up, the most recent time wins, the known profile's traits win over anonymous ones,
    recent events are pooled, and the other id is remembered. Journey instances are not touched here:
    which instance survives, and what it must catch up with, is the engine's decision
    (:meth:`cjo_stream.engine.Engine.absorb`).
    """
    if other.events and (not into.events or other.first_seen < into.first_seen):
        into.first_seen = other.first_seen
    into.last_seen = max(into.last_seen, other.last_seen)
    for k, theirs in other.events.items():
        mine = into.events.get(k)
        if mine is None:
            into.events[k] = list(theirs)
        else:
            mine[:] = [mine[0] + theirs[0], max(mine[1], theirs[1]), *sorted(mine[2:] + theirs[2:])]
    into.traits = {**other.traits, **into.traits}
    for ch, given in other.consent.items():  # the newer consent event wins; without times, the known customer's
        at, known_at = other.consent_at.get(ch), into.consent_at.get(ch)
        if ch not in into.consent or (at is not None and (known_at is None or at > known_at)):
            into.consent[ch] = given
            if at is not None:
                into.consent_at[ch] = at
    into.timezone = into.timezone or other.timezone
    for j, t in other.entered.items():
        into.entered[j] = max(t, into.entered.get(j, 0))
    into.sends = sorted(into.sends + other.sends)  # the engine keeps what its caps count
    into.recent = sorted(into.recent + other.recent, key=lambda s: s.ts)
    for ch, e in other.engagement.items():
        into.engagement.setdefault(ch, e)  # (the known customer's own history wins)
    for a in [other.customer_id, *other.aliases]:
        if a not in into.aliases and a != into.customer_id:
            into.aliases.append(a)
