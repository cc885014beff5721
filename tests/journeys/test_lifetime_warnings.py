"""Waits that cannot end before ``max_duration`` ends the instance, and a holdout written as a fraction, are warned
about at their line (``validate``): both loaded silently, and the report showed every instance ``expired`` with no
step after the wait reached, or no holdout (a walkthrough)."""

from __future__ import annotations

from pathlib import Path

from tests.test_author_mistakes import topology, warnings_of

# line numbers below are this file's: keep them in step when editing it
JOURNEY = """\
journey: onboarding
entry: {event: signed_up}
max_duration: 4d
holdout: 10
steps:
  - id: settle
    wait: 1d
  - id: wait_activation
    wait_for: {event: app_opened, timeout: 2d}
    on_event: end
    on_timeout: nudge
  - id: nudge
    send: {channel: in_app, content: {title: "Open the app"}}
  - id: last_wait
    wait: 5d
"""


def test_the_journey_warns_of_nothing(tmp_path: Path) -> None:
    assert warnings_of(topology(tmp_path, JOURNEY)) == []


def test_a_timeout_the_max_duration_cuts_off_counts_the_waits_before_it(tmp_path: Path) -> None:
    topo = topology(tmp_path, JOURNEY.replace("max_duration: 4d", "max_duration: 3d"))
    assert warnings_of(topo) == [
        f"{topo}/journeys/cart_rescue.yaml:9: warning: step wait_activation's 2d timeout, 1d after the entry at the "
        "earliest, ends no sooner than max_duration (3d) ends the instance (expired): its on_timeout way never runs; "
        "raise max_duration (default 30d) or shorten the wait"]


def test_a_wait_as_long_as_max_duration_is_warned_about(tmp_path: Path) -> None:
    topo = topology(tmp_path, JOURNEY.replace("max_duration: 4d", "max_duration: 1d"))
    assert warnings_of(topo) == [
        f"{topo}/journeys/cart_rescue.yaml:7: warning: step settle's 1d wait ends no sooner than max_duration (1d) "
        "ends the instance (expired): the steps after it never run; raise max_duration (default 30d) or shorten "
        "the wait",
        f"{topo}/journeys/cart_rescue.yaml:9: warning: step wait_activation's 2d timeout, 1d after the entry at the "
        "earliest, ends no sooner than max_duration (1d) ends the instance (expired): its on_timeout way never runs; "
        "raise max_duration (default 30d) or shorten the wait"]


def test_a_way_on_by_the_event_costs_no_time(tmp_path: Path) -> None:
    """``nudge`` is reached 1d after the entry by the event at the earliest (3d by the timeout): a 3d wait after
    it ends no sooner than 4d."""
    journey = JOURNEY.replace("    on_event: end\n", "    on_event: nudge\n").replace(
        "  - id: last_wait\n    wait: 5d\n", "  - id: later\n    wait: 3d\n  - id: again\n"
        "    send: {channel: in_app, content: {title: \"Still there?\"}}\n")
    topo = topology(tmp_path, journey)
    assert warnings_of(topo) == [
        f"{topo}/journeys/cart_rescue.yaml:15: warning: step later's 3d wait, 1d after the entry at the earliest, "
        "ends no sooner than max_duration (4d) ends the instance (expired): the steps after it never run; raise "
        "max_duration (default 30d) or shorten the wait"]


def test_a_holdout_written_as_a_fraction_is_warned_about(tmp_path: Path) -> None:
    topo = topology(tmp_path, JOURNEY.replace("holdout: 10", "holdout: 0.1"))
    assert warnings_of(topo) == [
        f"{topo}/journeys/cart_rescue.yaml:4: warning: holdout 0.1 keeps 0.1 % of customers as control: holdout is "
        "a percent, not a fraction (10 % is holdout: 10)"]
