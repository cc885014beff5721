"""A journey waiting for an event name the simulated input never had is told after the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.unseen import consent_lookalikes, unseen
from tests.journeys.test_language2 import write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "schemas" / "examples" / "touchpoints.jsonl"

TYPOS = """\
journey: browse
entry: {event: product_veiwed}
goal: {event: order_completed}
exit_on:
  - {event: unsubscribed}
steps:
  - id: wait_click
    wait_for: {event: message_clicked, timeout: 1h}
  - id: nudge
    send: {channel: email, content: {subject: "Still looking?"}}
"""

FINE = """\
journey: fine
entry: {event: order_completed}
steps:
  - id: thanks
    send: {channel: email, content: {subject: "Thanks"}}
"""


def test_each_name_none_of_the_events_had_is_told_with_the_closest_one(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, {"browse": TYPOS, "fine": FINE}))
    seen = {"product_viewed", "order_completed", "page_viewed"}
    assert unseen(topo.journeys, seen) == [
        "journey browse: no event named 'product_veiwed' in the input (its entry; did you mean 'product_viewed'?)",
        "journey browse: no event named 'unsubscribed' in the input (its exit_on)",
        "journey browse: no event named 'message_clicked' in the input (step wait_click's wait_for; receipts "
        "come from the channel adapters: include them in the input, e.g. the lines of `cjo-stream tail --receipts "
        "--from-beginning`)",
    ]
    assert unseen(topo.journeys, seen | {"product_veiwed", "unsubscribed", "message_clicked"}) == []
    assert unseen(topo.journeys, set()) == []  # no input: nothing to say


def test_simulate_says_so_and_still_succeeds(tmp_path: Path) -> None:
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"browse": TYPOS, "fine": FINE})
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "simulate", "--events", str(EXAMPLES),
                        "--topologies", str(topologies)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    notes = [ln for ln in p.stderr.splitlines() if ln.startswith("note: ")]
    assert notes == ["note: journey browse: no event named 'product_veiwed' in the input (its entry; did you "
                     "mean 'product_viewed'?)"], p.stderr


def test_a_name_the_input_has_only_outside_the_replayed_range_is_told_as_such(tmp_path: Path) -> None:
    """A walkthrough: ``replay --since/--until`` said ``no event named 'signed_up' in the input`` of a file
    that had them, before ``--since``."""
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"browse": TYPOS, "fine": FINE})
    events = tmp_path / "ev.jsonl"
    events.write_text(
        '{"type":"track","event":"order_completed","userId":"u1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z"}\n'
        '{"type":"track","event":"product_viewed","userId":"u1","messageId":"m2","timestamp":"2026-03-05T10:00:00Z"}\n')
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "replay", "--events", str(events), "--topologies",
                        str(topologies), "--since", "2026-03-04T00:00:00Z"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    notes = [ln for ln in p.stderr.splitlines() if ln.startswith("note: ")]
    assert "note: journey fine: no event named 'order_completed' in the time range (its entry; the input has some " \
           "outside it)" in notes, p.stderr
    assert "note: journey browse: no event named 'product_veiwed' in the input (its entry; did you mean " \
           "'product_viewed'?)" in notes, p.stderr
    topo = load_topology(str(topologies))
    assert unseen(topo.journeys, set(), {"order_completed"})[0].startswith("journey browse: no event named "
                                                                            "'product_veiwed' in the input")


SEGMENT_SPELLING = """\
journey: welcome_series
entry: {event: Signed Up}
goal: {event: Order Completed}
steps:
  - id: hi
    send: {channel: email, content: {subject: "Hi"}}
"""


def test_a_segment_spelt_name_is_matched_to_its_snake_case_spelling(tmp_path: Path) -> None:
    """A Braze/Segment journey says ``Signed Up`` where the input says ``signed_up``: difflib found them too far
    apart to suggest (a walkthrough); case, spaces, ``-`` and ``_`` aside they are one name."""
    topo = load_topology(write(tmp_path, {"welcome_series": SEGMENT_SPELLING}))
    notes = unseen(topo.journeys, {"signed_up", "order-completed", "page_viewed"})
    assert notes == [
        "journey welcome_series: no event named 'Signed Up' in the input (its entry; did you mean 'signed_up'?)",
        "journey welcome_series: no event named 'Order Completed' in the input (its goal; did you mean "
        "'order-completed'?)",
    ]


def test_a_journey_naming_a_page_or_screen_call_by_its_type_is_told_the_event_it_is(tmp_path: Path) -> None:
    """A Segment user's ``entry: {event: page}`` entered nobody: page calls are the event ``page_viewed``, and the
    note named no event to write instead (``page`` is not close enough to it)."""
    text = ("journey: calls\nentry: {event: page}\nsteps:\n  - id: w\n    wait_for:\n      timeout: 1h\n"
            "      paths:\n        - {event: Screen}\n")
    topo = load_topology(write(tmp_path, {"calls": text}))
    assert unseen(topo.journeys, {"page_viewed", "order_completed"}) == [
        "journey calls: no event named 'page' in the input (its entry; a page call is the event 'page_viewed')",
        "journey calls: no event named 'Screen' in the input (step w's wait_for; a screen call is the event "
        "'screen_viewed', none here)"]


UNSUBSCRIBED = """\
journey: welcome_series
entry: {event: Signed Up}
exit_on: [{event: Unsubscribed}]
steps:
  - id: later
    wait: 1d
  - id: hi
    send: {channel: email, to: a@example.com, content: {subject: "Hi"}}
