"""``simulate`` and ``replay`` tell an ``event.properties`` key that a send's or an update's template reads on
the entry event and that no such event of the input carried. A walkthrough's ``coupon: "{{ event.properties.coupon
}}"`` over events whose producer wrote ``cuopon`` removed the trait for everyone and mailed "Code  for 150": only
conditions' reads were told."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli_errors import run

JOURNEY = """journey: winback
entry: {event: churn_signal}
steps:
  - id: remember_offer
    update:
      traits:
        winback_coupon: "{{ event.properties.coupon }}"
  - id: wait_a_bit
    wait: 1h
  - id: mail
    send:
      channel: email
      content:
        subject: "Code {{ profile.traits.winback_coupon | default: '-' }} for {{ event.properties.totl }}"
        body: "x"
  - id: wait_open
    wait_for: {event: message_opened, timeout: 1d}
    on_event: thanks
  - id: thanks
    send:
      channel: email
      content: {subject: "{{ event.properties.url }}", body: "{{ event.properties.coupon }}"}
"""

EVENTS = (
    '{"type":"identify","userId":"u1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z",'
    '"traits":{"email":"a@example.com"}}\n'
    '{"type":"track","event":"churn_signal","userId":"u1","messageId":"m2","timestamp":"2026-03-01T10:05:00Z",'
    '"properties":{"cuopon":"SAVE20","total":150}}\n')


def _input(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "topo" / "journeys").mkdir(parents=True)
    (tmp_path / "topo" / "journeys" / "winback.yaml").write_text(JOURNEY)
    (tmp_path / "ev.jsonl").write_text(EVENTS)
    return str(tmp_path / "topo"), str(tmp_path / "ev.jsonl")


def test_simulate_and_replay_tell_a_property_a_template_reads_on_the_entry_event(tmp_path: Path) -> None:
    topo, events = _input(tmp_path)
    for verb in ("simulate", "replay"):
        p = run(verb, "--topologies", topo, "--events", events)
        assert p.returncode == 0, p.stderr
        notes = [line for line in p.stderr.splitlines() if "has a property" in line]
        # a step after the wait_for reads the event it waited for (or the entry's after a timeout): not told
        assert notes == [
            "note: journey winback: no 'churn_signal' event in the input has a property 'coupon' (step "
            "remember_offer's update of winback_coupon reads event.properties.coupon as null for every one; did you "
            "mean 'cuopon'?)",
            "note: journey winback: no 'churn_signal' event in the input has a property 'totl' (step mail's email "
            "subject reads event.properties.totl as null for every one; did you mean 'total'?)"], (verb, p.stderr)


BRANCHES = """journey: big_order
entry: {event: order_completed}
re_entry: always
steps:
  - id: check
    branch:
      - {when: event.properties.total >= 100 or event.properties.chanel == 'web', next: wait_review}
      - else: end
  - id: wait_review
    wait_for: {event: review_submitted, timeout: 1d}
    on_event: rated
  - id: rated
    branch:
      - {when: event.properties.stars >= 4 and event.properties.total >= 1, next: end}
"""


def test_a_branch_on_the_entry_event_is_told_as_the_entry_when_is(tmp_path: Path) -> None:
    """A branch before any wait_for reads the entry event: a property none carried, or carried as text where
    it compares a number, is told; one after the wait_for reads the event waited for (or the entry's), not."""
    (tmp_path / "topo" / "journeys").mkdir(parents=True)
    (tmp_path / "topo" / "journeys" / "big_order.yaml").write_text(BRANCHES)
    (tmp_path / "ev.jsonl").write_text(
        '{"type":"track","event":"order_completed","userId":"u1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z",'
        '"properties":{"total":"150","channel":"web"}}\n'
        '{"type":"track","event":"review_submitted","userId":"u1","messageId":"m2","timestamp":"2026-03-01T11:00:00Z",'
        '"properties":{"stars":"5"}}\n')
    p = run("simulate", "--topologies", str(tmp_path / "topo"), "--events", str(tmp_path / "ev.jsonl"))
    assert p.returncode == 0, p.stderr
    assert [line for line in p.stderr.splitlines() if line.startswith("note:")] == [
        "note: journey big_order: no 'order_completed' event in the input has a property 'chanel' (step check's "
        "branch reads event.properties.chanel as null for every one; did you mean 'channel'?)",
        "note: journey big_order: 1 'order_completed' event(s) in the input carried the property 'total' as text "
        "(\"30\", not 30), which step check's branch compares with a number: that never holds for text (README, "
        "Expressions); send the number unquoted"], p.stderr


HANDLED = JOURNEY.replace('winback_coupon: "{{ event.properties.coupon }}"',
                          "winback_coupon: \"{{ event.properties.coupon | default: 'none' }}\"\n"
                          "        note: \"{% if event.properties.gift %}gift{% endif %}"
                          "{{ event.properties.promo | default: '' }}\"")


def test_a_property_read_under_a_default_or_an_if_is_told_only_when_a_close_key_was_carried(tmp_path: Path) -> None:
    """As for a trait under a default: ``| default:`` (or an ``if``) says some events lack it, so a key no event
    had is taken as meant, unless one they had is close (``coupon`` beside ``cuopon``); it was told as a typo."""
    topo, events = _input(tmp_path)
    (tmp_path / "topo" / "journeys" / "winback.yaml").write_text(HANDLED)
    p = run("simulate", "--topologies", topo, "--events", events)
    assert p.returncode == 0, p.stderr
    told = [line.split("property ")[1].split(" ")[0] for line in p.stderr.splitlines() if "has a property" in line]
    assert told == ["'coupon'", "'totl'"], p.stderr  # not 'gift' (an if) nor 'promo' (a default): nothing close
