"""The README's "Coming from Customer.io" table: each journey snippet in it loads as written, and what its rows
say a migrated campaign does, it does under ``cjo-stream validate`` and ``simulate`` as a user runs them."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from tests.readme_tables import load_snippet, table_row, table_rows, table_snippets
from tests.test_cli_errors import run

_TOPS = ("entry", "goal", "re_entry", "exit_on")
_STEPS = ("wait", "wait_until", "wait_for", "branch", "split", "update", "send")


def _row(start: str) -> str:
    return table_row('Coming from Customer.io', start)


def _snippets() -> list[str]:
    return table_snippets('Coming from Customer.io', (*_TOPS, *_STEPS))


def test_the_tables_snippets_load() -> None:
    snippets = _snippets()
    kinds = {s.split(":")[0] for s in snippets}
    assert kinds >= {"entry", "goal", "re_entry", "exit_on", "wait_until", "wait_for", "branch", "split", "update",
                     "send"}, snippets
    for i, s in enumerate(snippets):
        load_snippet(s, _TOPS, "signed_up", i)


def _campaign(tmp_path: Path, journey: str, events: list[dict[str, object]]) -> tuple[list[dict[str, object]], str]:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "campaign.yaml").write_text(journey)
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    return [orjson.loads(line) for line in p.stdout.splitlines()], p.stderr


def _identify(mid: str, who: str, at: str, **traits: object) -> dict[str, object]:
    return {"messageId": mid, "type": "identify", "userId": who, "timestamp": at, "traits": traits}


def test_the_attribute_change_exit_and_wait_until_rows_do_what_they_say(tmp_path: Path) -> None:
    entry = re.search(r"`(entry: \{event: identify[^`]+)`", _row("segment-triggered")).group(1)  # type: ignore[union-attr]
    (exit_on,) = re.findall(r"`(exit_on: \[\{condition: [^`]+)`", _row("exit condition"))
    wait = re.search(r"`(wait_for: [^`]+)`", _row("Wait Until a condition")).group(1)  # type: ignore[union-attr]
    journey = (f"journey: pro\n{entry}\nre_entry: once\n{exit_on}\nsteps:\n"
               "  - id: hello\n    send: {channel: email, content: {subject: Pro, body: x}}\n"
               f"  - id: wait_active\n    {wait}\n    next: active\n    on_timeout: nudge\n"
               "  - id: nudge\n    send: {channel: email, content: {subject: Nudge, body: x}}\n    next: end\n"
               "  - id: active\n    send: {channel: email, content: {subject: Active, body: x}}\n")
    sent, _ = _campaign(tmp_path, journey, [
        _identify("a1", "a", "2026-03-02T10:00:00Z", email="a@example.com", plan="free"),
        _identify("a2", "a", "2026-03-02T11:00:00Z", plan="pro"),        # becomes pro: enters
        _identify("a3", "a", "2026-03-02T12:00:00Z", activated=True),    # the wait's condition
        _identify("a4", "a", "2026-03-09T12:00:00Z", plan="pro"),        # pro again: re_entry once
        _identify("b1", "b", "2026-03-02T10:00:00Z", email="b@example.com", plan="pro"),
        _identify("b2", "b", "2026-03-02T11:00:00Z", plan="free"),       # the exit condition
        _identify("c1", "c", "2026-03-02T10:00:00Z", email="c@example.com", activated=True),
        _identify("c2", "c", "2026-03-02T11:00:00Z", plan="pro"),        # enters, activated already: on at once
    ])
    got = sorted((c["customer_id"], c["decided_at"], c["content"]["subject"]) for c in sent)  # type: ignore[index]
    # a: entered once (a4 is pro again), went on by the condition; b: entered pro, exited on becoming free;
    # c: the condition held as the wait began
    assert got == [("a", "2026-03-02T11:00:00.000Z", "Pro"), ("a", "2026-03-02T12:00:00.000Z", "Active"),
                   ("b", "2026-03-02T10:00:00.000Z", "Pro"), ("c", "2026-03-02T11:00:00.000Z", "Active"),
                   ("c", "2026-03-02T11:00:00.000Z", "Pro")]


def test_the_unsubscribed_attribute_row(tmp_path: Path) -> None:
    """``unsubscribed: true`` is a trait here: the customer is still mailed, and simulate says so; the trait
    ``consent: false`` the row gives instead skips the send."""
    journey = ("journey: news\nentry: {event: identify}\nsteps:\n"
               "  - id: hello\n    send: {channel: email, content: {subject: News, body: x}}\n")
    sent, err = _campaign(tmp_path, journey, [
        _identify("c1", "c", "2026-03-02T10:00:00Z", email="c@example.com", unsubscribed=True),
        _identify("d1", "d", "2026-03-02T10:00:00Z", email="d@example.com", consent=False),
    ])
    assert [c["customer_id"] for c in sent] == ["c"]
    shown = re.search(r"`(note: [^`]+) \.\.\.`", _row("global unsubscribe")).group(1)  # type: ignore[union-attr]
    assert shown in err, err
    p = run("replay", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0 and shown in p.stderr, p.stderr


def test_the_anonymous_id_row(tmp_path: Path) -> None:
    journey = ("journey: hi\nentry: {event: signed_up}\nsteps:\n"
               "  - id: wait\n    wait: 1h\n"
               "  - id: hello\n    send: {channel: email, content: {subject: Hi, body: x}}\n")
    sent, err = _campaign(tmp_path, journey, [
        {"messageId": "1", "type": "track", "event": "signed_up", "anonymous_id": "x1",
         "timestamp": "2026-03-02T10:00:00Z"},
        {"messageId": "2", "type": "track", "event": "signed_up", "anonymousId": "x2",
         "timestamp": "2026-03-02T10:00:00Z"},
        {"messageId": "3", "type": "identify", "anonymousId": "x2", "userId": "u2",
         "timestamp": "2026-03-02T10:10:00Z", "traits": {"email": "u2@example.com"}},
    ])
    assert [(c["customer_id"], c["to"]) for c in sent] == [("u2", "u2@example.com")]
    assert "skipped bad event (missing_id)" in err and "anonymous_id (write anonymousId)" in err, err


@pytest.mark.parametrize("start", ["Liquid `{{customer", "Liquid `| add_day"])
def test_validate_tells_the_liquid_rows(tmp_path: Path, start: str) -> None:
    """Each Customer.io form in the row's first column is refused by ``validate`` with the hint the row gives."""
    (theirs,) = [k for k in table_rows('Coming from Customer.io') if k.startswith(start)]
    forms = re.findall(r"`([^`]+)`", theirs)
    (tmp_path / "journeys").mkdir()
    for i, form in enumerate(forms):
        body = form if form.startswith(("{{", "{%")) else "{{ now " + form + " }}"
        if form.endswith(":"):
            body = "{{ now " + form + " 'UTC' }}"
        (tmp_path / "journeys" / f"j{i}.yaml").write_text(
            f"journey: j{i}\nentry: {{event: x}}\nsteps:\n  - id: s\n"
            f"    send: {{channel: email, content: {{subject: s, body: {orjson.dumps(body).decode()}}}}}\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    for i, form in enumerate(forms):
        (line,) = [ln for ln in p.stderr.splitlines() if f"j{i}.yaml:" in ln]
        assert "Customer.io's" in line, (form, line)
    ours = re.findall(r"`(\{\{ [^`]+ \}\})`", _row(start))
    for form, mine in zip(forms, ours, strict=False):
        if form.startswith("{{"):
            name = form.strip("{} ")
            assert f"{{{{ {name} }}}} is {mine} here" in p.stderr, (form, mine, p.stderr)


def test_the_subscription_topics_row_stops_the_newsletter_not_the_order_mail(tmp_path: Path) -> None:
    row = _row("subscription topics")
    topics = re.search(r"`(topics: \{[^`]+)`", row).group(1)  # type: ignore[union-attr]
    topic = re.search(r"`(topic: [a-z_]+)`", row).group(1)  # type: ignore[union-attr]
    (tmp_path / "policies.yaml").write_text(topics + "\n")
    journey = ("journey: news\nre_entry: always\nentry: {event: digest_ready}\nsteps:\n"
               f"  - id: mail\n    send: {{channel: email, {topic}, content: {{subject: News, body: x}}}}\n")
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "order.yaml").write_text(
        "journey: order\nre_entry: always\nentry: {event: order_shipped}\nsteps:\n"
        "  - id: mail\n    send: {channel: email, content: {subject: Shipped, body: x}}\n")
    event = {"type": "track", "userId": "a"}
    sent, _ = _campaign(tmp_path, journey, [
        _identify("a1", "a", "2026-03-02T10:00:00Z", email="a@example.com"),
        {**event, "messageId": "s1", "event": "subscribed", "timestamp": "2026-03-02T10:00:01Z",
         "properties": {"topic": "newsletter"}},
        {**event, "messageId": "d1", "event": "digest_ready", "timestamp": "2026-03-02T10:01:00Z"},
        {**event, "messageId": "u1", "event": "unsubscribed", "timestamp": "2026-03-02T10:02:00Z",
         "properties": {"topic": "newsletter"}},
        {**event, "messageId": "d2", "event": "digest_ready", "timestamp": "2026-03-02T10:03:00Z"},
        {**event, "messageId": "o1", "event": "order_shipped", "timestamp": "2026-03-02T10:04:00Z"},
    ])
    assert [(c["journey"], c.get("topic")) for c in sent] == [("news", "newsletter"), ("order", None)]