"""


def test_a_consent_event_spelt_otherwise_is_told_it_changes_no_consent(tmp_path: Path) -> None:
    """A walkthrough sent Segment's title-case ``Unsubscribed``: its ``exit_on`` ended the journey, but the
    customer's consent stayed, every other journey went on e-mailing, and neither command said a word."""
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"welcome_series": UNSUBSCRIBED})
    events = tmp_path / "ev.jsonl"
    events.write_text(
        '{"type":"track","event":"Signed Up","userId":"u1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z"}\n'
        '{"type":"track","event":"Unsubscribed","userId":"u1","messageId":"m2","timestamp":"2026-03-01T11:00:00Z"}\n'
        '{"type":"track","event":"unsubscribed","userId":"u2","messageId":"m3","timestamp":"2026-03-01T11:00:00Z"}\n'
        '{"type":"track","event":"message_unsubscribed","userId":"u2","messageId":"m4",'
        '"timestamp":"2026-03-01T11:00:00Z","properties":{"channel":"email"}}\n')
    expected = ("note: events named 'Unsubscribed' change no consent: only events named exactly 'unsubscribed' "
                "withdraw it (README, Event model, \"Profile\"; or a trait consent.<channel>: false), so customers "
                "who sent one are still messaged")
    for verb in ("simulate", "replay"):
        p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", verb, "--events", str(events), "--topologies",
                            str(topologies)], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert p.returncode == 0, p.stderr
        notes = [ln for ln in p.stderr.splitlines() if ln.startswith("note: ")]
        assert notes == [expected], (verb, p.stderr)


def test_only_names_that_read_as_consent_events_are_told() -> None:
    assert [n.split(" change")[0] for n in consent_lookalikes(
        {"Email Unsubscribed", "Subscribed", "unsubscribed", "subscribed", "message_unsubscribed", "Signed Up",
         "unsubscribe_clicked"})] == ["events named 'Email Unsubscribed'", "events named 'Subscribed'"]


def test_a_hand_over_targets_entry_nobody_sends_is_no_typo(tmp_path: Path) -> None:
    """README, Hand-over: a journey reached only by `enter:` names an event nobody sends; simulate told it as
    "no event named 'handed_over' in the input", a false alarm on the documented pattern. A name close to one the
    input has is still told (a typo), as is the target's goal."""
    source = FINE.replace("journey: fine", "journey: source") + "    next: go\n  - id: go\n    enter: vip\n"
    target = """\
journey: vip
entry: {event: handed_over}
goal: {event: review_submited}
steps:
  - id: hi
    send: {channel: email, content: {subject: "VIP"}}
"""
    names = {"order_completed", "review_submitted", "order_complete"}
    topo = load_topology(write(_dir(tmp_path, "a"), {"source": source, "vip": target}))
    assert unseen(topo.journeys, names) == ["journey vip: no event named 'review_submited' in the input (its goal; "
                                            "did you mean 'review_submitted'?)"]
    typo = target.replace("handed_over", "order_completd")
    topo = load_topology(write(_dir(tmp_path, "b"), {"source": source, "vip": typo}))
    assert "journey vip: no event named 'order_completd' in the input (its entry; did you mean 'order_completed'?)" \
        in unseen(topo.journeys, names)
    alone = load_topology(write(_dir(tmp_path, "c"), {"vip": target}))  # no hand-over to it: told as before
    assert "journey vip: no event named 'handed_over' in the input (its entry)" in unseen(alone.journeys, names)


def _dir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


RETENTION = """\
journey: retained
entry: {event: stage_changed, when: "event.properties.to == 'retention'"}
steps:
  - id: thanks
    send: {channel: email, content: {subject: "Thanks", body: "for coming back"}}
"""


def test_stage_changed_is_no_typo_with_stages_and_told_where_it_comes_from_without(tmp_path: Path) -> None:
    """README's lifecycle example, a journey entered on ``stage_changed``, was entered by the simulation and told
    "no event named 'stage_changed' in the input" all the same: the engine makes it, the input never has it."""
    events = tmp_path / "orders.jsonl"
    events.write_text("".join(
        f'{{"messageId": "o{i}", "type": "track", "event": "order_completed", "userId": "u1", '
        f'"timestamp": "2026-02-1{i}T19:15:00Z", "traits": {{"email": "a@example.com"}}}}\n' for i in range(3)))
    with_stages = tmp_path / "with"
    with_stages.mkdir()
    write(with_stages, {"retained": RETENTION})
    (with_stages / "stages.yaml").write_text((ROOT / "topologies" / "stages.yaml").read_text())
    without = tmp_path / "without"
    without.mkdir()
    write(without, {"retained": RETENTION})
    for command in ("simulate", "replay"):
        told = {}
        for name, topologies in (("with", with_stages), ("without", without)):
            p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", command, "--events", str(events),
                                "--topologies", str(topologies)], capture_output=True, text=True, cwd=ROOT,
                               timeout=120)
            assert p.returncode == 0, p.stderr
            told[name] = [ln for ln in p.stderr.splitlines() if ln.startswith("note: ")]
        assert told["with"] == [], (command, told)
        assert told["without"] == ["note: journey retained: no event named 'stage_changed' in the input (its entry; "
                                   "the engine makes it when a customer's lifecycle stage changes, which needs a "
                                   "stages.yaml beside policies.yaml)"], (command, told)
