"""``cjo-stream tail --channel``: a channel declared in policies.yaml (docs/adapters.md, "Your own channel") is
followed like a built-in one, and so is every declared channel when none is named; a name neither built in nor
declared is one line naming the closest, exit 2, before anything connects (the flag took built-in names only,
and a topic was made for any name that got through)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cjo_stream.errors import ExitCode, FileProblem, UsageError
from cjo_stream.runtime.commands import tail_channels
from tests.test_cli_errors import clean_env, run, user_error

POLICIES = "channels:\n  myco_whatsapp: {address: whatsapp}\n  fraud_check: {customer_facing: false}\n"
NO_BROKER = ["--broker", "127.0.0.1:9", "--connect-timeout", "0.5"]
ROOT = Path(__file__).resolve().parent.parent


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


async def test_receipts_are_followed_for_the_channels_named() -> None:
    """``tail --receipts``: what the adapters reported (a failed send's reason, a provider's id) was on a topic no
    command printed; the docs said to check the receipts and gave no way to."""
    import asyncio
    import io

    from aiokafka import AIOKafkaProducer

    from cjo_stream.config import Settings
    from cjo_stream.kafka.local_broker import LocalBroker
    from cjo_stream.kafka.topics import ensure_topics
    from cjo_stream.runtime.commands import receipts_of, tail

    lines = [b'{"delivery_id":"d1","customer_id":"u1","channel":"myco_whatsapp","status":"sent"}',
             b'{"delivery_id":"d2","customer_id":"u2","channel":"email","status":"sent"}',
             b'{"delivery_id":"d3","customer_id":"u3","channel":"myco_whatsapp","status":"failed","reason":"HTTP 400"}',
             b"not a receipt"]
    with LocalBroker() as broker:
        settings = Settings(bootstrap=broker.bootstrap, partitions=1)
        await ensure_topics(settings, [settings.receipts_topic])
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await asyncio.gather(*[await producer.send(settings.receipts_topic, v, key=b"k") for v in lines])
        finally:
            await producer.stop()
        out = io.StringIO()
        n = await tail(settings, [settings.receipts_topic], from_beginning=True, limit=3, out=out, timeout=20,
                       keep=receipts_of(["myco_whatsapp"]))
    assert n == 3 and out.getvalue().splitlines() == [lines[0].decode(), lines[2].decode(), "not a receipt"]


def test_the_receipts_flag_is_in_the_help_and_reads_no_policies_for_every_channel(topo: Path) -> None:
    p = run("tail", "--help")
    assert p.returncode == 0 and "--receipts" in p.stdout
    (topo / "policies.yaml").write_text(POLICIES + "consent: maybe\n")
    user_error(run("tail", "--receipts", "--topologies", str(topo), *NO_BROKER), ExitCode.BROKER,
               "cannot reach the Kafka broker")
    user_error(run("tail", "--receipts", "--channel", "myco_whatsapp", "--topologies", str(topo), *NO_BROKER),
               ExitCode.USAGE, "cannot read the channels declared in")


def test_a_topologies_directory_given_must_exist(tmp_path: Path) -> None:
    """``--topologies``/``CJO_TOPOLOGIES`` mistyped left the declared channels out without a word (the default
    ``topologies`` may be missing: then the built-in channels)."""
    with pytest.raises(FileProblem, match=r"topologies directory \(--topologies / CJO_TOPOLOGIES\) not found: "):
        tail_channels(None, str(tmp_path / "nowhere"), given=True)
    assert tail_channels(["email"], str(tmp_path / "nowhere"), given=True) == ["email"]  # no policies.yaml needed


def test_the_console_adapter_refuses_a_topologies_directory_that_is_missing(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CJO_")}, "CJO_BROKER": "127.0.0.1:1",
           "CJO_TOPOLOGIES": str(tmp_path / "nowhere")}
    r = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "adapter", "--channel", "console", "--web-port", "-1"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        "error: topologies directory (CJO_TOPOLOGIES, where the console adapter reads the channels policies.yaml "
        f"declares) not found: {tmp_path / 'nowhere'}")


def test_journey_events_are_followed_for_the_journeys_named() -> None:
    """``tail --journey-events --journey``: an operator had no way to see a step that sends nothing (an update) but
    the analytics service."""
    from cjo_stream.runtime.commands import journey_events_of

    keep = journey_events_of(["winback"])
    assert keep(b'{"journey":"winback","kind":"step","step":"remember_offer","customer_id":"u1","at":1.0}')
    assert not keep(b'{"journey":"welcome","kind":"entered","customer_id":"u1","at":1.0}')
    assert not keep(b'{"kind":"stage","customer_id":"u1","at":1.0,"to":"active"}')  # a stage move names none
    assert keep(b"not a journey event")  # printed, as analytics counts it invalid


def test_the_journey_events_flags_are_in_the_help_and_refuse_what_does_not_go_with_them(topo: Path) -> None:
    p = run("tail", "--help")
    assert p.returncode == 0 and "--journey-events" in p.stdout and "--journey NAME" in p.stdout
    user_error(run("tail", "--journey-events", "--journey", "winback", *NO_BROKER), ExitCode.BROKER,
               "cannot reach the Kafka broker")
    for flags, said in ((["--journey", "winback"], "--journey follows one journey's journey events: give "
                                                   "--journey-events too"),
                        (["--journey-events", "--receipts"], "--journey-events follows cjo.journey-events alone: "
                                                             "leave out --receipts"),
                        (["--journey-events", "--channel", "email"], "leave out --channel")):
        err = user_error(run("tail", *flags, *NO_BROKER), ExitCode.USAGE, said)
        assert len(err.strip().splitlines()) == 1, err


def test_a_journey_tail_does_not_know_is_told_with_the_closest_and_still_followed() -> None:
    """``tail --journey-events --journey welcom`` followed nothing, for ever, without a word."""
    p = run("tail", "--journey-events", "--journey", "welcom", "--journey", "welcome", *NO_BROKER,
            env=clean_env(CJO_TOPOLOGIES=str(ROOT / "topologies")))
    assert p.returncode == ExitCode.BROKER, p.stderr  # it went on to follow it
    warnings = [line for line in p.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: --journey welcom: no journey of that id in {ROOT / 'topologies'} (did you mean "
                        "'welcome'?); following it anyway"], p.stderr
