"""A replay says what its figures cover, above the report and on the page: a walkthrough could not tell
the range from the page, and with ``--warmup`` a step showed more sends than its journey had entries."""

from __future__ import annotations

from pathlib import Path

from tests.replay.test_replay_files import EXAMPLES, cli


def test_the_range_and_the_warm_up_are_said_above_the_report_and_on_the_page(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    p = cli("--events", EXAMPLES, "--since", "2026-03-04T00:00:00Z", "--until", "2026-03-20T00:00:00Z",
            "--warmup", "2d", "--html", str(page))
    assert p.returncode == 0, p.stderr
    note = ("Replayed history from 2026-03-04T00:00:00.000Z to 2026-03-20T00:00:00.000Z: the analytics are of the "
            "customers who entered a journey in that range. Warm-up from 2026-03-02T00:00:00.000Z: the instances "
            "entered then are left out of the analytics, but the funnel and the commands count their later steps, "
            "sends and endings, so there a step may show more than its journey's entries.")
    lines = p.stdout.splitlines()
    assert note in lines and lines.index(note) < next(i for i, ln in enumerate(lines) if ln.startswith("journey "))
    assert note.replace("'", "&#x27;") in page.read_text()
    plain = cli("--events", EXAMPLES, "--html", str(tmp_path / "all.html"))  # no range: nothing to say
    assert plain.returncode == 0 and "Replayed history" not in plain.stdout
    assert "range-note" not in (tmp_path / "all.html").read_text()
    since = cli("--events", EXAMPLES, "--since", "2026-03-04T00:00:00Z")
    assert ("Replayed history from 2026-03-04T00:00:00.000Z to the last event: the analytics are of the customers "
            "who entered a journey in that range.") in since.stdout.splitlines()
