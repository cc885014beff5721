"""``replay --profiles FILE``: each customer's profile at the end, as ``simulate --profiles`` writes it (a
journey author checking what an ``update`` step wrote over real history had only ``simulate``), also when
profiles spilled to disk and with ``--compare`` (the ``--topologies`` side, as ``--commands``)."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.test_cli_errors import ROOT, run

EVENTS = str(ROOT / "schemas" / "examples" / "touchpoints.jsonl")
TOPOLOGIES = str(ROOT / "topologies")


def test_replay_writes_the_profiles_simulate_writes(tmp_path: Path) -> None:
    sim = run("simulate", "--topologies", TOPOLOGIES, "--events", EVENTS, "--profiles", str(tmp_path / "sim.jsonl"))
    assert sim.returncode == 0, sim.stderr
    expected = (tmp_path / "sim.jsonl").read_bytes()
    lines = [orjson.loads(line) for line in expected.splitlines()]
    assert len(lines) > 10 and [p["customer_id"] for p in lines] == sorted(p["customer_id"] for p in lines)
    for name, extra in (("plain", []), ("spilled", ["--profiles-in-memory", "3"]),
                        ("compare", ["--compare", TOPOLOGIES])):
        out = tmp_path / f"{name}.jsonl"
        p = run("replay", "--topologies", TOPOLOGIES, "--events", EVENTS, "--profiles", str(out), *extra)
        assert p.returncode == 0, p.stderr
        assert out.read_bytes() == expected, name


def test_a_profiles_file_that_cannot_be_written_is_told_before_the_run(tmp_path: Path) -> None:
    p = run("replay", "--topologies", TOPOLOGIES, "--events", EVENTS,
            "--profiles", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert p.returncode != 0 and "Traceback" not in p.stderr and "replayed" not in p.stdout
    assert p.stderr.strip().splitlines() == [
        f"error: cannot write the profiles {tmp_path}/no/such/dir.jsonl: directory {tmp_path}/no/such not found"], \
        p.stderr
    same = run("replay", "--topologies", TOPOLOGIES, "--events", EVENTS, "--profiles", EVENTS)
    assert same.returncode != 0 and "Traceback" not in same.stderr and "--profiles" in same.stderr, same.stderr
