"""Mistakes a new operator made going through the docs (2026-12-01): each ended in a traceback or was
taken silently. Run as typed (a subprocess of ``cjo-stream``): one ``error:`` line, the README's exit code.
No broker runs here: every case is refused before one is asked (``--broker 127.0.0.1:9`` would be exit 4).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cjo_stream.errors import ExitCode
from cjo_stream.kafka.local_broker import free_port
from tests.test_cli_errors import EVENTS, clean_env, run, user_error

NO_BROKER = ["--broker", "127.0.0.1:9", "--connect-timeout", "0.5"]


@pytest.mark.parametrize("address", ["::::", "[::1", "[::1]9092", "[::1]:x", "h:1,::::"])
@pytest.mark.parametrize("verb", [["tail"], ["produce", "--events", EVENTS],
                                  ["skip", "--topic", "t", "--partition", "0", "--offset", "0"]])
def test_a_broker_address_that_is_not_host_port_is_a_usage_error(verb: list[str], address: str) -> None:
    """``--broker ::::`` ended in aiokafka's ValueError traceback (exit 70) in every client verb."""
    user_error(run(*verb, "--broker", address, "--connect-timeout", "0.5"), ExitCode.USAGE,
               f"broker address {address.split(',')[-1]!r} (--broker or CJO_BROKER)")


def test_the_worker_refuses_such_an_address_before_waiting_for_it(tmp_path: Path) -> None:
    user_error(run("worker", "--broker", "::::", "--data-dir", str(tmp_path), "--web-port", str(free_port())),
               ExitCode.USAGE, "broker address '::::'")


@pytest.mark.parametrize("flags", [["--fail-on-change"], ["--only-changed"], ["--examples", "3"],
                                   ["--examples", "5"], ["--serial"]])  # the default, given: still nothing to show it in
def test_replay_comparison_flags_need_compare(flags: list[str]) -> None:
    """``replay --events F --fail-on-change`` without --compare exited 0: a CI job with it passed whatever
    the journeys decided. ``--examples N`` without it was taken and did nothing."""
    user_error(run("replay", "--events", EVENTS, *flags), ExitCode.USAGE, f"{flags[0]} needs --compare OTHER_DIR")


def test_replay_takes_one_source() -> None:
    """``--topic`` beside ``--events`` was ignored: the files were read, the topic never."""
    user_error(run("replay", "--events", EVENTS, "--topic", "cjo.touchpoints", *NO_BROKER), ExitCode.USAGE,
               "--topic and --events: give one source")


@pytest.mark.parametrize("reason, hint", [("too_larg", " (did you mean too_large?)"), ("oops", "")])
def test_dlq_refuses_a_reason_no_dead_letter_has(reason: str, hint: str) -> None:
    """``dlq --reason too_larg`` listed "0 of N" with exit 0, as if that reason had no records."""
    err = user_error(run("dlq", "--reason", "invalid_json", "--reason", reason, *NO_BROKER), ExitCode.USAGE,
                     f"error: --reason {reason!r} is no dead-letter reason{hint}: one of invalid_json, ",
                     "too_large", "retries_exhausted")
    assert len(err.strip().splitlines()) == 1, err


def test_replay_with_compare_still_fails_on_change() -> None:
    p = run("replay", "--events", EVENTS, "--compare", "topologies/demo", "--fail-on-change", "--only-changed")
    assert p.returncode == 1 and "differences found" in p.stdout, p.stdout + p.stderr
    assert "winback: 23 only under A (e.g. u-7-00001, u-7-00004, u-7-00005, u-7-00006, u-7-00007)" in p.stdout
    p = run("replay", "--events", EVENTS, "--compare", "topologies/demo", "--examples", "1")
    assert p.returncode == 0 and "winback: 23 only under A (e.g. u-7-00001); 0 only under B" in p.stdout, p.stdout


@pytest.mark.parametrize("content", ["# cjo-stream\n\nnot events\n", 'type,event,userId\ntrack,x,u1\n',
                                     '{\n  "type": "track",\n  "event": "x"\n}\n'])
def test_produce_refuses_a_file_that_is_not_json_lines(tmp_path: Path, content: str) -> None:
    """``produce --events README.md`` sent 1,180 Markdown lines to the input topic (all dead-lettered)."""
    path = tmp_path / "events.txt"
    path.write_text(content)
    user_error(run("produce", "--events", str(path), *NO_BROKER), ExitCode.INVALID,
               f"{path}:1: not a JSON object, expected JSON lines", "nothing sent")


