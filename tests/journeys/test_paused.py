"""What loading a topology says of a paused journey: a worker's first line and every command's notes name it, so
that a pause left in place after an incident is seen at the next start, not found weeks later by its silence."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.journeys.loader import load_topology, loaded_text

LIVE = "journey: {jid}\nentry: {{event: go}}\nsteps:\n  - {{id: s, send: {{channel: in_app, content: {{body: hi}}}}}}\n"


def test_the_topology_names_each_paused_version_at_its_status_line(tmp_path: Path) -> None:
    d = tmp_path / "journeys"
    d.mkdir()
    (d / "a.yaml").write_text(LIVE.format(jid="a"))
    (d / "b.yaml").write_text(LIVE.format(jid="b").replace("entry:", "status: paused\nentry:"))
    topo = load_topology(str(tmp_path))
    assert [w for w in topo.warnings if "paused" in w] == [
        f"{d / 'b.yaml'}:2: note: journey b version 1 is paused: nobody enters it, and each send its customers reach "
        "is held (deferred, reason journey_paused) until its file says status: live"]
    assert loaded_text(topo.journeys) == "2 journeys (paused: b v1)"
    (d / "b.yaml").write_text(LIVE.format(jid="b").replace("entry:", "status: live\nentry:"))
    topo = load_topology(str(tmp_path))
    assert not [w for w in topo.warnings if "paused" in w] and loaded_text(topo.journeys) == "2 journeys"
