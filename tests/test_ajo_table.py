"""The README's "Coming from Adobe Journey Optimizer" table: each journey and policy snippet in it loads as written,
and what its rows say a migrated journey does, it does under ``cjo-stream validate`` and ``simulate`` as a user runs
them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from cjo_stream.journeys.templates import Template
from tests.readme_tables import identify as _identify
from tests.readme_tables import load_snippet, row_snippet, table_row, table_rows, table_snippets
from tests.readme_tables import mail_step as _mail
from tests.readme_tables import track as _track
from tests.test_cli_errors import run

_HEADING = "Coming from Adobe Journey Optimizer"
_TOPS = ("entry", "re_entry", "exit_on", "holdout", "throttle", "status", "version", "timezone")
_STEPS = ("wait", "wait_until", "wait_for", "branch", "split", "update", "send")


def _row(start: str) -> str:
    return table_row(_HEADING, start)


def _snippet(start: str, kind: str, n: int = 0) -> str:
    return row_snippet(_HEADING, start, kind, n)


def test_the_tables_snippets_load() -> None:
    snippets = table_snippets(_HEADING, (*_TOPS, *_STEPS))
    kinds = {s.split(":")[0] for s in snippets}
    assert kinds >= {*_TOPS, *_STEPS}, snippets
    assert 20 <= len(table_rows(_HEADING)) <= 30
    for i, s in enumerate(snippets):
        load_snippet(s, _TOPS, "Order Placed", i)


def test_the_policy_snippets_validate(tmp_path: Path) -> None:
    policies = [_snippet("business rules", "frequency_caps"), _snippet("business rules", "quiet_hours"),
                _snippet("global holdout", "global_control"), _snippet("journey and profile time zones",
                                                                        "default_timezone"),
                _snippet("consent", "consent")]
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "t.yaml").write_text("journey: t\nentry: {event: x}\nsteps:\n  - id: s\n    wait: 1h\n")
    (tmp_path / "policies.yaml").write_text("\n".join(policies) + "\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 0, p.stderr


def _simulate(tmp_path: Path, journeys: dict[str, str], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The commands ``simulate`` writes for ``journeys`` over ``events`` (and the journey events it notes)."""
    (tmp_path / "journeys").mkdir(exist_ok=True)
    for name, text in journeys.items():
        (tmp_path / "journeys" / f"{name}.yaml").write_text(text)
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    return [orjson.loads(line) for line in p.stdout.splitlines()]


def _order(mid: str, who: str, at: str, total: float) -> dict[str, Any]:
    return _track(mid, who, at, "Order Placed", commerce={"order": {"priceTotal": total}})


def test_the_unitary_event_reaction_and_exit_rows(tmp_path: Path) -> None:
    """The entry's condition on the XDM-shaped payload; the reaction taken only for this journey's mail (another
    journey's open is no reaction); the exit criteria ending the instance on an order."""
    reaction = _snippet("Reaction", "wait_for")
    journey = (f"journey: welcome\n{_snippet('unitary event', 'entry')}\n"
               "exit_on: [{event: Cart Emptied}]\nsteps:\n" + _mail("welcome_mail", "Thanks for {{ event.properties."
                                                                   "commerce.order.priceTotal }}")
               + f"  - id: react\n    {reaction}\n    on_event: opened\n    on_timeout: reminder\n"
               + _mail("opened", "glad you read it", "end") + _mail("reminder", "did you see it?"))
    events = [_identify(f"i{c}", c, "2026-03-02T09:00:00Z", email=f"{c}@example.com") for c in "abcd"]
    events += [
        _order("a1", "a", "2026-03-02T10:00:00Z", 80),
        _track("a2", "a", "2026-03-03T10:00:00Z", "message_opened", channel="email", journey="welcome",
               step="welcome_mail"),                                     # this mail opened: the reaction's way
        _order("b1", "b", "2026-03-02T10:00:00Z", 60),
        _track("b2", "b", "2026-03-03T10:00:00Z", "message_opened", channel="email", journey="newsletter",
               step="welcome_mail"),                                     # another journey's mail: no reaction
        _order("c1", "c", "2026-03-02T10:00:00Z", 20),                   # below the condition: not entered
        _order("d1", "d", "2026-03-02T10:00:00Z", 90),
        _track("d2", "d", "2026-03-03T10:00:00Z", "Cart Emptied"),       # the exit criteria: nothing more
    ]
    sent = _simulate(tmp_path, {"welcome": journey}, events)
    got = sorted((c["customer_id"], c["decided_at"], c["content"]["subject"]) for c in sent)
    assert got == [("a", "2026-03-02T10:00:00.000Z", "Thanks for 80"), ("a", "2026-03-03T10:00:00.000Z",
                                                                          "glad you read it"),
                   ("b", "2026-03-02T10:00:00.000Z", "Thanks for 60"), ("b", "2026-03-05T10:00:00.000Z",
                                                                          "did you see it?"),
                   ("d", "2026-03-02T10:00:00.000Z", "Thanks for 90")], got


