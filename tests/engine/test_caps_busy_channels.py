"""Frequency caps hold when another channel is busy, above 64 sends, and across a login.

Found with `simulate`: the send log kept the last 64 sends of all channels together, so a customer who got
70 in-app messages in a day had their earlier emails pushed out of it and an `email: 2 per 30d` cap let a
third email through; and a cap with `max` above 64 never capped at all.
"""

from __future__ import annotations

from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

DAY = 86400.0

SEND = """
journey: {jid}
re_entry: always
entry: {{event: {trigger}}}
steps:
  - id: s
    send: {{channel: {channel}, content: {{body: hi}}}}
"""


def sim_with(policy: str) -> Simulator:
    sim = Simulator(engine(SEND.format(jid="mail", channel="email", trigger="cart"),
                           SEND.format(jid="nudge", channel="in_app", trigger="go"), policy=policy))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    return sim


def sent(sim: Simulator, channel: str) -> int:
    return sum(1 for c in sim.commands if c.channel == channel)


def test_an_email_cap_still_counts_its_emails_after_many_in_app_sends() -> None:
    sim = sim_with("frequency_caps:\n  - {channel: email, max: 2, per: 30d}\n")
    sim.handle(ev("cart", T0 + 60))
    sim.handle(ev("cart", T0 + DAY))
    for i in range(70):
        sim.handle(ev("go", T0 + 2 * DAY + i * 60))
    sim.handle(ev("cart", T0 + 3 * DAY))
    assert sent(sim, "email") == 2 and sent(sim, "in_app") == 70
    assert [(s.channel, s.reason) for s in sim.skips] == [("email", "frequency_cap")]
    # the log holds only what the cap counts: in-app sends no cap counts are not kept
    assert [ch for _, ch in sim.profiles["u1"].sends] == ["email", "email"]


def test_a_cap_above_64_caps() -> None:
    sim = sim_with("frequency_caps:\n  - {channel: in_app, max: 70, per: 30d}\n")
    for i in range(80):
        sim.handle(ev("go", T0 + i * 60))
    assert sent(sim, "in_app") == 70 and len(sim.skips) == 10
    # a window later the oldest have left it: sends go again
    sim.handle(ev("go", T0 + 30 * DAY + 60.5))
    assert sent(sim, "in_app") == 71


def test_sends_before_login_count_after_it() -> None:
    sim = sim_with("frequency_caps:\n  - {channel: all, max: 2, per: 1d}\n")
    sim.handle(ev("go", T0 + 60, user=None, anon="a1"))  # type: ignore[arg-type]
    sim.handle(ev("go", T0 + 120, user=None, anon="a1"))  # type: ignore[arg-type]
    sim.handle(ev("identify", T0 + 180, type="identify", anon="a1"))
    sim.handle(ev("go", T0 + 240))
    assert sent(sim, "in_app") == 2 and [s.reason for s in sim.skips] == ["frequency_cap"]
