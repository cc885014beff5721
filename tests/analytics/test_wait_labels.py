"""A ``wait_until``'s node on the journey map says how long it holds: its days (``wait until 09:00 mon–fri``;
it said "wait until 09:00" for a Friday sign-up held until Monday, a walkthrough migrating a Braze Canvas) and,
for a customer's best hour, the channel and the fallback (it said only "wait_until")."""

from __future__ import annotations

import pytest

from cjo_stream.analytics.graph import dot_source
from cjo_stream.journeys.loader import load_journey_text


@pytest.mark.parametrize(("wait", "label"), [
    ('{at: "09:00", days: weekdays}', "wait until 09:00 mon–fri"),
    ('{at: "9:30", days: [wed, mon]}', "wait until 09:30 mon, wed"),
    ('{at: "09:00", days: weekend}', "wait until 09:00 sat, sun"),
    ('{at: "09:00", days: [weekdays, weekend]}', "wait until 09:00"),  # every day: no days
    ('"09:00"', "wait until 09:00"),
    ('{at: "09:00", until: "17:00", days: weekdays}', "time window 09:00–17:00 mon–fri"),  # on at once inside it
    ('{best_time: email, default: "10:00"}', "wait for best email hour (else 10:00)"),
])
def test_the_map_names_the_days_and_the_best_hour(wait: str, label: str) -> None:
    j = load_journey_text(f"journey: t\nentry: {{event: x}}\nsteps:\n  - id: hold\n    wait_until: {wait}\n"
                          "  - id: hello\n    send: {channel: email, content: {subject: s, body: b}}\n", "t.yaml")
    dot, _ = dot_source(j)
    lines = dot.splitlines()
    (at,) = [i for i, ln in enumerate(lines) if ln.strip().startswith('"hold" [')]
    assert lines[at + 1] == label, dot  # the node's second line, under its id
