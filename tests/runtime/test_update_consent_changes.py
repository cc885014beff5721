"""A journey's ``update: {consent: ...}`` in the workers: the withdrawal is told on ``cjo.consent-changes`` as a
customer's ``unsubscribed`` is, so adapters hold back mail already on its topic; from an event's call, and from a
scheduled entry's scan (a sunset flow runs on a schedule). Stage 2 on memory stores, no broker."""

from __future__ import annotations

from typing import Any

from cjo_stream.events import format_ts
from tests.runtime.fakes import Commands
from tests.runtime.test_schedules import HOUR, MONDAY_NOON, Live

ON_EVENT = """
journey: sunset
entry: {event: sunset_due}
steps:
  - id: suppress
    update: {consent: {email: false}}
"""

SCHEDULED = """
journey: sunset
entry:
  schedule: {every: 1d, at: "09:00"}
  when: "not (days_since(profile.last.message_opened) <= 180)"
steps:
  - id: suppress
    update: {consent: {email: false, all: false}}
"""


def _live(text: str) -> Live:
    live = Live()
    live.text = text
    live.open()
    live.out = Commands(prefix=live.settings.consent_changes_topic)
    return live


def _identify(user: str, at: float) -> dict[str, Any]:
    return {"messageId": f"i-{user}", "type": "identify", "userId": user, "timestamp": format_ts(at),
            "traits": {"email": f"{user}@example.com"}}


def test_an_update_step_reached_by_an_event_tells_the_adapters() -> None:
    live = _live(ON_EVENT)
    live.events([_identify("a", MONDAY_NOON), _identify("b", MONDAY_NOON)])
    assert live.out.commands == []
    live.events([{"messageId": "s-a", "type": "track", "event": "sunset_due", "userId": "a",
                  "timestamp": format_ts(MONDAY_NOON + 60)}])
    assert [(c["customer_id"], c["withdrawn"], c.get("topics", [])) for c in live.out.commands] == [("a", ["email"], [])]


def test_a_scheduled_sunset_tells_the_adapters_from_its_scan() -> None:
    live = _live(SCHEDULED)
    live.events([_identify("ny", MONDAY_NOON)])
    live.scan(MONDAY_NOON + HOUR)  # the partitions' first scan: nothing has come round since noon
    assert live.out.commands == []
    live.scan(MONDAY_NOON + 22 * HOUR)  # Tuesday 09:00 UTC has come round
    (change,) = live.out.commands
    assert change["customer_id"] == "ny" and change["withdrawn"] == ["email", "in_app", "push", "sms"]
