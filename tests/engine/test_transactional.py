"""``transactional: true`` on a send: a message the customer asked for (a password reset, a receipt) goes out
whatever marketing rules say (Braze's and Customer.io's transactional messages): no consent, quiet hours,
frequency cap or global control holds it back, and it counts toward no cap; an address is still needed."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev
from tests.test_cli_errors import run

RESET = """
journey: {jid}
re_entry: always
entry: {{event: {trigger}}}
steps:
  - id: s
    send: {{channel: email, transactional: {tx}, content: {{subject: hi, body: reset}}}}
"""

POLICY = """
frequency_caps:
  - {channel: email, max: 1, per: 1d}
quiet_hours:
  - {channels: [email], start: "00:00", end: "23:59"}
global_control: {percent: 99.9}
default_timezone: UTC
consent: opt_in
"""


def _sim() -> Simulator:
    sim = Simulator(engine(RESET.format(jid="reset", trigger="reset_asked", tx="true"),
                           RESET.format(jid="promo", trigger="promo", tx="false"), policy=POLICY))
    return sim


def test_nothing_a_marketing_message_obeys_holds_it_back() -> None:
    sim = _sim()
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))  # no consent (opt_in)
    sim.handle(ev("reset_asked", T0 + 60))
    sim.handle(ev("reset_asked", T0 + 120))  # twice in a day: a cap of 1 does not count it
    sim.handle(ev("promo", T0 + 180))  # the same customer's marketing e-mail: global control keeps it back
    assert [(c.journey, c.transactional) for c in sim.commands] == [("reset", True), ("reset", True)]
    assert [(s.journey, s.reason) for s in sim.skips] == [("promo", "global_control")]


def test_it_counts_toward_no_cap_and_still_needs_an_address() -> None:
    policy = POLICY.replace("global_control: {percent: 99.9}\n", "").replace("opt_in", "opt_out")
    policy = policy.replace('  - {channels: [email], start: "00:00", end: "23:59"}\n', "").replace(
        "quiet_hours:\n", "")
    sim = Simulator(engine(RESET.format(jid="reset", trigger="reset_asked", tx="true"),
                           RESET.format(jid="promo", trigger="promo", tx="false"), policy=policy))
    sim.handle(ev("reset_asked", T0, user="nobody"))  # no e-mail address: skipped, as any send
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    sim.handle(ev("reset_asked", T0 + 60))
    sim.handle(ev("promo", T0 + 120))  # the cap's one e-mail a day is still free
    sim.handle(ev("promo", T0 + 180))  # now it is used
    assert [c.journey for c in sim.commands] == ["reset", "promo"]
    assert [(s.customer_id, s.journey, s.reason) for s in sim.skips] == [
        ("nobody", "reset", "no_address"), ("u1", "promo", "frequency_cap")]


def test_a_journey_with_a_holdout_may_not_hold_one(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    text = RESET.format(jid="reset", trigger="reset_asked", tx="true").replace("re_entry: always",
                                                                               "re_entry: always\nholdout: 10")
    (tmp_path / "journeys" / "reset.yaml").write_text(text)
    p = run("validate", str(tmp_path))
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert (f"{tmp_path / 'journeys' / 'reset.yaml'}:8: step s: a transactional send in a journey with a holdout "
            "(10 %), whose customers would never get it") in p.stderr, p.stderr
