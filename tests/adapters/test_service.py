"""What ``cjo-stream adapter`` reads from the topologies beside it: the channels its callbacks may name, and
whether a channel of your own is declared at all."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.adapters.service import undeclared

POLICIES = "channels:\n  myco_whatsap: {address: whatsapp}\n"


def test_a_channel_of_your_own_missing_from_the_policies_beside_it_is_told(tmp_path: Path) -> None:
    """A typo in policies.yaml (or on the command line) sent the commands to another topic, and the adapter
    waited for ever, saying nothing."""
    (tmp_path / "policies.yaml").write_text(POLICIES)
    env = {"CJO_TOPOLOGIES": str(tmp_path)}
    assert undeclared("myco_whatsapp", env) == (
        f"channel 'myco_whatsapp' is not declared in {tmp_path}/policies.yaml (CJO_TOPOLOGIES) (did you mean "
        "'myco_whatsap'?): journeys there cannot send on it, and this adapter receives nothing until a topology "
        "that declares it is deployed")
    assert undeclared("myco_whatsap", env) is None
    assert undeclared("email", env) is None and undeclared("console", env) is None  # built in: always there
    # no policies.yaml to read (an adapter's own container), or one the worker refuses: nothing to say
    assert undeclared("myco_whatsapp", {"CJO_TOPOLOGIES": str(tmp_path / "none")}) is None
    (tmp_path / "policies.yaml").write_text("consent: sometimes\n")
    assert undeclared("myco_whatsapp", env) is None