def test_the_date_based_campaign_row(tmp_path: Path) -> None:
    """The row's entries as written: 3 days before a date attribute, and once a year on its month and day, each
    at 09:00 in the customer's zone (a bare date is that day in Los Angeles too, not UTC midnight)."""
    row = _row("date-based campaign")
    before, yearly = re.findall(r"`(entry: \{schedule: [^`]+)`", row)
    re_entry = re.search(r"`(re_entry: [^`]+)`", row).group(1)  # type: ignore[union-attr]
    send = "steps:\n  - id: s\n    send: {channel: email, content: {subject: Hi, body: x}}\n"
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "anniversary.yaml").write_text(f"journey: anniversary\n{yearly}\n{re_entry}\n{send}")
    sent, _ = _campaign(tmp_path, f"journey: trial\n{before}\n{send}", [
        _identify("a1", "a", "2026-02-20T18:00:00Z", email="a@example.com", timezone="America/Los_Angeles",
                  trial_ends_at="2026-03-02", anniversary_date="2024-02-25"),
        {"messageId": "a2", "type": "track", "event": "x", "userId": "a", "timestamp": "2027-03-01T00:00:00Z"},
    ])
    got = [(c["journey"], c["decided_at"]) for c in sent]
    assert got == [("anniversary", "2026-02-25T17:00:00.000Z"), ("trial", "2026-02-27T17:00:00.000Z"),
                   ("anniversary", "2027-02-25T17:00:00.000Z")], got


