"""Kubernetes manifests: parse every document and check the invariants an SRE relies on."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY

K8S = DEPLOY / "k8s"
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|API_?KEY|PRIVATE_?KEY|SIGNING", re.I)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
#: Variables holding paths of secret material (keys, tokens), which must come from Secret volumes.
FILE_PATHS = {"CJO_WEB_TLS_KEY", "CJO_SSL_KEYFILE"}


def documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def of_kind(*kinds: str) -> list[dict[str, Any]]:
    return [d for _, d in documents() if d["kind"] in kinds]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def name(d: dict[str, Any]) -> str:
    return f"{d['kind']}/{d['metadata']['name']}"


def test_every_manifest_parses_and_is_listed_in_the_kustomization() -> None:
    docs = documents()
    assert len(docs) >= 10
    for path, d in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(d), f"{path.name}: {d.get('kind')}"
        assert d["metadata"].get("name"), path.name
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "cjo", f"{path.name}: {name(d)} has no namespace cjo"
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_kinds_present() -> None:
    kinds = {d["kind"] for _, d in documents()}
    assert {"StatefulSet", "Deployment", "ConfigMap", "PodDisruptionBudget", "Service", "ServiceMonitor",
            "PrometheusRule"} <= kinds


def test_generated_files_are_current() -> None:
    r = subprocess.run([sys.executable, str(K8S / "gen.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_probes_resources_and_image_tags() -> None:
    for w in of_kind(*WORKLOADS):
        for c in containers(w):
            where = f"{name(w)}:{c['name']}"
            for probe in ("readinessProbe", "livenessProbe"):
                assert c.get(probe, {}).get("httpGet", {}).get("path") == "/health", f"{where}: {probe} on /health"
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert res.get(kind, {}).get("cpu") and res.get(kind, {}).get("memory"), f"{where}: {kind}"
            image = c["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert tag and tag != "latest" or "@sha256:" in image, f"{where}: pin the image tag ({image})"
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, where
        assert pod_spec(w).get("securityContext", {}).get("runAsNonRoot") is True, name(w)
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert all(i.get("newTag") not in (None, "latest") for i in kust.get("images", []))


def secret_mounts(w: dict[str, Any], c: dict[str, Any]) -> list[str]:
    """Mount paths of the volumes that come from Secrets."""
    secret_vols = {v["name"] for v in pod_spec(w).get("volumes", []) if "secret" in v}
    return [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in secret_vols]


def test_no_secret_values_inline() -> None:
    assert not of_kind("Secret"), "Secrets are created out of band, never committed"
    for w in of_kind(*WORKLOADS):
        for c in containers(w):
            for env in c.get("env", []):
                if env["name"].endswith("_FILE") or env["name"] in FILE_PATHS:
                    # a path: it must point into a volume mounted from a Secret
                    if SECRET_NAME.search(env["name"]) or env["name"] in FILE_PATHS:
                        assert any(env["value"].startswith(m + "/") for m in secret_mounts(w, c)), \
                            f"{name(w)}: {env['name']}={env['value']} is not in a Secret volume"
                elif SECRET_NAME.search(env["name"]) or env["name"] == "CJO_AUDIT_KEY":
                    assert "value" not in env, f"{name(w)}: {env['name']} has an inline value"
                    assert "secretKeyRef" in env.get("valueFrom", {}), f"{name(w)}: {env['name']} not from a Secret"
            for src in c.get("envFrom", []):
                assert "configMapRef" not in src or not SECRET_NAME.search(str(src)), name(w)
    for cm in of_kind("ConfigMap"):
        for key, text in (cm.get("data") or {}).items():
            assert not re.search(r"(?i)(password|secret|token)\s*[:=]\s*\S{6,}", text), f"{name(cm)}:{key}"


def test_worker_statefulset() -> None:
    (sts,) = of_kind("StatefulSet")
    spec = sts["spec"]
    pod = pod_spec(sts)
    (c,) = pod["containers"]
    env = {e["name"]: e for e in c["env"]}
    # RocksDB on a volume claim mounted at CJO_DATA_DIR
    (vct,) = spec["volumeClaimTemplates"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == vct["metadata"]["name"])
    assert mount["mountPath"] == env["CJO_DATA_DIR"]["value"]
    assert env["CJO_STORE"]["value"] == "rocksdb"
    assert vct["spec"]["resources"]["requests"]["storage"]
    # graceful shutdown: time to checkpoint, preStop, startup probe covering the first restore
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert c["lifecycle"]["preStop"]
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    startup = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    assert startup >= 600, "the startup probe must allow long changelog restores"
    # listens on all interfaces; the port the probes use is the one the worker serves on
    assert env["CJO_WEB_HOST"]["value"] == "0.0.0.0"
    port = next(p for p in c["ports"] if p["name"] == "web")["containerPort"]
    assert int(env["CJO_WEB_PORT"]["value"]) == port
    # every CJO_* variable the worker reads is a real setting (typos are silently ignored otherwise)
    from_config = _config_env_vars()
    known = from_config | {"CJO_LOG_FORMAT", "CJO_LOG_LEVEL", "CJO_WEB_URL"}
    assert {k for k in env if k.startswith("CJO_")} <= known
    assert {"CJO_BROKER", "CJO_SECURITY_PROTOCOL", "CJO_SASL_MECHANISM", "CJO_SASL_PASSWORD", "CJO_PARTITIONS",
            "CJO_REPLICATION", "CJO_TOPOLOGIES"} <= set(env)
    # topologies come from the ConfigMaps: journeys, policies and lifecycle stages where the loader reads them
    vols = {v["name"]: v for v in pod["volumes"]}
    cms = {cm["metadata"]["name"] for cm in of_kind("ConfigMap")}
    assert _topology_mounts(c, vols, env["CJO_TOPOLOGIES"]["value"]) == TOPOLOGY_MOUNTS
    for m in c["volumeMounts"]:
        if m["mountPath"].startswith(env["CJO_TOPOLOGIES"]["value"]):
            cm = vols[m["name"]]["configMap"]
            assert cm["name"] in cms or cm.get("optional") is True
    # scrape annotations
    ann = sts["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == port


def test_web_ports_are_https_with_tokens_from_a_secret_file() -> None:
    for w in of_kind(*WORKLOADS):
        (c,) = pod_spec(w)["containers"]
        env = {e["name"]: e for e in c["env"]}
        where = name(w)
        assert env["CJO_WEB_TLS_CERT"]["value"] and env["CJO_WEB_TLS_KEY"]["value"], where
        assert env["CJO_API_TOKENS_FILE"]["value"].startswith("/etc/cjo/api/"), where
        assert "CJO_API_TOKENS" not in env, f"{where}: tokens belong in the mounted file"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in c:
                assert c[probe]["httpGet"].get("scheme") == "HTTPS", f"{where}: {probe}"
        ann = w["spec"]["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") == "true":
            assert ann.get("prometheus.io/scheme") == "https", where
    (sts,) = of_kind("StatefulSet")
    env = {e["name"]: e for e in pod_spec(sts)["containers"][0]["env"]}
    assert env["CJO_WEB_URL"]["value"].startswith("https://"), "workers forward state queries over HTTPS"
    assert env["CJO_WEB_TLS_CA"]["value"], "workers verify each other's certificates"
    assert env["CJO_AUDIT_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "cjo-api"
    (sm,) = of_kind("ServiceMonitor")
    for ep in sm["spec"]["endpoints"]:
        assert ep["scheme"] == "https" and ep["tlsConfig"]["ca"]["secret"]["name"] == "cjo-web-tls"


def code_env_vars() -> set[str]:
    """Every CJO_* name the code reads (string literals in cjo_stream/, plus per-channel f-strings)."""
    names: set[str] = set()
    for path in (DEPLOY.parent / "cjo_stream").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'"(CJO_[A-Z_]+)"', text))
        names |= {f"{p}{ch.upper()}{suffix}" for p, suffix in re.findall(r'f"(CJO_[A-Z_]+_)\{[^}]*\}([A-Z_]*)"', text)
                  for ch in ("email", "sms", "push", "in_app", "webhook", "slack", "crm", "console")}
    return names | {f"{n}_FILE" for n in names}  # every secret may come from a file


def test_every_variable_in_the_manifests_is_read_by_the_code() -> None:
    """A misspelt variable is silently ignored by the process (e.g. a signing key that never applies)."""
    known = code_env_vars()
    for w in of_kind(*WORKLOADS):
        for c in containers(w):
            unknown = {e["name"] for e in c.get("env", []) if e["name"].startswith("CJO_")} - known
            assert not unknown, f"{name(w)}: the code reads no {sorted(unknown)}"


def _config_env_vars() -> set[str]:
    text = (DEPLOY.parent / "cjo_stream" / "config.py").read_text()
    return set(re.findall(r'"(CJO_[A-Z_]+)"', text))


def test_pdb_selects_the_worker_pods() -> None:
    (sts,) = of_kind("StatefulSet")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    pdbs = of_kind("PodDisruptionBudget")
    assert pdbs
    selected = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
    assert selected, "no PodDisruptionBudget selects the worker pods"
    (pdb,) = selected
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable")
    assert sts["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_services_and_servicemonitor_reach_the_pods() -> None:
    (sm,) = of_kind("ServiceMonitor")
    services = of_kind("Service")
    scraped = [s for s in services if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert {s["metadata"]["name"] for s in scraped} == {"cjo-worker", "cjo-adapter", "cjo-analytics"}
    port_names = {e["port"] for e in sm["spec"]["endpoints"]}
    workloads = of_kind(*WORKLOADS)
    for s in scraped:
        assert port_names <= {p["name"] for p in s["spec"]["ports"]}
        # the job label comes from this Service label and must match the rules' job names
        assert s["metadata"]["labels"][sm["spec"]["jobLabel"]] in ("cjo-worker", "cjo-adapter", "cjo-analytics")
        pods = [w for w in workloads
                if s["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert pods, f"Service {s['metadata']['name']} selects no pods"
    (headless,) = [s for s in services if s["spec"].get("clusterIP") == "None" and
                   s["spec"]["selector"]["app.kubernetes.io/component"] == "cjo-worker"]
    (sts,) = of_kind("StatefulSet")
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]


def component(w: dict[str, Any]) -> str:
    return str(w["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component"))


def test_adapters_one_deployment_per_channel() -> None:
    deps = [d for d in of_kind("Deployment") if component(d) == "cjo-adapter"]
    channels = {}
    for d in deps:
        (c,) = pod_spec(d)["containers"]
        assert c["args"][0] == "adapter", name(d)
        channels[c["args"][c["args"].index("--channel") + 1]] = d
        assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
    assert {"email", "webhook", "console"} <= set(channels)
    # each pod named in DNS by the headless Service of its subdomain: the other replicas ask it at CJO_WEB_URL
    headless = {s["metadata"]["name"]: s for s in of_kind("Service") if s["spec"].get("clusterIP") == "None"}
    for d in deps:
        pod = pod_spec(d)
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        peers = headless[pod["subdomain"]]
        assert peers["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items(), name(d)
        assert env["CJO_WEB_URL"] == f"https://$(POD_NAME).{pod['subdomain']}.cjo.svc:6067" and env["CJO_WEB_TLS_CA"]


def test_analytics_deployment() -> None:
    """One process (it holds the whole fold), never two at once, its RocksDB on a claim, the journeys mounted."""
    (d,) = [d for d in of_kind("Deployment") if component(d) == "cjo-analytics"]
    spec, pod = d["spec"], pod_spec(d)
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (c,) = pod["containers"]
    assert c["args"][0] == "analytics"
    env = {e["name"]: e.get("value") for e in c["env"]}
    port = next(p for p in c["ports"] if p["name"] == "web")["containerPort"]
    assert c["args"][c["args"].index("--web-port") + 1] == str(port)
    vols = {v["name"]: v for v in pod["volumes"]}
    data = next(m for m in c["volumeMounts"] if m["mountPath"] == env["CJO_DATA_DIR"])
    claim = vols[data["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim in {p["metadata"]["name"] for p in of_kind("PersistentVolumeClaim")}
    assert env["CJO_STORE"] == "rocksdb" and env["CJO_WEB_HOST"] == "0.0.0.0"
    cms = {cm["metadata"]["name"] for cm in of_kind("ConfigMap")}
    mounted = [vols[m["name"]]["configMap"]["name"] for m in c["volumeMounts"]
               if m["mountPath"].startswith(env["CJO_TOPOLOGIES"])]
    assert set(mounted) == {"cjo-journeys", "cjo-policies", "cjo-stages", "cjo-catalogs"}
    assert {"cjo-journeys", "cjo-policies", "cjo-stages"} <= cms  # (cjo-catalogs is optional: README, Catalogs)
    assert _topology_mounts(c, vols, env["CJO_TOPOLOGIES"]) == TOPOLOGY_MOUNTS  # the stage names, the maps
    assert int(d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == port
    assert c["startupProbe"]["httpGet"]["path"] == "/health"


TOPOLOGY_MOUNTS = {"journeys": ("cjo-journeys", None), "policies.yaml": ("cjo-policies", "policies.yaml"),
                   "stages.yaml": ("cjo-stages", "stages.yaml"), "catalogs": ("cjo-catalogs", None)}


def _topology_mounts(c: dict[str, Any], vols: dict[str, Any], root: str) -> dict[str, tuple[str, str | None]]:
    """What is mounted under the topologies directory: path below it -> (ConfigMap, subPath)."""
    return {m["mountPath"][len(root):].strip("/"): (vols[m["name"]]["configMap"]["name"], m.get("subPath"))
            for m in c["volumeMounts"] if m["mountPath"].startswith(root)}


def test_topologies_configmap_loads(tmp_path: Path) -> None:
    """The example journeys, policies and stages in the ConfigMaps are a valid cjo-stream topology; the
    stages are the repository's."""
    loader = pytest.importorskip("cjo_stream.journeys.loader")
    cms = {cm["metadata"]["name"]: cm["data"] for cm in of_kind("ConfigMap")}
    (tmp_path / "journeys").mkdir()
    for key, text in cms["cjo-journeys"].items():
        (tmp_path / "journeys" / key).write_text(text)
    (tmp_path / "policies.yaml").write_text(cms["cjo-policies"]["policies.yaml"])
    assert list(cms["cjo-stages"]) == ["stages.yaml"]
    (tmp_path / "stages.yaml").write_text(cms["cjo-stages"]["stages.yaml"])
    topo = loader.load_topology(str(tmp_path))
    assert topo.journeys and topo.stages is not None
    repo = loader.load_topology(str(DEPLOY.parent / "topologies"))
    assert repo.stages is not None and topo.stages.names == repo.stages.names
    assert yaml.safe_load(cms["cjo-stages"]["stages.yaml"]) == yaml.safe_load(
        (DEPLOY.parent / "topologies" / "stages.yaml").read_text())


def test_adapters_have_the_time_to_stop_cleanly() -> None:
    """An adapter's stop takes its stop grace (provider calls in flight, then cut) and a few seconds for the
    acknowledgements, leaving the group and the sent-record's checkpoint; a SIGKILL before it loses those."""
    from cjo_stream.adapters import config
    from cjo_stream.adapters.runner import DEFAULT_STOP_GRACE

    for d in (d for d in of_kind("Deployment") if component(d) == "cjo-adapter"):
        pod = pod_spec(d)
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
        grace = config.duration(env, "CJO_ADAPTER_STOP_GRACE", DEFAULT_STOP_GRACE)
        assert pod.get("terminationGracePeriodSeconds", 30) >= grace + 10, name(d)
