"""A hard bounce stops mail to that address (as every ESP suppresses it: mailing a dead address again hurts the
sender's reputation). The ``message_bounced`` receipt names the address by digest; the profile remembers it, and a
later send on that channel to the same address is skipped ``undeliverable``, a transactional one too. A new address
(the trait changed) is sent to; ``profile.undeliverable.email`` lets a journey branch to SMS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson

from cjo_stream.commands import Receipt, address_digest
from cjo_stream.events import decode_event, format_ts
from cjo_stream.profile import (
    MAX_UNDELIVERABLE,
    Profile,
    apply_event,
    decode_profile,
    encode_profile,
    merge_profiles,
    new_profile,
    profile_to_dict,
)
from cjo_stream.receipts import receipt_event
from cjo_stream.runtime.stored import decode_stored, encode_stored
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev
from tests.test_cli_errors import run

MAIL = """
journey: {jid}
re_entry: always
entry: {{event: {trigger}}}
steps:
  - id: s
    send: {{channel: {channel}, transactional: {tx}, content: {{subject: hi, body: x}}}}
"""


def _bounce(at: float, channel: str = "email", user: str = "u1", **attrs: Any) -> Any:
    """The event a ``bounced`` receipt becomes (as the workers and replay make it)."""
    r = Receipt(delivery_id=f"d{at}", customer_id=user, channel=channel, status="bounced", at=format_ts(at),
                journey="promo", step="s", reason="SMTP 550: recipient refused", attributes=attrs)
    return decode_event(receipt_event(r))


def _sim() -> Simulator:
    return Simulator(engine(MAIL.format(jid="promo", trigger="promo", channel="email", tx="false"),
                            MAIL.format(jid="reset", trigger="reset_asked", channel="email", tx="true"),
                            MAIL.format(jid="text", trigger="texted", channel="sms", tx="false")))


def test_a_hard_bounce_stops_mail_to_that_address_until_it_changes() -> None:
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "Ann@example.com", "phone": "+4915100000"}))
    sim.handle(ev("promo", T0 + 60))
    sim.handle(_bounce(T0 + 61, address_digest=address_digest("Ann@example.com")))
    sim.handle(ev("promo", T0 + 120))  # the same dead address: skipped
    sim.handle(ev("reset_asked", T0 + 180))  # transactional: it cannot arrive either
    sim.handle(ev("texted", T0 + 200))  # another channel's address is fine
    sim.handle(ev("identify", T0 + 240, type="identify", traits={"email": "ann@new.example"}))
    sim.handle(ev("promo", T0 + 300))  # a new address: mail goes again
    sim.handle(ev("identify", T0 + 360, type="identify", traits={"email": " ANN@example.com"}))
    sim.handle(ev("promo", T0 + 420))  # back to the dead one (as providers read it: case aside): skipped again
    assert [(c.journey, c.to) for c in sim.commands] == [
        ("promo", "Ann@example.com"), ("text", "+4915100000"), ("promo", "ann@new.example")]
    assert [(s.journey, s.channel, s.reason) for s in sim.skips] == [
        ("promo", "email", "undeliverable"), ("reset", "email", "undeliverable"), ("promo", "email", "undeliverable")]


def test_a_late_bounce_of_the_old_address_leaves_the_new_one_alone() -> None:
    """The receipt names the address the message went to: the trait changed since the send, and the new one works."""
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "old@example.com"}))
    sim.handle(ev("promo", T0 + 60))
    sim.handle(ev("identify", T0 + 90, type="identify", traits={"email": "new@example.com"}))
    sim.handle(_bounce(T0 + 100, address_digest=address_digest("old@example.com")))
    sim.handle(ev("promo", T0 + 120))
    assert [c.to for c in sim.commands] == ["old@example.com", "new@example.com"]
    assert sim.skips == []


def test_a_providers_callback_names_no_address_the_current_one_bounced() -> None:
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "ann@example.com", "phone": "+4915100000"}))
    sim.handle(_bounce(T0 + 10))  # a provider's callback: no digest, the address the customer has now
    sim.handle(_bounce(T0 + 20, channel="sms"))  # Twilio's unreachable number: the same for SMS
    sim.handle(ev("promo", T0 + 60))
    sim.handle(ev("texted", T0 + 70))
    assert sim.commands == []
    assert [(s.channel, s.reason) for s in sim.skips] == [("email", "undeliverable"), ("sms", "undeliverable")]


def test_a_soft_bounce_is_not_remembered() -> None:
    """A full mailbox may take mail tomorrow: providers say so (SES Transient, Mailgun temporary, Postmark
    SoftBounce, or ``permanent: false``)."""
    p = new_profile("u1")
    apply_event(p, ev("identify", T0, type="identify", traits={"email": "ann@example.com"}))
    for attrs in ({"bounce_type": "Transient"}, {"severity": "temporary"}, {"type": "SoftBounce"},
                  {"permanent": False}, {"bounce_type": "soft"}):
        apply_event(p, _bounce(T0 + 1, **attrs))
    assert p.undeliverable == []
    apply_event(p, _bounce(T0 + 2, bounce_type="Permanent"))
    assert p.undeliverable == [("email", address_digest("ann@example.com"), int(T0 + 2))]


def test_a_push_bounce_is_the_devices_business() -> None:
    """A dead push token goes by ``unregistered`` (Profile.dropped), not by this."""
    p = new_profile("u1")
    apply_event(p, ev("identify", T0, type="identify", traits={"push_token": "tok"}))
    apply_event(p, _bounce(T0 + 1, channel="push"))
    assert p.undeliverable == []


BRANCH = """
journey: fallback
entry: {event: promo}
steps:
  - id: pick
    branch:
      - {when: "profile.undeliverable.email == true", next: text}
      - else: mail
  - id: mail
    send: {channel: email, content: {subject: hi, body: x}}
    next: end
  - id: text
    send: {channel: sms, content: {body: x}}
