"""The offline commands take their journeys directory from ``$CJO_TOPOLOGIES`` when none is given, as the
worker and the analytics service do (the README: every setting is a ``CJO_*`` variable). A walkthrough
found ``simulate`` and ``replay`` looking in ``./topologies`` with the variable set."""

from __future__ import annotations

import shutil
from pathlib import Path

from cjo_stream.errors import ExitCode
from tests.test_cli_errors import EVENTS, ROOT, clean_env, run, user_error


def test_validate_simulate_and_replay_read_the_variable(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    shutil.copytree(ROOT / "topologies", mine)
    (mine / "journeys" / "lead_alert.yaml").unlink()  # unlike ./topologies: the output shows which was read
    env = clean_env(CJO_TOPOLOGIES=str(mine))

    v = run("validate", env=env)
    assert v.returncode == 0, v.stderr
    assert str(mine) in v.stdout and "lead_alert" not in v.stdout
    for args in (("simulate", "--events", EVENTS, "--report"), ("replay", "--events", EVENTS)):
        p = run(*args, env=env)
        assert p.returncode == 0, p.stderr
        assert "abandoned_cart" in p.stdout + p.stderr and "lead_alert" not in p.stdout + p.stderr
    here = run("simulate", "--events", EVENTS, "--report")  # without it: ./topologies, lead_alert included
    assert here.returncode == 0 and "lead_alert" in here.stdout + here.stderr


def test_a_variable_naming_no_directory_is_told_as_such(tmp_path: Path) -> None:
    env = clean_env(CJO_TOPOLOGIES=str(tmp_path / "none"))
    for args in (("validate",), ("simulate", "--events", EVENTS), ("replay", "--events", EVENTS)):
        user_error(run(*args, env=env), ExitCode.NO_FILE, f"topologies directory not found: {tmp_path / 'none'}")
