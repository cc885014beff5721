"""``make bench``'s replay section, run as the bench runs it (``cjo-stream replay`` processes) on a small input:
every row is the median of its runs, made in rounds, and the table prints each run."""

from __future__ import annotations

import statistics

import orjson
import pytest

from cjo_stream.bench.replay import COMPARE_APART, COMPARE_SERIAL, print_replay, replay_section
from cjo_stream.bench.runner import compress_timeline
from cjo_stream.generator import generate_events


def test_each_row_is_the_median_of_its_runs(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    real = [orjson.dumps(e) for e in generate_events(customers=40, seed=3, start=1_780_000_000.0,
                                                       duration=2 * 86400.0)]
    rows = replay_section(str(tmp_path), real, compress_timeline(real, 60.0), scale_events=0, runs=2)

    assert len(rows) == 7
    assert {COMPARE_APART, COMPARE_SERIAL} <= {r.label for r in rows}
    for r in rows:
        assert r.events == len(real)
        assert len(r.rates) == 2 and all(x > 0 for x in r.rates)
        assert r.rate == statistics.median(r.rates)
    print_replay(rows)
    out = capsys.readouterr().out
    assert "median of the runs" in out and "runs (events/s)" in out
    first = rows[0]
    assert f"{first.rate:>9,.0f}" in out and ", ".join(f"{x:,.0f}" for x in first.rates) in out
