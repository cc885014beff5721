"""Since when a paused journey has been paused, and that it is live again: the file says `status: paused`, not since when, and a pause left
in by mistake held its customers' sends for good without a word. The worker's data directory remembers it, the
worker serves it (`cjo_journey_paused_since_timestamp_seconds`, `GET /journeys`) and warns at start past a day."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from cjo_stream import metrics
from cjo_stream.journeys.loader import load_topology
from cjo_stream.runtime.app import _paused_since
from cjo_stream.runtime.pauses import FILE, Pauses, paused_since, recorded
from tests.runtime.test_edits import JOURNEY, _worker_banner, topology

PAUSED = JOURNEY.replace("version: 1\n", "version: 1\nstatus: paused\n")


def test_a_pause_counts_from_the_first_start_with_it_and_is_forgotten_once_live(tmp_path: Path) -> None:
    topo, data = tmp_path / "t", str(tmp_path / "data")
    path = topology(topo)
    assert paused_since(data, load_topology(path).journeys, 100.0) == Pauses({}, [])  # live: nothing recorded
    topology(topo, PAUSED)
    assert paused_since(data, load_topology(path).journeys, 200.0) == Pauses({("b", 1): 200.0}, [])
    assert paused_since(data, load_topology(path).journeys, 300.0).since == {("b", 1): 200.0}  # a restart: still
    topology(topo, PAUSED.replace("version: 1", "version: 2"))  # version 2 paused: its own pause
    assert paused_since(data, load_topology(path).journeys, 400.0) == Pauses({("b", 2): 400.0}, [])
    assert recorded(data) == {"b@2": 400.0}  # version 1 is gone: forgotten, not resumed
    topology(topo, JOURNEY.replace("version: 1", "version: 2"))  # live again: told once
    assert paused_since(data, load_topology(path).journeys, 500.0) == Pauses({}, [("b", 2, 400.0)])
    assert paused_since(data, load_topology(path).journeys, 550.0) == Pauses({}, [])
    topology(topo, PAUSED.replace("version: 1", "version: 2"))  # paused again later: from then on
    assert paused_since(data, load_topology(path).journeys, 600.0).since == {("b", 2): 600.0}
    (Path(data) / FILE).write_text("[1, 2]")  # unreadable: this start is the first with it
    assert paused_since(data, load_topology(path).journeys, 700.0).since == {("b", 2): 700.0}


def test_the_metric_and_the_state_api_say_since_when(tmp_path: Path) -> None:
    topo, data = tmp_path / "t", str(tmp_path / "data")
    (j,) = load_topology(topology(topo, PAUSED)).journeys
    metrics.publish_paused(paused_since(data, [j], 1772445600.0).since)
    page = metrics.exposition("worker").decode()
    assert 'cjo_journey_paused_since_timestamp_seconds{journey="b",version="1"} 1.7724456e+09' in page
    assert _paused_since(j, recorded(data)) == {"paused_since": "2026-03-02T10:00:00.000Z"}
    (live,) = load_topology(topology(topo)).journeys
    assert _paused_since(live, recorded(data)) == {}  # a live journey has none
    metrics.publish_paused(paused_since(data, [live], 1772445700.0).since)
    assert "cjo_journey_paused_since_timestamp_seconds{" not in metrics.exposition("worker").decode()


def test_a_worker_warns_at_start_of_a_pause_older_than_a_day(tmp_path: Path) -> None:
    topo, data = tmp_path / "t", tmp_path / "data"
    path = topology(topo, PAUSED)
    assert "has been paused since" not in _worker_banner(path, str(data))  # paused since this start
    assert set(recorded(str(data))) == {"b@1"}
    (data / FILE).write_bytes(orjson.dumps({"b@1": time.time() - 3 * 86400}))
    err = _worker_banner(path, str(data))
    assert "warning: journey b version 1 has been paused since " in err, err
    assert "(3 days): nobody enters it and its customers' sends are held" in err, err
    err = _worker_banner(topology(topo), str(data))  # live again: the resume is confirmed, once
    assert "journey b version 1 is live again (paused since " in err, err
    assert "each send it held is decided within 15 minutes" in err, err
    assert "live again" not in _worker_banner(path, str(data)) and recorded(str(data)) == {}


def test_a_closed_journey_is_named_at_start_and_gets_no_pause_record(tmp_path: Path) -> None:
    """``status: closed`` holds no send back: its first line and note name it, but no ``paused_since`` (metric,
    alert) counts it; and closing is no edit of the definition (README, "Closing a journey")."""
    topo, data = tmp_path / "t", tmp_path / "data"
    path = topology(topo)
    _worker_banner(path, str(data))
    topology(topo, JOURNEY.replace("version: 1\n", "version: 1\nstatus: closed\n"))
    err = _worker_banner(path, str(data))
    assert "cjo-stream worker: 1 journey (closed: b v1) loaded" in err, err
    assert "note: journey b version 1 is closed: nobody enters it" in err
    assert "edited since the last start" not in err and "paused" not in err
    assert recorded(str(data)) == {}
