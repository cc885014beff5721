"""The README's date-based journeys, as a user types them, under ``validate`` and ``simulate``: a trial reminder 3
days ahead and a yearly birthday, for customers in Los Angeles, Tokyo and UTC, across a month's end, a
daylight-saving change, a trait changed between days and a 29 February birthday (README, Date-based journeys)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import orjson

from tests.test_cli_errors import run

ROOT = Path(__file__).resolve().parents[1]


def _readme_journeys() -> dict[str, str]:
    section = (ROOT / "README.md").read_text().split("### Date-based journeys", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    return {re.match(r"journey: (\w+)", b).group(1): b for b in blocks}  # type: ignore[union-attr]


def _identify(mid: str, who: str, at: str, **traits: object) -> dict[str, object]:
    return {"messageId": mid, "type": "identify", "userId": who, "timestamp": at, "traits": traits}


EVENTS = [
    # Los Angeles: a trial ending 2 March (3 days before is 27 February, across February's end) and a birthday on
    # 1 March; bare dates are those days there, not UTC midnight (the day before in Los Angeles)
    _identify("a1", "ana", "2027-02-20T18:00:00Z", email="ana@example.com", first_name="Ana",
              timezone="America/Los_Angeles", trial_ends_at="2027-03-02", birthday="1990-03-01"),
    # Tokyo: the trial ends at an instant (17 March on Tokyo's clock), and a 29 February birthday
    _identify("k1", "ken", "2027-02-20T01:00:00Z", email="ken@example.com", first_name="Ken", timezone="Asia/Tokyo",
              trial_ends_at="2027-03-17T08:00:00+09:00", birthday="1992-02-29"),
    # Los Angeles again: reminded and greeted on 14 March 2027, the day the clocks go forward there
    _identify("b1", "bo", "2027-02-21T12:00:00Z", email="bo@example.com", timezone="America/Los_Angeles",
              trial_ends_at="2027-03-17", birthday="1985-03-14"),
    # UTC (default_timezone): the trial is moved from the 10th to the 12th on the 6th: reminded on the 9th only
    _identify("c1", "cy", "2027-02-21T12:00:00Z", email="cy@example.com", trial_ends_at="2027-03-10"),
    _identify("c2", "cy", "2027-03-06T12:00:00Z", trial_ends_at="2027-03-12"),
    # Ana on her birthday's morning, and a year later: no second greeting the same day, one the next year
    {"messageId": "a2", "type": "track", "event": "page_viewed", "userId": "ana", "timestamp": "2027-03-01T20:00:00Z"},
    {"messageId": "a3", "type": "track", "event": "page_viewed", "userId": "ana", "timestamp": "2028-03-05T12:00:00Z"},
]


def test_the_readme_date_journeys_as_typed(tmp_path: Path) -> None:
    journeys = _readme_journeys()
    assert set(journeys) == {"trial_ending", "birthday"}
    (tmp_path / "journeys").mkdir()
    for name, text in journeys.items():
        (tmp_path / "journeys" / f"{name}.yaml").write_text(text)
    checked = run("validate", str(tmp_path))
    assert checked.returncode == 0 and "warning" not in checked.stderr + checked.stdout, checked.stdout + checked.stderr
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    sent = [orjson.loads(line) for line in p.stdout.splitlines()]
    got = [(c["customer_id"], c["journey"], c["decided_at"]) for c in sent]
    assert got == [
        ("ana", "trial_ending", "2027-02-27T17:00:00.000Z"),  # 09:00 PST on 27 February
        ("ken", "birthday", "2027-02-28T00:00:00.000Z"),      # 29 February on the 28th in 2027, 09:00 JST
        ("ana", "birthday", "2027-03-01T17:00:00.000Z"),
        ("cy", "trial_ending", "2027-03-09T09:00:00.000Z"),   # the trial's new end, read on the day
        ("ken", "trial_ending", "2027-03-14T00:00:00.000Z"),
        ("bo", "birthday", "2027-03-14T16:00:00.000Z"),       # 09:00 PDT: the clocks went forward that night
        ("bo", "trial_ending", "2027-03-14T16:00:00.000Z"),
        ("ken", "birthday", "2028-02-29T00:00:00.000Z"),      # a leap year: on the 29th
        ("ana", "birthday", "2028-03-01T17:00:00.000Z"),      # once a year, every year
    ], p.stdout
    assert sent[1]["content"]["subject"] == "Happy birthday, Ken!"


def _validate(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    """``cjo-stream validate`` of the topology with the journey ``name`` written as ``text``."""
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / f"{name}.yaml").write_text(text)
    return run("validate", str(tmp_path))


def test_validate_tells_a_one_day_test_on_an_event_entry_and_refuses_what_is_no_date(tmp_path: Path) -> None:
    p = _validate(tmp_path, "trial", (
        "journey: trial\nentry:\n  event: identify\n  when: days_until(profile.traits.trial_ends_at) == 3\n"
        "steps:\n  - id: s\n    send: {channel: email, content: {subject: a, body: b}}\n"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"{tmp_path / 'journeys' / 'trial.yaml'}:4: warning: `days_until(profile.traits.trial_ends_at) == 3` " \
           "holds on one day, and an entry on the event 'identify' tests it only when one comes" in p.stderr, p.stderr
    # a range on an event entry (the date told within 3 days) is meant: no warning
    p = _validate(tmp_path, "trial", (
        "journey: trial\nentry:\n  event: identify\n  when: days_until(profile.traits.trial_ends_at) <= 3\n"
        "steps:\n  - id: s\n    send: {channel: email, content: {subject: a, body: b}}\n"))
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr
    p = _validate(tmp_path, "trial", (
        "journey: trial\nentry:\n  schedule: {every: 1d, at: \"09:00\"}\n"
        "  when: days_until_anniversary(profile.counters.order_completed) == 0\n"
        "steps:\n  - id: s\n    send: {channel: email, content: {subject: a, body: b}}\n"))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert f"{tmp_path / 'journeys' / 'trial.yaml'}:4: bad expression " in p.stdout + p.stderr
    assert "days_until_anniversary() takes a date or a time, not profile.counters.order_completed" \
        in p.stdout + p.stderr


def test_validate_tells_a_date_function_reading_what_is_compared_with_a_number(tmp_path: Path) -> None:
    p = _validate(tmp_path, "big", (
        "journey: big\nentry:\n  event: order_completed\n  when: event.properties.total >= 20\nsteps:\n"
        "  - id: check\n    branch:\n      - when: days_until(event.properties.total) < 3\n        next: end\n"
        "  - id: s\n    send: {channel: email, content: {subject: a, body: b}}\n"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"{tmp_path / 'journeys' / 'big.yaml'}:8: warning: a date function reads event.properties.total as a " \
           "date, and `event.properties.total >= 20` (line 4) compares it with a number" in p.stderr, p.stderr
    p = _validate(tmp_path, "big", (
        "journey: big\nentry:\n  event: order_completed\n  when: event.properties.total >= 20\nsteps:\n"
        "  - id: check\n    branch:\n      - when: days_until(event.properties.delivery_on) < 3\n        next: end\n"
        "  - id: s\n    send: {channel: email, content: {subject: a, body: b}}\n"))
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr


IN_DAYS = """journey: trial_ending_in
entry:
  event: identify
  when: days_until(profile.traits.trial_ends_at) <= 3
