"""The README's "Coming from Dittofeed" table: each journey and policy snippet in it loads as written, what its rows
say a migrated journey does, it does under ``cjo-stream simulate`` as a user runs it, and each Dittofeed template
form and node name it lists is refused by ``cjo-stream validate`` saying what to write."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from cjo_stream.journeys.templates import Template
from tests.readme_tables import identify as _identify
from tests.readme_tables import load_snippet, row_snippet, table_row, table_rows, table_snippets
from tests.readme_tables import mail_step as _mail
from tests.readme_tables import track as _track
from tests.test_cli_errors import run
from tests.test_klaviyo_table import _flow

_HEADING = "Coming from Dittofeed"
_TOPS = ("entry", "goal", "re_entry", "exit_on", "status", "timezone")
_STEPS = ("wait", "wait_until", "wait_for", "branch", "split", "update", "send")


def _row(start: str) -> str:
    return table_row(_HEADING, start)


def _snippet(start: str, kind: str, n: int = 0) -> str:
    return row_snippet(_HEADING, start, kind, n)


def test_the_tables_snippets_load() -> None:
    snippets = table_snippets(_HEADING, (*_TOPS, *_STEPS))
    assert {s.split(":")[0] for s in snippets} >= {*_TOPS, *_STEPS} - {"goal"}, snippets
    assert len(table_rows(_HEADING)) >= 15
    for i, s in enumerate(snippets):
        load_snippet(s, _TOPS, "ORDER_CANCELLED", i)


def test_the_policy_and_throttle_snippets_validate(tmp_path: Path) -> None:
    policies = [_snippet("subscription groups", "topics"), _snippet("subscription groups", "consent"),
                _snippet("Rate Limit", "frequency_caps")]
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "t.yaml").write_text(
        f"journey: t\nentry: {{event: x}}\n{_snippet('Rate Limit', 'throttle')}\nsteps:\n"
        f"  - id: s\n    send: {{channel: email, topic: newsletter, content: {{subject: s, body: b}}}}\n")
    (tmp_path / "policies.yaml").write_text("\n".join(policies) + "\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 0, p.stderr


def test_the_delay_node_row_waits_in_the_journeys_zone(tmp_path: Path) -> None:
    """A localized delay in the node's own zone, as the row writes it: the journey's ``timezone``, the row's
    ``wait_until``; a Berlin customer's Monday order waits for Tuesday 09:00 in New York (14:00 UTC)."""
    journey = (f"journey: delay\n{_snippet('Delay node', 'timezone')}\nentry: {{event: ORDER_CANCELLED}}\nsteps:\n"
               f"  - id: nine\n    {_snippet('Delay node', 'wait_until')}\n" + _mail("mail", "hi"))
    sent, _ = _flow(tmp_path, {"delay": journey}, [
        _identify("i", "a", "2026-03-02T09:00:00Z", email="a@example.com", timezone="Europe/Berlin"),
        _track("o", "a", "2026-03-02T15:00:00Z", "ORDER_CANCELLED")])  # 16:00 Berlin, 10:00 New York
    assert [c["decided_at"] for c in sent] == ["2026-03-03T14:00:00.000Z"]


def test_the_event_entry_row_runs_one_instance_at_a_time(tmp_path: Path) -> None:
    """A new run for each event while none runs; a second event during a run enters nothing; a repeated
    ``messageId`` enters once."""
    journey = (f"journey: cancelled\n{_snippet('Event Entry', 'entry')}\n{_snippet('Event Entry', 're_entry')}\n"
               "steps:\n  - id: wait\n    wait: 1d\n" + _mail("mail", "cancelled {{ event.properties.orderId }}"))
    sent, _ = _flow(tmp_path, {"cancelled": journey}, [
        _identify("i", "a", "2026-03-02T09:00:00Z", email="a@example.com"),
        _track("o1", "a", "2026-03-02T10:00:00Z", "ORDER_CANCELLED", orderId="1"),
        _track("o2", "a", "2026-03-02T11:00:00Z", "ORDER_CANCELLED", orderId="2"),  # during the first run
        _track("o3", "a", "2026-03-04T10:00:00Z", "ORDER_CANCELLED", orderId="3"),
        _track("o3", "a", "2026-03-04T10:00:00Z", "ORDER_CANCELLED", orderId="3"),  # the same event again
    ])
    assert [(c["decided_at"], c["content"]["subject"]) for c in sent] == [
        ("2026-03-03T10:00:00.000Z", "cancelled 1"), ("2026-03-05T10:00:00.000Z", "cancelled 3")]


