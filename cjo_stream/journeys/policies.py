"""Delivery policies (``topologies/policies.yaml``): frequency caps, quiet hours, time zone, consent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import msgspec

from cjo_stream.commands import CUSTOMER_CHANNELS
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


class PoliciesSpec(msgspec.Struct, forbid_unknown_fields=True):
    """Schema of ``policies.yaml``."""

    frequency_caps: list[FrequencyCapSpec] = []
    quiet_hours: list[QuietHoursSpec] = []
    default_timezone: str = "UTC"
    consent: Literal["opt_out", "opt_in"] = "opt_out"
    global_control: GlobalControlSpec | None = None


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
    consent: str = "opt_out"
    global_control: float = 0.0  # percent of customers held out of every customer-facing send

    @property
    def send_log_window(self) -> float:
        """How far back the send log must reach for the caps to be exact."""
        return max((c.per for c in self.frequency_caps), default=0.0)


def compile_policies(src: Located) -> Policies:
    try:
        spec = msgspec.convert(src.data, PoliciesSpec)
    except msgspec.ValidationError as e:
        path, reason = parse_msgspec_path(str(e), PoliciesSpec, src.data)
        raise src.error(path, reason) from None
    found: list[SourceError] = []  # every problem of the file in one pass (validate listed one at a time)
    caps: list[FrequencyCap] = []
    for i, c in enumerate(spec.frequency_caps):
        try:
            caps.append(_cap(src, i, c))
        except SourceError as e:
            found.append(e)
    quiet: list[QuietHours] = []
    for i, q in enumerate(spec.quiet_hours):
        try:
            quiet.append(_quiet(src, i, q))
        except SourceError as e:
            found.append(e)
    try:
        tz = _zone(src, spec.default_timezone)
    except SourceError as e:
        found.append(e)
    if found:
        raise found[0] if len(found) == 1 else SourceErrors(found)
    control = spec.global_control.percent if spec.global_control is not None else 0.0
    return Policies(tuple(caps), tuple(quiet), tz, spec.consent, control)


def _cap(src: Located, i: int, c: FrequencyCapSpec) -> FrequencyCap:
    if c.channel != "all" and c.channel not in CUSTOMER_CHANNELS:
        raise src.error(("frequency_caps", i, "channel"),
                        f"frequency cap channel {c.channel!r} must be 'all' or one of "
                        f"{sorted(CUSTOMER_CHANNELS)} (internal channels are never capped)")
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


def _quiet(src: Located, i: int, q: QuietHoursSpec) -> QuietHours:
    bad = [ch for ch in q.channels if ch not in CUSTOMER_CHANNELS]
    if bad:
        raise src.error(("quiet_hours", i, "channels"),
                        f"quiet hours apply to customer-facing channels {sorted(CUSTOMER_CHANNELS)}, not {bad}")
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
        raise src.error(("default_timezone",), f"unknown time zone {name!r}: use an IANA name like Europe/Berlin")
    return z


def load_policies(path: str) -> Policies:
    text = read_source(path)
    if blank(text):
        return Policies()
    src = load_yaml(text, path)
    if not isinstance(src.data, dict):
        raise SourceError(path, 1, "policies.yaml must be a mapping")
    return compile_policies(src)
