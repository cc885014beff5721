"""``cjo-stream tail --channel``: a channel declared in policies.yaml (docs/adapters.md, "Your own channel") is
followed like a built-in one, and so is every declared channel when none is named; a name neither built in nor
declared is one line naming the closest, exit 2, before anything connects (the flag took built-in names only,
and a topic was made for any name that got through)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjo_stream.errors import ExitCode, UsageError
from cjo_stream.runtime.commands import tail_channels
from tests.test_cli_errors import clean_env, run, user_error

POLICIES = "channels:\n  myco_whatsapp: {address: whatsapp}\n  fraud_check: {customer_facing: false}\n"
NO_BROKER = ["--broker", "127.0.0.1:9", "--connect-timeout", "0.5"]


@pytest.fixture
def topo(tmp_path: Path) -> Path:
    (tmp_path / "policies.yaml").write_text(POLICIES)
    return tmp_path


def test_declared_channels_are_followed_named_or_by_default(topo: Path) -> None:
    assert tail_channels(["myco_whatsapp", "email", "myco_whatsapp"], str(topo)) == ["myco_whatsapp", "email"]
    assert tail_channels(None, str(topo)) == ["crm", "email", "fraud_check", "in_app", "myco_whatsapp", "push",
                                              "slack", "sms", "webhook"]
    # without a policies.yaml: the built-in channels
    assert tail_channels(None, str(topo / "nowhere")) == ["crm", "email", "in_app", "push", "slack", "sms", "webhook"]


def test_an_unknown_channel_names_the_closest(topo: Path) -> None:
    with pytest.raises(UsageError) as e:
        tail_channels(["email", "myco_whatsap"], str(topo))
    assert str(e.value) == (
        f"--channel myco_whatsap: unknown channel 'myco_whatsap' (did you mean 'myco_whatsapp'?): use one of crm, "
        f"email, in_app, push, slack, sms, webhook, declared fraud_check, myco_whatsapp, or declare it under "
        f"`channels:` in {topo}/policies.yaml (docs/adapters.md, \"Your own channel\")")
    with pytest.raises(UsageError, match=r"--channel myco_whatsapp: unknown channel 'myco_whatsapp': use one of crm"):
        tail_channels(["myco_whatsapp"], str(topo / "nowhere"))  # declared in another directory


def test_policies_with_a_problem_are_read_only_when_needed(topo: Path) -> None:
    (topo / "policies.yaml").write_text(POLICIES + "consent: maybe\n")
    assert tail_channels(["email"], str(topo)) == ["email"]  # built-in names need no policies.yaml
    with pytest.raises(UsageError, match=r"cannot read the channels declared in .*policies.yaml:4: .*consent"):
        tail_channels(["myco_whatsapp"], str(topo))


def test_the_command_takes_a_declared_channel_and_refuses_a_typo_in_one_line(topo: Path) -> None:
    # accepted: it goes on to the broker (none here: exit 4); it said "invalid choice" with exit 2
    user_error(run("tail", "--channel", "myco_whatsapp", "--topologies", str(topo), *NO_BROKER), ExitCode.BROKER,
               "cannot reach the Kafka broker")
    user_error(run("tail", "--channel", "myco_whatsapp", *NO_BROKER, env=clean_env(CJO_TOPOLOGIES=str(topo))),
               ExitCode.BROKER, "cannot reach the Kafka broker")
    err = user_error(run("tail", "--channel", "myco_whatsap", "--topologies", str(topo), *NO_BROKER), ExitCode.USAGE,
                     "--channel myco_whatsap: unknown channel 'myco_whatsap' (did you mean 'myco_whatsapp'?)")
    assert len(err.strip().splitlines()) == 1, err
