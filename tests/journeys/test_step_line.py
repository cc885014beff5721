"""``source.step_line``: where a step is in its file, for what ``simulate``/``replay`` tell about a step after a
run (the compiled journey keeps no lines); nothing when the file changed or went since it was loaded."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.journeys.source import step_line

JOURNEY = """journey: j
entry: {event: go}
steps:
  - id: first
    wait: 1h
  - id: remember
    update:
      traits: {a: 1}
      increment: {n: 1}
"""


def test_the_step_and_the_key_under_it(tmp_path: Path) -> None:
    f = tmp_path / "j.yaml"
    f.write_text(JOURNEY)
    assert step_line(str(f), "remember") == 6
    assert step_line(str(f), "remember", "update") == 7
    assert step_line(str(f), "remember", "update", "increment") == 9
    assert step_line(str(f), "remember", "send") == 6  # not there: the step's own line


def test_nothing_when_the_file_no_longer_has_the_step(tmp_path: Path) -> None:
    f = tmp_path / "j.yaml"
    f.write_text(JOURNEY.replace("id: remember", "id: renamed"))
    assert step_line(str(f), "remember", "update") is None
    assert step_line(str(tmp_path / "gone.yaml"), "remember") is None
    f.write_text("steps: [unclosed\n")  # no longer YAML
    assert step_line(str(f), "remember") is None
