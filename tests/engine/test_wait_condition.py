"""``wait_for: {condition, timeout}``: wait until a condition on the profile holds (Customer.io's Wait Until,
"wait until the person is activated, at most 3 days"). Before, the README's recipe was a ``wait_for`` of the
``identify`` carrying the change, which missed a customer who was activated already when the wait began and one
whose trait came on another event (a ``track`` with ``traits``)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cjo_stream.analytics.graph import _kind_line, edges
from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from cjo_stream.simulator import Simulator
from cjo_stream.timefmt import format_ts
from tests.conftest import T0, engine, ev
from tests.test_cli_errors import run

ONBOARD = """
journey: onboard
entry: {event: signed_up}
steps:
  - id: hello
    send: {channel: in_app, content: {body: hello}}
  - id: until_active
    wait_for: {condition: "profile.traits.activated == true", timeout: 3d}
    next: congrats
    on_timeout: nudge
  - id: congrats
    send: {channel: in_app, content: {body: "congrats {{ profile.traits.plan }}"}}
    next: end
  - id: nudge
    send: {channel: in_app, content: {body: nudge}}
"""

DAY = 86_400.0


def _bodies(sim: Simulator) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in sim.commands:
        out.setdefault(c.customer_id, []).append(c.content["body"])
    return out


def test_the_condition_is_tested_as_the_wait_begins_after_each_event_and_else_the_timeout_takes_it() -> None:
    sim = Simulator(engine(ONBOARD))
    # already activated when the wait begins: on at once, in the same decision as the entry
    sim.handle(ev("identify", T0, "ready", type="identify", traits={"activated": True, "plan": "pro"}))
    sim.handle(ev("signed_up", T0 + 1, "ready"))
    assert _bodies(sim)["ready"] == ["hello", "congrats pro"]
    for user in ("later", "other_event", "idle"):
        sim.handle(ev("signed_up", T0 + 1, user))
    sim.handle(ev("page_viewed", T0 + 60, "later"))  # an event that does not make it hold moves nothing
    assert _bodies(sim)["later"] == ["hello"]
    sim.handle(ev("identify", T0 + DAY, "later", type="identify", traits={"activated": True, "plan": "team"}))
    # the trait arrives on a track call (its traits), not an identify: the condition sees the profile
    sim.handle(ev("feature_used", T0 + DAY, "other_event", traits={"activated": True}))
    sim.finish()
    bodies = _bodies(sim)
    assert bodies["later"] == ["hello", "congrats team"]  # and its timeout, cancelled, sent no nudge
    assert bodies["other_event"] == ["hello", "congrats "]
    assert bodies["idle"] == ["hello", "nudge"]
    assert sim.funnel.journeys["onboard"].get("ended") == 4


def test_an_activation_after_the_timeout_takes_nothing() -> None:
    sim = Simulator(engine(ONBOARD))
    sim.handle(ev("signed_up", T0))
    sim.handle(ev("identify", T0 + 3 * DAY + 1, type="identify", traits={"activated": True}))
    sim.finish()
    assert _bodies(sim)["u1"] == ["hello", "nudge"]


@pytest.mark.parametrize(("wait_for", "extra", "fragment"), [
    ('{condition: "event.properties.plan == \'pro\'", timeout: 3d}', "", "a wait_for's condition reads the "
     "profile, not event.properties.plan: it is tested as the wait begins too, with no event awaited; to wait for "
     "an event, write `event:` and `when:`"),
    ('{condition: "profile.traits.activated == true", event: identify, timeout: 3d}', "",
     "a wait_for has `condition` (until it holds) or `event` (an event), not both"),
    ('{condition: "profile.traits.activated == true", timeout: 3d}', "    on_event: congrats\n",
     "a wait_for with a condition goes on by `next` when the condition holds (and by on_timeout when it never "
     "did), not on_event"),
])
def test_mistakes_are_refused_at_their_line(wait_for: str, extra: str, fragment: str) -> None:
    text = ONBOARD.replace('{condition: "profile.traits.activated == true", timeout: 3d}', wait_for)
    text = text.replace("    next: congrats\n", extra)
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(text, "onboard.yaml")
    line = text.splitlines().index(f"    wait_for: {wait_for}") + 1
    assert f"onboard.yaml:{line if 'on_event' not in fragment else line + 1}:" in str(e.value), str(e.value)
    assert fragment in str(e.value), str(e.value)


def test_a_loop_through_a_condition_that_may_hold_already_is_refused() -> None:
    """It may go on at once, so a loop back to it spins within one decision."""
    text = ONBOARD.replace("    next: end\n", "    next: until_active\n")
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(text, "onboard.yaml")
    assert "form a loop that waits only" in str(e.value), str(e.value)


def test_the_journey_map_shows_the_condition_and_its_two_ways() -> None:
    j = load_journey_text(ONBOARD, "onboard.yaml")
    assert _kind_line(j, "until_active") == "wait until profile.traits.activated == true (3d)"
    labels = {dst: label for src, dst, label, _ in edges(j) if src == "until_active"}
    assert labels == {"congrats": "condition holds", "nudge": "timeout"}


def test_simulate_as_a_user_runs_it(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "onboard.yaml").write_text(ONBOARD)
    assert run("validate", str(tmp_path)).returncode == 0
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in (
        {"messageId": "1", "type": "track", "event": "signed_up", "userId": "a", "timestamp": "2026-03-02T10:00:00Z"},
        {"messageId": "2", "type": "identify", "userId": "a", "timestamp": "2026-03-03T10:00:00Z",
         "traits": {"activated": True, "plan": "pro"}},
        {"messageId": "3", "type": "track", "event": "signed_up", "userId": "b", "timestamp": "2026-03-02T10:00:00Z"},
    )) + b"\n")
    sim = run("simulate", "--topologies", str(tmp_path), "--events", str(events))
    assert sim.returncode == 0, sim.stderr
    got = [(c["customer_id"], c["content"]["body"]) for c in map(orjson.loads, sim.stdout.splitlines())]
    assert sorted(got) == [("a", "congrats pro"), ("a", "hello"), ("b", "hello"), ("b", "nudge")]


def test_the_steps_after_it_read_the_trigger_as_event() -> None:
    """The identify that made the condition hold is not the journey's event: the mail after "wait until they
    have an address" names the product of the entry (a live run sent "  is back")."""
    text = """
journey: stock
entry: {event: back_in_stock}
steps:
  - id: until_mailable
    wait_for: {condition: "profile.traits.email != null", timeout: 1d}
  - id: mail
    send: {channel: in_app, content: {body: "{{ event.properties.title }} is back"}}
"""
    sim = Simulator(engine(text))
    sim.handle(ev("back_in_stock", T0, "later", props={"title": "Blue hat"}))
    sim.handle(ev("identify", T0 + 60, "later", type="identify", traits={"email": "b@example.com"}))
    sim.handle(ev("identify", T0, "ready", type="identify", traits={"email": "a@example.com"}))
    sim.handle(ev("back_in_stock", T0 + 1, "ready", props={"title": "Red shoes"}))
    sim.finish()
    assert _bodies(sim) == {"later": ["Blue hat is back"], "ready": ["Red shoes is back"]}


