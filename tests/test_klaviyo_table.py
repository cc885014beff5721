"""The README's "Coming from Klaviyo" table: each journey and policy snippet in it loads as written, and what its
rows say a migrated flow does, it does under ``cjo-stream validate`` and ``simulate`` as a user runs them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from cjo_stream.adapters.email import EmailConfig, build_message
from cjo_stream.commands import DeliveryCommand
from cjo_stream.journeys.templates import Template
from tests.readme_tables import identify as _identify
from tests.readme_tables import load_snippet, row_snippet, table_row, table_rows, table_snippets
from tests.readme_tables import mail_step as _mail
from tests.readme_tables import track as _track
from tests.test_cli_errors import run

_TOPS = ("entry", "goal", "re_entry", "exit_on", "status")
_STEPS = ("wait", "wait_until", "branch", "split", "update")


def _row(start: str) -> str:
    return table_row('Coming from Klaviyo', start)


def _snippet(start: str, kind: str, n: int = 0) -> str:
    return row_snippet('Coming from Klaviyo', start, kind, n)


def _snippets() -> list[str]:
    return table_snippets('Coming from Klaviyo', (*_TOPS, *_STEPS))


def test_the_tables_snippets_load() -> None:
    snippets = _snippets()
    kinds = {s.split(":")[0] for s in snippets}
    assert kinds >= {*_TOPS, *_STEPS}, snippets
    for i, s in enumerate(snippets):
        load_snippet(s, _TOPS, "Checkout Started", i)


def test_the_policy_snippets_validate(tmp_path: Path) -> None:
    policies = [_snippet("Smart Sending", "frequency_caps"), _snippet("SMS quiet hours", "quiet_hours"),
                _snippet("list-triggered", "topics"), _snippet("SMS consent", "consent")]
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "t.yaml").write_text("journey: t\nentry: {event: x}\nsteps:\n  - id: s\n    wait: 1h\n")
    (tmp_path / "policies.yaml").write_text("\n".join(policies) + "\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 0, p.stderr


def _flow(tmp_path: Path, journeys: dict[str, str], events: list[dict[str, Any]],
          policies: str = "") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The commands ``simulate`` writes for ``journeys`` over ``events``, and its journey events."""
    (tmp_path / "journeys").mkdir(exist_ok=True)
    for name, text in journeys.items():
        (tmp_path / "journeys" / f"{name}.yaml").write_text(text)
    (tmp_path / "policies.yaml").write_text(policies or "consent: opt_out\n")
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"),
            "--journey-events", str(tmp_path / "je.jsonl"))
    assert p.returncode == 0, p.stderr
    notes = [orjson.loads(line) for line in (tmp_path / "je.jsonl").read_text().splitlines()]
    return [orjson.loads(line) for line in p.stdout.splitlines()], notes


