"""Engagement per split arm: the sends each arm's instances got after the split, and their receipts, with their
shares of the arm's sends. Arms that wait differently and then reach the same send step showed one open rate for
both (the step's), so a timing test had no answer."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import orjson

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import definitions, render_html, render_text
from cjo_stream.analytics.records import JourneyEvent
from cjo_stream.simulator import Simulator
from cjo_stream.timefmt import format_ts
from tests.conftest import T0, engine, ev
from tests.journeys.test_language2 import write
from tests.test_cli_errors import run

DAY = 86400.0

#: both arms reach the same e-mail, one after a day, the other after three; a welcome mail before the split
TIMING = """\
journey: timing
entry: {event: signed_up}
goal: {event: order_completed}
steps:
  - id: hello
    send: {channel: email, content: {subject: welcome}}
  - id: ab
    split:
      - {variant: control, weight: 50, next: one_day}
      - {variant: slow, weight: 50, next: three_days}
  - id: one_day
    wait: 1d
    next: reminder
  - id: three_days
    wait: 3d
  - id: reminder
    send: {channel: email, content: {subject: "still there?"}}
"""

#: per arm, of its reminders in send order: how many were opened and how many clicked (clickers opened)
OPENED = {"control": 3, "slow": 6}
CLICKED = {"control": 1, "slow": 4}


def _receipts(cmds: list[dict[str, Any]], at: float) -> list[dict[str, Any]]:
    """Touchpoints of the receipts for ``cmds``: every reminder delivered, the first OPENED of each arm opened (the
    first twice: counted once), the first CLICKED clicked; the welcome mails opened (not an arm's: before the split)."""
    out: list[dict[str, Any]] = []
    seen: Counter[str] = Counter()
    for c in cmds:
        if c["step"] == "hello":
            statuses = ["delivered", "opened"]
        else:
            i = seen[c["variant"]]
            seen[c["variant"]] += 1
            statuses = ["delivered"] + ["opened"] * (2 if i == 0 else 1 if i < OPENED[c["variant"]] else 0)
            statuses += ["clicked"] if i < CLICKED[c["variant"]] else []
        for s in statuses:
            out.append({"messageId": f"r{len(out)}", "type": "track", "event": f"message_{s}", "userId": c["customer_id"],
                        "timestamp": format_ts(at), "properties": {"delivery_id": c["delivery_id"], "channel": "email"}})
    return out


def _signups(n: int) -> list[dict[str, Any]]:
    return [{"messageId": f"s{i}", "type": "track", "event": "signed_up", "userId": f"c{i}",
             "timestamp": format_ts(T0 + i), "traits": {"email": f"c{i}@example.com"}} for i in range(n)]


def test_each_arm_has_the_open_and_click_rates_of_its_own_sends() -> None:
    sim = Simulator(engine(TIMING))
    for i in range(60):
        sim.handle(ev("signed_up", T0 + i, user=f"c{i}", traits={"email": f"c{i}@example.com"}))
    sim.advance(T0 + 4 * DAY)  # every reminder sent
    reminders = [c for c in sim.commands if c.step == "reminder"]
    per_arm = Counter(c.variant for c in reminders)
    assert set(per_arm) == {"control", "slow"} and min(per_arm.values()) >= 10, per_arm
    for r in _receipts([msgspec.to_builtins(c) for c in sim.commands], T0 + 5 * DAY):
        sim.handle(ev(r["event"], T0 + 5 * DAY, user=r["userId"], props=r["properties"], mid=r["messageId"]))
    sim.finish()
    rep = report.journey_report(sim.analytics.buckets, definitions(sim.engine.current.values()), "timing")
    (ex,) = rep["experiments"]
    arms = {a["variant"]: a for a in ex["arms"]}
    for v in ("control", "slow"):
        n = per_arm[v]
        assert arms[v]["entered"] == n  # every instance of the arm got one reminder
        (e,) = arms[v]["engagement"]  # the welcome mails (before the split) are nobody's
        assert (e["channel"], e["sent"], e["delivered"], e["opened"], e["clicked"], e["bounced"]) == \
            ("email", n, n, OPENED[v], CLICKED[v], 0), (v, e)
        assert e["rates"]["opened"] == round(OPENED[v] / n, 6) and e["rates"]["clicked"] == round(CLICKED[v] / n, 6)
        assert e["rates"]["delivered"] == 1.0
    step = next(s for s in rep["steps"] if s["id"] == "reminder")  # the step's figures are both arms' together
    assert step["receipts"]["opened"] == sum(OPENED.values()) and step["sent"] == sum(per_arm.values())

    text = render_text(sim.analytics, sim.engine.current.values()).splitlines()
    at = text.index("    engagement by arm (receipts of the arm's sends after the split):")
    assert text[at - 3].startswith("  split ab")
    for line, v in zip(text[at + 1:at + 3], ("control", "slow"), strict=True):
        n = per_arm[v]
        assert line.split() == [v, "email:", "sent", str(n) + ",", "delivered", str(n), "(100.0%),", "opened",
                                str(OPENED[v]), f"({OPENED[v] / n * 100:.1f}%),", "clicked", str(CLICKED[v]),
                                f"({CLICKED[v] / n * 100:.1f}%)"], line
    html = render_html(sim.analytics, sim.engine.current.values())
    cells = dict(re.findall(r'data-k="arms\.ab\.(\w+\.email\.\w+)" data-v="(\d+)"', html))
    assert cells == {f"{v}.email.{k}": str(x) for v in ("control", "slow") for k, x in
                     (("sent", per_arm[v]), ("delivered", per_arm[v]), ("opened", OPENED[v]),
                      ("clicked", CLICKED[v]), ("bounced", 0), ("unsubscribed", 0))}
    assert f">{OPENED['slow']} ({OPENED['slow'] / per_arm['slow'] * 100:.1f}%)<" in html
    # no arm heard of a bounce: "–" as in the channels table, not "0 (0.0%)"
    assert re.search(r'data-k="arms\.ab\.slow\.email\.bounced" data-v="0">–<', html)


def _instance(a: Analytics, iid: str, *, holdout: bool = False, gc: bool = False) -> None:
    """An instance that takes arm ``b`` of split ``ab`` and is sent an e-mail (``d-<iid>``), which is opened."""
    base: dict[str, Any] = {"journey": "j", "version": 1, "instance": iid, "customer_id": iid, "at": T0}
    kinds: list[dict[str, Any]] = [{"kind": "entered"}]
    kinds += [{"kind": "holdout"}] if holdout else []
    kinds += [{"kind": "global_control"}] if gc else []
    kinds += [{"kind": "variant", "step": "ab", "variant": "b"},
              {"kind": "sent", "step": "mail", "channel": "webhook", "delivery_id": f"d-{iid}"},
              {"kind": "receipt", "delivery_id": f"d-{iid}", "status": "opened", "instance": ""}]
    a.apply_all(JourneyEvent(**{**base, **k}) for k in kinds)


def test_holdout_and_global_control_instances_count_in_no_arm() -> None:
    """As an arm's entries: instances of the journey's holdout or the global control group are no arm's."""
    a = Analytics()
    _instance(a, "i1")
    _instance(a, "i2", holdout=True)
    _instance(a, "i3", gc=True)
    (ex,) = report.journey_report(a.buckets, {}, "j")["experiments"]
    (arm,) = ex["arms"]
    assert arm["entered"] == 1 and [(e["sent"], e["opened"]) for e in arm["engagement"]] == [(1, 1)]


def test_engagement_by_arm_through_the_cli(tmp_path: Path) -> None:
    """As a user does it: simulate, write the receipts of the commands it printed, simulate again with them."""
    (tmp_path / "t").mkdir()
    topologies = write(tmp_path / "t", {"timing": TIMING})
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in _signups(60)) + b"\n")
    first = run("simulate", "--topologies", topologies, "--events", str(events))
    assert first.returncode == 0, first.stderr
    cmds = [orjson.loads(x) for x in first.stdout.splitlines()]
    per_arm = Counter(c["variant"] for c in cmds if c["step"] == "reminder")
    assert set(per_arm) == {"control", "slow"}, per_arm
    with events.open("ab") as f:
        f.write(b"\n".join(orjson.dumps(r) for r in _receipts(cmds, T0 + 5 * DAY)) + b"\n")
    page = tmp_path / "page.html"
    p = run("simulate", "--topologies", topologies, "--events", str(events), "--report", "--html", str(page))
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    at = lines.index("    engagement by arm (receipts of the arm's sends after the split):")
    slow = per_arm["slow"]
    assert lines[at + 2].split()[:2] == ["slow", "email:"]
    assert lines[at + 2].endswith(f"opened {OPENED['slow']} ({OPENED['slow'] / slow * 100:.1f}%), "
                                  f"clicked {CLICKED['slow']} ({CLICKED['slow'] / slow * 100:.1f}%)"), lines[at + 2]
    assert f'data-k="arms.ab.slow.email.opened" data-v="{OPENED["slow"]}"' in page.read_text()
