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
