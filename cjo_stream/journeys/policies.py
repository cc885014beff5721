"""Delivery policies (``topologies/policies.yaml``): frequency caps, quiet hours, time zone, consent, the
channels a deployment delivers with its own channel classes (``channels:``) and subscription topics (``topics:``).

Those channels are declared here, not merely named in journeys, so that a typo in a send step's channel is
refused at ``validate`` (not sent to a topic nobody reads), and so that the engine knows whether consent, caps,
quiet hours and the global control group apply and which trait holds the address — as for a built-in channel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import msgspec

from cjo_stream.commands import ADDRESS_TRAIT, ALL_CHANNELS, CHANNEL_NAME_PATTERN, CUSTOMER_CHANNELS
from cjo_stream.journeys.durations import parse_duration, parse_time_of_day
from cjo_stream.journeys.source import (
    Located,
    SourceError,
    SourceErrors,
    blank,
    load_yaml,
    parse_msgspec_path,
    read_source,
)
from cjo_stream.profile import MAX_CONSENT_CHANNELS
from cjo_stream.zones import zone

#: The largest ``max`` a frequency cap may have. The profile keeps, per cap, the newest ``max`` sends it
#: counts (``Engine._trim_sends``), about 12 bytes each stored (msgpack ``[seconds, channel]``): at 100 one
#: cap keeps a send log near 1.2 KB at worst, against the state-size goal of a median profile of at
#: most 512 B; ``max: 1000`` would let one hold 12 KB. Real caps are single digits a day or a week.
MAX_CAP = 100


class FrequencyCapSpec(msgspec.Struct, forbid_unknown_fields=True):
    channel: str
    max: int
    per: str


class QuietHoursSpec(msgspec.Struct, forbid_unknown_fields=True):
    channels: list[str]
    start: str
    end: str


class GlobalControlSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A sticky share of all customers who get no customer-facing message from any journey."""

    percent: Annotated[float, msgspec.Meta(ge=0, lt=100)]


class ChannelSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A channel cjo-stream does not ship, delivered by the deployment's own channel class (docs/adapters.md)."""

    customer_facing: bool = True  # consent, frequency caps, quiet hours and the global control group apply
    address: str | None = None  # the profile trait holding the recipient, when a send step gives no `to:`


class PoliciesSpec(msgspec.Struct, forbid_unknown_fields=True):
    """Schema of ``policies.yaml``."""

    frequency_caps: list[FrequencyCapSpec] = []
    quiet_hours: list[QuietHoursSpec] = []
    default_timezone: str = "UTC"
    # every channel's, or per channel (`{sms: opt_in}`: texts only to those who said yes, mail unless they said no)
    consent: Literal["opt_out", "opt_in"] | dict[str, Literal["opt_out", "opt_in"]] = "opt_out"
    global_control: GlobalControlSpec | None = None
    channels: dict[str, ChannelSpec] = {}
    # subscription topics (a newsletter, offers): each one's consent when the customer said nothing of it
    topics: dict[str, Literal["opt_out", "opt_in"]] = {}


@dataclass(frozen=True, slots=True)
class CustomChannel:
    """A declared channel (``channels:``): its commands go to ``cjo.delivery.<name>`` like a built-in one's."""

    name: str
    customer_facing: bool = True
    address: str | None = None


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    channel: str  # a customer-facing channel or "all"
    max: int
    per: float


@dataclass(frozen=True, slots=True)
class QuietHours:
    channels: frozenset[str]
    start: int  # minutes after local midnight
    end: int


@dataclass(frozen=True)
class Policies:
    frequency_caps: tuple[FrequencyCap, ...] = ()
    quiet_hours: tuple[QuietHours, ...] = ()
    default_timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    consent: str = "opt_out"  # of every channel that :attr:`channel_consent` does not name
    global_control: float = 0.0  # percent of customers held out of every customer-facing send
    channels: tuple[CustomChannel, ...] = ()  # declared beyond the built-in ones
    #: subscription topics, (name, "opt_in" | "opt_out"): a send naming one also needs the customer's consent to it
    topics: tuple[tuple[str, str], ...] = ()
    #: (channel, "opt_in" | "opt_out") where a channel's differs from :attr:`consent` (``consent: {sms: opt_in}``)
    channel_consent: tuple[tuple[str, str], ...] = ()

    @property
    def opt_in_channels(self) -> frozenset[str]:
        """The customer-facing channels that send only to a customer who gave consent (``opt_in``)."""
        own = dict(self.channel_consent)
        return frozenset(ch for ch in self.customer_channels if own.get(ch, self.consent) == "opt_in")

    @property
    def channel_names(self) -> frozenset[str]:
        """Every channel a send step may name: the built-in ones and those declared."""
        return ALL_CHANNELS | {c.name for c in self.channels}

    @property
    def customer_channels(self) -> frozenset[str]:
        """The channels consent, caps, quiet hours and the global control group apply to."""
        return CUSTOMER_CHANNELS | {c.name for c in self.channels if c.customer_facing}

    @property
    def address_traits(self) -> dict[str, str]:
        """Channel -> the profile trait holding a customer's address on it."""
        return {**ADDRESS_TRAIT, **{c.name: c.address for c in self.channels if c.address}}

    @property
    def send_log_window(self) -> float:
        """How far back the send log must reach for the caps to be exact."""
        return max((c.per for c in self.frequency_caps), default=0.0)