def test_the_audience_qualification_rows(tmp_path: Path) -> None:
    """Realized as the trait changes to gold (sent again as gold: no second entry), Exited when it changes back,
    which ends the instance before its later mail."""
    entry = _snippet("audience qualification", "entry")
    exit_on = _snippet("audience qualification", "exit_on")
    journey = (f"journey: gold\n{entry}\nre_entry: always\n{exit_on}\nsteps:\n" + _mail("welcome", "Gold!")
               + "  - id: w\n    wait: 2d\n" + _mail("perks", "Your perks"))
    sent = _simulate(tmp_path, {"gold": journey}, [
        _identify("a1", "a", "2026-03-02T09:00:00Z", email="a@example.com", tier="silver"),
        _identify("a2", "a", "2026-03-02T10:00:00Z", tier="gold"),       # Realized: enters
        _identify("a3", "a", "2026-03-02T11:00:00Z", tier="gold"),       # still gold: no entry, no exit
        _identify("b1", "b", "2026-03-02T09:00:00Z", email="b@example.com", tier="gold"),
        _identify("b2", "b", "2026-03-03T09:00:00Z", tier="silver"),     # Exited: no perks
    ])
    got = sorted((c["customer_id"], c["decided_at"], c["content"]["subject"]) for c in sent)
    assert got == [("a", "2026-03-02T10:00:00.000Z", "Gold!"), ("a", "2026-03-04T10:00:00.000Z", "Your perks"),
                   ("b", "2026-03-02T09:00:00.000Z", "Gold!")], got


def test_the_reentrance_wait_period_counts_from_the_last_entry(tmp_path: Path) -> None:
    wait_period = _snippet("Allow re-entrance", "re_entry", 1)
    assert wait_period == "re_entry: after 5m"
    journey = f"journey: thanks\nentry: {{event: Order Placed}}\n{wait_period}\nsteps:\n" + _mail("m", "Thanks")
    sent = _simulate(tmp_path, {"thanks": journey}, [
        _identify("i", "a", "2026-03-02T09:00:00Z", email="a@example.com"),
        _order("o1", "a", "2026-03-02T10:00:00Z", 10),
        _order("o2", "a", "2026-03-02T10:02:00Z", 10),   # within 5 minutes of the entry: not again
        _order("o3", "a", "2026-03-02T10:06:00Z", 10),   # 6 minutes after the entry: enters again
    ])
    assert [c["decided_at"] for c in sent] == ["2026-03-02T10:00:00.000Z", "2026-03-02T10:06:00.000Z"]


def test_the_jump_row_starts_the_target_and_goes_on(tmp_path: Path) -> None:
    """The step enters the target (whose own entry condition applies, on this journey's trigger) and this
    journey's next step runs too."""
    (jump,) = re.findall(r"`(enter: [a-z_]+)`", _row("Jump"))
    target = jump.split(": ")[1]
    origin = (f"journey: welcome\nentry: {{event: Order Placed}}\nsteps:\n  - id: jump\n    {jump}\n"
              + _mail("after", "after the jump"))
    onboarding = (f"journey: {target}\nentry: {{event: handed_over, when: \"event.properties.commerce.order."
                  "priceTotal >= 100\"}\nsteps:\n" + _mail("hello", "VIP {{ event.properties.commerce.order."
                                                                  "priceTotal }}"))
    sent = _simulate(tmp_path, {"welcome": origin, target: onboarding}, [
        _identify("ia", "a", "2026-03-02T09:00:00Z", email="a@example.com"),
        _identify("ib", "b", "2026-03-02T09:00:00Z", email="b@example.com"),
        _order("a1", "a", "2026-03-02T10:00:00Z", 150),
        _order("b1", "b", "2026-03-02T10:00:00Z", 50),   # the target's condition does not hold: not entered
    ])
    got = sorted((c["customer_id"], c["journey"], c["content"]["subject"]) for c in sent)
    assert got == [("a", target, "VIP 150"), ("a", "welcome", "after the jump"), ("b", "welcome", "after the jump")]