def test_the_segment_entry_rows(tmp_path: Path) -> None:
    """Entering the trait segment enters the journey once, again after leaving it and coming back; the segment
    that time moves enters a customer a day after their 30th day without a login."""
    premium = (f"journey: premium\n{_snippet('Segment Entry node (users', 'entry')}\n"
               f"{_snippet('Segment Entry node (users', 're_entry')}\nsteps:\n" + _mail("hi", "premium"))
    lapsed = (f"journey: lapsed\n{_snippet('Segment Entry node on', 'entry')}\n"
              f"{_snippet('Segment Entry node on', 're_entry')}\nsteps:\n" + _mail("miss", "lapsed"))
    sent, _ = _flow(tmp_path, {"premium": premium, "lapsed": lapsed}, [
        _identify("i", "a", "2026-01-01T08:00:00Z", email="a@example.com"),
        _track("l1", "a", "2026-01-01T10:00:00Z", "LOGIN"),
        _identify("p1", "a", "2026-01-02T10:00:00Z", plan="premium"),
        _identify("p2", "a", "2026-01-03T10:00:00Z", plan="premium"),  # still in the segment: nothing
        _identify("p3", "a", "2026-01-04T10:00:00Z", plan="free"),
        _identify("p4", "a", "2026-01-05T10:00:00Z", plan="premium"),  # back in it: enters again
        _track("x", "a", "2026-02-05T10:00:00Z", "Product Viewed"),
    ])
    got = [(c["journey"], c["decided_at"]) for c in sent]
    assert got == [("premium", "2026-01-02T10:00:00.000Z"), ("premium", "2026-01-05T10:00:00.000Z"),
                   ("lapsed", "2026-02-01T09:00:00.000Z")], got


@pytest.mark.parametrize(("start", "customers"), [
    ("Trait segment node", {"a": ({"plan": "premium", "seats": 12}, "big"),
                            "b": ({"plan": "premium", "seats": "12", "createdAt": "2026-03-02T09:50:00Z"}, "fresh"),
                            "c": ({"plan": "free", "createdAt": "2026-03-01T09:50:00Z"}, None)}),
    ("Includes node", {"a": ({"tags": ["VIP", "Frequent Buyer"]}, "vip"), "b": ({"tags": ["Frequent Buyer"]}, None),
                       "c": ({}, None)}),
    ("Subscription Group segment node", {"a": ({"consent": {"newsletter": True}}, "thanks"),
                                         "b": ({"consent": {"newsletter": False}}, None), "c": ({}, None)}),
])
def test_the_segment_node_rows_branch(tmp_path: Path, start: str, customers: dict[str, tuple[dict[str, object],
                                                                                       str | None]]) -> None:
    """Each row's ``branch`` takes each customer the way Dittofeed's segment would: text ``"12"`` is no number."""
    branch = _snippet(start, "branch")
    targets = [t for t in re.findall(r"(?:next|else): ([a-z_]+)", branch) if t != "end"]
    journey = (f"journey: seg\nentry: {{event: go}}\nsteps:\n  - id: split\n    {branch}\n"
               + "".join(_mail(t, t, "end") for t in targets))
    events = [_identify(f"i{c}", c, "2026-03-02T09:00:00Z", email=f"{c}@example.com", **traits)
              for c, (traits, _) in customers.items()]
    events += [_track(f"g{c}", c, "2026-03-02T10:00:00Z", "go") for c in customers]
    sent, _ = _flow(tmp_path, {"seg": journey}, events)
    got = {c["customer_id"]: c["content"]["subject"] for c in sent}
    assert got == {c: way for c, (_, way) in customers.items() if way is not None}


def test_the_performed_segment_row(tmp_path: Path) -> None:
    branch = _snippet("Performed segment node", "branch")
    journey = (f"journey: seg\nentry: {{event: go}}\nsteps:\n  - id: split\n    {branch}\n"
               + _mail("recent", "recent", "end") + _mail("never", "never", "end"))
    sent, _ = _flow(tmp_path, {"seg": journey}, [
        *[_identify(f"i{c}", c, "2026-03-01T09:00:00Z", email=f"{c}@example.com") for c in "abc"],
        _track("pa", "a", "2026-03-05T10:00:00Z", "PROJECT_CREATED"),
        _track("pb", "b", "2026-03-01T10:00:00Z", "PROJECT_CREATED"),  # 9 days before: neither way
        *[_track(f"g{c}", c, "2026-03-10T10:00:00Z", "go") for c in "abc"],
    ])
    assert sorted((c["customer_id"], c["content"]["subject"]) for c in sent) == [("a", "recent"), ("c", "never")]