def compile_policies(src: Located) -> Policies:
    _check_channel_specs(src)
    try:
        spec = msgspec.convert(src.data, PoliciesSpec)
    except msgspec.ValidationError as e:
        path, reason = parse_msgspec_path(str(e), PoliciesSpec, src.data)
        raise src.error(path, reason) from None
    found: list[SourceError] = []  # every problem of the file in one pass (validate listed one at a time)
    channels: list[CustomChannel] = []
    for name, ch in spec.channels.items():
        try:
            channels.append(_channel(src, name, ch))
        except SourceError as e:
            found.append(e)
    facing = CUSTOMER_CHANNELS | {c.name for c in channels if c.customer_facing}
    caps: list[FrequencyCap] = []
    for i, c in enumerate(spec.frequency_caps):
        try:
            caps.append(_cap(src, i, c, facing))
        except SourceError as e:
            found.append(e)
    quiet: list[QuietHours] = []
    for i, q in enumerate(spec.quiet_hours):
        try:
            quiet.append(_quiet(src, i, q, facing))
        except SourceError as e:
            found.append(e)
    try:
        tz = _zone(src, spec.default_timezone)
    except SourceError as e:
        found.append(e)
    for name in spec.topics:
        try:
            _topic(src, name, {c.name for c in channels})
        except SourceError as e:
            found.append(e)
    if len(spec.topics) > MAX_TOPICS:
        found.append(src.error(("topics",), f"{len(spec.topics)} topics: at most {MAX_TOPICS} (a customer's consent "
                                            f"keeps at most {MAX_CONSENT_CHANNELS} channels and topics)"))
    consent, per_channel = (spec.consent, {}) if isinstance(spec.consent, str) else \
        (spec.consent.get("all", "opt_out"), {k: v for k, v in spec.consent.items() if k != "all"})
    for name in per_channel:
        if name not in facing:
            found.append(src.error(("consent", name), f"consent of channel {name!r}: name 'all' or one of "
                                                      f"{sorted(facing)} (internal channels ask no consent)"))
    if found:
        raise found[0] if len(found) == 1 else SourceErrors(found)
    control = spec.global_control.percent if spec.global_control is not None else 0.0
    return Policies(tuple(caps), tuple(quiet), tz, consent, control, tuple(channels), tuple(spec.topics.items()),
                    tuple(sorted(per_channel.items())))


#: Subscription topics a deployment may declare: each is a consent of its own in every profile that names it.
MAX_TOPICS = 32


def _topic(src: Located, name: str, declared: set[str]) -> None:
    if not re.match(CHANNEL_NAME_PATTERN, name):
        raise src.error(("topics", name), f"topic name {name!r}: lower-case letters, digits and underscores, "
                                          "starting with a letter, at most 48 (as subscribed events name it)")
    if name in ALL_CHANNELS or name in RESERVED_CHANNELS or name in declared:
        raise src.error(("topics", name), f"topic {name!r} is the name of a channel: a topic's consent and a "
                                          "channel's would be one; name the topic for its content (e.g. newsletter)")


def _check_channel_specs(src: Located) -> None:
    """Each ``channels:`` entry on its own first: msgspec names a mapping's value only as ``[...]``, and the
    mistake was told at ``channels:`` without the channel it is in."""
    declared = src.data.get("channels") if isinstance(src.data, dict) else None
    for name, value in declared.items() if isinstance(declared, dict) else ():
        try:
            msgspec.convert(value, ChannelSpec)
        except msgspec.ValidationError as e:
            path, reason = parse_msgspec_path(str(e), ChannelSpec, value)
            raise src.error(("channels", name, *path), f"channels.{name}{'.' if path else ': '}{reason}") from None


#: Names a declared channel may not take: the adapter that prints every channel, and the frequency caps' "all".
RESERVED_CHANNELS = frozenset({"console", "all"})


