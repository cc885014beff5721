"""``python -m cjo_stream.bench.analytics_rows``: counts a stopped analytics store's cached kinds of rows (not its
buckets, offsets or source positions), and a path that is no store is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.analytics import state
from cjo_stream.analytics.rows import DeliveryRow, InstanceRow
from cjo_stream.bench.analytics_rows import main
from cjo_stream.kv import RocksKV, memory_budget


def test_counts_the_rows_a_cache_holds_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "analytics-0")
    kv = RocksKV(path, memory_budget(8 << 20), counted=False, wal=False)
    rows: dict[bytes, bytes | None] = {f"i:{n}".encode(): state.encode_row(InstanceRow("welcome", 1, 5, 1.0))
                                       for n in range(30)}
    rows.update({f"d:{n}".encode(): state.encode_row(DeliveryRow("welcome", 1, 5, "hello", "email"))
                 for n in range(20)})
    rows.update({b"r:x": state.encode_row([("opened", 2.0)]), b"f:u1": state.encode_row([(2.0, "d1")]),
                 state.bucket_key(("welcome", 1, 5)): state.encode_counters({"entered": 3}),
                 state.offset_key("cjo.journey-events", 0): b"42", b"s:0": state.encode_row((0, 7))})
    kv.write_many(rows)
    kv.close()
    assert main([path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("52 rows (instances 30, deliveries 20, receipts waiting 1, customers' sends 1): RSS +"), out
    assert out.rstrip().endswith("bytes a row"), out


def test_a_directory_that_is_no_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "no RocksDB store there" in err, err
