"""Settings come from the environment; the README documents every variable with its real default."""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator
from dataclasses import fields

import pytest

from cjo_stream.config import Settings
from cjo_stream.errors import UsageError
from cjo_stream.gc_tuning import tune_gc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_documents_every_variable_with_its_default() -> None:
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    rows = dict(re.findall(r"^\| `(CJO_[A-Z_]+)` \| ([^|]+) \|", readme, flags=re.M))
    defaults = Settings()
    for f in fields(Settings):
        var = Settings.ENV.get(f.name)
        if var is None:
            continue
        assert var in rows, f"{var} is missing from the README's configuration table"
        value = str(getattr(defaults, f.name))
        if value:  # empty defaults are described in words, e.g. "(none)"
            assert rows[var].strip() == f"`{value}`", f"README default of {var} is {rows[var]!r}, code says {value!r}"


def test_from_env_reads_types_and_refuses_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJO_PARTITIONS", "24")
    monkeypatch.setenv("CJO_EXACTLY_ONCE", "yes")
    monkeypatch.setenv("CJO_TIMER_INTERVAL_SECONDS", "0.2")
    s = Settings.from_env()
    assert (s.partitions, s.exactly_once, s.timer_interval) == (24, True, 0.2)
    monkeypatch.setenv("CJO_PARTITIONS", "many")
    with pytest.raises(ValueError, match="CJO_PARTITIONS='many' is not a valid int"):
        Settings.from_env()


def test_a_misspelt_switch_is_refused_not_read_as_false(monkeypatch: pytest.MonkeyPatch) -> None:
    """CJO_EXACTLY_ONCE=ture (or CJO_METRICS_AUTH=enabled: /metrics left open) was silently false."""
    monkeypatch.setenv("CJO_METRICS_AUTH", "enabled")
    with pytest.raises(ValueError, match="CJO_METRICS_AUTH='enabled': use true or false"):
        Settings.from_env()
    for word, value in [("ON", True), (" no ", False), ("", False)]:
        monkeypatch.setenv("CJO_METRICS_AUTH", word)
        assert Settings.from_env().metrics_auth is value


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_tune_gc_sets_thresholds_and_freezes(restore_gc: None) -> None:
    tune_gc("40000,30,90")
    assert gc.get_threshold() == (40000, 30, 90)
    assert gc.get_freeze_count() > 0


def test_tune_gc_off_leaves_python_defaults(restore_gc: None) -> None:
    before = gc.get_threshold()
    tune_gc("off")
    assert gc.get_threshold() == before


def test_tune_gc_refuses_a_bad_spec(restore_gc: None) -> None:
    with pytest.raises(UsageError, match="CJO_GC_THRESHOLD='fast'"):
        tune_gc("fast")


def test_compression_is_one_of_kafkas_codecs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJO_COMPRESSION", " ZSTD ")
    assert Settings.from_env().compression == "zstd"
    monkeypatch.setenv("CJO_COMPRESSION", "brotli")
    with pytest.raises(ValueError, match="CJO_COMPRESSION='brotli': use one of none, gzip, snappy, lz4, zstd"):
        Settings.from_env()


def test_input_isolation_is_one_of_kafkas_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().input_isolation == "read_committed"  # the default: aborted transactions skipped
    monkeypatch.setenv("CJO_INPUT_ISOLATION", " READ_UNCOMMITTED ")
    assert Settings.from_env().input_isolation == "read_uncommitted"
    monkeypatch.setenv("CJO_INPUT_ISOLATION", "committed")
    with pytest.raises(ValueError, match="CJO_INPUT_ISOLATION='committed': use read_committed or read_uncommitted"):
        Settings.from_env()


@pytest.mark.parametrize("var, value, fragment", [
    # past Kafka's int32: a traceback from topic creation; 100,000 held the worker's start for minutes
    ("CJO_PARTITIONS", "99999999999999999999", "CJO_PARTITIONS=99999999999999999999 (or --partitions): at most"),
    ("CJO_PARTITIONS", "-1", "CJO_PARTITIONS=-1 (or --partitions): must be 1 or more"),
    # 1e20 processes: 'port 35297 ... in use for worker process 29231'
    ("CJO_CONCURRENCY", "100000000000000000000", "CJO_CONCURRENCY=100000000000000000000 (or --concurrency): at most"),
    ("CJO_REPLICATION", "99999", "CJO_REPLICATION=99999: at most 32767"),
    ("CJO_TIMER_INTERVAL_SECONDS", "-1", "CJO_TIMER_INTERVAL_SECONDS=-1.0: must be 0.001 or more"),
    ("CJO_TIMER_INTERVAL_SECONDS", "nan", "CJO_TIMER_INTERVAL_SECONDS=nan: not a number"),
    ("CJO_SESSION_TIMEOUT_MS", "-5", "CJO_SESSION_TIMEOUT_MS=-5: must be 1000 or more"),  # never joined its group
    ("CJO_FETCH_MAX_WAIT_MS", "-1", "CJO_FETCH_MAX_WAIT_MS=-1: must be 0 or more"),
    ("CJO_ROCKSDB_MEMORY_MB", "99999999999999999", "at most 1048576 (MiB)"),  # was OverflowError, exit 70
    ("CJO_BATCH_MAX", "999999999999999999999", "CJO_BATCH_MAX=999999999999999999999: at most"),
    ("CJO_ANALYTICS_WEB_PORT", "70000", "CJO_ANALYTICS_WEB_PORT=70000: at most 65535"),
])
def test_numbers_out_of_range_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str,
                                          fragment: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError) as e:
        Settings.from_env()
    assert fragment in str(e.value)


