"""Offline entry points: the report and the page of a fold the caller made (simulator, replay).

``Analytics`` folds the engine's results; these turn its buckets into the same report dicts, text and
HTML as the live service, for every journey loaded or seen, and the lifecycle stage flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cjo_stream.analytics import page, report, text
from cjo_stream.analytics.fold import Analytics
from cjo_stream.journeys.model import Journey


def definitions(journeys: Iterable[Journey]) -> dict[tuple[str, int], Journey]:
    return {(j.id, j.version): j for j in journeys}


def reports(a: Analytics, journeys: Iterable[Journey], since: float | None = None,
            until: float | None = None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The overview rows and every journey's report (all versions together)."""
    defs = definitions(journeys)
    rows = report.overview(a.buckets, defs, since, until, a.totals)
    return rows, {r["journey"]: report.journey_report(a.buckets, defs, r["journey"], None, since, until, a.totals)
                  for r in rows}


def stage_flow(a: Analytics, stages: Sequence[str]) -> dict[str, Any] | None:
    """The lifecycle stage flow over all time, or None without stages (``stages``: the topology's, in order)."""
    return report.stage_flow(a.buckets, stages, totals=a.totals) if report.has_stages(a.buckets, stages) else None


def render_text(a: Analytics, journeys: Iterable[Journey], stages: Sequence[str] = (),
                since: str | None = None) -> str:
    """``since``: the time the fold's decisions start from (a replay's ``--since``), for the stage flow's note."""
    rows, reps = reports(a, journeys)
    return text.render(rows, reps, stage_flow(a, stages), since)


def render_html(a: Analytics, journeys: Iterable[Journey], stages: Sequence[str] = (),
                since: str | None = None, note: str | None = None) -> str:
    """One self-contained HTML file: the same page the analytics service serves, without live refresh."""
    js = list(journeys)
    rows, reps = reports(a, js)
    return page.offline_html(rows, reps, definitions(js), stage_flow(a, stages), since, note)
