"""A ``wait_for`` of the event the goal (or an ``exit_on``) takes without a ``when`` never takes its ``on_event``
way: the goal is checked first and ends the instance. A walkthrough's "thank you" after ``wait_for: Order
Completed`` never sent (goal: Order Completed) and ``validate`` said ok: it is warned at the step's line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.test_cli_errors import run

JOURNEY = """\
journey: cart
entry: {event: Cart Updated}
ENDER
steps:
  - id: wait_order
    wait_for: {event: Order Completed, timeout: 1h}
    on_event: ON_EVENT
    on_timeout: remind
  - id: thanks
    send: {channel: email, content: {subject: "Thanks", body: "t"}}
    next: end
  - id: remind
    send: {channel: email, content: {subject: "Remind", body: "r"}}
"""


def _topology(tmp: Path, ender: str, on_event: str = "thanks") -> Path:
    (tmp / "journeys").mkdir()
    (tmp / "journeys" / "cart.yaml").write_text(JOURNEY.replace("ENDER", ender).replace("ON_EVENT", on_event))
    return tmp


@pytest.mark.parametrize(("ender", "what"), [("goal: {event: Order Completed}", "goal"),
                                             ("exit_on: [{event: Order Completed}]", "exit_on")])
def test_the_unreachable_way_is_warned_and_is_unreachable(tmp_path: Path, ender: str, what: str) -> None:
    topo = _topology(tmp_path, ender)
    p = run("validate", str(topo))
    assert p.returncode == 0, p.stderr
    assert [ln for ln in p.stderr.splitlines() if "warning:" in ln] == [
        f"{topo}/journeys/cart.yaml:7: warning: step wait_order waits for 'Order Completed', which the journey's "
        f"{what} takes first (it ends the instance), so its on_event way to 'thanks' is never taken: give the "
        f"{what} a `when`, or wait for another event"], p.stderr
    events = tmp_path / "e.jsonl"  # and so it is: the order within the hour sends nothing
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in (
        {"messageId": "1", "type": "identify", "userId": "a", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"email": "a@example.com"}},
        {"messageId": "2", "type": "track", "event": "Cart Updated", "userId": "a", "timestamp": "2026-03-02T10:01:00Z"},
        {"messageId": "3", "type": "track", "event": "Order Completed", "userId": "a",
         "timestamp": "2026-03-02T10:21:00Z"})) + b"\n")
    sim = run("simulate", "--topologies", str(topo), "--events", str(events))
    assert sim.returncode == 0 and sim.stdout == "", sim.stdout


@pytest.mark.parametrize(("ender", "on_event"), [
    ("goal: {event: Order Completed, when: event.properties.revenue > 100}", "thanks"),  # smaller orders go on
    ("exit_on: [{event: Order Completed, when: event.properties.revenue > 100}]", "thanks"),
    ("goal: {event: Checkout Started}", "thanks"),
])
def test_a_way_that_can_be_taken_is_not_warned(tmp_path: Path, ender: str, on_event: str) -> None:
    p = run("validate", str(_topology(tmp_path, ender, on_event)))
    assert p.returncode == 0 and "warning:" not in p.stderr, p.stderr


CART = """\
journey: cart
entry: {event: Cart Updated}
goal: GOAL
exit_on:
  - event: Order Completed
steps:
  - id: wait_1h
    wait: 1h
  - id: remind
    send: {channel: email, content: {subject: "Remind", body: "r"}}
"""


def test_an_exit_on_the_goals_event_is_warned_and_never_exits(tmp_path: Path) -> None:
    """Braze's exception event and conversion event, both "order placed", migrated as both: the goal takes the
    order first, so the exit never happens (validate said ok; the report counted 0 exited, unexplained)."""
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "cart.yaml").write_text(CART.replace("GOAL", "{event: Order Completed}"))
    p = run("validate", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert [ln for ln in p.stderr.splitlines() if "warning:" in ln] == [
        f"{tmp_path}/journeys/cart.yaml:5: warning: exit_on 'Order Completed' is the goal's event, which the goal "
        "takes first (converted, the instance ends), so this exit never happens: drop it, or give the goal a `when`"]
    events = tmp_path / "e.jsonl"  # and so it is: the order within the hour converts, nothing exits
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in (
        {"messageId": "1", "type": "track", "event": "Cart Updated", "userId": "a", "timestamp": "2026-03-02T10:01:00Z"},
        {"messageId": "2", "type": "track", "event": "Order Completed", "userId": "a",
         "timestamp": "2026-03-02T10:21:00Z"})) + b"\n")
    kinds = tmp_path / "je.jsonl"
    sim = run("simulate", "--topologies", str(tmp_path), "--events", str(events), "--journey-events", str(kinds))
    assert sim.returncode == 0, sim.stderr
    told = [orjson.loads(ln)["kind"] for ln in kinds.read_bytes().splitlines()]
    assert "converted" in told and "exited" not in told, told


def test_an_exit_on_beside_a_goal_with_a_when_is_not_warned(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "cart.yaml").write_text(
        CART.replace("GOAL", "{event: Order Completed, when: event.properties.revenue > 100}"))
    p = run("validate", str(tmp_path))
    assert p.returncode == 0 and "warning:" not in p.stderr, p.stderr
