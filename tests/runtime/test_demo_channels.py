"""`cjo-stream demo --topologies DIR` prints the commands of the channels DIR's policies.yaml declares, as it does
the built-in ones' (it followed the built-in channels' topics only, so a declared channel's sends were decided
and delivered, and never shown)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.runtime.test_orphans import clean_env, verb, wait_for

POLICIES = """\
channels:
  myco_fraud: {customer_facing: false}
"""
JOURNEY = """\
journey: check_signups
entry: {event: signed_up}
steps:
  - id: ask
    send: {channel: myco_fraud, to: "https://fraud.internal/check", content: {body: "check {{ profile.customer_id }}"}}
"""


def test_the_demo_shows_a_declared_channels_commands(tmp_path: Path) -> None:
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "policies.yaml").write_text(POLICIES)
    (topo / "journeys" / "check.yaml").write_text(JOURNEY)
    log = tmp_path / "demo.log"
    with verb("demo", "--topologies", str(topo), "--duration", "300", "--rate", "200", env=clean_env(),
              log=log) as proc:
        wait_for("a myco_fraud command in the demo's output", lambda: "myco_fraud check_signups/ask" in log.read_text(),
                 proc, log, 150)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, log.read_text()[-3000:]