"""


def test_a_journey_branches_to_sms_when_the_address_bounced() -> None:
    sim = Simulator(engine(BRANCH))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", "phone": "+49151"}, user="a"))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "b@example.com", "phone": "+49152"}, user="b"))
    sim.handle(_bounce(T0 + 1, user="b", address_digest=address_digest("b@example.com")))
    sim.handle(ev("promo", T0 + 60, user="a"))
    sim.handle(ev("promo", T0 + 60, user="b"))
    assert [(c.customer_id, c.channel) for c in sim.commands] == [("a", "email"), ("b", "sms")]


def test_the_profile_pays_only_when_something_bounced() -> None:
    p = new_profile("u1")
    apply_event(p, ev("identify", T0, type="identify", traits={"email": "ann@example.com"}))
    # no byte for a customer nothing bounced for: the array ends before ``dropped`` and ``undeliverable``
    assert len(msgspec.msgpack.decode(encode_profile(p))) == len(Profile.__struct_fields__) - 2
    apply_event(p, _bounce(T0 + 1))
    raw = encode_profile(p)
    assert len(raw) - len(encode_profile(msgspec.structs.replace(p, undeliverable=[]))) == 31  # one bounced address
    assert decode_profile(raw) == p
    assert decode_stored(encode_stored(7, p), "u1").profile == p
    # the state API shows it, by digest (never the address's text)
    shown = profile_to_dict(p)
    assert shown["undeliverable"] == {"email": True}
    assert shown["bounced_addresses"] == [{"channel": "email", "digest": address_digest("ann@example.com"),
                                           "at": format_ts(int(T0 + 1))}]
    assert "ann@example.com" not in str(shown["bounced_addresses"])


def test_few_addresses_are_kept_the_latest_first_and_merges_pool_them() -> None:
    p = new_profile("u1")
    for i in range(MAX_UNDELIVERABLE + 2):
        apply_event(p, _bounce(T0 + i, address_digest=address_digest(f"a{i}@example.com")))
    apply_event(p, _bounce(T0 - 5, address_digest=address_digest("a5@example.com")))  # late: its latest bounce holds
    assert [g for _ch, g, _t in p.undeliverable] == [address_digest(f"a{i}@example.com") for i in (5, 4, 3, 2)]
    anon = new_profile("anon")
    apply_event(anon, ev("identify", T0, type="identify", traits={"email": "x@example.com"}, user="anon"))
    apply_event(anon, _bounce(T0 + 100, user="anon"))
    merge_profiles(p, anon)
    assert p.undeliverable[0] == ("email", address_digest("x@example.com"), int(T0 + 100))
    assert len(p.undeliverable) == MAX_UNDELIVERABLE


def test_simulate_reads_the_bounce_receipt_as_a_worker_does(tmp_path: Path) -> None:
    """A receipt line as ``cjo-stream tail --receipts`` prints it, among the events: the next mail is skipped, and
    ``--profiles`` shows the address as undeliverable (by digest)."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "promo.yaml").write_text(MAIL.format(jid="promo", trigger="promo", channel="email",
                                                                  tx="false"))
    lines = [
        {"messageId": "i", "type": "identify", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"email": "a@example.com"}},
        {"messageId": "p1", "type": "track", "event": "promo", "userId": "a", "timestamp": "2026-03-02T10:01:00Z"},
        {"delivery_id": "d1", "customer_id": "a", "channel": "email", "status": "bounced",
         "at": "2026-03-02T10:01:02Z", "journey": "promo", "step": "s", "reason": "SMTP 550: recipient refused",
         "attributes": {"attempts": 1, "address_digest": address_digest("a@example.com")}},
        {"messageId": "p2", "type": "track", "event": "promo", "userId": "a", "timestamp": "2026-03-02T10:02:00Z"},
    ]
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"),
            "--journey-events", str(tmp_path / "je.jsonl"), "--profiles", str(tmp_path / "profiles.jsonl"))
    assert p.returncode == 0, p.stderr
    assert [orjson.loads(x)["decided_at"] for x in p.stdout.splitlines()] == ["2026-03-02T10:01:00.000Z"]
    notes = [orjson.loads(x) for x in (tmp_path / "je.jsonl").read_text().splitlines()]
    assert [n["reason"] for n in notes if n["kind"] == "skipped"] == ["undeliverable"]
    [profile] = [orjson.loads(x) for x in (tmp_path / "profiles.jsonl").read_text().splitlines()]
    assert profile["undeliverable"] == {"email": True}


def test_a_phone_number_trait_sent_as_a_number_is_the_same_address() -> None:
    """A send reads a trait as text (``str``): the bounce and the view read it so too."""
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"phone": 4915100000}))
    sim.handle(_bounce(T0 + 1, channel="sms"))  # a callback: the current number
    sim.handle(ev("texted", T0 + 60))
    assert [(s.channel, s.reason) for s in sim.skips] == [("sms", "undeliverable")]
    assert profile_to_dict(sim.profiles["u1"])["undeliverable"] == {"sms": True}