def test_the_subscription_rows(tmp_path: Path) -> None:
    """An opt-in group's send goes to those who subscribed to its topic; Dittofeed's ``DFSubscriptionChange`` is an
    event like any other here, and an ``unsubscribed`` naming the topic withdraws it."""
    policies = _snippet("subscription groups", "topics") + "\n" + _snippet("subscription groups", "consent") + "\n"
    topic = re.search(r"`(topic: [a-z_]+)`", _row("subscription groups")).group(1)  # type: ignore[union-attr]
    journey = ("journey: news\nentry: {event: issue}\nre_entry: always\nsteps:\n"
               f"  - id: m\n    send: {{channel: email, {topic}, content: {{subject: news, body: x}}}}\n")
    sent, notes = _flow(tmp_path, {"news": journey}, [
        *[_identify(f"i{c}", c, "2026-03-01T09:00:00Z", email=f"{c}@example.com") for c in "abc"],
        *[_track(f"s{c}", c, "2026-03-01T10:00:00Z", "subscribed", topic="newsletter") for c in "ab"],
        _track("da", "a", "2026-03-02T10:00:00Z", "DFSubscriptionChange", subscriptionId="x", action="Unsubscribe"),
        _track("ub", "b", "2026-03-02T10:00:00Z", "unsubscribed", topic="newsletter"),
        *[_track(f"n{c}", c, "2026-03-03T10:00:00Z", "issue") for c in "abc"],
    ], policies)
    assert [c["customer_id"] for c in sent] == ["a"]
    assert sorted((n["customer_id"], n["reason"]) for n in notes if n["kind"] == "skipped") == [
        ("b", "no_consent"), ("c", "no_consent")]
    assert "changes no consent" in _row("`DFSubscriptionChange`")


def test_the_wait_for_row_goes_on_when_the_condition_holds(tmp_path: Path) -> None:
    journey = ("journey: onboard\nentry: {event: signed_up}\nsteps:\n"
               f"  - id: wait\n    {_snippet('Wait For node', 'wait_for')}\n    next: done\n    on_timeout: nudge\n"
               + _mail("nudge", "nudge", "end") + _mail("done", "done"))
    sent, _ = _flow(tmp_path, {"onboard": journey}, [
        *[_identify(f"i{c}", c, "2026-03-01T09:00:00Z", email=f"{c}@example.com") for c in "ab"],
        *[_track(f"s{c}", c, "2026-03-01T10:00:00Z", "signed_up") for c in "ab"],
        _identify("o", "a", "2026-03-02T10:00:00Z", onboarded=True),
        _track("x", "b", "2026-03-06T10:00:00Z", "x"),
    ])
    assert [(c["customer_id"], c["content"]["subject"], c["decided_at"]) for c in sent] == [
        ("a", "done", "2026-03-02T10:00:00.000Z"), ("b", "nudge", "2026-03-04T10:00:00.000Z")]


def test_the_message_node_row_a_skipped_send_goes_on(tmp_path: Path) -> None:
    """Unlike Dittofeed's run, which ends at a message skipped, the instance goes on to the next send."""
    journey = ("journey: welcome\nentry: {event: signed_up}\nsteps:\n"
               f"  - id: mail\n    {_snippet('Message node', 'send')}\n"
               "  - id: text\n    send: {channel: sms, content: {body: hi}}\n")
    sent, notes = _flow(tmp_path, {"welcome": journey}, [
        _identify("i", "a", "2026-03-01T09:00:00Z", phone="+15550001"),  # no e-mail address
        _track("s", "a", "2026-03-01T10:00:00Z", "signed_up"),
    ])
    assert [c["channel"] for c in sent] == ["sms"]
    assert [(n["step"], n["reason"]) for n in notes if n["kind"] == "skipped"] == [("mail", "no_address")]
    assert "goes on" in _row("Message node")