def test_the_abandoned_checkout_rows(tmp_path: Path) -> None:
    """Trigger filter, the flow filter on an order, a new checkout starting over, the trigger split."""
    exits = [re.search(r"\[(.*)\]", _snippet(r, "exit_on")).group(1)  # type: ignore[union-attr]
             for r in ("flow filter", "a new trigger")]
    journey = (f"journey: checkout\n{_snippet('metric-triggered', 'entry')}\n"
               f"{_snippet('a new trigger', 're_entry')}\nexit_on: [{', '.join(exits)}]\n"
               f"steps:\n  - id: delay\n    wait: 4h\n  - id: split\n    {_snippet('trigger split', 'branch')}\n"
               + _mail("coupon_mail", "coupon {{ event.properties['$value'] }}", "end")
               + _mail("reminder", "reminder {{ event.properties['$value'] }}"))
    events = [_identify(f"i{c}", c, "2026-03-02T09:00:00Z", email=f"{c}@example.com") for c in "abcde"]
    events += [
        _track("a1", "a", "2026-03-02T10:00:00Z", "Checkout Started", **{"$value": 19}),    # below the filter
        _track("b1", "b", "2026-03-02T10:00:00Z", "Checkout Started", **{"$value": 150}),   # the coupon way
        _track("c1", "c", "2026-03-02T10:00:00Z", "Checkout Started", **{"$value": 30}),
        _track("c2", "c", "2026-03-02T12:00:00Z", "Order Completed", **{"$value": 30}),     # ordered: nothing
        _track("d1", "d", "2026-03-02T10:00:00Z", "Checkout Started", **{"$value": 30}),
        _track("d2", "d", "2026-03-02T11:00:00Z", "Checkout Started", **{"$value": 120}),   # starts over
        _track("e1", "e", "2026-03-02T10:00:00Z", "Checkout Started", **{"$value": 25}),
    ]
    sent, _ = _flow(tmp_path, {"checkout": journey}, events)
    got = sorted((c["customer_id"], c["decided_at"], c["content"]["subject"]) for c in sent)
    assert got == [("b", "2026-03-02T14:00:00.000Z", "coupon 150"), ("d", "2026-03-02T15:00:00.000Z", "coupon 120"),
                   ("e", "2026-03-02T14:00:00.000Z", "reminder 25")], got


def test_the_smart_sending_row_skips_and_goes_on(tmp_path: Path) -> None:
    policies = _snippet("Smart Sending", "frequency_caps") + "\n"
    journey = ("journey: series\nentry: {event: subscribed}\nsteps:\n" + _mail("first", "first")
               + _mail("second", "second") + "  - id: later\n    wait: 1d\n" + _mail("third", "third"))
    sent, notes = _flow(tmp_path, {"series": journey}, [
        _identify("i", "a", "2026-03-02T09:00:00Z", email="a@example.com"),
        _track("s", "a", "2026-03-02T10:00:00Z", "subscribed", channel="email")], policies)
    assert [c["content"]["subject"] for c in sent] == ["first", "third"]
    assert [(n["step"], n["reason"]) for n in notes if n["kind"] == "skipped"] == [("second", "frequency_cap")]


def test_the_list_and_segment_triggered_rows(tmp_path: Path) -> None:
    """Added to the newsletter list enters the welcome series; a daily schedule enters the lapsed segment; an
    identify that makes the customer vip enters once."""
    policies = _snippet("list-triggered", "topics") + "\n"
    topic = re.search(r"`(topic: [a-z]+)`", _row("list-triggered")).group(1)  # type: ignore[union-attr]
    welcome = (f"journey: welcome\n{_snippet('list-triggered', 'entry')}\nsteps:\n  - id: hi\n"
               f"    send: {{channel: email, {topic}, content: {{subject: Welcome, body: x}}}}\n")
    lapsed = f"journey: lapsed\n{_snippet('segment-triggered', 'entry')}\nsteps:\n" + _mail("miss", "We miss you")
    vip = f"journey: vip\n{_snippet('segment-triggered', 'entry', 1)}\nre_entry: always\nsteps:\n" + _mail("vip", "VIP")
    sent, _ = _flow(tmp_path, {"welcome": welcome, "lapsed": lapsed, "vip": vip}, [
        _identify("i", "a", "2026-01-01T08:00:00Z", email="a@example.com"),
        _track("o", "a", "2026-01-01T10:00:00Z", "Order Completed"),
        _track("s", "a", "2026-01-02T10:00:00Z", "subscribed", channel="email"),  # not the list: no welcome
        _track("n", "a", "2026-01-03T10:00:00Z", "subscribed", topic="newsletter"),
        _identify("v1", "a", "2026-01-04T10:00:00Z", vip=True),
        _identify("v2", "a", "2026-01-05T10:00:00Z", vip=True),  # still vip: no second entry
        _track("x", "a", "2026-04-15T10:00:00Z", "Product Viewed"),  # lapsed at 09:00 the 91st day after
    ], policies)
    got = [(c["journey"], c["decided_at"], c.get("topic")) for c in sent]
    assert got == [("welcome", "2026-01-03T10:00:00.000Z", "newsletter"), ("vip", "2026-01-04T10:00:00.000Z", None),
                   ("lapsed", "2026-04-02T09:00:00.000Z", None)], got