def test_the_stopping_rows_status_is_taken_and_nobody_enters(tmp_path: Path) -> None:
    status = re.search(r"`(status: paused)`", _row("stopping a campaign")).group(1)  # type: ignore[union-attr]
    journey = ("journey: onboarding\nentry: {event: signed_up}\nsteps:\n  - id: wait\n    wait: 1h\n"
               "  - id: hello\n    send: {channel: email, content: {subject: Hi, body: x}}\n")
    first: dict[str, object] = {"messageId": "s1", "type": "track", "event": "signed_up", "userId": "a", "timestamp": "2026-03-02T10:00:00Z"}
    sent, _ = _campaign(tmp_path, journey, [_identify("a1", "a", "2026-03-02T09:00:00Z", email="a@example.com"), first])
    assert [c["journey"] for c in sent] == ["onboarding"]
    (tmp_path / "e.jsonl").unlink()
    sent, err = _campaign(tmp_path, journey.replace("entry:", f"{status}\nentry:"),
                          [_identify("a1", "a", "2026-03-02T09:00:00Z", email="a@example.com"), first])
    assert sent == [] and "journey onboarding version 1 is paused" in err, err


def test_the_suppressed_people_row_texts_a_customer_whose_mail_bounced(tmp_path: Path) -> None:
    """The row's fallback, as written, after a provider's bounce callback (a receipt line naming no address: the
    customer's current one is remembered): the bounced customer is texted, the other mailed."""
    branch = re.search(r"`(branch: [^`]+)`", _row("suppressed people")).group(1)  # type: ignore[union-attr]
    journey = ("journey: promo\nentry: {event: promo}\nre_entry: always\nsteps:\n"
               f"  - id: pick\n    {branch}\n"
               "  - id: sms_nudge\n    send: {channel: sms, content: {body: x}}\n    next: end\n"
               "  - id: mail\n    send: {channel: email, content: {subject: Promo, body: x}}\n")
    sent, _ = _campaign(tmp_path, journey, [
        _identify("a1", "a", "2026-03-02T10:00:00Z", email="a@example.com", phone="+4915100000001"),
        _identify("b1", "b", "2026-03-02T10:00:00Z", email="b@example.com", phone="+4915100000002"),
        {"delivery_id": "d1", "customer_id": "a", "channel": "email", "status": "bounced",
         "at": "2026-03-02T10:01:00Z", "reason": "mailbox does not exist"},
        {"messageId": "p1", "type": "track", "event": "promo", "userId": "a", "timestamp": "2026-03-02T10:02:00Z"},
        {"messageId": "p2", "type": "track", "event": "promo", "userId": "b", "timestamp": "2026-03-02T10:02:00Z"},
    ])
    assert sorted((c["customer_id"], c["channel"]) for c in sent) == [("a", "sms"), ("b", "email")]  # type: ignore[type-var]