def test_the_time_condition_row_branches_on_the_customers_clock(tmp_path: Path) -> None:
    """The weekend way, the office-hours way and the rest, each by the customer's own clock: 08:00 UTC on a
    Monday is office hours in Berlin, not in London; 23:30 UTC on a Friday is Saturday in Tokyo."""
    journey = (f"journey: slot\nentry: {{event: Order Placed}}\nre_entry: always\nsteps:\n"
               f"  - id: when\n    {_snippet('Condition activity: time condition', 'branch')}\n"
               + _mail("weekend_push", "weekend", "end") + _mail("office_mail", "office", "end")
               + _mail("evening_mail", "evening"))
    zones = {"lon": "Europe/London", "ber": "Europe/Berlin", "tok": "Asia/Tokyo", "ny": "America/New_York"}
    events = [_identify(f"i{c}", c, "2026-03-01T00:00:00Z", email=f"{c}@example.com", timezone=z)
              for c, z in zones.items()]
    events += [
        _order("l1", "lon", "2026-03-09T08:00:00Z", 1),   # 08:00 Monday in London: before the slot
        _order("b1", "ber", "2026-03-09T08:00:00Z", 1),   # 09:00 in Berlin: inside it
        _order("t1", "tok", "2026-03-13T23:30:00Z", 1),   # Saturday 08:30 in Tokyo
        _order("n1", "ny", "2026-03-14T02:00:00Z", 1),    # Friday 21:00 in New York (Saturday in UTC)
    ]
    sent = _simulate(tmp_path, {"slot": journey}, events)
    assert sorted((c["customer_id"], c["content"]["subject"]) for c in sent) == [
        ("ber", "office"), ("lon", "evening"), ("ny", "evening"), ("tok", "weekend")]


def test_the_journey_statuses_row_closes_a_journey(tmp_path: Path) -> None:
    """The row's Closed, as written: loaded, named on ``validate``'s line, and nobody enters it (those already in
    it going on to the end: tests/engine/test_closed_journey.py, tests/replay/test_replay_pause.py)."""
    closed = next(s for s in re.findall(r"`(status: [a-z]+)`", _row("journey statuses")) if s.endswith("closed"))
    journey = f"journey: drained\n{closed}\nentry: {{event: Order Placed}}\nsteps:\n" + _mail("m", "hi")
    for text, sends in ((journey, 0), (journey.replace(closed, "status: live"), 1)):
        sent = _simulate(tmp_path, {"drained": text}, [_identify("i", "a", "2026-03-01T09:00:00Z", email="a@x.com"),
                                                        _order("o", "a", "2026-03-02T10:00:00Z", 10)])
        assert len(sent) == sends, text
    p = run("validate", str(tmp_path))
    assert p.returncode == 0 and "(1 step)" in p.stdout, p.stdout  # (live, as last written)
    (tmp_path / "journeys" / "drained.yaml").write_text(journey)
    p = run("validate", str(tmp_path))
    assert p.returncode == 0 and "(1 step, closed)" in p.stdout, p.stdout


def test_the_time_zone_row_times_every_customer_in_the_journeys_zone(tmp_path: Path) -> None:
    """The journey's time zone as the row writes it: Tokyo's and New York's customers are both mailed at 09:00 in
    Paris (08:00 UTC in March), where each customer's own zone mailed them at their own 09:00."""
    zone = _snippet("journey and profile time zones", "timezone")
    journey = (f"journey: paris\n{zone}\nentry: {{event: Order Placed}}\nsteps:\n  - id: nine\n"
               "    wait_until: \"09:00\"\n" + _mail("m", "hi"))
    events = [_identify(f"i{c}", c, "2026-03-01T00:00:00Z", email=f"{c}@example.com", timezone=z)
              for c, z in (("tok", "Asia/Tokyo"), ("ny", "America/New_York"))]
    events += [_order("t1", "tok", "2026-03-02T10:00:00Z", 1), _order("n1", "ny", "2026-03-02T10:00:00Z", 1)]
    sent = _simulate(tmp_path, {"paris": journey}, events)
    assert sorted((c["customer_id"], c["decided_at"]) for c in sent) == [
        ("ny", "2026-03-03T08:00:00.000Z"), ("tok", "2026-03-03T08:00:00.000Z")]


