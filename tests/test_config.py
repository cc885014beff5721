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
from cjo_stream.runtime.commands import tune_gc

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