def _channel(src: Located, name: str, c: ChannelSpec) -> CustomChannel:
    if not re.match(CHANNEL_NAME_PATTERN, name):
        raise src.error(("channels", name), f"channel name {name!r}: lower-case letters, digits and underscores, "
                                            "starting with a letter, at most 48 (it names the topic cjo.delivery.<name>)")
    if name in ALL_CHANNELS or name in RESERVED_CHANNELS:
        raise src.error(("channels", name), f"{name!r} is a built-in channel: declare only channels cjo-stream does "
                                            "not ship, under a name of your own (e.g. myco_whatsapp)")
    if c.address is not None and not c.address.strip():
        raise src.error(("channels", name, "address"), "address is the profile trait holding the recipient "
                                                       "(e.g. whatsapp_number); leave it out if sends give `to:`")
    if c.address is not None and c.address.startswith(("profile.", "traits.", "event.")):
        trait = c.address.rsplit(".", 1)[-1]
        raise src.error(("channels", name, "address"), f"address {c.address!r} is a path: name the profile trait "
                                                       f"itself (address: {trait}); the trait {c.address!r} exists "
                                                       "on no customer, and every send would be skipped no_address")
    return CustomChannel(name, c.customer_facing, c.address)


def _cap(src: Located, i: int, c: FrequencyCapSpec, facing: frozenset[str]) -> FrequencyCap:
    if c.channel != "all" and c.channel not in facing:
        raise src.error(("frequency_caps", i, "channel"),
                        f"frequency cap channel {c.channel!r} must be 'all' or one of "
                        f"{sorted(facing)} (internal channels are never capped)")
    if c.max < 0:
        raise src.error(("frequency_caps", i, "max"), "max must be zero or more")
    if c.max > MAX_CAP:
        raise src.error(("frequency_caps", i, "max"),
                        f"max {c.max} is more than {MAX_CAP}: each send a cap counts is kept in the "
                        "customer's profile (state size); cap over a shorter window instead")
    try:
        return FrequencyCap(c.channel, c.max, parse_duration(c.per))
    except ValueError as e:
        raise src.error(("frequency_caps", i, "per"), str(e)) from None


def _quiet(src: Located, i: int, q: QuietHoursSpec, facing: frozenset[str]) -> QuietHours:
    bad = [ch for ch in q.channels if ch not in facing]
    if bad:
        raise src.error(("quiet_hours", i, "channels"),
                        f"quiet hours apply to customer-facing channels {sorted(facing)}, not {bad}")
    try:
        sh, sm = parse_time_of_day(q.start)
    except ValueError as e:
        raise src.error(("quiet_hours", i, "start"), str(e)) from None
    try:
        eh, em = parse_time_of_day(q.end)
    except ValueError as e:
        raise src.error(("quiet_hours", i, "end"), str(e)) from None
    if (sh, sm) == (eh, em):  # read as an empty window, it would silently never defer anything
        raise src.error(("quiet_hours", i, "end"),
                        f"quiet hours start and end at the same time ({q.end!r}): nothing would ever be quiet")
    return QuietHours(frozenset(q.channels), sh * 60 + sm, eh * 60 + em)


def _zone(src: Located, name: str) -> ZoneInfo:
    z = zone(name)
    if z is None:
        from cjo_stream.zone_notes import unknown_zone_reason  # (`Europe/Pairs` was told to use an IANA name)

        raise src.error(("default_timezone",), unknown_zone_reason(name))
    return z


def load_policies(path: str) -> Policies:
    text = read_source(path)
    if blank(text):
        return Policies()
    src = load_yaml(text, path)
    if not isinstance(src.data, dict):
        raise SourceError(path, 1, "policies.yaml must be a mapping")
    return compile_policies(src)


#: other tools' names of a built-in channel, folded: Dittofeed's ``MobilePush`` (README, "Coming from Dittofeed")
_CHANNEL_ALIASES = {"mobilepush": "push"}


def closest_channel(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'myco_whatsapp'?)`` for a mistyped channel name (or another tool's name of one), else
    ``""``."""
    import difflib

    alias = _CHANNEL_ALIASES.get(re.sub(r"[^a-z]", "", name.lower()))
    if alias is not None and alias in set(known):
        return f" (did you mean {alias!r}?)"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def topology_policies(root: str) -> Policies:
    """The policies of a topologies directory, ``<root>/policies.yaml``; without that file the defaults (built-in
    channels only). For commands that name channels but load no journeys (``tail``, the console adapter's
    ``CJO_CONSOLE_CHANNELS``). Raises :class:`SourceError` for a file with a problem."""
    path = os.path.join(root, "policies.yaml")
    return load_policies(path) if os.path.exists(path) else Policies()


def unknown_channel(name: str, policies: Policies, root: str) -> str | None:
    """Why ``name`` is no channel of the policies of the topologies directory ``root`` (built in or declared), in
    one line naming the closest one and the others; None when it is one."""
    known = policies.channel_names
    if name in known:
        return None
    declared = sorted(known - ALL_CHANNELS)
    where = os.path.join(root, "policies.yaml")
    return (f"unknown channel {name!r}{closest_channel(name, known)}: use one of {', '.join(sorted(ALL_CHANNELS))}"
            + (f", declared {', '.join(declared)}" if declared else "")
            + f", or declare it under `channels:` in {where} (docs/adapters.md, \"Your own channel\")")

