"""``status: paused`` as the on-call engineer types it: ``validate`` and ``simulate`` name the pause, and
``replay --compare`` of the live topology against the paused one, with ``--since`` as the moment of the pause,
tells which sends it holds: those of the customers already in the journey (held) and those of who would have
entered (nobody enters)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from cjo_stream.events import format_ts
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]

CART = """\
journey: cart
{status}entry: {{event: cart_item_added}}
goal: {{event: order_completed}}
steps:
  - id: wait_a_bit
    wait: 1h
  - id: coupon_mail
    send: {{channel: email, content: {{subject: "10% off", body: "Use code SAVE10"}}}}
"""


def topology(tmp: Path, name: str, status: str) -> str:
    d = tmp / name / "journeys"
    d.mkdir(parents=True)
    (d / "cart.yaml").write_text(CART.format(status=f"status: {status}\n" if status else ""))
    return str(d.parent)


def events(tmp: Path) -> str:
    """cy's mail goes at T0-50m, before the pause at T0; ada is in the journey at the pause, her mail due at
    T0+30m; bob's cart comes after it."""
    lines: list[dict[str, Any]] = []
    for who, at in (("cy", T0 - 2 * 3600), ("ada", T0 - 1800), ("bob", T0 + 300)):
        lines.append({"messageId": f"id-{who}", "type": "identify", "userId": who, "timestamp": format_ts(at - 60),
                      "traits": {"email": f"{who}@example.com"}})
        lines.append({"messageId": f"cart-{who}", "type": "track", "event": "cart_item_added", "userId": who,
                      "timestamp": format_ts(at)})
    path = tmp / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in sorted(lines, key=lambda x: str(x["timestamp"]))))
    return str(path)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    # (CJO_PURE_PYTHON kept: the sources under test, not a build older than them)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_") or k == "CJO_PURE_PYTHON"}
    return subprocess.run([sys.executable, "-m", "cjo_stream.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_validate_and_simulate_name_the_pause_and_simulate_sends_nothing(tmp_path: Path) -> None:
    paused, live = topology(tmp_path, "paused", "paused"), topology(tmp_path, "live", "")
    v = cli("validate", paused)
    assert v.returncode == 0, v.stderr
    assert "ok  cart v1  (2 steps, paused)" in v.stdout
    note = "journeys/cart.yaml:2: note: journey cart version 1 is paused: nobody enters it"
    assert note in v.stderr
    ev = events(tmp_path)
    s = cli("simulate", "--topologies", paused, "--events", ev, "--report")
    assert s.returncode == 0 and s.stdout == "" and note in s.stderr, s.stderr
    s = cli("simulate", "--topologies", live, "--events", ev)
    assert s.returncode == 0 and s.stdout.count('"step":"coupon_mail"') == 3 and note not in s.stderr


def test_replay_compare_tells_the_sends_the_pause_holds(tmp_path: Path) -> None:
    live, paused = topology(tmp_path, "live", "live"), topology(tmp_path, "paused", "paused")
    p = cli("replay", "--events", events(tmp_path), "--topologies", live, "--compare", paused,
            "--since", format_ts(T0), "--warmup", "1d", "--only-changed")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "journey cart: live under A, paused under B" in out, out
    # ada, in the journey at the pause, is held at the mail; bob never enters; cy's mail went before it
    rows = {tuple(line.split()[2:-3]): line.split()[-3:] for line in out.splitlines() if line.startswith("* cart")}
    assert rows[("coupon_mail", "(email)", "deferred:journey_paused")] == ["0", "1", "+1"], out
    assert rows[("coupon_mail", "(email)", "sent")] == ["2", "0", "-2"], out
    assert rows[("entered",)] == ["1", "0", "-1"], out
    assert "cart: 2 only under A (e.g. ada, bob); 0 only under B" in out
    assert "defined differently" not in out  # a pause is no edit of the definition: the in-flight are shown


def test_simulate_and_replay_compare_of_a_closed_journey(tmp_path: Path) -> None:
    """Closed from --since on: ada, in the journey when it closes, still gets her mail; bob never enters."""
    live, closed = topology(tmp_path, "live", "live"), topology(tmp_path, "closed", "closed")
    ev = events(tmp_path)
    s = cli("simulate", "--topologies", closed, "--events", ev)
    assert s.returncode == 0 and s.stdout == "", s.stderr  # nobody enters it over the whole input
    assert "journeys/cart.yaml:2: note: journey cart version 1 is closed: nobody enters it" in s.stderr
    p = cli("replay", "--events", ev, "--topologies", live, "--compare", closed,
            "--since", format_ts(T0), "--warmup", "1d", "--only-changed")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "journey cart: live under A, closed under B (closed from --since on: nobody enters" in out, out
    rows = {tuple(line.split()[2:-3]): line.split()[-3:] for line in out.splitlines() if line.startswith("* cart")}
    assert rows[("coupon_mail", "(email)", "sent")] == ["2", "1", "-1"], out  # ada's went; bob's did not
    assert rows[("entered",)] == ["1", "0", "-1"], out
    assert ("coupon_mail", "(email)", "deferred:journey_paused") not in rows, out
    assert "cart: 1 only under A (e.g. bob); 0 only under B" in out