def test_produce_still_sends_a_broken_line_after_a_good_first_line(tmp_path: Path) -> None:
    """Only the first line decides: later bad lines are the workers' to dead-letter (the example file has
    three). Without a broker that is exit 4, i.e. the file was accepted."""
    path = tmp_path / "events.jsonl"
    path.write_text('\n{"type":"track","event":"x","userId":"u1","messageId":"m1"}\nnot json\n')
    p = run("produce", "--events", str(path), *NO_BROKER)
    assert p.returncode == ExitCode.BROKER and "Traceback" not in p.stderr, p.stderr


@pytest.mark.parametrize("channel, env, shown", [
    ("webhook", {"CJO_WEBHOOK_URL": "hooks.example.com/in"}, "CJO_WEBHOOK_URL='hooks.example.com/in'"),
    ("crm", {"CJO_CRM_URL": "crm.example.com/leads/{customer_id}"}, "CJO_CRM_URL='crm.example.com/leads/"),
    ("slack", {"CJO_SLACK_WEBHOOK_URL": "hooks.slack.com/services/T0/B0/s3cr3t"}, "CJO_SLACK_WEBHOOK_URL is not"),
    ("sms", {"CJO_TWILIO_ACCOUNT_SID": "AC1", "CJO_TWILIO_AUTH_TOKEN": "t", "CJO_SMS_FROM": "+15550000000",
             "CJO_TWILIO_BASE_URL": "api.twilio.com"}, "CJO_TWILIO_BASE_URL='api.twilio.com'"),
    ("push", {"CJO_FCM_PROJECT_ID": "p", "CJO_FCM_ACCESS_TOKEN": "t", "CJO_FCM_BASE_URL": "localhost:8080"},
     "CJO_FCM_BASE_URL='localhost:8080'"),
])
def test_an_adapter_refuses_a_provider_url_that_is_no_http_url(channel: str, env: dict[str, str], shown: str) -> None:
    """``CJO_WEBHOOK_URL=hooks.example.com/in`` (no scheme) started the adapter; every command then failed at
    delivery. Refused before anything connects (exit 2), a secret URL without its value."""
    err = user_error(run("adapter", "--channel", channel, "--web-port", str(free_port()), *NO_BROKER[:2],
                         env=clean_env(**env)), ExitCode.USAGE, shown, "is not an http(s) URL")
    assert "s3cr3t" not in err


def test_every_flag_says_what_it_is_in_help() -> None:
    """``produce --help`` showed ``--events EVENTS`` and ``validate --help`` a bare ``topologies``: every
    argument of every verb now has a line of help (run as typed: ``cjo-stream VERB --help``)."""
    from cjo_stream.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    bare = [f"{verb} {a.option_strings[0] if a.option_strings else a.dest}"
            for verb, p in verbs.items() for a in p._actions if a.help is None]
    assert not bare, f"arguments without help: {bare}"
    p = run("produce", "--help")
    assert p.returncode == 0 and "--events FILE" in p.stdout and "JSON lines" in p.stdout, p.stdout


def test_the_adapter_benchmark_command_takes_help_and_refuses_a_bad_count() -> None:
    """docs/adapters.md's ``python -m cjo_stream.bench.adapter [N]``: ``--help`` or ``x`` was a ValueError
    traceback; the run itself is a benchmark (tests/adapters/test_bench.py runs its function)."""
    import subprocess
    import sys

    def bench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cjo_stream.bench.adapter", *args], capture_output=True,
                              text=True, timeout=60, check=False)

    helped = bench("--help")
    assert helped.returncode == 0 and "delivery commands to send" in helped.stdout, helped.stderr
    for bad in ("x", "0"):
        p = bench(bad)
        assert p.returncode == 2 and "Traceback" not in p.stderr and "argument N" in p.stderr, p.stderr


@pytest.mark.parametrize("name", ["critical", "warning"])
def test_worker_loglevel_takes_the_names_cjo_log_level_takes(name: str) -> None:
    """``CJO_LOG_LEVEL=warning`` works but ``--loglevel warning`` was refused (argparse knew only crit/warn)."""
    from cjo_stream.cli import build_parser
    from cjo_stream.logs import level_name

    assert build_parser().parse_args(["worker", "--loglevel", name]).loglevel == name
    assert level_name(name) == name.upper()


