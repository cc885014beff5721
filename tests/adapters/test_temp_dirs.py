"""The temporary directories of an adapter without CJO_ADAPTER_STATE_DIR: one that was killed leaves them behind,
the next adapter's start removes them, never a live adapter's, another user's or one it cannot tell
(cjo_stream/scratch.py, AdapterRunner.start)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cjo_stream.adapters.runner import remove_abandoned
from cjo_stream.adapters.sentlog import SentLog
from cjo_stream.config import Settings
from cjo_stream.scratch import make

# an adapter's stores without a state directory, as the runner makes them (a producer is only used to send)
ADAPTER = """
import time
from cjo_stream.adapters.sentlog import SentLog
from cjo_stream.adapters.withheld import Withheld
from cjo_stream.config import Settings
sent = SentLog(Settings(), "cjo.adapter.email.sent", None)
consent = Withheld(Settings())
consent._store()  # (made at first use)
print(sent.state_dir, flush=True)
time.sleep(120)
"""


def start_adapter(tmp: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", ADAPTER], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(tmp)})
    assert child.stdout is not None
    made = child.stdout.readline().strip()
    assert made.startswith(str(tmp)), made
    return child


def dirs(tmp: Path) -> set[str]:
    return {p.name for p in tmp.iterdir() if p.name.startswith(("cjo-sent-", "cjo-withheld-"))}


def test_a_killed_adapters_directories_are_removed_at_the_next_start_a_live_ones_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    killed, live = start_adapter(tmp_path), start_adapter(tmp_path)
    try:
        os.kill(killed.pid, signal.SIGKILL)  # no clean stop: its directories stay behind
        killed.wait(10)
        before = dirs(tmp_path)
        assert len(before) == 4  # a sent-record and a consent table each
        (tmp_path / "cjo-sent-older").mkdir()  # an older version's (no lock file): cannot be told from a live one's
        with caplog.at_level(logging.INFO, logger="cjo_stream.adapters.runner"):
            assert remove_abandoned(str(tmp_path)) == 2
        left = dirs(tmp_path)
        assert len(left) == 3 and "cjo-sent-older" in left
        os.kill(live.pid, signal.SIGKILL)  # and now that one is gone too
        live.wait(10)
        assert remove_abandoned(str(tmp_path)) == 2
        assert dirs(tmp_path) == {"cjo-sent-older"}
    finally:
        for child in (killed, live):
            if child.poll() is None:
                child.kill()
                child.wait(10)
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"removed 2 temporary directories of adapters that are gone; 1 of {tmp_path}/{{cjo-sent-,"
                    "cjo-withheld-}* made by an older version (no lock file) left: remove those once no adapter of "
                    "that version runs"]


def test_this_processes_own_directory_and_another_users_are_kept(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    sent = SentLog(Settings(), "cjo.adapter.email.sent", None)  # type: ignore[arg-type]
    assert remove_abandoned(str(tmp_path)) == 0 and os.path.isdir(sent.state_dir)
    if os.geteuid() == 0:  # a dead process's directory, but another user's: not this one's to remove
        theirs = make("cjo-sent-")
        assert theirs.fd is not None
        os.close(theirs.fd)  # (its process gone)
        os.chown(theirs.path, 65534, 65534)
        assert remove_abandoned(str(tmp_path)) == 0 and os.path.isdir(theirs.path)
    link = tmp_path / "cjo-sent-link"  # a link named like one: never followed
    target = make("x-")
    assert target.fd is not None
    os.close(target.fd)
    link.symlink_to(target.path)
    assert remove_abandoned(str(tmp_path)) == 0 and os.path.isdir(target.path)