def test_a_condition_on_the_clock_is_tested_again_while_the_customer_is_quiet() -> None:
    """``days_since(profile.first_seen) > 3`` was tested only at the customer's events: a quiet customer never sent
    the one at which it held, and took ``on_timeout`` however long ago they signed up. It is tested again every
    hour now (``every`` to choose), so they go on within the hour it comes true; the timeout still runs from the
    wait's start."""
    text = ONBOARD.replace('"profile.traits.activated == true", timeout: 3d',
                           '"days_since(journey.entered_at) >= 1.5", timeout: 3d')
    sim = Simulator(engine(text))
    sim.handle(ev("signed_up", T0, "quiet"))
    sim.finish()
    congrats = [c for c in sim.commands if c.content["body"].startswith("congrats")]
    assert [c.customer_id for c in congrats] == ["quiet"], [c.content for c in sim.commands]
    assert congrats[0].decided_at == format_ts(T0 + 36 * 3600)  # 1.5 days on: an hourly test falls on it
    # tested every 5 h instead: at 5, 10, ..., 35 h (not yet) and 40 h
    sim = Simulator(engine(text.replace("timeout: 3d", "timeout: 3d, every: 5h")))
    sim.handle(ev("signed_up", T0, "quiet"))
    sim.finish()
    assert [c.decided_at for c in sim.commands if c.content["body"].startswith("congrats")] == \
        [format_ts(T0 + 40 * 3600)]


