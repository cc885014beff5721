"""Structured logging: JSON lines, no payloads or addresses."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cjo_stream import logs


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buf = io.StringIO()
    yield buf
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_json_lines_with_safe_fields_only(capture: io.StringIO) -> None:
    logs.configure_logging(json=True, level="info", stream=capture)
    log = logging.getLogger("cjo_stream.test")
    log.info("assigned %d partitions", 3, extra={"partition": 2, "worker_id": "w-1", "payload": {"email": "x"},
                                                   "customer": "ada@example.com"})
    log.debug("not shown at info")
    (line,) = capture.getvalue().splitlines()
    rec = json.loads(line)
    assert rec["msg"] == "assigned 3 partitions" and rec["level"] == "INFO" and rec["logger"] == "cjo_stream.test"
    assert rec["partition"] == 2 and rec["worker_id"] == "w-1"
    assert "payload" not in rec and "customer" not in rec
    assert rec["ts"].endswith("Z")


def test_addresses_and_credentials_are_masked_in_messages_and_tracebacks(capture: io.StringIO) -> None:
    logs.configure_logging(json=True, level="INFO", stream=capture)
    log = logging.getLogger("cjo_stream.test")
    log.warning("send to ada.lovelace@example.com / +44 20 7946 0958 failed; "
                "url=https://user:hunter2@smtp.example.com password=hunter2 Authorization: Bearer abcdefghijkl")
    try:
        raise ValueError('bad record {"email": "bob@example.org", "token": "s3cr3tvalue"}')
    except ValueError:
        log.exception("decode failed")
    text = capture.getvalue()
    for leaked in ("ada.lovelace", "bob@example.org", "7946", "hunter2", "abcdefghijkl", "s3cr3tvalue"):
        assert leaked not in text, leaked
    first, second = (json.loads(x) for x in text.splitlines())
    assert "<email>" in first["msg"] and "<phone>" in first["msg"] and "password=***" in first["msg"]
    assert "ValueError" in second["exc"] and "<email>" in second["exc"]


def test_long_messages_are_cut(capture: io.StringIO) -> None:
    logs.configure_logging(json=False, level="INFO", stream=capture)
    logging.getLogger("x").error("payload: %s", "a" * 10_000)
    out = capture.getvalue()
    assert len(out) < logs.MAX_MESSAGE + 200 and "chars cut" in out


def test_text_format_is_redacted_too(capture: io.StringIO) -> None:
    logs.configure_logging(json=False, level="warn", stream=capture)
    logging.getLogger("x").warning("to carol@example.net")
    logging.getLogger("x").info("hidden")
    assert capture.getvalue().count("\n") == 1 and "<email>" in capture.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(capture.getvalue())


def test_env_and_dictconfig_for_faust() -> None:
    assert logs.from_env({"CJO_LOG_FORMAT": "json", "CJO_LOG_LEVEL": "warn"}) == (True, "WARNING")
    assert logs.from_env({}) == (False, "INFO")
    with pytest.raises(ValueError):
        logs.from_env({"CJO_LOG_FORMAT": "xml"})
    with pytest.raises(ValueError):
        logs.level_name("loud")
    cfg = logs.logging_config(True, "crit")
    assert cfg["root"]["level"] == "CRITICAL"
    logging.config.dictConfig({**cfg, "handlers": {"cjo": {**cfg["handlers"]["cjo"], "stream": "ext://sys.stdout"}}})
    assert isinstance(logging.getLogger().handlers[0].formatter, logs.JsonFormatter)
    logs.configure_logging(False, "INFO")  # leave a sane root logger


def test_with_json_logs_a_services_own_lines_are_json_too(tmp_path: Path) -> None:
    """With CJO_LOG_FORMAT=json a worker's banner and its `error:` lines were plain text among the JSON log
    records (an operator's walkthrough): a pipeline parsing the output as JSON lines got them unparsed."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    base = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env = {**base, "CJO_LOG_FORMAT": "json", "CJO_BROKER": "127.0.0.1:1", "CJO_DATA_DIR": str(tmp_path),
           "CJO_WEB_TLS_CA": "/nonexistent/ca.pem"}
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "worker"], cwd=root, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    (line,) = p.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR" and record["msg"] == (
        "error: CJO_WEB_TLS_CA='/nonexistent/ca.pem': the file does not exist"), record
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "worker"], cwd=root, capture_output=True, text=True,
                       env={**env, "CJO_LOG_FORMAT": "text"}, timeout=60)
    assert p.stderr.splitlines() == ["error: CJO_WEB_TLS_CA='/nonexistent/ca.pem': the file does not exist"]
