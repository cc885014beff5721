"""What loading a topology says of a closed journey (``status: closed``): ``validate``'s ``ok`` line and every
command's notes name it, and a worker's first line, so that a journey closed to drain and never removed is seen."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.journeys.loader import load_topology, loaded_text
from tests.test_cli_errors import run

LIVE = "journey: {jid}\nentry: {{event: go}}\nsteps:\n  - {{id: s, send: {{channel: in_app, content: {{body: hi}}}}}}\n"


def _topology(tmp_path: Path, b_status: str) -> Path:
    d = tmp_path / "journeys"
    d.mkdir(exist_ok=True)
    (d / "a.yaml").write_text(LIVE.format(jid="a"))
    (d / "b.yaml").write_text(LIVE.format(jid="b").replace("entry:", f"status: {b_status}\nentry:"))
    return d


def test_the_topology_names_each_closed_version_at_its_status_line(tmp_path: Path) -> None:
    d = _topology(tmp_path, "closed")
    topo = load_topology(str(tmp_path))
    assert [w for w in topo.warnings if "closed" in w] == [
        f"{d / 'b.yaml'}:2: note: journey b version 1 is closed: nobody enters it, and those in it go on to its "
        "end with its sends as when live"]
    assert loaded_text(topo.journeys) == "2 journeys (closed: b v1)"
    (topo_b,) = [j for j in topo.journeys if j.id == "b"]
    assert topo_b.closed and not topo_b.paused
    _topology(tmp_path, "live")
    topo = load_topology(str(tmp_path))
    assert not [w for w in topo.warnings if "closed" in w] and loaded_text(topo.journeys) == "2 journeys"


def test_validate_says_closed_on_its_ok_line_and_the_note(tmp_path: Path) -> None:
    d = _topology(tmp_path, "closed")
    p = run("validate", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert f"ok  b v1  (1 step, closed)  {d / 'b.yaml'}" in p.stdout.splitlines()
    assert f"ok  a v1  (1 step)  {d / 'a.yaml'}" in p.stdout.splitlines()
    assert f"{d / 'b.yaml'}:2: note: journey b version 1 is closed: nobody enters it" in p.stderr

