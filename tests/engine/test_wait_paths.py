"""``wait_for`` with ``paths``: one step waits for several events, each leading its own way (Canvas's Action
Paths), the first to come taking the instance on and the timeout the rest. Before, a step waited for one
event: a migrated Action Path became a chain of waits, each with a timeout of its own, which decided
differently (an event the second wait was for, coming during the first, was missed)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev
from tests.test_cli_errors import run

BROWSE = """
journey: browse
entry: {event: product_viewed}
steps:
  - id: what_next
    wait_for:
      timeout: 1d
      paths:
        - {event: order_completed, next: thanks}
        - {event: cart_item_added, when: "event.properties.cart_value >= 100", next: big_cart}
        - {event: cart_item_added, next: small_cart}
    on_timeout: nudge
  - id: thanks
    send: {channel: in_app, content: {body: thanks}}
    next: end
  - id: big_cart
    send: {channel: in_app, content: {body: "big {{ event.properties.cart_value }}"}}
    next: end
  - id: small_cart
    send: {channel: in_app, content: {body: small}}
    next: end
  - id: nudge
    send: {channel: in_app, content: {body: nudge}}
"""


def _bodies(sim: Simulator) -> dict[str, str]:
    return {c.customer_id: c.content["body"] for c in sim.commands}


def test_the_first_path_an_event_matches_takes_the_instance_on_and_the_timeout_the_rest() -> None:
    sim = Simulator(engine(BROWSE))
    for user in ("order", "big", "small", "idle", "late"):
        sim.handle(ev("product_viewed", T0, user))
    sim.handle(ev("page_viewed", T0 + 5, "order"))  # an event no path waits for moves nothing
    sim.handle(ev("order_completed", T0 + 10, "order"))
    sim.handle(ev("cart_item_added", T0 + 20, "big", props={"cart_value": 120}))
    sim.handle(ev("cart_item_added", T0 + 30, "small", props={"cart_value": 20}))
    sim.handle(ev("order_completed", T0 + 86_400 + 1, "late"))  # after the timeout: the timeout's way was taken
    sim.finish()
    assert _bodies(sim) == {"order": "thanks", "big": "big 120", "small": "small", "idle": "nudge", "late": "nudge"}
    steps = {c.customer_id: c.step for c in sim.commands}
    assert steps["big"] == "big_cart" and steps["idle"] == "nudge"


def test_one_event_takes_one_path_only() -> None:
    """An event two paths match goes the first one's way, once: the instance has moved on when the second
    is looked at."""
    sim = Simulator(engine(BROWSE))
    sim.handle(ev("product_viewed", T0))
    sim.handle(ev("cart_item_added", T0 + 1, props={"cart_value": 500}))
    sim.handle(ev("cart_item_added", T0 + 2, props={"cart_value": 5}))
    sim.finish()
    assert [c.content["body"] for c in sim.commands] == ["big 500"]


@pytest.mark.parametrize(("wait_for", "why"), [
    ("{timeout: 1d, event: a, paths: [{event: b}]}", "`event` (and `when`) or `paths`, not both"),
    ("{timeout: 1d}", "needs `event` (with `on_event`), `paths` (each with its `event` and `next`) or `condition` (with `next`)"),
    ("{timeout: 1d, paths: []}", "paths: Expected `array` of length >= 1 (a list of one path or more: `- {event"),
    ("{timeout: 1d, paths: {event: a}}", "got `object` (a list of one path or more: `- {event: ..., when: ..., next"),
    ("{timeout: 1d, paths: [a]}", "paths.0: Expected `object`, got `str` (each path is `{event: ..., when: ..., next"),
    ("{timeout: 1d, paths: [{event: a}, {event: a, when: 'event.properties.x > 1'}]}", "this path is never taken"),
    ("{timeout: 1d, paths: [{event: a, next: nowhere}]}", "nowhere"),
    # a path copied with its `when`: the first takes every event the second matches
    ("{timeout: 1d, paths: [{event: a, when: 'event.properties.x > 1', next: s}, {event: a, when: 'event.properties.x > 1'}]}",
     "this path is never taken: path 1 waits for the same 'a' event with the same `when`"),
])
def test_a_wait_for_with_paths_that_cannot_work_is_refused_at_its_line(wait_for: str, why: str) -> None:
    text = f"journey: j\nentry: {{event: go}}\nsteps:\n  - id: w\n    wait_for: {wait_for}\n  - id: s\n    wait: 1h\n"
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(text, "j.yaml")
    (problem,) = [str(p) for p in info.value.problems]
    assert problem.startswith("j.yaml:5: ") and why in problem, problem


@pytest.mark.parametrize(("key", "problem"), [
    ("on_event: end", "a wait_for with paths goes on by each path's `next`, not on_event"),
    # the message sent the user to on_event, which is refused beside paths
    ("next: s", "a wait_for step continues with each path's `next` / on_timeout, not next"),
])
def test_a_step_level_way_on_beside_paths_is_refused(key: str, problem: str) -> None:
    text = ("journey: j\nentry: {event: go}\nsteps:\n  - id: w\n    wait_for: {timeout: 1d, paths: [{event: a}]}\n"
            f"    {key}\n  - id: s\n    wait: 1h\n")
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(text, "j.yaml")
    assert [str(p) for p in info.value.problems] == [f"j.yaml:6: {problem}"]


def test_a_path_after_one_with_a_bad_when_is_not_called_unreachable() -> None:
    """The earlier path's `when` is told as a bad expression; the later path is not also called never taken as if
    the earlier had no `when`."""
    text = ("journey: j\nentry: {event: go}\nsteps:\n  - id: w\n    wait_for:\n      timeout: 1d\n      paths:\n"
            "        - {event: a, when: 'event.properties.x =='}\n        - {event: a}\n  - id: s\n    wait: 1h\n")
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(text, "j.yaml")
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == 1 and problems[0].startswith("j.yaml:8: bad expression"), problems


def test_simulate_and_validate_as_typed(tmp_path: Path) -> None:
    """The CLI: ``validate`` warns of a path the goal pre-empts, at that path's line; ``simulate`` decides by
    the paths; a path's event no input event has is told as for any wait_for."""
    (tmp_path / "journeys").mkdir()
    text = BROWSE.replace("entry: {event: product_viewed}", "entry: {event: product_viewed}\ngoal: {event: order_completed}")
    (tmp_path / "journeys" / "browse.yaml").write_text(text)
    p = run("validate", str(tmp_path))
    assert p.returncode == 0, p.stderr
    line = text.splitlines().index("        - {event: order_completed, next: thanks}") + 1
    assert [ln for ln in p.stderr.splitlines() if "warning:" in ln] == [
        f"{tmp_path}/journeys/browse.yaml:{line}: warning: step what_next waits for 'order_completed', which the "
        "journey's goal takes first (it ends the instance), so its path 1's way to 'thanks' is never taken: give "
        "the goal a `when`, or wait for another event"], p.stderr
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in (
        {"messageId": "1", "type": "track", "event": "product_viewed", "userId": "a", "timestamp": "2026-03-02T10:00:00Z"},
        {"messageId": "2", "type": "track", "event": "cart_item_added", "userId": "a", "timestamp": "2026-03-02T10:01:00Z",
         "properties": {"cart_value": 150}})) + b"\n")
    sim = run("simulate", "--topologies", str(tmp_path), "--events", str(events))
    assert sim.returncode == 0, sim.stderr
    assert [orjson.loads(x)["content"]["body"] for x in sim.stdout.splitlines()] == ["big 150"]
    assert "no event named 'order_completed' in the input (its goal, step what_next's wait_for)" in sim.stderr


