"""``make instructions`` measures the worker's real stages: its in-process run must keep working as they change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cjo_stream.bench.instructions import run_stages, write_inputs


def test_the_measured_stage_run_processes_the_bench_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_inputs(str(tmp_path), 300, 1500, customers=2_000)
    run_stages(paths["compressed"][1500], 1500)
    out = capsys.readouterr().out
    assert out.startswith("1500 events;")
    counts = {k: int(v) for k, v in re.findall(r"'([\w.-]+)': (\d+)", out)}
    # stage 2 ran: profiles written, journey events for what the journeys did, the loopback carried every event
    assert counts["cjo.profiles-changelog"] > 0 and counts["cjo.journey-events"] > 0
    assert Path(paths["real"][300]).read_bytes().count(b"\n") == 300
