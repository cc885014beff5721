"""The event structs: the wire envelope and the checked decoder's form (the decoded event: :mod:`cjo_stream.event`).

Kept apart from their decoding (:mod:`cjo_stream.events`, which re-exports them): that module is
compiled (mypyc, :mod:`cjo_stream.native`), and msgspec structs must not be defined in a compiled module.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import msgspec

from cjo_stream.event import Event as Event

EventType = Literal["track", "identify", "page", "screen", "alias", "group"]

#: Numbers must fit a signed 64-bit integer or a finite double (``bad_number``): what Kafka consumers in
#: other languages, msgpack (our state) and JSON Schema tools can all represent exactly.
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1


if TYPE_CHECKING:  # msgspec's stub makes Raw a bytes subclass, which it is not: compiled code would read it so
    _Raw = Any
else:
    _Raw = msgspec.Raw | msgspec.UnsetType


class Envelope(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The wire shape of a touchpoint event (JSON, camelCase as Segment emits it)."""

    messageId: str  # noqa: N815 - wire names are Segment's
    type: EventType
    timestamp: datetime
    event: str | None = None
    userId: str | None = None  # noqa: N815
    anonymousId: str | None = None  # noqa: N815
    previousId: str | None = None  # noqa: N815
    #: a ``group`` call's group (an account, a household): the event's ``properties.groupId``
    groupId: str | None = None  # noqa: N815
    #: a ``page`` or ``screen`` call's page name and category: the event's ``properties.name`` and
    #: ``properties.category`` (unless those are set), as Segment's browser library puts them
    name: str | None = None
    category: str | None = None
    # null is read as absent: serialisers that write every field (Jackson's default, a Go struct without
    # omitempty) send ``"traits": null`` on a track event
    properties: dict[str, Any] | None = {}
    traits: dict[str, Any] | None = {}
    context: dict[str, Any] | None = {}
    # Segment's other times, kept undecoded (UNSET when absent): only a device clock's correction reads
    # them (events.clock_shift), and a value that is no time is ignored there, as before they were read
    sentAt: _Raw = msgspec.UNSET  # noqa: N815
    receivedAt: _Raw = msgspec.UNSET  # noqa: N815
    originalTimestamp: _Raw = msgspec.UNSET  # noqa: N815


def _values(levels: int) -> Any:
    """The JSON values :func:`_check_values` accepts, nested at most ``levels`` containers deep."""
    inner: Any = Union[str, float, bool, None, Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]]  # noqa: UP007
    for _ in range(levels):
        inner = Union[str, float, bool, None, Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)],  # noqa: UP007
                      list[inner], dict[str, inner]]  # type: ignore[valid-type]
    return dict[str, inner]  # type: ignore[valid-type]


#: Segment data is shallow: the levels below ``properties`` that the checked decoder types (deeper data
#: takes the exact path). Each level doubles the decoder's type tree, which msgspec builds once.
_TYPED_LEVELS = 4
if TYPE_CHECKING:
    _Data = dict[str, Any]
else:
    _Data = _values(_TYPED_LEVELS)


class _Wire(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The envelope as the common record writes it, for the checked decoder.

    msgspec checks the data while it decodes it, in C: integers within 64 bits and nesting within
    :data:`MAX_DEPTH` (bounded by ``_TYPED_LEVELS``; walking the values in Python for that was a sixth of
    a decode, measured with callgrind). Members are in the order Segment libraries write them and the
    timestamp stays text (converted after), so a compact record re-encodes to its very bytes, which
    proves it names no field twice without decoding it a second time (:func:`decode_event`). Anything
    this type refuses is decoded again the exact way, which gives the reason.
    """

    messageId: str  # noqa: N815 - wire names are Segment's
    timestamp: str
    type: EventType
    event: str | None = None
    name: str | None | msgspec.UnsetType = msgspec.UNSET
    category: str | None | msgspec.UnsetType = msgspec.UNSET
    userId: str | None = None  # noqa: N815
    anonymousId: str | None = None  # noqa: N815
    previousId: str | None = None  # noqa: N815
    groupId: str | None | msgspec.UnsetType = msgspec.UNSET  # noqa: N815
    properties: _Data | None = {}
    traits: _Data | None = {}
    context: _Data | None = {}
    sentAt: _Raw = msgspec.UNSET  # noqa: N815 - as in Envelope
    receivedAt: _Raw = msgspec.UNSET  # noqa: N815
    originalTimestamp: _Raw = msgspec.UNSET  # noqa: N815
