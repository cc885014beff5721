"""Commands used slightly off the README's examples, as users do: input from pipes, files with odd bytes.

Each test is a fault found by doing so; the processes and the broker are real.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cjo_stream.errors import ExitCode
from cjo_stream.runtime.broker import LocalBroker
from tests.test_cli_errors import CLI, EVENTS, ROOT, clean_env, run, user_error

LINES = sum(1 for line in Path(EVENTS).read_bytes().splitlines() if line.strip())


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


def test_produce_reads_a_pipe_whole(broker: LocalBroker) -> None:
    """`zcat export.gz | cjo-stream produce --events /dev/stdin` sent nothing: produce read the file once to
    count its lines for the progress bar and again to send them, and a pipe gives its bytes only once."""
    p = subprocess.run([CLI, "produce", "--events", "/dev/stdin"], cwd=ROOT, input=Path(EVENTS).read_bytes(),
                       env=clean_env(CJO_BROKER=broker.bootstrap), capture_output=True, timeout=120, check=False)
    err = p.stderr.decode()
    assert p.returncode == 0 and "Traceback" not in err, err
    assert f"produced {LINES} records to cjo.touchpoints" in err, err


def test_a_truncated_gzip_file_is_a_file_problem_not_a_crash(tmp_path: Path) -> None:
    """An export cut short (a download stopped half-way) ended `replay` with a traceback and exit 70."""
    cut = tmp_path / "export.jsonl.gz"
    packed = gzip.compress(Path(EVENTS).read_bytes())
    cut.write_bytes(packed[: len(packed) // 2])
    user_error(run("replay", "--events", str(cut)), ExitCode.NO_FILE, str(cut), "ended before")