def test_the_sms_consent_quiet_hours_and_suppression_rows(tmp_path: Path) -> None:
    policies = _snippet("SMS quiet hours", "quiet_hours") + "\n" + _snippet("SMS consent", "consent") + "\n"
    journey = ("journey: cart\nentry: {event: Checkout Started}\nsteps:\n"
               "  - id: text\n    send: {channel: sms, content: {body: cart}}\n"
               f"  - id: bounced\n    {_snippet('suppressed', 'branch')}\n" + _mail("mail", "cart"))
    events = [_identify(f"i{c}", c, "2026-03-02T09:00:00Z", email=f"{c}@example.com", phone=f"+1555000{i}")
              for i, c in enumerate("abcd")]
    events += [_track(f"{c}1", c, "2026-03-02T09:01:00Z", "subscribed", channel="sms") for c in "abc"]
    events += [
        _track("b2", "b", "2026-03-02T09:02:00Z", "message_bounced", channel="email"),
        _track("c2", "c", "2026-03-02T09:02:00Z", "unsubscribed", channel="email"),
    ] + [_track(f"{c}3", c, "2026-03-02T22:00:00Z", "Checkout Started") for c in "abcd"]
    sent, notes = _flow(tmp_path, {"cart": journey}, events, policies)
    got = sorted((c["customer_id"], c["channel"], c["decided_at"]) for c in sent)
    # texted at the end of the quiet hours (UTC here) and then mailed, but b (its address hard-bounced: the branch
    # ends it, and a mail would be skipped `undeliverable`) and c (unsubscribed from mail); d never said yes to texts,
    # and is mailed at once
    assert got == [("a", "email", "2026-03-03T11:00:00.000Z"), ("a", "sms", "2026-03-03T11:00:00.000Z"),
                   ("b", "sms", "2026-03-03T11:00:00.000Z"), ("c", "sms", "2026-03-03T11:00:00.000Z"),
                   ("d", "email", "2026-03-02T22:00:00.000Z")], got
    skipped = sorted((n["customer_id"], n["step"], n["reason"]) for n in notes if n["kind"] == "skipped")
    assert skipped == [("c", "mail", "no_consent"), ("d", "text", "no_consent")]


def test_the_conditional_split_delay_and_back_in_stock_rows(tmp_path: Path) -> None:
    bis = (f"journey: bis\n{_snippet('back in stock', 'entry')}\n{_snippet('back in stock', 're_entry')}\n"
           f"steps:\n  - id: split\n    {_snippet('conditional split', 'branch')}\n"
           + _mail("vip_mail", "vip {{ event.properties.name }}", "end") + _mail("first_mail", "{{ event.properties.name }}"))
    weekdays = _snippet("time delay", "wait_until", 1)
    browse = f"journey: browse\nentry: {{event: Product Viewed}}\nsteps:\n  - id: d\n    {weekdays}\n" + _mail("m", "b")
    sent, _ = _flow(tmp_path, {"bis": bis, "browse": browse}, [
        _identify("ia", "a", "2026-03-01T09:00:00Z", email="a@example.com"),
        _identify("ib", "b", "2026-03-01T09:00:00Z", email="b@example.com"),
        _track("a1", "a", "2026-03-01T10:00:00Z", "Order Completed"),
        _track("a2", "a", "2026-03-01T11:00:00Z", "Order Completed"),
        _track("b1", "b", "2026-03-01T10:00:00Z", "Order Completed"),
        _track("a3", "a", "2026-03-02T10:00:00Z", "Back In Stock", name="Lamp"),
        _track("a4", "a", "2026-03-03T10:00:00Z", "Back In Stock", name="Mug"),
        _track("b2", "b", "2026-03-02T10:00:00Z", "Back In Stock", name="Lamp"),
        _track("b3", "b", "2026-03-07T12:00:00Z", "Product Viewed"),  # a Saturday: Monday at 10:00
    ])
    got = sorted((c["customer_id"], c["decided_at"], c["content"]["subject"]) for c in sent)
    assert got == [("a", "2026-03-02T10:00:00.000Z", "vip Lamp"), ("a", "2026-03-03T10:00:00.000Z", "vip Mug"),
                   ("b", "2026-03-02T10:00:00.000Z", "Lamp"), ("b", "2026-03-09T10:00:00.000Z", "b")], got


