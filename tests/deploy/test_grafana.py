"""The Grafana dashboard: valid JSON, generated from build_dashboard.py, PromQL that parses and uses only
metrics defined in cjo_stream/metrics.py or recording rules of deploy/prometheus/rules.yml."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import promql
from tests.deploy.conftest import DEPLOY, ROOT, in_ci, require_binary

DASHBOARD = DEPLOY / "grafana" / "cjo-stream.json"
PROMETHEUS_BUILTIN = {"up": {"job", "instance"}}  # synthetic series Prometheus adds to every target
#: prometheus-client's ProcessCollector, registered in cjo_stream.metrics (a restart moves the start time)
PROCESS_COLLECTOR = {"process_start_time_seconds"}
TARGET_LABELS = {"job", "instance"}


def panels(d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in d["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def dashboard_exprs() -> list[str]:
    d = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in panels(d) for t in p.get("targets", [])]


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())["groups"]
    return [r for g in groups for r in g["rules"]]


@pytest.fixture(scope="module")
def defined() -> dict[str, set[str]]:
    """Sample names of cjo_stream.metrics.REGISTRY -> label names."""
    from_source = promql.source_metrics(ROOT / "cjo_stream" / "metrics.py")
    try:
        from_registry = promql.registry_metrics()
    except ImportError as e:
        if in_ci():
            raise
        # the package is mid-edit locally: the same definitions, read from the source
        warnings.warn(f"cannot import cjo_stream.metrics ({e}); reading metrics.py's source", stacklevel=1)
        return from_source
    assert from_registry == from_source, \
        "source reading of metrics.py disagrees with the registry: fix tests/deploy/promql.py"
    return from_registry


@pytest.fixture(scope="module")
def known(defined: dict[str, set[str]]) -> dict[str, set[str] | None]:
    """Every series name an expression may use -> its label names (None: not checked)."""
    out: dict[str, set[str] | None] = {k: v | TARGET_LABELS for k, v in defined.items()}
    out.update({k: set(v) for k, v in PROMETHEUS_BUILTIN.items()})
    out.update({k: set(TARGET_LABELS) for k in PROCESS_COLLECTOR})
    for r in rules():
        if "record" in r:
            out[r["record"]] = promql.output_labels(r["expr"])
    return out


def check_expr(expr: str, known: dict[str, set[str] | None], where: str) -> None:
    unknown = promql.metric_names(expr) - set(known)
    assert not unknown, f"{where}: unknown metric(s) {sorted(unknown)} in {expr!r}"
    for name, labels in promql.selectors(expr):
        allowed = known.get(name)
        if allowed is not None:
            assert labels <= allowed, f"{where}: {name} has no label(s) {sorted(labels - allowed)} in {expr!r}"


def test_dashboard_is_valid_json_and_generated() -> None:
    d = json.loads(DASHBOARD.read_text())
    assert d["uid"] == "cjo-stream" and d["schemaVersion"] >= 36
    r = subprocess.run([sys.executable, str(DEPLOY / "grafana" / "build_dashboard.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    titles = " ".join(p["title"].lower() for p in panels(d))
    for topic in ("events consumed", "consumer lag", "decision latency", "timer lateness", "funnel",
                  "split arm", "delivery success", "dead letters"):
        assert topic in titles, f"no panel about {topic!r}"
    for p in panels(d):
        if p["type"] != "row":
            assert p["targets"], p["title"]
            assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_dashboard_uses_only_defined_metrics_and_labels(known: dict[str, set[str] | None]) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) > 30
    for e in exprs:
        check_expr(e, known, "dashboard")


def test_rules_use_only_defined_metrics_and_labels(known: dict[str, set[str] | None]) -> None:
    for r in rules():
        check_expr(r["expr"], known, str(r.get("record") or r.get("alert")))


def test_every_metric_is_on_the_dashboard_or_in_a_rule(defined: dict[str, set[str]]) -> None:
    used: set[str] = set()
    for e in dashboard_exprs() + [r["expr"] for r in rules()]:
        used |= promql.metric_names(e)
    families: dict[str, set[str]] = {}
    for name in defined:
        base = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        families.setdefault(base, set()).add(name)
    unused = sorted(base for base, names in families.items() if not names & used)
    assert not unused, f"metrics nobody looks at (add a panel or rule): {unused}"


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """promtool parses every dashboard expression (as a recording rule; Grafana variables substituted)."""
    rules_file = tmp_path / "dashboard-exprs.yml"
    recs = [{"record": f"dashboard:expr_{i}", "expr": promql.substitute_grafana(e)}
            for i, e in enumerate(dashboard_exprs())]
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recs}]}))
    r = subprocess.run([require_binary("promtool"), "check", "rules", str(rules_file)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_provisioning_points_at_the_dashboard() -> None:
    prov = DEPLOY / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    dash = yaml.safe_load((prov / "dashboards" / "cjo-stream.yml").read_text())
    path = dash["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(m.split(":")[1].startswith(path) and "cjo-stream.json" in m for m in mounts), mounts


def test_every_metric_is_documented(defined: dict[str, set[str]]) -> None:
    docs = (ROOT / "docs" / "operations.md").read_text()
    for name in defined:
        base = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        assert f"`{base}`" in docs, f"{base} is missing from the metrics table in docs/operations.md"
    for r in rules():
        if "record" in r:
            assert r["record"].split(":")[1] in docs, f"recording rule {r['record']} is not documented"
