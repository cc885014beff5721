"""The docker compose file: parses, has the expected services, and `docker compose config` accepts it
where the compose plugin exists (it needs no Docker engine)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.deploy.conftest import DEPLOY

COMPOSE = DEPLOY / "compose" / "docker-compose.yml"


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


def test_expected_services() -> None:
    s = services()
    assert {"kafka", "worker", "analytics", "adapter-console", "adapter-email", "adapter-webhook", "prometheus",
            "grafana"} <= set(s)
    assert s["analytics"]["command"][0] == "analytics"
    assert s["analytics"]["environment"]["CJO_API_TOKENS"].startswith("${CJO_API_TOKENS:?")
    assert s["kafka"]["image"].startswith("apache/kafka:")
    env = s["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert not any("zookeeper" in k.lower() for k in s)


def test_images_are_pinned_and_paths_exist() -> None:
    for name, svc in services().items():
        image = svc.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pin {image!r}"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (COMPOSE.parent / src).resolve().exists(), f"{name}: {src} does not exist"
        build = svc.get("build")
        if build:
            assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve().exists()


def test_worker_and_adapters_talk_to_kafka_and_are_scraped() -> None:
    s = services()
    for name in ("worker", "analytics", "adapter-console", "adapter-email", "adapter-webhook"):
        env = s[name]["environment"]
        assert env["CJO_BROKER"] == "kafka:9092", name
        assert env["CJO_WEB_HOST"] == "0.0.0.0", name
    assert s["worker"]["command"][0] == "worker"
    targets = (DEPLOY / "prometheus" / "targets" / "cjo-worker.yml").read_text()
    assert f"worker:{s['worker']['environment']['CJO_WEB_PORT']}" in targets
    port = s["analytics"]["command"][s["analytics"]["command"].index("--web-port") + 1]
    assert f"analytics:{port}" in (DEPLOY / "prometheus" / "targets" / "cjo-analytics.yml").read_text()


def test_docker_compose_config() -> None:
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("no docker client on this machine")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the docker client has no compose plugin: {probe.stderr.strip() or probe.stdout.strip()}")
    r = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr


def test_state_api_needs_a_token_and_ports_stay_on_the_host() -> None:
    s = services()
    tokens = s["worker"]["environment"]["CJO_API_TOKENS"]
    assert tokens.startswith("${CJO_API_TOKENS:?"), "no default token: compose refuses to start without one"
    for name, svc in s.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is published on every interface"


def test_every_cjo_variable_is_read_by_the_code() -> None:
    from tests.deploy.test_k8s import code_env_vars

    known = code_env_vars()
    for name, svc in services().items():
        unknown = {k for k in svc.get("environment", {}) if k.startswith("CJO_")} - known
        assert not unknown, f"{name}: the code reads no {sorted(unknown)}"
