"""Every command's ``--topologies`` help names the topologies directory, the one holding journeys/ and
policies.yaml: it said "journeys directory", and a newcomer gave ``topologies/journeys`` (a walkthrough)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("cjo-stream"))


@pytest.mark.parametrize("command", ["validate", "simulate", "replay", "worker", "demo", "tail", "analytics"])
def test_the_help_names_the_topologies_directory(command: str) -> None:
    p = subprocess.run([CLI, command, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    text = " ".join(p.stdout.split())
    assert "journeys directory" not in text, text
    assert "the topologies directory" in text, text
