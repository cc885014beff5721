"""A mobile app reinstalled: a new anonymous id enters the onboarding again before the known customer logs in."""

from __future__ import annotations

import orjson

from cjo_stream.events import parse_ts
from cjo_stream.simulator import Simulator
from tests.conftest import engine

ONBOARDING = """
journey: onboarding
version: 1
entry: {event: Application Installed}
re_entry: %s
steps:
  - id: wait_open
    wait_for: {event: Application Opened, timeout: 1h}
    on_event: end
    on_timeout: nudge
  - id: nudge
    send: {channel: push, content: {title: "Welcome!"}}
"""


def line(mid: str, ts: str, kind: str = "track", **fields: object) -> bytes:
    return orjson.dumps({"messageId": mid, "type": kind, "timestamp": ts, **fields})


def install_then_reinstall() -> list[bytes]:
    return [
        line("i1", "2026-03-01T10:00:00Z", event="Application Installed", anonymousId="a1"),
        line("l1", "2026-03-01T10:01:00Z", "identify", anonymousId="a1", userId="u1", traits={"push_token": "t1"}),
        # the app deleted and installed again a week later: a new anonymous id, then the same login
        line("i2", "2026-03-08T10:00:00Z", event="Application Installed", anonymousId="a2"),
        line("l2", "2026-03-08T10:01:00Z", "identify", anonymousId="a2", userId="u1", traits={"push_token": "t2"}),
    ]


def run(re_entry: str) -> Simulator:
    s = Simulator(engine(ONBOARDING % re_entry))
    s.run_lines(install_then_reinstall())
    s.finish(parse_ts("2026-03-09T00:00:00Z"))
    return s


def test_a_reinstall_does_not_run_a_once_journey_twice_for_the_customer() -> None:
    s = run("once")
    assert [(c.customer_id, c.to) for c in s.commands] == [("u1", "t1")]  # the first install's welcome only
    assert "onboarding" not in s.profiles["u1"].instances


def test_re_entry_after_lets_the_reinstall_in_once_the_time_has_passed() -> None:
    assert [(c.customer_id, c.to) for c in run("after 7d").commands] == [("u1", "t1"), ("u1", "t2")]
    assert [(c.customer_id, c.to) for c in run("after 8d").commands] == [("u1", "t1")]
    assert [(c.customer_id, c.to) for c in run("always").commands] == [("u1", "t1"), ("u1", "t2")]
