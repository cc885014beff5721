"""A worker started before its broker says at once that it started and where it waits.

It printed nothing of its own until the broker answered: a user saw only warnings ("broker ... not
reachable, attempt N") and could not tell whether the worker had started, with which journeys, or
which address it was trying.
"""

from __future__ import annotations

import selectors
import signal
import subprocess
from pathlib import Path
from typing import IO

from cjo_stream.kafka.local_broker import free_port
from tests.test_cli_errors import CLI, ROOT, clean_env

JOURNEY = """\
journey: hello
entry: {event: signed_up}
steps:
  - id: welcome
    send: {channel: in_app, content: {body: "Welcome"}}
"""


def _line(stream: IO[bytes], proc: subprocess.Popen[bytes]) -> str:
    """The next line of ``stream`` (a generous wait: a slow machine imports slowly, and no more is judged)."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        assert sel.select(timeout=120), "no line within 120 s"
    line = stream.readline().decode()
    assert line, f"the worker exited ({proc.poll()}) without a line"
    return line.rstrip("\n")


def _first_two_lines(topologies: Path) -> tuple[int, str, str]:
    """Start a worker on ``topologies`` against a port where nothing listens; return the port and its first
    two lines of stderr, then stop it with SIGTERM (exit 0, no traceback)."""
    port = free_port()  # nothing listens there
    env = clean_env(CJO_DATA_DIR=str(topologies.parent / "data"), CJO_WEB_PORT=str(free_port()))
    proc = subprocess.Popen([CLI, "worker", "--broker", f"127.0.0.1:{port}", "--topologies", str(topologies)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        first = _line(proc.stderr, proc)
        then = _line(proc.stderr, proc)  # the first attempt's warning: past its imports, it stops cleanly
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    rest = proc.stderr.read().decode() if proc.stderr else ""
    assert "Traceback" not in rest, rest
    return port, first, then


def test_the_first_line_says_the_worker_waits_for_its_broker_and_where(tmp_path: Path) -> None:
    (tmp_path / "topologies" / "journeys").mkdir(parents=True)
    (tmp_path / "topologies" / "journeys" / "hello.yaml").write_text(JOURNEY)
    port, first, then = _first_two_lines(tmp_path / "topologies")
    assert first == f"cjo-stream worker: 1 journey loaded; waiting for the broker at 127.0.0.1:{port} " \
                    "(from --broker)", first
    # and the wait goes on as before: one warning per attempt
    assert f"broker 127.0.0.1:{port} (from --broker) not reachable, attempt 1" in then, then


def test_versions_kept_beside_a_journey_are_not_counted_as_journeys(tmp_path: Path) -> None:
    """``abandoned_cart.v1.yaml`` kept beside its version 2 (README, Versions) made the line say "2 journeys
    loaded" for one (a walkthrough)."""
    journeys = tmp_path / "topologies" / "journeys"
    journeys.mkdir(parents=True)
    (journeys / "hello.v1.yaml").write_text(JOURNEY)
    (journeys / "hello.yaml").write_text(JOURNEY.replace("journey: hello\n", "journey: hello\nversion: 2\n"))
    (journeys / "bye.yaml").write_text(JOURNEY.replace("journey: hello", "journey: bye"))
    _, first, _ = _first_two_lines(tmp_path / "topologies")
    assert first.startswith("cjo-stream worker: 2 journeys (3 versions) loaded; waiting"), first