def test_the_frequency_capping_row_skips_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text(_snippet("business rules", "frequency_caps") + "\n")
    journey = ("journey: series\nentry: {event: Order Placed}\nre_entry: always\nsteps:\n" + _mail("m", "hi")
               + _mail("after", "after"))
    orders = [_order(f"o{i}", "a", f"2026-03-0{2 + i}T10:00:00Z", 10) for i in range(3)]
    sent = _simulate(tmp_path, {"series": journey},
                     [_identify("i", "a", "2026-03-01T09:00:00Z", email="a@example.com"), *orders])
    # 3 a week: both mails of the first two orders would be 4; the 4th send is skipped, and the 3rd order's own
    # two are skipped as well, the instance going on past each
    assert [(c["decided_at"][:10], c["content"]["subject"]) for c in sent] == [
        ("2026-03-02", "hi"), ("2026-03-02", "after"), ("2026-03-03", "hi")]


def test_the_offer_row_reads_the_offer_from_a_catalog(tmp_path: Path) -> None:
    """What the offer decisioning row writes instead: the offer chosen upstream (a trait), its fields from a
    catalog; a customer with no offer chosen goes another way by a branch."""
    lookup = re.search(r"`(\{\{ catalogs\.offers\[[^`]+ \}\})`", _row("offer decisioning")).group(1)  # type: ignore[union-attr]
    (tmp_path / "catalogs").mkdir()
    (tmp_path / "catalogs" / "offers.jsonl").write_text('{"id": "o1", "title": "10% off lamps"}\n'
                                                       '{"id": "o2", "title": "Free shipping"}\n')
    journey = ("journey: offer\nentry: {event: Order Placed}\nsteps:\n"
               "  - id: eligible\n    branch: [{when: \"catalogs.offers[profile.traits.offer_id] == null\", next: end}]\n"
               + _mail("offer_mail", lookup))
    sent = _simulate(tmp_path, {"offer": journey}, [
        _identify("ia", "a", "2026-03-02T09:00:00Z", email="a@example.com", offer_id="o2"),
        _identify("ib", "b", "2026-03-02T09:00:00Z", email="b@example.com", offer_id="o9"),  # no such offer
        _order("a1", "a", "2026-03-02T10:00:00Z", 1), _order("b1", "b", "2026-03-02T10:00:00Z", 1)])
    assert [(c["customer_id"], c["content"]["subject"]) for c in sent] == [("a", "Free shipping")]


def test_the_honest_rows_say_there_is_no_equivalent() -> None:
    for start in ("business event", "journey capping", "offer decisioning", "Read audience"):
        assert re.search(r"no equivalent|no cap on entries", _row(start)), start


def test_the_wait_activity_row_waits_for_the_date_of_the_data_and_a_fixed_one(tmp_path: Path) -> None:
    renewal, fixed = (_snippet("Wait activity", "wait_until", n) for n in (1, 2))
    sent = _simulate(tmp_path, {
        "renewal": "journey: renewal\nentry: {event: identify}\nsteps:\n  - id: ahead\n    " + renewal + "\n"
                   + _mail("renewal_mail", "Renewal"),
        "xmas": "journey: xmas\nentry: {event: identify}\nsteps:\n  - id: day\n    " + fixed + "\n"
                + _mail("xmas_mail", "Xmas")}, [
        _identify("i1", "a", "2026-03-02T10:00:00Z", email="a@example.com", renews_on="2026-03-20",
                  timezone="Europe/Berlin"),
        # within the journeys' max_duration (30d) of Christmas; no renewal date: that journey ends (if_missing)
        _identify("i2", "b", "2026-12-20T10:00:00Z", email="b@example.com")])
    assert sorted((c["content"]["subject"], c["customer_id"], c["decided_at"]) for c in sent) == [
        ("Renewal", "a", "2026-03-17T08:00:00.000Z"),  # 3 days before, at 09:00 in Berlin
        ("Xmas", "b", "2026-12-24T09:00:00.000Z")]  # (a's, in March, ended with the 30 days of max_duration)