def test_the_performed_user_property_row_keeps_the_last_item(tmp_path: Path) -> None:
    keep = (f"journey: keep\nentry: {{event: purchase}}\n{_snippet('Performed user property', 're_entry')}\n"
            f"steps:\n  - id: keep\n    {_snippet('Performed user property', 'update')}\n")
    read = re.findall(r"`(\{\{ profile\.traits\.[^`]+\}\})`", _row("Performed user property"))[0]
    promo = "journey: promo\nentry: {event: promo}\nre_entry: always\nsteps:\n" + _mail("m", f"Still like {read}?")
    sent, _ = _flow(tmp_path, {"keep": keep, "promo": promo}, [
        _identify("i", "a", "2026-03-01T09:00:00Z", email="a@example.com"),
        _track("p1", "a", "2026-03-01T10:00:00Z", "purchase", item={"name": "orange socks"}),
        _track("p2", "a", "2026-03-02T10:00:00Z", "purchase", item={"name": "blue hat"}),
        _track("x", "a", "2026-03-03T10:00:00Z", "promo"),
    ])
    assert [c["content"]["subject"] for c in sent] == ["Still like blue hat?"]


def test_the_broadcast_row_sends_once_on_the_day(tmp_path: Path) -> None:
    policies = "consent: opt_out\ntopics: {newsletter: opt_in}\n"
    journey = f"journey: spring\n{_snippet('broadcast', 'entry')}\nsteps:\n" + _mail("m", "Spring sale")
    sent, _ = _flow(tmp_path, {"spring": journey}, [
        *[_identify(f"i{c}", c, "2026-03-01T09:00:00Z", email=f"{c}@example.com") for c in "ab"],
        _track("s", "a", "2026-03-01T10:00:00Z", "subscribed", topic="newsletter"),
        _track("x", "b", "2026-03-20T10:00:00Z", "x"),
    ], policies)
    assert [(c["customer_id"], c["decided_at"]) for c in sent] == [("a", "2026-03-15T10:00:00.000Z")]


_FORM = re.compile(r"`(\{[{%][^`]+[}%]\})`")