def test_the_conversion_row_counts_from_the_entry(tmp_path: Path) -> None:
    journey = (f"journey: cart\nentry: {{event: Checkout Started}}\n{_snippet('conversion', 'goal')}\nre_entry: always\n"
               "steps:\n  - id: w\n    wait: 10d\n")
    _, notes = _flow(tmp_path, {"cart": journey}, [
        _track("a1", "a", "2026-03-02T10:00:00Z", "Checkout Started"),
        _track("a2", "a", "2026-03-06T10:00:00Z", "Order Completed"),  # within 5 days: converts
        _track("b1", "b", "2026-03-02T10:00:00Z", "Checkout Started"),
        _track("b2", "b", "2026-03-08T10:00:00Z", "Order Completed"),  # 6 days on: no conversion
    ])
    assert [n["customer_id"] for n in notes if n["kind"] == "converted"] == ["a"]


def test_the_sunset_row_suppresses_those_who_did_not_click(tmp_path: Path) -> None:
    """The row's entry, wait and update under ``simulate``: the last mail to both, the one who clicked stays, the
    other's e-mail consent is withdrawn (a later mail skipped ``no_consent``) until their own ``subscribed``."""
    sunset = (f"journey: sunset\n{_snippet('sunset flow', 'entry')}\nsteps:\n" + _mail("last_chance", "Still want us?")
              + f"  - id: wait_click\n    {_snippet('sunset flow', 'wait_for')}\n    on_event: end\n"
              f"  - id: suppress\n    {_snippet('sunset flow', 'update')}\n")
    assert "on_event: end" in _row("sunset flow")
    promo = "journey: promo\nentry: {event: Promo}\nre_entry: always\nsteps:\n" + _mail("promo", "Sale")
    sent, notes = _flow(tmp_path, {"sunset": sunset, "promo": promo}, [
        _identify("ia", "a", "2026-01-01T08:00:00Z", email="a@example.com"),
        _identify("ib", "b", "2026-01-01T08:00:00Z", email="b@example.com"),
        _track("cb", "b", "2026-07-03T10:00:00Z", "message_clicked", channel="email"),  # within 5 days of the mail
        _track("pa", "a", "2026-07-20T10:00:00Z", "Promo"),  # a was suppressed: skipped
        _track("pb", "b", "2026-07-20T10:00:00Z", "Promo"),
        _track("sa", "a", "2026-07-21T10:00:00Z", "subscribed", channel="email"),  # a's own yes gives it back
        _track("pa2", "a", "2026-07-22T10:00:00Z", "Promo"),
    ])
    got = [(c["journey"], c["customer_id"], c["decided_at"][:10]) for c in sent]
    (last,) = {d for j, _, d in got if j == "sunset"}
    assert got == [("sunset", "a", last), ("sunset", "b", last), ("promo", "b", "2026-07-20"),
                   ("promo", "a", "2026-07-22")], got
    skipped = [(n["journey"], n["customer_id"], n.get("reason")) for n in notes if n["kind"] == "skipped"]
    assert skipped == [("promo", "a", "no_consent")], skipped


