"""The edge-case pass's repro: consent given, then withdrawn 5 s later, then a cart 10 minutes on. Read in
time order no email goes out; read with the two consent events swapped (the withdrawal first, as
partitions may deliver them) one did. Now both orders decide alike."""

from __future__ import annotations

from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

CART = """
journey: cartj
entry: {event: cart}
re_entry: always
steps:
  - id: s
    send: {channel: email, content: {subject: "x", body: "y"}}
"""


def test_a_late_resubscribe_does_not_undo_a_newer_unsubscribe() -> None:
    given = ev("identify", T0, type="identify", traits={"email": "k@example.com", "consent": {"email": True}})
    withdrawn = ev("unsubscribed", T0 + 5, props={"channel": "email"})
    cart = ev("cart", T0 + 600)
    outcomes = []
    for order in ([given, withdrawn, cart], [withdrawn, given, cart]):
        sim = Simulator(engine(CART, policy="consent: opt_out"))
        for e in order:
            sim.handle(e)
        sim.finish()
        outcomes.append(([c.delivery_id for c in sim.commands], [(s.reason, s.step) for s in sim.skips]))
    assert outcomes[0] == outcomes[1] == ([], [("no_consent", "s")])
