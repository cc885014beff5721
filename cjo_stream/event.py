"""The decoded event, as the engine sees it (a class compiled by mypyc: see :class:`Event`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from cjo_stream.timefmt import format_ts

if TYPE_CHECKING:
    from cjo_stream.event_types import EventType

#: How the names of receipts begin (``message_sent``, ``message_opened``, ...): the events adapters send back,
#: naming the customer as their ``userId``.
RECEIPT_PREFIX: Final = "message_"


class Event:
    """A decoded, validated event as the engine sees it (fields in this order: :func:`_normalise` passes
    them by position).

    ``name`` is normalised (``page`` → ``page_viewed``, ``screen`` → ``screen_viewed`` unless ``event`` is
    set; ``identify`` → ``identify``; ``alias`` → ``alias``) and ``ts`` is epoch seconds (UTC), which keeps
    the engine's time arithmetic allocation-free.

    A class compiled by mypyc (it was a msgspec struct, which mypyc cannot compile): the compiled decoder,
    simulator, identity, profile and engine read its fields directly, not through Python's attribute
    lookup (2026-12-02). Treated as immutable.
    """

    message_id: str
    type: EventType
    name: str
    ts: float
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]

    def __init__(self, message_id: str, type: EventType, name: str, ts: float,  # noqa: A002 - the wire's name
                 user_id: str | None = None, anonymous_id: str | None = None, previous_id: str | None = None,
                 properties: dict[str, Any] | None = None, traits: dict[str, Any] | None = None,
                 context: dict[str, Any] | None = None) -> None:
        self.message_id = message_id
        self.type = type
        self.name = name
        self.ts = ts
        self.user_id = user_id
        self.anonymous_id = anonymous_id
        self.previous_id = previous_id
        self.properties = {} if properties is None else properties
        self.traits = {} if traits is None else traits
        self.context = {} if context is None else context

    def fields(self) -> dict[str, Any]:
        """Every field by name (tests compare decoded events whole)."""
        return {"message_id": self.message_id, "type": self.type, "name": self.name, "ts": self.ts,
                "user_id": self.user_id, "anonymous_id": self.anonymous_id, "previous_id": self.previous_id,
                "properties": self.properties, "traits": self.traits, "context": self.context}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.fields() == other.fields()

    def __repr__(self) -> str:
        return "Event(" + ", ".join(f"{k}={v!r}" for k, v in self.fields().items()) + ")"

    @property
    def identity(self) -> str:
        """The id this event was sent under: the known user id when present, else the anonymous one."""
        return self.user_id or self.anonymous_id or ""

    def view(self) -> dict[str, Any]:
        """The mapping expressions and templates see as ``event`` (wire field names, RFC 3339 time)."""
        return {
            "messageId": self.message_id,
            "type": self.type,
            "event": self.name,
            "name": self.name,
            "userId": self.user_id,
            "anonymousId": self.anonymous_id,
            "timestamp": format_ts(self.ts),
            "properties": self.properties,
            "traits": self.traits,
            "context": self.context,
        }
