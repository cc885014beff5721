"""What the engine emits: delivery commands, skip records, and the receipts adapters send back.

These are the contracts between the engine, the runtime's output topics (``cjo.delivery.<channel>``,
``cjo.delivery.skipped``, ``cjo.receipts``) and the channel adapters; their JSON Schemas live in
``schemas/``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Final, Literal, get_args

import msgspec

Channel = Literal["email", "sms", "push", "in_app", "webhook", "slack", "crm"]
#: the channels that reach a customer (consent, caps, quiet hours, send-time optimisation apply to them)
CustomerChannel = Literal["email", "sms", "push", "in_app"]
CUSTOMER_CHANNELS: frozenset[str] = frozenset(get_args(CustomerChannel))
INTERNAL_CHANNELS: frozenset[str] = frozenset({"webhook", "slack", "crm"})
ALL_CHANNELS: frozenset[str] = CUSTOMER_CHANNELS | INTERNAL_CHANNELS

#: A channel's name: a built-in one, or one a deployment declares in ``policies.yaml`` (``channels:``) and
#: delivers with its own channel class (docs/adapters.md, "Your own channel"). It names a topic
#: (``cjo.delivery.<name>``), a consumer group, a metric label and ``CJO_RATE_<NAME>``: so lower-case
#: letters, digits and underscores, and short.
CHANNEL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
ChannelName = Annotated[str, msgspec.Meta(pattern=CHANNEL_NAME_PATTERN)]

#: Content keys a channel's adapter needs one of (it refuses a message with none: a ``failed`` receipt for every
#: send); the loader refuses a send step without any of them, so the mistake shows at ``validate``, not in production.
CONTENT_NEEDS: dict[str, tuple[str, ...]] = {"email": ("body", "text", "html"), "sms": ("body", "text"),
                                             "slack": ("text", "body", "subject")}

#: Profile trait holding the recipient address per customer-facing channel.
ADDRESS_TRAIT: dict[str, str] = {"email": "email", "sms": "phone", "push": "push_token"}

#: ``undeliverable``: the address hard-bounced before (``profile.undeliverable``), and sending again hurts the
#: sender's reputation
SkipReason = Literal["frequency_cap", "no_consent", "no_address", "holdout", "render_error", "global_control",
                     "undeliverable"]


class DeliveryCommand(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One message to deliver. ``delivery_id`` is stable across replays, so adapters can deduplicate."""

    delivery_id: str
    customer_id: str
    journey: str
    journey_version: int
    step: str
    channel: ChannelName
    to: str | None
    content: dict[str, str]
    triggered_by: str
    decided_at: str
    instance_id: str
    variant: str | None = None
    expires_at: str | None = None
    # push: the tokens of the customer's earlier devices (Profile.devices), most recent first; ``to`` is the
    # device used last. The push adapter sends to each; absent for one device
    also_to: list[str] | None = None
    #: a message the customer asked for (a password reset, a receipt): an adapter delivers it even when consent was
    #: withdrawn after it was decided (the engine did not check consent for it either)
    transactional: bool = False
    #: the subscription topic of the message (a newsletter): an adapter holds it back when the customer unsubscribed
    #: from the topic after it was decided; an e-mail's unsubscribe link may name it (``{topic}``)
    topic: str | None = None


class SkipRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A send that was decided against, with its reason (published to ``cjo.delivery.skipped``)."""

    delivery_id: str
    customer_id: str
    journey: str
    journey_version: int
    step: str
    channel: ChannelName
    reason: SkipReason
    triggered_by: str
    decided_at: str
    instance_id: str
    variant: str | None = None
    detail: str | None = None  # why, for render_error (which limit, which failure; no template data)


class ConsentChange(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A customer's consent as of a change, or an erasure (``cjo.consent-changes``, keyed by customer id).

    Consent is checked when a send is decided; a command already on ``cjo.delivery.<channel>`` when the
    customer unsubscribes would still go out when a lagging adapter reached it. The worker writes one of
    these per customer and batch whose consent changed, and adapters hold back a command whose channel the
    customer's latest one lists in ``withdrawn``, or one written before the customer's erasure. Likewise for a
    hard bounce: a command already queued to the address that just bounced (a backlog of a promotion) would be
    tried and bounce again, so ``bounced`` lists the addresses the profile remembers as hard-bounced, and adapters
    hold back a command to one of them (a ``bounce_cleared`` event writes the list again without it).
    """

    customer_id: str
    at: str  # when the worker wrote it (its clock; adapters compare the records' Kafka timestamps)
    withdrawn: list[str] = []  # customer-facing channels whose consent is withdrawn now (sorted)
    topics: list[str] = []  # subscription topics the customer has withdrawn from now (sorted)
    # addresses remembered as hard-bounced (profile.undeliverable), ``<channel>:<address_digest>``, never the address
    bounced: list[str] = []
    erased: bool = False  # erased: commands written before this record are held back


ReceiptStatus = Literal[
    "sent", "delivered", "failed", "bounced", "expired", "opened", "clicked", "unsubscribed", "complained"
]


class Receipt(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An adapter's report on a delivery, ingested back as a ``message_<status>`` touchpoint event."""

    delivery_id: str
    customer_id: str
    channel: ChannelName
    status: ReceiptStatus
    at: str
    journey: str | None = None
    step: str | None = None
    provider_message_id: str | None = None
    reason: str | None = None
    attributes: dict[str, Any] = {}
    # what the receiver answered (webhook ``delivered``): {status, body} or {status, omitted, size}
    response: dict[str, Any] | None = None
    #: the message's subscription topic: its ``unsubscribed`` withdraws that topic, not the whole channel
    topic: str | None = None


#: The receipt attribute naming the push tokens FCM called unregistered (the app was uninstalled), by
#: :func:`device_digest`: the profile drops those devices and remembers their digests (``profile.apply_event``).
UNREGISTERED_ATTRIBUTE: Final = "unregistered"


def device_digest(token: str) -> str:
    """A short digest of a push token (16 hex characters of its SHA-256) that a receipt names it by.

    Not its position in the command (``to`` first, then ``also_to``): the profile may have changed between the
    send and its receipt (a new token arrived, and the earlier devices moved down one), and a position would then
    name a device that works and drop it. Not the token: receipts carry no address (they are logged, tailed,
    kept on their topic and in analytics). A token is high-entropy (FCM's ~160 characters), so its digest names
    it without disclosing it, and 64 bits keep a customer's few tokens apart (a clash: about 1 in 10^18).
    """
    return hashlib.sha256(token.encode()).hexdigest()[:16]


#: The receipt attribute naming the address a hard bounce was for, by :func:`address_digest` (receipts carry no
#: address): the profile remembers it, and later sends to it are skipped ``undeliverable`` (``profile.apply_event``).
ADDRESS_DIGEST_ATTRIBUTE: Final = "address_digest"


def address_digest(address: str) -> str:
    """A short digest of a recipient address (16 hex characters of the SHA-256 of its trimmed, lower-case text) that
    a bounce's receipt and the profile name it by: enough to tell the *same* address again (a new e-mail trait is
    another address, and mail goes again), never the address itself. Case-insensitive as mail providers treat
    addresses (``Ann@X.com`` bounced is ``ann@x.com``)."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


def delivery_id(journey: str, version: int, customer_id: str, instance_id: str, step: str) -> str:
    """Stable id of one send: the same journey/version/customer/instance/step always hashes the same."""
    raw = f"{journey}\x1f{version}\x1f{customer_id}\x1f{instance_id}\x1f{step}".encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()