steps:
  - id: remind
    send:
      channel: email
      content:
        subject: "Your trial ends in {{ profile.traits.trial_ends_at | days_until }} days"
        body: "A member for {{ profile.traits.joined_at | days_since | floor }} days; renewal in {{ profile.traits.renews | days_until_anniversary | default: 'a while' }} days."
"""


def test_the_date_functions_as_filters_count_the_days_the_condition_counted(tmp_path: Path) -> None:
    """``{{ x | days_until }}`` in a mail says the number its journey's ``days_until(x) <= 3`` tested: in the
    customer's calendar, not UTC's. Ken, in Tokyo, is seen on 13 March at 20:00 UTC, already the 14th at home: 3
    days to the 17th there (4 by UTC's date). A value that is no date renders as nil: ``| default`` fills it in."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "in.yaml").write_text(IN_DAYS)
    checked = run("validate", str(tmp_path))
    assert checked.returncode == 0 and "warning" not in checked.stderr, checked.stderr
    events = [_identify("k1", "ken", "2027-03-13T20:00:00Z", email="ken@example.com", timezone="Asia/Tokyo",
                        trial_ends_at="2027-03-17", joined_at="2027-01-01T00:00:00Z", renews="not a date"),
              # UTC: at 20:00 on the 13th, the 17th is 4 days ahead: not entered
              _identify("u1", "ulf", "2027-03-13T20:00:00Z", email="ulf@example.com", trial_ends_at="2027-03-17")]
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    sent = [orjson.loads(line) for line in p.stdout.splitlines()]
    assert [(c["customer_id"], c["content"]["subject"]) for c in sent] == [("ken", "Your trial ends in 3 days")]
    assert sent[0]["content"]["body"] == "A member for 71 days; renewal in a while days."


def test_a_date_filter_given_an_argument_is_refused_at_its_line(tmp_path: Path) -> None:
    p = _validate(tmp_path, "in", IN_DAYS.replace("| days_until }}", "| days_until: 3 }}"))
    assert p.returncode != 0 and "journeys/in.yaml:10:" in p.stderr and "days_until" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


def test_a_date_filter_or_days_since_given_what_is_never_a_date_is_refused_at_its_line(tmp_path: Path) -> None:
    """``{{ profile.counters.order_completed | days_since }}`` took a count of 3 for 3 s after 1970 and the mail
    said 20514 days; ``days_since(profile.counters.order_completed) > 30`` held for everyone. Both are refused as
    ``days_until`` given a count is, saying what to read instead."""
    for given, told in (("profile.counters.order_completed", "not profile.counters.order_completed (a count: "
                                                              "profile.last.<event> is the time of the last one)"),
                        ("'tomorrow'", "not the text 'tomorrow'"), ("journey.id", "not journey.id")):
        p = _validate(tmp_path, "in", IN_DAYS.replace("profile.traits.joined_at | days_since",
                                                      f"{given} | days_since"))
        assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
        assert f"journeys/in.yaml:11: body: template: filter 'days_since' takes a date or a time, {told}" in p.stderr, \
            p.stderr
    p = _validate(tmp_path, "in", IN_DAYS.replace("days_until(profile.traits.trial_ends_at) <= 3",
                                                  "hours_since(profile.counters.order_completed) > 30"))
    assert p.returncode == 1 and "journeys/in.yaml:4: bad expression" in p.stderr, p.stderr
    assert "hours_since() takes a date or a time, not profile.counters.order_completed" in p.stderr, p.stderr