def test_the_journey_map_draws_a_way_a_path() -> None:
    """The analytics page's map: an edge per path, labelled with its event (one label before, the first
    path's), and the step's line names every event it waits for."""
    from cjo_stream.analytics.graph import _kind_line, edges

    j = load_journey_text(BROWSE, "browse.yaml")
    labels = {dst: label for src, dst, label, _ in edges(j) if src == "what_next"}
    assert labels == {"thanks": "order_completed", "big_cart": "cart_item_added", "small_cart": "cart_item_added",
                      "nudge": "timeout"}
    assert _kind_line(j, "what_next") == "wait for order_completed or cart_item_added (1d)"


@pytest.mark.parametrize(("where", "line"), [
    ("entry: {event: group, when: \"event.traits.plan == 'pro'\"}\n", 2),
    ("entry: {event: go}\ngoal: {event: group, when: \"event.traits.plan == 'pro'\"}\n", 3),
    ("entry: {event: go}\nexit_on: [{event: group, when: \"event.traits['plan'] == 'pro'\"}]\n", 3),
])
def test_a_condition_on_a_group_call_reading_event_traits_is_refused(where: str, line: int) -> None:
    """A group call's traits are ``event.properties.traits`` (they describe the account): a Segment user's
    ``event.traits.plan`` on ``group`` read null for every call and the journey silently never entered."""
    text = f"journey: j\n{where}steps:\n  - id: s\n    wait: 1h\n"
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(text, "j.yaml")
    (problem,) = [str(p) for p in info.value.problems]
    assert problem.startswith(f"j.yaml:{line}: bad expression") and "event.properties.traits" in problem, problem


def test_a_path_on_a_group_call_reading_event_traits_is_refused_and_properties_traits_loads() -> None:
    paths = ("      paths:\n        - {event: group, when: \"event.traits.plan == 'pro'\", next: s}\n"
             "        - {event: x, when: \"event.traits.plan == 'pro'\"}\n")  # another event's traits are its own
    text = f"journey: j\nentry: {{event: go}}\nsteps:\n  - id: w\n    wait_for:\n      timeout: 1d\n{paths}  - id: s\n    wait: 1h\n"
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(text, "j.yaml")
    assert [str(p)[:21] for p in info.value.problems] == ["j.yaml:8: bad express"], info.value.problems
    load_journey_text(text.replace("event.traits.plan == 'pro'\", next", "event.properties.traits.plan == 'pro'\", next"),
                      "j.yaml")
