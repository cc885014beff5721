"""The console adapter and channels of your own (declared in ``policies.yaml`` of ``CJO_TOPOLOGIES``):
``CJO_CONSOLE_CHANNELS`` takes them, its default (every channel) includes them, and it applies their expiry
(``CJO_EXPIRY_<NAME>``, default 1d). A name neither built in nor declared is one line naming the closest."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from cjo_stream.adapters import config
from cjo_stream.adapters.console import ConsoleChannel, sources_from_env
from cjo_stream.adapters.service import AdapterOptions, build_runner, check_config
from cjo_stream.config import Settings
from cjo_stream.errors import ExitCode, FileProblem
from cjo_stream.events import format_ts
from tests.adapters.conftest import command, produce_commands, run_until
from tests.test_cli_errors import clean_env, run, user_error

POLICIES = "channels:\n  myco_whatsapp: {address: whatsapp}\n  fraud_check: {customer_facing: false}\n"
BUILT_IN = ["crm", "email", "in_app", "push", "slack", "sms", "webhook"]


@pytest.fixture
def topo(tmp_path: Path) -> Path:
    (tmp_path / "policies.yaml").write_text(POLICIES)
    return tmp_path


def test_declared_channels_are_taken_and_in_the_default(topo: Path) -> None:
    env = {"CJO_TOPOLOGIES": str(topo)}
    assert sources_from_env({**env, "CJO_CONSOLE_CHANNELS": "sms, myco_whatsapp"}) == ["sms", "myco_whatsapp"]
    assert sources_from_env(env) == sorted([*BUILT_IN, "fraud_check", "myco_whatsapp"])
    # a directory named that does not exist is refused (its declared channels were left out without a word)
    with pytest.raises(FileProblem, match="not found: "):
        sources_from_env({"CJO_TOPOLOGIES": str(topo / "nowhere")})
    (topo / "policies.yaml").unlink()  # a directory without policies.yaml: the built-in channels
    assert sources_from_env(env) == BUILT_IN


@pytest.mark.parametrize(("channels", "message"), [
    ("sms,myco_whatsap", "CJO_CONSOLE_CHANNELS='sms,myco_whatsap': unknown channel 'myco_whatsap' (did you mean "
                         "'myco_whatsapp'?): use one of crm, email, in_app, push, slack, sms, webhook, declared "
                         "fraud_check, myco_whatsapp, or declare it under `channels:` in {topo}/policies.yaml"),
    ("Email", "CJO_CONSOLE_CHANNELS='Email': unknown channel 'Email' (did you mean 'email'?)"),
    (" , ", "CJO_CONSOLE_CHANNELS=',': use a comma-separated list of channels"),
])
def test_an_unknown_channel_names_the_closest(topo: Path, channels: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as e:
        sources_from_env({"CJO_TOPOLOGIES": str(topo), "CJO_CONSOLE_CHANNELS": channels})
    assert message.format(topo=topo) in str(e.value)


def test_policies_with_a_problem_are_read_only_when_needed(topo: Path) -> None:
    (topo / "policies.yaml").write_text(POLICIES + "consent: maybe\n")
    assert sources_from_env({"CJO_TOPOLOGIES": str(topo), "CJO_CONSOLE_CHANNELS": "email"}) == ["email"]
    with pytest.raises(config.ConfigError, match=r"cannot read the channels declared in .*policies.yaml:4: "):
        sources_from_env({"CJO_TOPOLOGIES": str(topo), "CJO_CONSOLE_CHANNELS": "myco_whatsapp"})


def test_the_adapter_command_refuses_a_typo_in_one_line(topo: Path) -> None:
    err = user_error(run("adapter", "--channel", "console", "--web-port", "-1",
                         env=clean_env(CJO_TOPOLOGIES=str(topo), CJO_CONSOLE_CHANNELS="myco_whatsap")),
                     ExitCode.USAGE, "unknown channel 'myco_whatsap' (did you mean 'myco_whatsapp'?)")
    assert len(err.strip().splitlines()) == 1, err


def test_a_declared_channels_expiry_is_checked_and_applied(topo: Path) -> None:
    env = {"CJO_TOPOLOGIES": str(topo), "CJO_CONSOLE_CHANNELS": "myco_whatsapp", "CJO_EXPIRY_MYCO_WHATSAPP": "soon"}
    with pytest.raises(config.ConfigError, match="CJO_EXPIRY_MYCO_WHATSAPP"):
        check_config(AdapterOptions.from_env("console", env), env)


async def test_the_console_adapter_prints_a_declared_channels_commands(settings: Settings, topo: Path) -> None:
    """Live: its commands are printed and reported sent; one decided two days ago expires (its default 1d: it
    had none, never expired, and made the sent-record keep every id for good)."""
    env = {"CJO_TOPOLOGIES": str(topo), "CJO_CONSOLE_CHANNELS": "myco_whatsapp,email"}
    fresh = command(channel="myco_whatsapp", content={"body": "Welcome, Ada!"})
    old = command(channel="myco_whatsapp", decided_at=format_ts(time.time() - 2 * 86400))
    await produce_commands(settings, [fresh, old])
    out = io.StringIO()
    opts = AdapterOptions.from_env("console", env, web_port=-1)
    opts.session_timeout = 1.0  # (the local broker makes a group's next member wait for it)
    runner = build_runner(settings, opts, env, ConsoleChannel(stream=out))
    assert runner.inputs == ["cjo.delivery.myco_whatsapp", "cjo.delivery.email"]
    assert runner.sent_retention == 86400 * 3 + 86400  # the longest expiry (email's 3d) and a day
    await runner.producer.start()  # as serve() does: the runner shares the producer it was given
    try:
        await run_until(runner, lambda: runner.outcomes["sent"] >= 1 and runner.outcomes["expired"] >= 1)
    finally:
        await runner.producer.stop()
    (line,) = out.getvalue().splitlines()
    assert "myco_whatsapp" in line and fresh.delivery_id in line and "Welcome, Ada!" in line