def test_the_in_flow_row_says_what_cannot_be_written(tmp_path: Path) -> None:
    """A condition cannot see another journey: refused at load."""
    assert "no equivalent" in _row('"is in flow"')
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "browse.yaml").write_text(
        "journey: browse\nentry: {event: Product Viewed, when: profile.journeys.checkout == null}\n"
        "steps:\n  - id: w\n    wait: 1h\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    assert re.search(r"browse\.yaml:\d+: .*profile has no field 'journeys'", p.stderr), p.stderr


_THEIRS = re.compile(r"`(\{[{%][^`]+[}%]\}|\|[a-z]+(?::[0-9]+|:'[^']*')?)`")


@pytest.mark.parametrize("start", ["`{{ first_name", "`{% if event.Items", "`{% unsubscribe"])
def test_validate_tells_the_template_rows(tmp_path: Path, start: str) -> None:
    """Each Klaviyo form in the row's first column is refused by ``validate`` at its line, saying what to write;
    each of ours in the second column loads."""
    (theirs,) = [k for k in table_rows('Coming from Klaviyo') if k.startswith(start)]
    forms = _THEIRS.findall(theirs)
    assert len(forms) >= 5, forms
    (tmp_path / "journeys").mkdir()
    for i, form in enumerate(forms):
        body = form if form.startswith("{") else "{{ now " + form + " }}"
        if body.startswith("{% if"):
            body += "x{% endif %}"
        (tmp_path / "journeys" / f"j{i}.yaml").write_text(
            f"journey: j{i}\nentry: {{event: x}}\nsteps:\n  - id: s\n"
            f"    send: {{channel: email, content: {{subject: s, body: {orjson.dumps(body).decode()}}}}}\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    ours = re.findall(r"`(\{\{ [^`]+ \}\}|\{% if [^`]+ %\})`", _row(start))
    for i, form in enumerate(forms):
        (line,) = [ln for ln in p.stderr.splitlines() if f"j{i}.yaml:" in ln]
        assert "profile.traits.first_name" in line if form.startswith("{{ first_name") else "Klaviyo" in line, line
        if start == "`{{ first_name":  # the path of ours the error names
            assert ours[i].strip("{} ").split(" | ")[0] in line, (form, ours[i], line)
    for mine in ours:
        Template(mine + ("{% endif %}" if mine.startswith("{% if") else ""))


def test_the_unsubscribe_row_puts_the_link_in_the_body(tmp_path: Path) -> None:
    """The row's ``body:`` passes the journey's Liquid as written, and the e-mail adapter writes the link of its
    List-Unsubscribe header there."""
    body = re.search(r'`(body: "[^`]+")`', _row("`{% unsubscribe")).group(1)  # type: ignore[union-attr]
    body = body.replace("...", "Hi {{ profile.traits.first_name }}.")
    journey = ("journey: news\nentry: {event: x}\nsteps:\n  - id: s\n"
               f"    send: {{channel: email, content: {{subject: s, {body}}}}}\n")
    sent, _ = _flow(tmp_path, {"news": journey}, [
        _identify("i", "a", "2026-03-02T09:00:00Z", email="a@example.com", first_name="Ada"),
        _track("x", "a", "2026-03-02T10:00:00Z", "x")])
    (cmd,) = sent
    assert cmd["content"]["body"] == "Hi Ada. Unsubscribe: {unsubscribe_url}"
    cfg = EmailConfig(sender="news@shop.example", unsubscribe_url="https://shop.example/u?d={delivery_id}")
    msg = build_message(cfg, msgspec.json.decode(orjson.dumps(cmd), type=DeliveryCommand))
    link = f"https://shop.example/u?d={cmd['delivery_id']}"
    assert msg["List-Unsubscribe"] == f"<{link}>"
    assert f"Hi Ada. Unsubscribe: {link}" in next(iter(msg.iter_parts())).get_content()  # type: ignore[union-attr]