def test_a_condition_that_never_holds_still_times_out_from_the_waits_start() -> None:
    text = ONBOARD.replace('"profile.traits.activated == true", timeout: 3d',
                           '"days_since(journey.entered_at) > 30", timeout: 3d')
    sim = Simulator(engine(text))
    sim.handle(ev("signed_up", T0, "quiet"))
    sim.finish()
    nudge = [c for c in sim.commands if c.content["body"] == "nudge"]
    assert [c.decided_at for c in nudge] == [format_ts(T0 + 3 * DAY)]


def test_every_is_refused_where_it_cannot_help(tmp_path: Path) -> None:
    for text, told in (
        (ONBOARD.replace("timeout: 3d", "timeout: 3d, every: 1h"), "this one reads neither"),
        (ONBOARD.replace('"profile.traits.activated == true", timeout: 3d',
                         '"days_since(journey.entered_at) > 1", timeout: 3d, every: 30s'), "at least 1m"),
        (ONBOARD.replace('"profile.traits.activated == true", timeout: 3d',  # never tested again before the timeout
                         '"days_since(journey.entered_at) > 1", timeout: 3d, every: 1w'),
         "`every: 1w` is no shorter than the timeout, 3d"),
        (ONBOARD.replace('{condition: "profile.traits.activated == true", timeout: 3d}',
                         "{event: activated, timeout: 3d, every: 1h}").replace("    next: congrats\n", ""),
         "`every` belongs to a wait_for with a condition"),
    ):
        with pytest.raises(JourneyLoadError) as e:
            load_journey_text(text, "onboard.yaml")
        assert "onboard.yaml:" in str(e.value) and told in str(e.value), str(e.value)


def test_an_every_that_is_no_duration_is_told_once() -> None:
    """``every: hourly`` is no duration: one problem saying so, not a second one calling it shorter than 1m."""
    text = ONBOARD.replace('"profile.traits.activated == true", timeout: 3d',
                           '"days_since(journey.entered_at) > 1", timeout: 3d, every: hourly')
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(text, "onboard.yaml")
    told = str(e.value)
    assert "bad duration 'hourly'" in told and "at least 1m" not in told, told


def test_the_map_says_how_often_it_is_tested() -> None:
    j = load_journey_text(ONBOARD.replace('"profile.traits.activated == true"', '"days_since(profile.first_seen) > 3"'),
                          "onboard.yaml")
    assert _kind_line(j, "until_active") == "wait until days_since(profile.first_seen) > 3 (3d, tested every 1h)"


def test_a_condition_on_a_catalog_is_tested_again_too(tmp_path: Path) -> None:
    """"Wait until the product is back in stock": the catalog changes when the workers load it anew (a deploy), with
    no event of the customer's; tested every hour, the wait sees the restock within the hour after the deploy."""
    from cjo_stream.journeys.loader import load_topology

    (tmp_path / "journeys").mkdir()
    (tmp_path / "catalogs").mkdir()
    (tmp_path / "catalogs" / "products.jsonl").write_text('{"id": "sku-1", "in_stock": false}\n')
    cond = "catalogs.products[profile.traits.wish].in_stock == true"
    (tmp_path / "journeys" / "onboard.yaml").write_text(
        ONBOARD.replace('"profile.traits.activated == true"', f'"{cond}"'))
    topo = load_topology(str(tmp_path))
    assert topo.journeys[0].steps["until_active"].recheck == 3600 and not topo.warnings, topo.warnings


def test_an_activation_timed_before_the_sign_up_that_arrives_after_it_goes_on_as_in_order() -> None:
    """Two sources: the product's identify saying the customer is activated is timed half a second before the
    sign-up but arrives after it. The profile held the trait, but the wait passed the event over (from before the
    instance began) and nudged three days later an activated customer; in order, they are congratulated at once."""
    activated = ev("identify", T0 + 0.5, type="identify", traits={"activated": True, "plan": "pro"})
    signed_up = ev("signed_up", T0 + 1)
    outcomes = []
    for events in ([activated, signed_up], [signed_up, activated]):  # in order, and the identify late
        sim = Simulator(engine(ONBOARD))
        for e in events:
            sim.handle(e)
        sim.finish()
        outcomes.append([(c.decided_at, c.content["body"]) for c in sim.commands])
    assert outcomes[0] == [(format_ts(T0 + 1), "hello"), (format_ts(T0 + 1), "congrats pro")]
    assert outcomes[1] == outcomes[0]
