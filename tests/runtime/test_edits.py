"""A worker names, at start, the journey versions whose files were edited since its last start without a
new version (they change the journey for customers already in it: README, "Versions")."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.model import Journey
from cjo_stream.kafka.local_broker import free_port
from cjo_stream.runtime.edits import FILE, Changes, changes_since_last_start
from tests.test_cli_errors import CLI, clean_env

JOURNEY = """\
journey: b
version: 1
entry: {event: go}
steps:
  - {id: w, wait: 1h}
  - {id: s, send: {channel: in_app, content: {body: one}}}
"""


def topology(root: Path, text: str = JOURNEY) -> str:
    (root / "journeys").mkdir(parents=True, exist_ok=True)
    (root / "journeys" / "b.yaml").write_text(text)
    return str(root)


def edited_since_last_start(data: str, journeys: list[Journey]) -> list[tuple[str, int]]:
    changes = changes_since_last_start(data, journeys)
    assert changes.removed == []
    return changes.edited


def test_only_versions_edited_in_place_are_named(tmp_path: Path) -> None:
    topo, data = tmp_path / "t", str(tmp_path / "data")
    path = topology(topo)
    assert edited_since_last_start(data, load_topology(path).journeys) == []  # a first start
    assert edited_since_last_start(data, load_topology(path).journeys) == []  # nothing changed
    topology(topo, JOURNEY.replace("1h}", "1h}  # a comment") + "\n")  # layout and comments: the same journey
    assert edited_since_last_start(data, load_topology(path).journeys) == []
    topology(topo, JOURNEY.replace("body: one", "body: two"))
    assert edited_since_last_start(data, load_topology(path).journeys) == [("b", 1)]
    assert edited_since_last_start(data, load_topology(path).journeys) == []  # told once
    topology(topo, JOURNEY.replace("version: 1", "version: 2").replace("body: one", "body: three"))
    assert edited_since_last_start(data, load_topology(path).journeys) == []  # a new version: as meant
    topology(topo, JOURNEY.replace("body: one", "body: four"))  # version 1 again, as remembered from before
    assert edited_since_last_start(data, load_topology(path).journeys) == [("b", 1)]
    (Path(data) / FILE).write_text("not json")  # an unreadable record is a first start
    assert edited_since_last_start(data, load_topology(path).journeys) == []


def test_a_removed_journey_is_named_once(tmp_path: Path) -> None:
    topo, data = tmp_path / "t", str(tmp_path / "data")
    path = topology(topo)
    (topo / "journeys" / "c.yaml").write_text(JOURNEY.replace("journey: b", "journey: c"))
    assert changes_since_last_start(data, load_topology(path).journeys) == Changes([], [])
    (topo / "journeys" / "c.yaml").unlink()
    assert changes_since_last_start(data, load_topology(path).journeys) == Changes([], ["c"])
    assert changes_since_last_start(data, load_topology(path).journeys) == Changes([], [])  # told once
    # brought back edited: a first load of it (what it said before was forgotten with the warning)
    (topo / "journeys" / "c.yaml").write_text(JOURNEY.replace("journey: b", "journey: c").replace("one", "two"))
    assert changes_since_last_start(data, load_topology(path).journeys) == Changes([], [])
    # a journey's older version no longer loaded is not a removal while another version is
    topology(topo, JOURNEY.replace("version: 1", "version: 2"))
    assert changes_since_last_start(data, load_topology(path).journeys) == Changes([], [])


def _worker_banner(topo: str, data: str) -> str:
    """What a worker says at start (its broker unreachable: nothing else happens), stopped with SIGTERM."""
    env = clean_env(CJO_BROKER="127.0.0.1:1", CJO_TOPOLOGIES=topo, CJO_DATA_DIR=data, CJO_WEB_PORT=str(free_port()))
    p = subprocess.Popen([CLI, "worker"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    time.sleep(2.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return err


def test_the_worker_warns_at_start(tmp_path: Path) -> None:
    topo, data = tmp_path / "t", str(tmp_path / "data")
    path = topology(topo)
    assert "edited since the last start" not in _worker_banner(path, data)
    topology(topo, JOURNEY.replace("body: one", "body: two"))
    err = _worker_banner(path, data)
    assert "warning: journey b version 1 was edited since the last start without a new version" in err, err
    (topo / "journeys" / "b.yaml").rename(topo / "journeys" / "b.yaml.off")
    (topo / "journeys" / "c.yaml").write_text(JOURNEY.replace("journey: b", "journey: c"))
    err = _worker_banner(path, data)
    assert "warning: journey b was loaded at the last start and is not now" in err, err