@pytest.mark.parametrize("start", ["`{{ user.firstName", "`{% unsubscribe_link"])
def test_validate_tells_the_template_rows(tmp_path: Path, start: str) -> None:
    """Each Dittofeed form in the row's first column is refused by ``validate`` at its line, naming Dittofeed (and,
    for a user property or a tag, the path of ours the row gives); each of ours in the second column loads."""
    (theirs,) = [k for k in table_rows(_HEADING) if k.startswith(start)]
    forms = _FORM.findall(theirs)
    assert len(forms) >= 5, forms
    (tmp_path / "journeys").mkdir()
    for i, form in enumerate(forms):
        (tmp_path / "journeys" / f"j{i}.yaml").write_text(
            f"journey: j{i}\nentry: {{event: x}}\nsteps:\n  - id: s\n"
            f"    send: {{channel: email, content: {{subject: s, body: {orjson.dumps(form).decode()}}}}}\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    ours = re.findall(r"`(\{\{ [^`]+ \}\})`", _row(start))
    for i, form in enumerate(forms):
        (line,) = [ln for ln in p.stderr.splitlines() if f"j{i}.yaml:" in ln]
        assert "Dittofeed" in line, line
        if start == "`{{ user.firstName":
            assert ours[i].strip("{} ").split(" | ")[0] in line, (form, ours[i], line)
        if form.startswith("{% for"):  # the loop as the row writes it here
            assert re.findall(r"`(\{% for [^`]+ %\})`", _row(start))[0] in line, line
    for mine in ours:
        Template(mine)
    for loop in re.findall(r"`(\{% for [^`]+ %\})`", _row(start)):  # ours, which a loop over nothing renders empty
        assert Template(loop + "{{ product.name }}{% endfor %}").render({"profile": {"traits": {}}}) == ""


@pytest.mark.parametrize(("step", "ours"), [
    ("delay: 1d", "`wait: 1d`"), ("message: {template: welcome}", "`send: {channel: email"),
    ("segment_split: {segment: premium}", "`branch: "), ("type: RandomCohortNode", "`split: "),
    ("exit: true", "`next: end`"), ("RateLimitNode: {}", "`throttle: "),
])
def test_a_dittofeed_node_name_as_a_step_is_told_what_to_write(tmp_path: Path, step: str, ours: str) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "j.yaml").write_text(f"journey: j\nentry: {{event: x}}\nsteps:\n  - id: s\n    {step}\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    assert re.search(rf"j\.yaml:5: .*Dittofeed's [A-Z][a-z]+( [A-Z][a-z]+)? node is {re.escape(ours)}", p.stderr), \
        p.stderr


@pytest.mark.parametrize(("text", "told"), [
    ("entry: {segment: new_users}\nsteps:\n  - id: s\n    wait: 1d\n",
     "entry.segment: .*a Dittofeed segment is a condition here, written where it is used: `entry: {event: identify"),
    ("entry: {event: x}\nsteps:\n  - id: s\n    wait_for: {segmentId: onboarded, timeout: 3d}\n",
     "wait_for.segmentId: .*a Dittofeed segment is a condition here, .*`wait_for: {condition: "),
    ("entry: {event: x}\nsteps:\n  - id: s\n    branch: [{segment: premium, next: end}]\n",
     "branch.0.segment: .*a Dittofeed segment is a condition here, .*`{when: ..., next: ...}`"),
    ("entry: {event: x}\nsteps:\n  - id: s\n    send: {channel: email, templateId: welcome}\n",
     "send.templateId: .*Dittofeed's templateId: the message is written in the step, `content: "),
    ("entry: {event: x}\nsteps:\n  - id: s\n    send: {channel: email, subscription_group: news, content: {body: b}}\n",
     "Dittofeed's subscription_group: a subscription group is a topic here, `topic: newsletter`"),
    ("entry: {event: x}\nsteps:\n  - id: s\n    send: {channel: mobile_push, content: {body: b}}\n",
     "unknown channel 'mobile_push' \\(did you mean 'push'\\?\\)"),
])
def test_a_dittofeed_segment_template_group_or_channel_is_told_what_to_write(tmp_path: Path, text: str,
                                                                            told: str) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "j.yaml").write_text(f"journey: j\n{text}")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    assert re.search(rf"j\.yaml:\d+: .*{told}", p.stderr), p.stderr


def test_a_misspelt_key_of_ours_is_still_told_its_nearest() -> None:
    from cjo_stream.journeys.foreign_steps import foreign_key

    assert foreign_key(("steps", 0, "wiat"), "wiat", {"wiat": "1d"}) == ""
    assert foreign_key(("steps", 0, "type"), "type", {"type": "email"}) == ""
    assert foreign_key(("entry", "delay"), "delay", {}) == ""
    assert foreign_key(("steps", 0, "send", "segment"), "segment", {}) == ""  # no segment is a send's


@pytest.mark.parametrize("command", ["simulate", "replay"])
def test_a_dittofeed_subscription_event_in_the_input_is_told(tmp_path: Path, command: str) -> None:
    """``DFSubscriptionChange`` changes no consent here (the row says so): ``simulate`` and ``replay`` say it of the
    customers who sent one, counted, never named."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "news.yaml").write_text(
        "journey: news\nentry: {event: issue}\nsteps:\n" + _mail("m", "news"))
    (tmp_path / "policies.yaml").write_text("consent: opt_out\n")
    events = [_identify(f"i{c}", c, "2026-03-01T09:00:00Z", email=f"{c}@example.com") for c in "abc"]
    events += [_track(f"d{c}", c, "2026-03-02T10:00:00Z", "DFSubscriptionChange", subscriptionId="x",
                      action="Unsubscribe") for c in "ab"]
    events += [_track("n", "c", "2026-03-03T10:00:00Z", "issue")]
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    p = run(command, "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    (note,) = [ln for ln in p.stderr.splitlines() if "DFSubscriptionChange" in ln]
    assert note.startswith("note: 2 customer(s) of the input sent the event 'DFSubscriptionChange'"), note
    told = re.search(r"`(note: [^`]+) \.\.\.`", _row("`DFSubscriptionChange`")).group(1)  # type: ignore[union-attr]
    assert note.startswith(told), (told, note)
    assert "'unsubscribed'" in note and "a@example.com" not in p.stderr


def test_no_dittofeed_note_without_the_event(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "news.yaml").write_text("journey: news\nentry: {event: issue}\nsteps:\n" + _mail("m", "n"))
    (tmp_path / "e.jsonl").write_bytes(orjson.dumps(_track("u", "a", "2026-03-02T10:00:00Z", "unsubscribed")) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0 and "DFSubscriptionChange" not in p.stderr, p.stderr
