"""Which send an engagement callback is about: by our ``delivery_id``, or by the provider's message id.

Providers' webhooks (SendGrid, Mailgun, Twilio, ...) name the message by their own id, which the adapter got when
it sent it and recorded in its sent-record (:mod:`cjo_stream.adapters.sentlog`) with whose send it was. A callback
giving only that id is completed from the record (``delivery_id``, ``customer_id``, ``journey``, ``step``,
``topic``), as is one giving our ids without the journey and step: its receipt then carries them, so a journey can
wait for the open of its own send (``event.properties.journey == journey.id``) rather than any message's. An
``unsubscribed`` without its topic is always completed: taken as given, it withdrew the whole channel, and a
customer leaving the newsletter by the provider's own link stopped getting order mail too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    from cjo_stream.adapters.sentlog import SentRecord
    from cjo_stream.adapters.web import Engagement


class SentLookup(Protocol):
    """What :class:`~cjo_stream.adapters.sentlog.SentLog` offers a callback."""

    @property
    def busy(self) -> bool: ...

    def coverage(self) -> tuple[int, int]: ...

    def lookup(self, delivery_id: str | None = None,
               provider_message_id: str | None = None) -> tuple[str, SentRecord] | None: ...


class Unresolved(Exception):
    """A callback whose send cannot be told: the HTTP status to answer, and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Elsewhere(Unresolved):
    """Not in the partitions this replica holds, and it does not hold every one: another replica's may have it
    (:mod:`cjo_stream.adapters.peers` asks them; without peers, this answer: ``404 … retry`` or ``503``)."""


def resolve(e: Engagement, sent: SentLookup | None) -> Engagement:
    """``e`` with ``delivery_id`` and ``customer_id`` set (and ``journey``, ``step``, ``channel``, ``topic`` where
    the sent-record knows them), or :class:`Unresolved`: ``400`` for neither id given or a customer that is not the
    send's, ``404`` for an id no send of this adapter has, ``503`` while it cannot look (retry); :class:`Elsewhere`
    (``404``, or ``503`` holding none) for one this replica does not find and another replica may hold."""
    # both given (even empty: the receipt's checks then say what is wrong): taken as given where the record cannot help
    given = e.delivery_id is not None and e.customer_id is not None
    if e.delivery_id is None and not e.provider_message_id:
        raise Unresolved(400, "give delivery_id (with customer_id) or provider_message_id: which message is it about?")
    if given and _whole(e):
        return e
    if sent is None or sent.busy:
        if given and (sent is None or not topic_unknown(e)):
            return e
        raise (Unresolved(404, "this adapter keeps no sent-record to find the send by: give delivery_id and "
                               "customer_id") if sent is None else
               Unresolved(503, "the adapter is reading its sent-record (its partitions changed): retry in a few s"))
    found = sent.lookup(e.delivery_id, None if e.delivery_id else e.provider_message_id)
    if found is None:
        if given:  # sent longer ago than the record keeps, or by another replica: as given
            return e
        have, of = sent.coverage()
        if have >= of:
            raise Unresolved(404, unknown(e))
        raise Elsewhere(503, "the adapter holds no partitions yet (starting, or the group rebalancing): retry")\
            if have == 0 else \
            Elsewhere(404, unknown(e) + f"; this replica holds {have} of the sent-record's {of} partitions, another "
                                        "replica's sends are known there: retry (another connection may reach it), "
                                        "or give delivery_id and customer_id")
    return complete(e, *found)


def ask_elsewhere(e: Engagement, resolved: Engagement, sent: SentLookup | None) -> bool:
    """Whether a callback :func:`resolve` took as given (our ids without journey or step, or an unsubscribe without
    its topic, its send not in this replica's partitions) may be completed by the replica holding them, as that one
    would answer it: the receipt with the send's journey, step and topic, its customer and channel checked."""
    if resolved is not e or _whole(e) or sent is None or sent.busy:
        return False
    have, of = sent.coverage()
    return have < of


def topic_unknown(e: Engagement) -> bool:
    """An ``unsubscribed`` naming no topic: whether it withdraws a topic or the channel is the send's to say (taken
    as given, it withdrew the whole channel: while the send cannot be looked at, the answer is ``503``, retry)."""
    return e.event == "unsubscribed" and not e.topic


def _whole(e: Engagement) -> bool:
    """Whether the callback says all the record could add (our ids aside): journey, step, and an unsubscribe's topic."""
    return bool(e.journey and e.step) and not topic_unknown(e)


def unknown(e: Engagement) -> str:
    """Why a callback is answered ``404``: no send of this adapter has its id."""
    name = f"delivery_id {e.delivery_id!r}" if e.delivery_id else f"provider_message_id {e.provider_message_id!r}"
    return f"unknown {name}: no send of this adapter within the sent-record's retention (CJO_SENT_RETENTION) has it"


def complete(e: Engagement, did: str, rec: SentRecord) -> Engagement:
    """``e`` completed from the send's record (found here or by the replica holding it), or :class:`Unresolved`
    ``400`` for a customer or channel that is not the send's."""
    if e.customer_id and rec.customer_id and e.customer_id != rec.customer_id:
        raise Unresolved(400, f"customer_id is not the customer delivery {did} was sent to")
    if e.channel and rec.channel and e.channel != rec.channel:  # its unsubscribe would withdraw the wrong channel
        raise Unresolved(400, f"channel {e.channel!r} is not the channel delivery {did} was sent on ({rec.channel!r})")
    if e.topic and rec.topic and e.topic != rec.topic:  # its unsubscribe would withdraw another topic
        raise Unresolved(400, f"topic {e.topic!r} is not the topic of delivery {did} ({rec.topic!r})")
    customer = e.customer_id or rec.customer_id
    if not customer:
        raise Unresolved(404, f"delivery {did} was recorded without its customer (sent by an older version): "
                              "give customer_id")
    # the name the callback gave: a push to several devices has one a device (the record keeps the first's)
    return msgspec.structs.replace(e, delivery_id=did, customer_id=customer, channel=e.channel or rec.channel,
                                   journey=e.journey or rec.journey, step=e.step or rec.step, topic=e.topic or rec.topic,
                                   provider_message_id=bare_id(e.provider_message_id) or rec.provider_message_id)


def bare_id(provider_message_id: str | None) -> str | None:
    """A provider's message id as the adapter recorded it: a ``Message-ID`` in angle brackets (SendGrid's
    ``smtp-id``) without them."""
    pid = provider_message_id
    if pid and pid.startswith("<") and pid.endswith(">"):
        return pid[1:-1]
    return pid