@pytest.mark.parametrize("args, unknown", [(["simulate", "--events", EVENTS, "--bogus"], "--bogus"),
                                          (["validate", "topologies", "extra"], "extra"),
                                          (["replay", "--events", EVENTS, "--comapre", "topologies"],
                                           "--comapre topologies; did you mean --compare?")])
def test_an_unknown_flag_is_told_in_one_line_naming_the_verbs_help(args: list[str], unknown: str) -> None:
    """argparse reported it with the top-level usage (the list of verbs), not the flags the verb takes; then
    with the verb's usage, nine lines for ``replay`` above the one saying what was wrong (a walkthrough)."""
    p = run(*args)
    assert p.returncode == ExitCode.USAGE and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"cjo-stream {args[0]}: error: unrecognized arguments: {unknown} "
                                             f"(see cjo-stream {args[0]} --help)"], p.stderr


def test_a_webhook_adapter_with_no_url_it_may_use_is_refused_at_start() -> None:
    """``CJO_WEBHOOK_ALLOW_TO_URL=false`` without ``CJO_WEBHOOK_URL`` started the adapter, which then failed
    every command permanently; refused before anything connects. With a step's ``to:`` URL allowed (the
    default) no URL is needed: that start is not refused."""
    from cjo_stream.adapters.webhook import WebhookConfig

    user_error(run("adapter", "--channel", "webhook", "--web-port", str(free_port()), *NO_BROKER[:2],
                   env=clean_env(CJO_WEBHOOK_ALLOW_TO_URL="false")), ExitCode.USAGE,
               "CJO_WEBHOOK_ALLOW_TO_URL=false and CJO_WEBHOOK_URL is not set")
    assert WebhookConfig.from_env({}).allow_to_url
    assert WebhookConfig.from_env({"CJO_WEBHOOK_ALLOW_TO_URL": "false", "CJO_WEBHOOK_URL": "https://x.example/h"})


@pytest.mark.parametrize("args, unknown", [(["simulate", "--events", EVENTS, "--journey", "welcome"], "--journey welcome"),
                                          (["replay", "--events", EVENTS, "--allowed", "10"], "--allowed 10")])
def test_a_prefix_of_a_flag_is_no_flag(tmp_path: Path, args: list[str], unknown: str) -> None:
    """``simulate --journey welcome``, meant as a filter, was taken as ``--journey-events welcome`` (argparse's
    prefixes): exit 0, and every journey event written to a file named ``welcome`` (a walkthrough)."""
    p = run(*args, cwd=tmp_path)
    assert p.returncode == ExitCode.USAGE and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines() == [f"cjo-stream {args[0]}: error: unrecognized arguments: {unknown} "
                                             f"(see cjo-stream {args[0]} --help)"]
    assert list(tmp_path.iterdir()) == []  # nothing written under the name given


@pytest.mark.parametrize("args, said", [
    (["simulate", "--topologie", "topologies", "--events", EVENTS],
     "unrecognized arguments: --topologie topologies; did you mean --topologies?"),
    (["worker", "--web_port", "7000"], "unrecognized arguments: --web_port 7000; did you mean --web-port?"),
    (["tail", "--chanel", "email"], "unrecognized arguments: --chanel email; did you mean --channel?"),
    # a required flag misspelt: argparse checks what is required first, and said only that --events was missing
    (["simulate", "--event", EVENTS], "the following arguments are required: --events; --event is no flag: did you "
                                      "mean --events?"),
    (["produce", "--event=x.jsonl"], "the following arguments are required: --events; --event is no flag: did you "
                                     "mean --events?"),
])
def test_a_misspelt_flag_names_the_flag_meant(args: list[str], said: str) -> None:
    """``simulate --topologie topologies`` (a letter short, now that prefixes are refused) was "unrecognized"
    with no word of ``--topologies`` (a walkthrough, 2026-12-04)."""
    p = run(*args)
    assert p.returncode == ExitCode.USAGE and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines() == [f"cjo-stream {args[0]}: error: {said} (see cjo-stream {args[0]} --help)"]


def test_version_prints_the_installed_version() -> None:
    """``cjo-stream --version``, what a bug report asks for, said "the following arguments are required: command"."""
    from importlib.metadata import version

    p = run("--version")
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, f"cjo-stream {version('cjo-stream')}", ""), p.stderr
