"""Frequency caps hold when another channel is busy, above 64 sends, and across a login.

Found with `simulate`: the send log kept the last 64 sends of all channels together, so a customer who got
70 in-app messages in a day had their earlier emails pushed out of it and an `email: 2 per 30d` cap let a
third email through; and a cap with `max` above 64 never capped at all.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from cjo_stream.profile import new_profile
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev
from tests.engine.test_policies import SEND  # one journey that sends on one channel, per test

DAY = 86400.0



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


CAPS = "frequency_caps:\n  - {channel: email, max: 2, per: 1d}\n  - {channel: all, max: 5, per: 7d}\n" \
       "  - {channel: sms, max: 3, per: 2h}\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9 * int(DAY)), st.sampled_from(["email", "sms", "push", "in_app"])),
                max_size=12),
       st.integers(0, 10 * int(DAY)))
def test_the_short_log_path_keeps_what_the_general_one_keeps(sends: list[tuple[int, str]], now: int) -> None:
    """A log no longer than every cap's max is trimmed by window alone (most customers): the same sends as
    ranking each cap's newest, which the engine does once the log is longer."""
    short, general = engine(SEND.format(jid="j", channel="email", trigger="x"), policy=CAPS), \
        engine(SEND.format(jid="j", channel="email", trigger="x"), policy=CAPS)
    general._fewest_capped = -1  # noqa: SLF001 - always the general path
    kept = []
    for e in (short, general):
        p = new_profile("u")
        p.sends = list(sends)
        e._trim_sends(p, float(now))  # noqa: SLF001
        kept.append(p.sends)
    assert kept[0] == kept[1]