def test_an_entry_cap_or_a_date_as_a_time_of_day_is_refused(tmp_path: Path) -> None:
    """What the honest rows say is not there is not: an entry cap is refused at load, and a date written where
    wait_until takes a time of day too (a fixed date is `wait_until: {time: ...}`)."""
    (tmp_path / "journeys").mkdir()
    for name, extra, wait in (("capped", "entry_cap: {max: 100, per: 1d}\n", "wait: 1h"),
                              ("dated", "", 'wait_until: "2026-12-24T09:00:00Z"')):
        (tmp_path / "journeys" / f"{name}.yaml").write_text(
            f"journey: {name}\nentry: {{event: x}}\n{extra}steps:\n  - id: s\n    {wait}\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    assert re.search(r"capped\.yaml:3: .*unknown field `entry_cap`", p.stderr), p.stderr
    # a date where a time of day goes: told the form that waits for it
    assert re.search(r"dated\.yaml:5: bad time of day.*to wait until that date, "
                     r"wait_until: \{time: \"'2026-12-24T09:00:00Z'\"\}", p.stderr), p.stderr


_THEIRS = re.compile(r"`(\{[{%][^`]+[}%]\})`")


@pytest.mark.parametrize("start", ["`{{profile.person", "`{%#if"])
def test_validate_tells_the_template_rows(tmp_path: Path, start: str) -> None:
    """Each Adobe form in the row's first column is refused by ``validate`` at its line, naming the README section;
    each of ours in the second column loads."""
    (theirs,) = [k for k in table_rows(_HEADING) if k.startswith(start)]
    forms = [f.replace("<event id>", "1234") for f in _THEIRS.findall(theirs)]
    assert len(forms) >= 4, forms
    (tmp_path / "journeys").mkdir()
    for i, form in enumerate(forms):
        (tmp_path / "journeys" / f"j{i}.yaml").write_text(
            f"journey: j{i}\nentry: {{event: x}}\nsteps:\n  - id: s\n"
            f"    send: {{channel: email, content: {{subject: s, body: {orjson.dumps(form).decode()}}}}}\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    for i, form in enumerate(forms):
        (line,) = [ln for ln in p.stderr.splitlines() if f"j{i}.yaml:" in ln]
        assert f'"{_HEADING}"' in line, (form, line)
    ours = re.findall(r"`(\{\{ [^`]+ \}\}|\{% [^`]+ %\})`", _row(start))
    assert len(ours) >= 4, ours
    for mine in ours:
        mine = re.sub(r"\b(cond|list|x)\b", "event.properties.x", mine).replace("...", "")
        Template(mine + ("{% endif %}" if mine == "{% if event.properties.x %}" else ""))
    if start == "`{{profile.person":  # the paths the errors name are ours in the row
        for i, path in enumerate(("profile.traits.firstName", "profile.traits.email", "profile.traits.phone",
                                  "event.properties.commerce.order.priceTotal")):
            (line,) = [ln for ln in p.stderr.splitlines() if f"j{i}.yaml:" in ln]
            assert f"{{{{ {path} }}}}" in line and f"`{{{{ {path} }}}}`" in _row(start), line


def test_the_condition_references_of_the_row_are_told(tmp_path: Path) -> None:
    refs = re.findall(r"`([#@][a-z]*\{[^`]+\})`", _row("`{{profile.person"))
    assert len(refs) == 2, refs
    (tmp_path / "journeys").mkdir()
    for i, ref in enumerate(refs):
        (tmp_path / "journeys" / f"j{i}.yaml").write_text(
            f"journey: j{i}\nentry: {{event: x, when: \"{ref} == 'Ada'\"}}\nsteps:\n  - id: s\n    wait: 1h\n")
    p = run("validate", str(tmp_path))
    assert p.returncode == 1
    assert re.search(r"j0\.yaml:2: .* is profile\.traits\.firstName here", p.stderr), p.stderr
    assert re.search(r"j1\.yaml:2: .* is event\.properties\.commerce\.order\.priceTotal here", p.stderr), p.stderr
