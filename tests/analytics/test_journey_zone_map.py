"""The journey map names a journey's own time zone after its times of day: without it, ``wait until 09:00`` reads
as each customer's 09:00 (README, "A journey's own time zone")."""

from __future__ import annotations

from cjo_stream.analytics import graph
from tests.conftest import journey

TEXT = """
journey: morning
{zone}
entry: {{event: go}}
steps:
  - {{id: nine, wait_until: "09:00"}}
  - {{id: window, wait_until: {{at: "09:00", until: "17:00", days: weekdays}}}}
"""


def test_the_map_names_the_journeys_zone_after_a_time_of_day() -> None:
    dot, _ = graph.dot_source(journey(TEXT.format(zone="timezone: Asia/Tokyo")))
    assert "wait until 09:00 Asia/Tokyo" in dot and "time window 09:00–17:00 mon–fri Asia/Tokyo" in dot
    dot, _ = graph.dot_source(journey(TEXT.format(zone="")))
    assert "wait until 09:00\n" in dot and "Asia/Tokyo" not in dot
