"""A ``wait_for`` (goal, exit_on) on a delivery receipt that reads none of its ``journey``, ``step`` or ``delivery_id``
is satisfied by the open of any message the customer got, from any journey: warned at load with the condition to
add, and the condition given works (another journey's open leaves the wait waiting)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cjo_stream.journeys.loader import load_topology
from tests.test_cli_errors import run

WELCOME = """\
journey: welcome
entry: {event: signed_up}
ENDERS
steps:
  - id: mail
    send: {channel: email, content: {subject: "Welcome", body: "w"}}
  - id: wait_open
    wait_for: {event: message_opened, WHENtimeout: 1h}
    on_event: thanks
    on_timeout: nudge
  - id: thanks
    send: {channel: email, content: {subject: "Thanks for reading", body: "t"}}
    next: end
  - id: nudge
    send: {channel: email, content: {subject: "Did you see it?", body: "n"}}
"""

NEWS = """\
journey: news
entry: {event: newsletter_due}
steps:
  - id: issue
    send: {channel: email, content: {subject: "News", body: "n"}}
"""


def _topology(tmp: Path, when: str = "", enders: str = "") -> Path:
    (tmp / "journeys").mkdir()
    text = WELCOME.replace("WHEN", f"when: \"{when}\", " if when else "").replace("ENDERS\n", enders)
    (tmp / "journeys" / "welcome.yaml").write_text(text)
    (tmp / "journeys" / "news.yaml").write_text(NEWS)
    return tmp


def _warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "warning:" in ln]


def test_a_wait_for_any_open_is_warned_with_the_condition_to_add(tmp_path: Path) -> None:
    topo = _topology(tmp_path)
    p = run("validate", str(topo))
    assert p.returncode == 0, p.stderr  # a warning: the journey still loads
    assert _warnings(p.stderr) == [
        f"{topo}/journeys/welcome.yaml:7: warning: step wait_open's wait_for takes 'message_opened' of any message the "
        "customer got, from any journey (a newsletter's, another journey's), not only this journey's: add when: "
        "event.properties.journey == journey.id (and event.properties.step == '<send step>' for one send: a step id "
        "names a step of any journey)"], p.stderr


def test_a_channel_filter_alone_is_warned_too(tmp_path: Path) -> None:
    warnings = load_topology(str(_topology(tmp_path, "event.properties.channel == 'email'"))).warnings
    assert len(warnings) == 1 and "`event.properties.journey == journey.id and (...)` to its when" in warnings[0]


@pytest.mark.parametrize("enders", [
    "goal: {event: message_clicked}\n",
    "exit_on:\n  - {event: order_completed}\n  - {event: message_bounced}\n",
])
def test_goals_and_exits_on_any_message_are_warned(tmp_path: Path, enders: str) -> None:
    warnings = load_topology(str(_topology(tmp_path, "event.properties.journey == journey.id", enders))).warnings
    assert len(warnings) == 1, warnings
    line = 3 if enders.startswith("goal") else 5
    what = "the goal takes 'message_clicked'" if enders.startswith("goal") else "exit_on 2 takes 'message_bounced'"
    assert warnings[0].startswith(f"{tmp_path}/journeys/welcome.yaml:{line}: warning: {what} of any message"), warnings


@pytest.mark.parametrize("when", ["event.properties.journey == journey.id",
                                  "event.properties.journey == journey.id and event.properties.step == 'mail'",
                                  "event.properties.journey in ['welcome', 'winback']",
                                  "'d-1' == event.properties.delivery_id"])
def test_a_wait_tied_to_a_send_is_not_warned(tmp_path: Path, when: str) -> None:
    assert load_topology(str(_topology(tmp_path, when))).warnings == []


@pytest.mark.parametrize("when", ["exists(event.properties.delivery_id)",
                                  "event.properties.journey != null",
                                  "event.properties.journey != 'news'",
                                  "event.properties.journey not in ['news']"])
def test_a_condition_every_receipt_meets_is_still_warned(tmp_path: Path, when: str) -> None:
    """Every receipt has a ``delivery_id`` and a ``journey``: checking that one is there, or is not another
    journey's, still takes the open of any other message (the twenty-sixth session's leftover)."""
    warnings = load_topology(str(_topology(tmp_path, when))).warnings
    assert len(warnings) == 1 and "`event.properties.journey == journey.id and (...)` to its when" in warnings[0]
    # why the condition written does not do what it reads as (it said "of any message", no more)
    assert "its when reads the receipt's journey or delivery_id without requiring a value" in warnings[0], warnings


def test_leaving_on_any_unsubscribe_is_not_warned(tmp_path: Path) -> None:
    """An unsubscribe or complaint withdraws consent for the channel, whichever message it came from."""
    enders = "exit_on:\n  - {event: message_unsubscribed}\n  - {event: message_complained}\n"
    assert load_topology(str(_topology(tmp_path, "event.properties.journey == journey.id", enders))).warnings == []


def _open(journey: str, step: str, minute: int) -> dict[str, object]:
    return {"delivery_id": f"d-{journey}", "customer_id": "a", "channel": "email", "status": "opened",
            "at": f"2026-03-02T10:{minute:02d}:00Z", "journey": journey, "step": step}


@pytest.mark.parametrize("when", ["", "event.properties.journey == journey.id"])
def test_the_condition_given_leaves_another_journeys_open_alone(tmp_path: Path, when: str) -> None:
    (tmp_path / "t").mkdir()
    topo = _topology(tmp_path / "t", when)
    events = tmp_path / "e.jsonl"
    lines = [{"messageId": "1", "type": "identify", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
              "traits": {"email": "a@example.com"}},
             {"messageId": "2", "type": "track", "event": "signed_up", "userId": "a", "timestamp": "2026-03-02T10:00:00Z"},
             {"messageId": "3", "type": "track", "event": "newsletter_due", "userId": "a",
              "timestamp": "2026-03-02T10:01:00Z"},
             _open("news", "issue", 5)]
    if when:  # the welcome mail's own open, later: that one takes it
        lines.append(_open("welcome", "mail", 30))
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    p = run("simulate", "--topologies", str(topo), "--events", str(events))
    assert p.returncode == 0, p.stderr
    sent = [orjson.loads(ln) for ln in p.stdout.splitlines()]
    assert [c["content"]["subject"] for c in sent] == ["Welcome", "News", "Thanks for reading"]
    # without the condition the newsletter's open at 10:05 took the wait; with it, the welcome mail's own at 10:30
    assert sent[2]["decided_at"].startswith("2026-03-02T10:30" if when else "2026-03-02T10:05"), sent[2]


def test_the_one_send_form_leaves_a_same_named_step_of_another_journey_alone(tmp_path: Path) -> None:
    """A step id is unique only within its journey: the newsletter's step named ``mail`` too takes a wait on
    ``step == 'mail'`` alone, not one on the journey and the step, as the warning says to write it."""
    (tmp_path / "t").mkdir()
    events = tmp_path / "e.jsonl"
    lines = [{"messageId": "1", "type": "identify", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
              "traits": {"email": "a@example.com"}},
             {"messageId": "2", "type": "track", "event": "signed_up", "userId": "a", "timestamp": "2026-03-02T10:00:00Z"},
             _open("news", "mail", 5), _open("welcome", "mail", 30)]
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    taken = {}
    for when in ("event.properties.step == 'mail'",
                 "event.properties.journey == journey.id and event.properties.step == 'mail'"):
        topo = _topology(tmp_path / "t", when)
        warnings = load_topology(str(topo)).warnings
        if "journey.id" in when:
            assert warnings == []
        else:  # the step alone: warned, as what it takes
            [w] = warnings
            assert "takes 'message_opened' of a step of that name in any journey" in w and (
                "add `event.properties.journey == journey.id and (...)` to its when") in w, w
        p = run("simulate", "--topologies", str(topo), "--events", str(events))
        assert p.returncode == 0, p.stderr
        thanks = [orjson.loads(ln) for ln in p.stdout.splitlines()][1]
        assert thanks["content"]["subject"] == "Thanks for reading", thanks
        taken[when] = thanks["decided_at"][11:16]
        (topo / "journeys" / "welcome.yaml").unlink()
        (topo / "journeys" / "news.yaml").unlink()
        (topo / "journeys").rmdir()
    assert list(taken.values()) == ["10:05", "10:30"], taken


def test_each_path_of_a_wait_is_told_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "paths.yaml").write_text("""\
journey: paths
entry: {event: signed_up}
steps:
  - id: mail
    send: {channel: email, content: {subject: "Welcome", body: "w"}}
  - id: wait_engaged
    wait_for:
      timeout: 1d
      paths:
        - {event: message_clicked, when: "event.properties.journey == journey.id", next: end}
        - {event: message_opened, next: end}
""")
    warnings = load_topology(str(tmp_path)).warnings
    assert [w.split(" of any")[0] for w in warnings] == [
        f"{tmp_path}/journeys/paths.yaml:11: warning: step wait_engaged's wait_for path 2 takes 'message_opened'"]


def test_the_warnings_of_a_journey_come_in_line_order(tmp_path: Path) -> None:
    """The goal is found before the steps, but a goal written under them is told after them, as it is read."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "j.yaml").write_text("""\
journey: j
entry: {event: signed_up}
steps:
  - id: mail
    send: {channel: email, content: {subject: "A", body: "b"}}
  - id: wait_click
    wait_for: {event: message_clicked, timeout: 1d}
goal: {event: message_opened}
""")
    warnings = load_topology(str(tmp_path)).warnings
    assert [w.split(": warning")[0].rsplit(":", 1)[1] for w in warnings] == ["7", "8"], warnings
