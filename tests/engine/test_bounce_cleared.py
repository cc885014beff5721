"""A manual un-bounce (Braze's "remove from the hard bounce list", Customer.io's "unsuppress"): support confirmed the
address works, or a full mailbox was taken for a dead one. An upstream system sends the customer's ``bounce_cleared``
event, which goes through the engine as any event (so ``simulate`` and the workers agree): the remembered bounces of
its channel are forgotten (all of them, or one address), and mail goes to the address again."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from cjo_stream.commands import address_digest
from cjo_stream.profile import CONSENT_CHANGED, apply_event, new_profile, profile_to_dict
from tests.conftest import T0, ev
from tests.engine.test_hard_bounce import MAIL, _bounce, _sim
from tests.test_cli_errors import run


def _cleared(at: float, **props: Any) -> Any:
    return ev("bounce_cleared", at, props=props)


def test_clearing_the_bounce_mails_the_address_again() -> None:
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "Ann@example.com", "phone": "+4915100000"}))
    sim.handle(_bounce(T0 + 1))
    sim.handle(_bounce(T0 + 2, channel="sms"))
    sim.handle(ev("promo", T0 + 60))  # skipped: the address bounced
    sim.handle(_cleared(T0 + 90, channel="email"))
    sim.handle(ev("promo", T0 + 120))  # mailed again
    sim.handle(ev("texted", T0 + 130))  # the text's bounce is not cleared: another channel
    assert [(c.journey, c.to) for c in sim.commands] == [("promo", "Ann@example.com")]
    assert [(s.channel, s.reason) for s in sim.skips] == [("email", "undeliverable"), ("sms", "undeliverable")]
    shown = profile_to_dict(sim.profiles["u1"])
    assert shown["undeliverable"] == {"sms": True}
    assert [b["channel"] for b in shown["bounced_addresses"]] == ["sms"]


def test_one_address_or_every_channel() -> None:
    p = new_profile("u1")
    for i, who in enumerate(("a@example.com", "b@example.com")):
        apply_event(p, _bounce(T0 + i, address_digest=address_digest(who)))
    apply_event(p, _bounce(T0 + 5, channel="sms", address_digest=address_digest("+49151")))
    apply_event(p, _cleared(T0 + 10, channel="Email", address=" A@Example.com"))  # as providers compare it
    assert [(ch, g) for ch, g, _t in p.undeliverable] == [("sms", address_digest("+49151")),
                                                          ("email", address_digest("b@example.com"))]
    apply_event(p, _cleared(T0 + 11, address_digest=address_digest("b@example.com")))  # as the state API shows it
    assert [ch for ch, _g, _t in p.undeliverable] == ["sms"]
    apply_event(p, _cleared(T0 + 12, channel="email"))  # nothing of e-mail left: no change
    assert [ch for ch, _g, _t in p.undeliverable] == ["sms"]
    apply_event(p, _cleared(T0 + 13))  # no channel: every one
    assert p.undeliverable == []


def test_an_address_it_cannot_read_clears_nothing_and_a_whole_sha256_reads() -> None:
    """An address named but unreadable (empty, a digest cut short) was taken for none named: every address of the
    channel was cleared, a dead one too. A whole SHA-256 of the address (a caller computing it) is its digest."""
    p = new_profile("u1")
    for i, who in enumerate(("a@example.com", "b@example.com")):
        apply_event(p, _bounce(T0 + i, address_digest=address_digest(who)))
    for unreadable in ({"address": " "}, {"address_digest": "71d4f55f"}, {"address_digest": "not hex at all!!"}):
        assert apply_event(p, _cleared(T0 + 10, channel="email", **unreadable)) == 0
        assert len(p.undeliverable) == 2, unreadable
    whole = hashlib.sha256(b"a@example.com").hexdigest()
    apply_event(p, _cleared(T0 + 11, channel="email", address_digest=whole.upper()))
    assert [g for _ch, g, _t in p.undeliverable] == [address_digest("b@example.com")]


def test_a_bounce_after_the_clear_is_a_new_one() -> None:
    """A clear that arrives late (stamped before a later bounce) does not forget that bounce."""
    p = new_profile("u1")
    apply_event(p, ev("identify", T0, type="identify", traits={"email": "ann@example.com"}))
    apply_event(p, _bounce(T0 + 1))
    apply_event(p, _bounce(T0 + 100))  # bounced again after support's word
    apply_event(p, _cleared(T0 + 50, channel="email"))  # support's word, arriving late
    assert p.undeliverable == [("email", address_digest("ann@example.com"), int(T0 + 100))]


def test_simulate_shows_the_cleared_bounce_gone(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "promo.yaml").write_text(MAIL.format(jid="promo", trigger="promo", channel="email",
                                                                  tx="false"))
    lines = [
        {"messageId": "i", "type": "identify", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"email": "a@example.com"}},
        {"delivery_id": "d0", "customer_id": "a", "channel": "email", "status": "bounced",
         "at": "2026-03-02T10:00:30Z", "journey": "promo", "step": "s", "reason": "SMTP 552: mailbox full",
         "attributes": {"address_digest": address_digest("a@example.com")}},
        {"messageId": "p1", "type": "track", "event": "promo", "userId": "a", "timestamp": "2026-03-02T10:01:00Z"},
        {"messageId": "c", "type": "track", "event": "bounce_cleared", "userId": "a",
         "timestamp": "2026-03-02T10:01:30Z", "properties": {"channel": "email"}},
        {"messageId": "p2", "type": "track", "event": "promo", "userId": "a", "timestamp": "2026-03-02T10:02:00Z"},
    ]
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"),
            "--profiles", str(tmp_path / "profiles.jsonl"))
    assert p.returncode == 0, p.stderr
    assert [orjson.loads(x)["decided_at"] for x in p.stdout.splitlines()] == ["2026-03-02T10:02:00.000Z"]
    [profile] = [orjson.loads(x) for x in (tmp_path / "profiles.jsonl").read_text().splitlines()]
    assert profile["undeliverable"] == {}
    assert profile["bounced_addresses"] == []
    assert "bounce_cleared" not in p.stderr, p.stderr  # it cleared what it named: nothing to tell


def test_simulate_tells_a_clear_that_cleared_nothing(tmp_path: Path) -> None:
    """``properties.channel: emial`` cleared nothing, and the promotion was skipped undeliverable unsaid."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "promo.yaml").write_text(MAIL.format(jid="promo", trigger="promo", channel="email",
                                                                  tx="false"))
    lines = [
        {"messageId": "i", "type": "identify", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"email": "a@example.com"}},
        {"messageId": "b", "type": "track", "event": "message_bounced", "userId": "a",
         "timestamp": "2026-03-02T10:00:30Z", "properties": {"channel": "email"}},
        {"messageId": "c", "type": "track", "event": "bounce_cleared", "userId": "a",
         "timestamp": "2026-03-02T10:01:30Z", "properties": {"channel": "emial"}},
        {"messageId": "p", "type": "track", "event": "promo", "userId": "a", "timestamp": "2026-03-02T10:02:00Z"},
    ]
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr
    assert "note: 1 customer(s) of the input still have a hard bounce from before their last 'bounce_cleared' " \
           "event, which named another channel or address" in p.stderr, p.stderr
    replayed = run("replay", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert replayed.returncode == 0 and "before their last 'bounce_cleared'" in replayed.stderr, replayed.stderr
    # named as Segment's spec names events: no clear at all, told by name
    lines[2] = {"messageId": "c", "type": "track", "event": "Bounce Cleared", "userId": "a",
                "timestamp": "2026-03-02T10:01:30Z", "properties": {"channel": "email"}}
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    for verb in ("simulate", "replay"):
        p = run(verb, "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
        assert p.returncode == 0, p.stderr
        assert "note: events named 'Bounce Cleared' clear no hard bounce: only events named exactly " \
               "'bounce_cleared' do" in p.stderr, p.stderr


def test_the_adapters_are_told_of_a_new_bounced_address_and_of_a_clear_only() -> None:
    """``CONSENT_CHANGED``: the worker writes the customer's bounced addresses to cjo.consent-changes then."""
    p = new_profile("u1")
    apply_event(p, ev("identify", T0, type="identify", traits={"email": "ann@example.com"}))
    said = [apply_event(p, e) & CONSENT_CHANGED != 0 for e in [
        _bounce(T0 + 1),  # a new address
        _bounce(T0 + 2),  # the same again: the list is as it was
        _bounce(T0 + 3, bounce_type="Transient"),  # soft: not remembered
        _cleared(T0 + 4, channel="sms"),  # nothing of SMS to clear
        _cleared(T0 + 5, channel="email"),
    ]]
    assert said == [True, False, False, False, True]