def test_worker_processes_must_fit_below_port_65536(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJO_WEB_PORT", "65500")
    with pytest.raises(ValueError, match="65500 \\+ 199, beyond port 65535"):
        Settings.from_env(concurrency=200)
    assert Settings.from_env(concurrency=36).concurrency == 36


@pytest.mark.parametrize("var, value", [("CJO_INPUT_TOPIC", "my topic"), ("CJO_INPUT_TOPIC", ""),
                                        ("CJO_APP_ID", "shop/eu"), ("CJO_APP_ID", "a" * 230),
                                        ("CJO_RECEIPTS_TOPIC", "receipts!")])
def test_names_kafka_refuses_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    """The local broker took them; a Kafka cluster refuses such a topic when the worker creates it."""
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=f"{var}=.*Kafka names are 1 to \\d+ characters"):
        Settings.from_env()
    monkeypatch.setenv(var, "shop.eu-1_v2")
    assert Settings.from_env()


@pytest.mark.parametrize("env, fragment", [
    ({"CJO_INPUT_TOPIC": "events", "CJO_RECEIPTS_TOPIC": "events"}, "CJO_INPUT_TOPIC and CJO_RECEIPTS_TOPIC are both"),
    ({"CJO_RECEIPTS_TOPIC": "cjo.touchpoints.dlq"}, "CJO_RECEIPTS_TOPIC='cjo.touchpoints.dlq' is a topic cjo-stream"),
    ({"CJO_APP_ID": "shop", "CJO_INPUT_TOPIC": "shop.customer-events"}, "CJO_INPUT_TOPIC='shop.customer-events' is"),
    ({"CJO_INPUT_TOPIC": "cjo.delivery.email"}, "CJO_INPUT_TOPIC='cjo.delivery.email' is a topic"),
    ({"CJO_RECEIPTS_TOPIC": "cjo.journey-events"}, "CJO_RECEIPTS_TOPIC='cjo.journey-events' is a topic"),
])
def test_input_topics_that_are_each_other_or_an_output_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                                   env: dict[str, str], fragment: str) -> None:
    """A worker reading a topic it writes reads its own records back: as receipts (every event dead-lettered
    ``bad_receipt``), or in a loop (a dead letter read as input is dead-lettered again)."""
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        Settings.from_env()
    monkeypatch.setenv("CJO_INPUT_TOPIC", "shop.touchpoints")
    monkeypatch.setenv("CJO_RECEIPTS_TOPIC", "shop.receipts")
    assert Settings.from_env().dlq_topic == "shop.touchpoints.dlq"


def test_topic_flag_type_follows_kafkas_rule() -> None:
    import argparse

    from cjo_stream.argtypes import topic

    assert topic("cjo.touchpoints_v2-eu") == "cjo.touchpoints_v2-eu"
    for bad in ("", "cjo touchpoints", "a/b", "x" * 250):
        with pytest.raises(argparse.ArgumentTypeError, match="a Kafka topic name is 1 to 249 characters"):
            topic(bad)


@pytest.mark.parametrize("var, value, fragment", [
    ("CJO_WEB_URL", "notaurl", "CJO_WEB_URL='notaurl': expected http(s)://host[:port]"),
    ("CJO_WEB_URL", "http://[::1", "CJO_WEB_URL='http://[::1': expected"),
    ("CJO_WEB_URL", "http://w1:99999", "CJO_WEB_URL='http://w1:99999': expected"),
    ("CJO_WEB_URL", "https://w1:6067", "CJO_WEB_URL='https://w1:6067': https, but this process serves http "
                                       "(CJO_WEB_TLS_CERT and CJO_WEB_TLS_KEY unset), and the other workers or replicas "
                                       "call only http URLs: use http://"),  # (the others refused it: 502, 503)
    ("CJO_WORKER_ID", "w1\nFAKE log line", "CJO_WORKER_ID: at most 255 printable characters"),
])
def test_web_url_and_worker_id_are_checked(monkeypatch: pytest.MonkeyPatch, var: str, value: str,
                                           fragment: str) -> None:
    """Both passed: forwarding to the worker failed later; a newline in the id forged log lines."""
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError) as e:
        Settings.from_env()
    assert fragment in str(e.value) and "FAKE" not in str(e.value)
    monkeypatch.setenv(var, "http://worker-1.cjo.svc:6066" if var == "CJO_WEB_URL" else "worker-1")
    assert Settings.from_env()


def test_operations_names_the_topics_and_groups_app_id_does_not_prefix() -> None:
    """docs/operations.md said CJO_APP_ID lets "two deployments share a cluster", while delivery topics, skip
    records, journey events and the adapters' sent-records and groups keep their names whatever it says: every
    name of a deployment that is not under CJO_APP_ID (nor set by a variable of its own) is named there."""
    from pathlib import Path

    from cjo_stream.adapters.runner import group_id
    from cjo_stream.adapters.sentlog import sent_topic

    s = Settings(app_id="other")
    own = {s.input_topic, s.dlq_topic, s.receipts_topic}  # CJO_INPUT_TOPIC, CJO_RECEIPTS_TOPIC
    names = {getattr(s, n) for n in dir(Settings) if n.endswith(("_topic", "_changelog")) and n != "delivery_topic"}
    shared = {n for n in names if not n.startswith("other.")} - own
    shared |= {Settings.delivery_topic("<channel>"), sent_topic("<channel>"), group_id("<channel>")}
    assert {"cjo.delivery.skipped", "cjo.journey-events"} <= shared
    doc = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `CJO_APP_ID`"))
    assert "share a cluster" not in row
    assert [n for n in sorted(shared) if f"`{n}`" not in row] == []
