"""Prometheus config, alerting/recording rules and their unit tests (promtool)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.conftest import DEPLOY, ROOT, require_binary

PROM = DEPLOY / "prometheus"


def run(cmd: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_pass_promtool_check() -> None:
    r = run([require_binary("promtool"), "check", "rules", str(PROM / "rules.yml")])
    assert r.returncode == 0, r.stdout + r.stderr


def test_rules_unit_tests_are_current_and_pass() -> None:
    gen = run([sys.executable, str(PROM / "gen_rules_test.py"), "--check"])
    assert gen.returncode == 0, gen.stderr
    r = run([require_binary("promtool"), "test", "rules", "rules.test.yml"], cwd=str(PROM))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_example_config_passes_promtool_check() -> None:
    r = run([require_binary("promtool"), "check", "config", str(PROM / "prometheus.yml")])
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_has_a_runbook_severity_and_summary() -> None:
    groups = yaml.safe_load((PROM / "rules.yml").read_text())["groups"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} >= {"CjoWorkerDown", "CjoNoWorkerRunning", "CjoConsumerLagGrowing",
                                            "CjoDeadLetterRate", "CjoDeliveryFailureRatio", "CjoTimerLatenessHigh",
                                            "CjoStateRestoreSlow",
                                            # commands an adapter cannot decode are never attempted: no failure
                                            # ratio counts them, so nothing paged when every command was invalid
                                            "CjoCommandsInvalid"}
    docs = (ROOT / "docs" / "operations.md").read_text()
    for a in alerts:
        ann = a.get("annotations", {})
        assert len(ann.get("runbook", "")) > 80, f"{a['alert']}: runbook missing or too short"
        assert ann.get("summary"), a["alert"]
        assert a.get("labels", {}).get("severity") in ("critical", "warning"), a["alert"]
        assert f"### {a['alert']}" in docs, f"{a['alert']} has no runbook section in docs/operations.md"


def test_file_sd_targets_are_valid_and_match_compose_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())["services"]
    for name in ("cjo-worker.yml", "cjo-adapter.yml", "cjo-analytics.yml"):
        groups = yaml.safe_load((PROM / "targets" / name).read_text())
        assert isinstance(groups, list) and groups
        for g in groups:
            for t in g["targets"]:
                host, port = t.rsplit(":", 1)
                assert host in compose, f"{name}: {t} is not a compose service"
                assert port.isdigit()


def test_the_dead_letter_runbook_names_the_dlq_command_and_does_not_say_to_replay_unchanged() -> None:
    """What pages the on-call person: it said "replay the DLQ records into the input topic", which only
    dead-letters them again (docs/operations.md, CjoDeadLetterRate), and did not name `cjo-stream dlq`."""
    groups = yaml.safe_load((PROM / "rules.yml").read_text())["groups"]
    alert = next(r for g in groups for r in g["rules"] if r.get("alert") == "CjoDeadLetterRate")
    runbook = " ".join(alert["annotations"]["runbook"].split())
    assert "`cjo-stream dlq`" in runbook and "--redrive" in runbook
    assert "only dead-letters it again" in runbook
    assert "replay the DLQ records" not in runbook


def test_the_not_started_runbook_names_the_tables_a_worker_reads_before_it_starts() -> None:
    """It said the worker might be "still catching up the aliases table": aliases are partitioned now (read per
    partition when assigned), and what a worker reads in full before it starts is its global tables, whose
    log line (`start: still reading the global tables`) is what the on-call person finds."""
    from cjo_stream.runtime import worker

    groups = yaml.safe_load((PROM / "rules.yml").read_text())["groups"]
    alert = next(r for g in groups for r in g["rules"] if r.get("alert") == "CjoWorkerNotStarted")
    runbook = " ".join(alert["annotations"]["runbook"].split())
    assert "aliases" not in runbook
    assert "still reading the global tables" in runbook
    assert "start: still reading the global tables" in Path(worker.__file__).read_text()
    docs = (ROOT / "docs" / "operations.md").read_text().split("### CjoWorkerNotStarted", 1)[1].split("###", 1)[0]
    assert "aliases" not in docs and "still reading the global tables" in docs
    # a worker whose groups never give it partitions says so too (it logged nothing at the default level)
    from cjo_stream.runtime import readiness

    assert "start: not ready after" in runbook and "start: not ready after" in docs
    assert '"start: not ready after %.0f s: %s' in Path(readiness.__file__).read_text()
    assert "stage 2 has had no partitions assigned in its group" in Path(readiness.__file__).read_text()
