"""``simulate --journey-events FILE`` writes the journey events the report is folded from, so an analyst can count
a funnel, an arm's conversions and where customers left by hand: the delivery commands alone (stdout) did not
tell who entered, converted or left where (a walkthrough). Folded again, the file gives the report's figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import reports
from cjo_stream.analytics.records import decode
from cjo_stream.engine import Engine
from cjo_stream.journeys.loader import load_topology
from cjo_stream.jsonl import jsonl_lines
from cjo_stream.simulator import Simulator
from tests.test_cli_errors import EVENTS, ROOT, run, user_error


def test_the_file_holds_what_the_report_counts(tmp_path: Path) -> None:
    out = tmp_path / "journey-events.jsonl"
    p = run("simulate", "--events", EVENTS, "--journey-events", str(out))
    assert p.returncode == 0, p.stderr
    events = [decode(line) for line in out.read_bytes().splitlines()]
    commands = [json.loads(line) for line in p.stdout.splitlines()]
    assert sum(e.kind == "sent" for e in events) == len(commands) > 0
    assert {e.delivery_id for e in events if e.kind == "sent"} == {c["delivery_id"] for c in commands}
    topo = load_topology(str(ROOT / "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    sim.run_lines(jsonl_lines(EVENTS))
    sim.finish()
    folded = Analytics(default_zone=topo.policies.default_timezone)
    folded.apply_all(events)
    assert reports(folded, topo.journeys) == reports(sim.analytics, topo.journeys)


def test_it_may_not_be_the_events_file() -> None:
    user_error(run("simulate", "--events", EVENTS, "--journey-events", EVENTS), 2, "--journey-events",
               "is the events file")


def test_receipts_of_the_input_are_in_the_file_as_the_report_counts_them(tmp_path: Path) -> None:
    """The report counted the input's receipts of its sends (opened, clicked), the file had no ``receipt`` record:
    folded again, it gave no opens, and a hand count of an arm's engagement could not be made (a walkthrough)."""
    first = run("simulate", "--events", EVENTS)
    assert first.returncode == 0, first.stderr
    sends = [json.loads(line) for line in first.stdout.splitlines()][:6]
    events = tmp_path / "with-receipts.jsonl"
    receipts = [json.dumps({"messageId": f"r-{status}-{c['delivery_id']}", "type": "track", "userId": c["customer_id"],
                            "event": f"message_{status}", "timestamp": c["decided_at"],
                            "properties": {"delivery_id": c["delivery_id"], "journey": c["journey"], "step": c["step"],
                                           "channel": c["channel"]}})
                for c in sends for status in ("delivered", "opened")]
    events.write_text(Path(EVENTS).read_text() + "\n".join(receipts) + "\n")
    out = tmp_path / "journey-events.jsonl"
    p = run("simulate", "--events", str(events), "--journey-events", str(out))
    assert p.returncode == 0, p.stderr
    records = [decode(line) for line in out.read_bytes().splitlines()]
    ours = {c["delivery_id"] for c in sends}  # (the example's own receipts, a newsletter's, are there too: as live)
    assert sorted((r.delivery_id, r.status) for r in records if r.kind == "receipt" and r.delivery_id in ours) == \
        sorted((c["delivery_id"], s) for c in sends for s in ("delivered", "opened"))
    _assert_folds_as_simulated(ROOT / "topologies", events, records)


def _assert_folds_as_simulated(topologies: Path, events: Path, records: list[Any]) -> None:
    """The file's records, folded as the analytics service folds the topic, report what the simulator's own
    analytics of the same events report."""
    topo = load_topology(str(topologies))
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    sim.run_lines(jsonl_lines(str(events)))
    sim.finish()
    folded = Analytics(default_zone=topo.policies.default_timezone)
    folded.apply_all(records)
    assert reports(folded, topo.journeys) == reports(sim.analytics, topo.journeys)


def test_a_login_is_a_linked_record_and_the_sends_a_week_fold_as_the_report_does(tmp_path: Path) -> None:
    """Workers write a ``linked`` record when a login merges an anonymous profile (README, Journey analytics): the
    service then ranks the anonymous id's sends with the customer's for sends a week. The file, "as workers write
    them", had none: folded again, two pushes before a login and two after counted 1, 2, 1, 2 instead of 1 to 4."""
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "policies.yaml").write_text("default_timezone: UTC\n")
    (topo / "journeys" / "promo.yaml").write_text(
        "journey: promo\nentry: {event: promo}\nre_entry: always\n"
        "steps:\n  - id: push\n    send: {channel: push, content: {title: hi, body: hi}}\n")

    def line(mid: str, ts: str, **more: object) -> str:
        return json.dumps({"messageId": mid, "type": "track", "event": "promo", "timestamp": ts, **more})

    token = {"context": {"device": {"token": "PHONE"}}}
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([
        line("a1", "2026-03-03T10:00:00Z", anonymousId="anon-1", **token),
        line("a2", "2026-03-03T10:10:00Z", anonymousId="anon-1", **token),
        json.dumps({"messageId": "login", "type": "identify", "anonymousId": "anon-1", "userId": "u1",
                    "timestamp": "2026-03-03T11:00:00Z"}),
        line("u1", "2026-03-03T12:00:00Z", userId="u1"),
        line("u2", "2026-03-03T13:00:00Z", userId="u1"),
    ]) + "\n")
    out = tmp_path / "journey-events.jsonl"
    p = run("simulate", "--topologies", str(topo), "--events", str(events), "--journey-events", str(out))
    assert p.returncode == 0, p.stderr
    records = [decode(line) for line in out.read_bytes().splitlines()]
    assert [(r.customer_id, r.from_) for r in records if r.kind == "linked"] == [("u1", "anon-1")]
    assert sum(r.kind == "sent" for r in records) == 4
    _assert_folds_as_simulated(topo, events, records)
