"""A user's mistake on the command line: one clear line, its documented exit code, never a traceback.

Each case runs ``cjo-stream`` as a user would (a subprocess, no CJO_* variables but the ones given) and
checks the message, the exit code from the README's "Exit codes" table, and that no traceback shows.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cjo_stream import cli
from cjo_stream.config import Settings
from cjo_stream.errors import ExitCode
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.kafka.topics import partition_counts
from cjo_stream.lifetime import popen

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("cjo-stream"))
EVENTS = str(ROOT / "schemas" / "examples" / "touchpoints.jsonl")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def user_error(p: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """Assert a clean user error; returns stderr."""
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    assert p.returncode == code, f"exit {p.returncode}, expected {code}:\n{out}"
    last = p.stderr.strip().splitlines()[-1]
    assert re.match(r"(cjo-stream( \w+)?: )?error: ", last), f"last line is not an error line: {last!r}"
    for f in fragments:
        assert f in p.stderr, f"{f!r} not in:\n{p.stderr}"
    return p.stderr


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port someone else holds: bound and listening."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


def adjacent_ports() -> tuple[int, socket.socket]:
    """A free port p and a listening socket holding p + 1."""
    for _ in range(50):
        p = free_port()
        held = socket.socket()
        try:
            held.bind(("127.0.0.1", p + 1))
        except OSError:
            held.close()
            continue
        held.listen(1)
        return p, held
    raise AssertionError("no two adjacent free ports")


def broken_topologies(tmp_path: Path) -> Path:
    root = tmp_path / "topo"
    (root / "journeys").mkdir(parents=True)
    (root / "journeys" / "welcome.yaml").write_text(
        "journey: welcome\nversion: 1\nentry:\n  event: signed_up\nsteps:\n  - id: hello\n    wait: soonish\n")
    return root


# ---------------------------------------------------------------- the broker cannot be reached
@pytest.mark.parametrize("verb", [
    ["produce", "--events", EVENTS],
    ["tail", "--channel", "email"],
    ["generate", "--customers", "5", "--rate", "5", "--duration", "1"],
    ["skip", "--topic", "cjo.touchpoints", "--partition", "0", "--offset", "0"],  # was a traceback, exit 70
])
def test_unreachable_broker_gives_up_after_the_bounded_wait(verb: list[str]) -> None:
    dead = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    p = run(*verb, "--connect-timeout", "1.5", env=clean_env(CJO_BROKER=dead))
    took = time.monotonic() - t0
    err = user_error(p, ExitCode.BROKER, f"cannot reach the Kafka broker at {dead}", "from CJO_BROKER",
                     "connection refused", "after 1.5 s")
    assert "Unable connect" not in err  # aiokafka's own per-attempt noise is not shown
    assert took < 30


def test_unreachable_broker_from_the_flag_is_named_as_such() -> None:
    dead = f"127.0.0.1:{free_port()}"
    p = run("produce", "--broker", dead, "--events", EVENTS, "--connect-timeout", "0.5")
    user_error(p, ExitCode.BROKER, f"at {dead} (from --broker)", "CJO_BROKER")


def test_a_broker_address_without_a_port_is_diagnosed_on_the_clients_default_port() -> None:
    """`--broker kafka-0` (no port) is valid, the client tries port 9092; the reason given was "'kafka-0' is
    not host:port", which the address check had accepted, instead of what failed on that port."""
    p = run("produce", "--broker", "no-such-host.invalid", "--events", EVENTS, "--connect-timeout", "0.5")
    err = user_error(p, ExitCode.BROKER, "at no-such-host.invalid (from --broker)", "unknown host (")
    assert "is not host:port" not in err


def test_the_worker_waits_for_its_broker_with_backoff_and_then_runs(tmp_path: Path) -> None:
    port = free_port()
    web = free_port()
    env = clean_env(CJO_BROKER=f"127.0.0.1:{port}", CJO_DATA_DIR=str(tmp_path / "data"), CJO_PARTITIONS="2",
                    CJO_WEB_PORT=str(web), CJO_TOPOLOGIES=str(ROOT / "tests" / "runtime" / "topologies"))
    log = tmp_path / "worker.log"
    with open(log, "wb") as f:
        proc = popen([CLI, "worker"], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        attempts: list[tuple[int, float]] = []
        while time.monotonic() < deadline and len(attempts) < 3:
            assert proc.poll() is None, log.read_text()
            attempts = [(int(a), float(d)) for a, d in
                        re.findall(r"not reachable, attempt (\d+): connection refused; retrying in ([\d.]+) s",
                                   log.read_text())]
            time.sleep(0.2)
        assert [a for a, _ in attempts[:3]] == [1, 2, 3], log.read_text()
        delays = [d for _, d in attempts[:3]]
        assert delays == sorted(delays) and delays[2] > delays[0], f"no backoff: {delays}"
        assert f"broker 127.0.0.1:{port} (from CJO_BROKER)" in log.read_text()
        with LocalBroker(port):  # the broker comes up: the worker carries on by itself
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{web}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            else:
                raise AssertionError(f"worker never became healthy:\n{log.read_text()}")
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert "Traceback" not in log.read_text()
    assert b"\x1b" not in log.read_bytes(), "terminal escapes in a log file"  # no spinner when not a terminal


# ---------------------------------------------------------------- files
def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    user_error(run("simulate", "--events", str(tmp_path / "nope.jsonl")), ExitCode.NO_FILE,
               f"events file not found: {tmp_path / 'nope.jsonl'}")
    user_error(run("simulate", "--events", str(tmp_path)), ExitCode.NO_FILE, "events file is a directory")
    user_error(run("simulate", "--events", "-"), ExitCode.NO_FILE, "events file not found: - (standard input is /dev/stdin)")
    user_error(run("simulate", "--topologies", str(tmp_path / "none"), "--events", EVENTS), ExitCode.NO_FILE,
               f"topologies directory not found: {tmp_path / 'none'}")
    user_error(run("produce", "--events", str(tmp_path / "nope.jsonl")), ExitCode.NO_FILE, "events file not found")
    user_error(run("validate", str(tmp_path / "none")), ExitCode.NO_FILE, "topologies directory not found")
    (tmp_path / "file").write_text("x")
    user_error(run("validate", str(tmp_path / "file")), ExitCode.NO_FILE, "is a file, not a topologies directory")
    user_error(run("schemas", "--out", str(tmp_path / "file" / "sub")), ExitCode.NO_FILE,
               "cannot write schemas to")
    user_error(run("worker", "--topologies", str(tmp_path / "none")), ExitCode.NO_FILE,
               "topologies directory not found")
    user_error(run("worker", "--data-dir", str(tmp_path / "file" / "data"), "--web-port", str(free_port())),
               ExitCode.NO_FILE, "cannot create the data directory")
    user_error(run("produce", "--events", EVENTS, env=clean_env(CJO_SSL_CAFILE=str(tmp_path / "ca.pem"))),
               ExitCode.NO_FILE, "CJO_SSL_CAFILE not found")
    for verb in ("simulate", "replay"):  # an unwritable page is refused before the run, not after it
        p = run(verb, "--events", EVENTS, "--html", str(tmp_path / "none" / "page.html"))
        user_error(p, ExitCode.NO_FILE, f"cannot write the page {tmp_path / 'none' / 'page.html'}: directory")
        assert p.stdout == "", f"{verb} ran before refusing the page: {p.stdout[:200]}"
    # an output file: it said 'cannot read commands file'
    user_error(run("replay", "--events", EVENTS, "--commands", str(tmp_path)), ExitCode.NO_FILE,
               f"cannot write the commands file {tmp_path}: is a directory")
    # the Unix habit `-` for standard output wrote a file named `-` in the working directory (a walkthrough)
    for args, what in ((["simulate", "--journey-events", "-"], "the journey events"), (["simulate", "--html", "-"],
                       "the page"), (["replay", "--commands", "-"], "the commands file"), (["replay", "--html", "-"],
                                                                                           "the page")):
        p = run(*args, "--events", EVENTS, "--topologies", str(ROOT / "topologies"), cwd=tmp_path)
        user_error(p, ExitCode.NO_FILE, f"cannot write {what} to -: standard output is /dev/stdout")
        assert p.stdout == "" and not (tmp_path / "-").exists(), args


def test_a_topologies_path_one_level_off_says_which_to_give(tmp_path: Path) -> None:
    """The natural slips: the journeys directory or one journey file instead of the topologies directory,
    or journeys beside policies.yaml. It said 'topologies/journeys/journeys:1: no journey files (*.yaml)
    found' and 'topologies directory is not a directory: .../welcome.yaml'."""
    err = user_error(run("validate", "topologies/journeys"), ExitCode.INVALID,
                     "no journey files (*.yaml or *.yml) found; topologies/journeys holds")
    assert "give the topologies directory above it (topologies), the one holding journeys/" in err
    user_error(run("validate", "topologies/journeys/welcome.yaml"), ExitCode.NO_FILE,
               "topologies/journeys/welcome.yaml is a file, not a topologies directory", "e.g. topologies")
    user_error(run("simulate", "--topologies", "topologies/journeys", "--events", EVENTS), ExitCode.INVALID,
               "give the topologies directory above it (topologies)")
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in ("journeys/welcome.yaml", "policies.yaml"):
        (flat / Path(f).name).write_text((ROOT / "topologies" / f).read_text())
    user_error(run("validate", str(flat)), ExitCode.INVALID,
               f"{flat} holds 1 YAML file(s) itself: journey files go in {flat / 'journeys'}/")


def test_a_mistyped_key_or_value_in_a_journey_says_what_was_meant(tmp_path: Path) -> None:
    """A typo in a key or a channel named the bad word only ('Object contains unknown field `wait_fro`',
    "Invalid enum value 'emial'"): each now says what was meant, in journeys, policies and stages."""
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    for f in ("journeys/abandoned_cart.yaml", "journeys/welcome.yaml", "policies.yaml", "stages.yaml"):
        (topo / f).write_text((ROOT / "topologies" / f).read_text())
    cart = topo / "journeys" / "abandoned_cart.yaml"
    cart.write_text(cart.read_text().replace("wait_for:", "wait_fro:", 1))
    welcome = topo / "journeys" / "welcome.yaml"
    welcome.write_text(welcome.read_text().replace("channel: email", "channel: emial", 1))
    (topo / "policies.yaml").write_text((topo / "policies.yaml").read_text().replace("quiet_hours:", "quiet_hour:"))
    (topo / "stages.yaml").write_text((topo / "stages.yaml").read_text().replace("stage:", "stag:", 1))
    err = user_error(run("validate", str(topo)), ExitCode.INVALID, "4 problem(s)")
    assert "Object contains unknown field `wait_fro` (did you mean `wait_for`?)" in err
    assert "unknown channel 'emial' (did you mean 'email'?): use one of crm, email, in_app, push, slack, sms, webhook" in err
    assert "policies.yaml:4: quiet_hour: Object contains unknown field `quiet_hour` (did you mean `quiet_hours`?)" in err
    assert "stages.0.stag: Object contains unknown field `stag` (did you mean `stage`?)" in err


def test_an_input_with_no_event_at_all_is_an_error(tmp_path: Path) -> None:
    """A JSON array or pretty-printed export instead of JSON lines: every line was 'skipped bad event',
    then exit 0 with an empty report. Now the lines as before, one error line naming the file, exit 1."""
    events = [line for line in Path(EVENTS).read_text().splitlines() if line.startswith('{"')][:3]
    array = tmp_path / "export.json"
    array.write_text("[" + ",".join(events) + "]\n")
    for verb in ("simulate", "replay"):
        err = user_error(run(verb, "--events", str(array)), ExitCode.INVALID,
                         f"{array}:1: skipped bad event (wrong_type)",
                         f"error: no line of {array} is a touchpoint event (1 bad): expected JSON lines",
                         "a JSON array? `jq -c '.[]' FILE > FILE.jsonl`")
        assert err.count("error:") == 1, err
    user_error(run("simulate", "--events", "README.md"), ExitCode.INVALID, "no line of README.md is a touchpoint event")
    # produce sends records as they are (the workers validate): an array would be one dead-lettered record,
    # so it is refused before the broker is asked (none runs here; the exit would be 4 if it were asked)
    user_error(run("produce", "--events", str(array), "--broker", "127.0.0.1:9"), ExitCode.INVALID,
               f"{array} holds a JSON array, not JSON lines", "jq -c '.[]' FILE > FILE.jsonl", "nothing sent")
    # nothing in it, or blank lines only: exit 0 with an empty report, where replay said so (the same words)
    for name, content in (("empty.jsonl", ""), ("blank.jsonl", "\n  \n\n")):
        empty = tmp_path / name
        empty.write_text(content)
        for verb in ("simulate", "replay"):
            p = run(verb, "--events", str(empty))
            user_error(p, ExitCode.INVALID)
            assert p.stderr.strip().splitlines() == [f"error: {empty} holds no events"], p.stderr
            assert p.stdout == "", p.stdout


# ---------------------------------------------------------------- journeys with errors
def test_the_worker_refuses_broken_journeys_before_touching_the_broker(tmp_path: Path,
                                                                      listener: socket.socket) -> None:
    """file:line: reason, exit 1, and nothing consumed: not even a connection to the broker's port."""
    port = listener.getsockname()[1]
    topo = broken_topologies(tmp_path)
    for extra in ([], ["--concurrency", "2"]):
        p = run("worker", "--topologies", str(topo), "--web-port", str(free_port()), *extra,
                env=clean_env(CJO_BROKER=f"127.0.0.1:{port}", CJO_DATA_DIR=str(tmp_path / "data")))
        err = user_error(p, ExitCode.INVALID, "refusing to start; nothing was consumed")
        assert re.search(r"welcome\.yaml:7: .*soonish", err), err
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected


def test_simulate_and_demo_refuse_broken_journeys(tmp_path: Path) -> None:
    topo = broken_topologies(tmp_path)
    err = user_error(run("simulate", "--topologies", str(topo), "--events", EVENTS), ExitCode.INVALID)
    assert re.search(r"welcome\.yaml:7: ", err)
    err = user_error(run("demo", "--topologies", str(topo), "--duration", "5"), ExitCode.INVALID,
                     "the demo did not start")
    assert re.search(r"welcome\.yaml:7: ", err)


# ---------------------------------------------------------------- ports
def test_a_port_in_use_is_named(listener: socket.socket, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    user_error(run("worker", "--web-port", str(port), "--data-dir", str(tmp_path)), ExitCode.PORT_IN_USE,
               f"port {port} on 127.0.0.1 is already in use (--web-port / CJO_WEB_PORT)")
    first, held = adjacent_ports()  # --concurrency 2 serves on --web-port and --web-port + 1
    with held:
        second = held.getsockname()[1]
        user_error(run("worker", "--concurrency", "2", "--web-port", str(first), "--data-dir", str(tmp_path)),
                   ExitCode.PORT_IN_USE, f"port {second} on 127.0.0.1 is already in use", "worker process 1")
    user_error(run("broker", "--port", str(port)), ExitCode.PORT_IN_USE, f"port {port}", "(--port)")
    user_error(run("adapter", "--channel", "console", "--web-port", str(port)), ExitCode.PORT_IN_USE,
               f"port {port}", "CJO_ADAPTER_WEB_PORT")


# ---------------------------------------------------------------- flags and CJO_* values
@pytest.mark.parametrize("args, fragment", [
    (["generate", "--rate", "0"], "argument --rate: '0': must be a number above 0"),
    (["generate", "--duration", "-1"], "argument --duration"),
    # a duration is written 30s, 5m, 1h everywhere else: one with a typo names both forms
    (["generate", "--duration", "5x"], "argument --duration: '5x' is not a duration: seconds above 0 (90) or"),
    (["demo", "--duration", "2 minutes"], "argument --duration: '2 minutes' is not a duration"),
    (["worker", "--concurrency", "0"], "argument --concurrency: '0': must be 1 or more"),
    (["worker", "--web-port", "70000"], "argument --web-port: '70000': a port is 1-65535"),
    (["worker", "--partitions", "many"], "argument --partitions: 'many' is not an integer"),
    (["broker", "--port", "x"], "argument --port"),
    (["tail", "--channel", "fax"], "--channel fax: unknown channel 'fax': use one of crm, email, in_app"),
    (["tail", "--channel", "Email"], "argument --channel: 'Email' is not a channel name"),
    (["tail", "--limit", "0"], "argument --limit"),
    (["produce"], "the following arguments are required: --events"),
    (["simulate", "--events", EVENTS, "--until", "next week"], "--until 'next week': expected an RFC 3339 time"),
    (["adapter", "--channel", "console", "--web-port", "-5"], "argument --web-port"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    # a port beyond 65535: produce ended with aiokafka's OverflowError traceback, a worker retried forever
    (["produce", "--events", EVENTS, "--broker", "127.0.0.1:70000"], "broker address '127.0.0.1:70000'"),
    (["worker", "--broker", "h:1,127.0.0.1:99999999999999999999"], "the port is 1-65535"),
    # checked after a 10 s wait for the broker (then exit 4, the flag never named)
    (["generate", "--start", "tomorrow", "--broker", "127.0.0.1:1"], "--start 'tomorrow' is not an RFC 3339 time"),
    # its generator started 10**20 customers before a first event: the demo showed nothing, memory grew
    (["demo", "--customers", "99999999999999999999", "--duration", "1"], "argument --customers: '99999999999999999999': at most 100,000,000"),
    # a name Kafka refuses waited for the broker (exit 4 without one); the local broker even took it
    (["replay", "--topic", "", "--broker", "127.0.0.1:1"], "argument --topic: '': a Kafka topic name is 1 to 249"),
    (["replay", "--topic", "cjo touchpoints", "--broker", "127.0.0.1:1"], "argument --topic: 'cjo touchpoints'"),
    # generate hung with 10**20 customers as demo did; produce took any topic name (an empty one: the default)
    (["generate", "--customers", "99999999999999999999", "--broker", "127.0.0.1:1"], "at most 100,000,000 customers"),
    (["produce", "--events", EVENTS, "--topic", "bad topic!", "--broker", "127.0.0.1:1"],
     "argument --topic: 'bad topic!': a Kafka topic name"),
    (["produce", "--events", EVENTS, "--topic", "", "--broker", "127.0.0.1:1"], "argument --topic: ''"),
    # argparse kept the last of two: the first file was silently not simulated
    (["simulate", "--events", EVENTS, "--events", EVENTS], "--events given twice: simulate reads one file"),
    # a zero duration was "not a duration", as if written wrong
    (["replay", "--events", EVENTS, "--since", "2026-03-01T00:00:00Z", "--warmup", "0s"],
     "argument --warmup: '0s': must be greater than zero"),
])
def test_bad_flag_values(args: list[str], fragment: str) -> None:
    user_error(run(*args), ExitCode.USAGE, fragment)


def test_generate_takes_its_duration_with_a_unit() -> None:
    """``--duration 2s`` as durations are written in journeys and ``replay --warmup`` (it was "'2s' is not
    a number", exit 2); a plain number still means seconds."""
    with LocalBroker() as b:
        with_unit = run("generate", "--customers", "5", "--rate", "5", "--duration", "2s", "--broker", b.bootstrap)
        plain = run("generate", "--customers", "5", "--rate", "5", "--duration", "2", "--broker", b.bootstrap)
    for p in (with_unit, plain):
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        assert re.search(r"generated 10 events from \d+ customers \(seed \d+\)", p.stderr), p.stderr


@pytest.mark.parametrize("var, value, fragment", [
    ("CJO_PARTITIONS", "x", "CJO_PARTITIONS='x' is not a valid int"),
    ("CJO_PARTITIONS", "0", "CJO_PARTITIONS=0 (or --partitions): must be 1 or more"),
    ("CJO_WEB_PORT", "99999", "CJO_WEB_PORT=99999: a port is 1-65535"),
    ("CJO_STORE", "disk", "CJO_STORE='disk': use 'rocksdb' or 'memory'"),
    ("CJO_LOG_LEVEL", "loud", "unknown log level 'loud'"),
    ("CJO_LOG_FORMAT", "xml", "CJO_LOG_FORMAT='xml'"),
    ("CJO_GC_THRESHOLD", "fast", "CJO_GC_THRESHOLD='fast'"),
    ("CJO_GC_THRESHOLD", "99999999999999999999", "CJO_GC_THRESHOLD='99999999999999999999'"),  # was OverflowError
    ("CJO_SECURITY_PROTOCOL", "TLS", "CJO_SECURITY_PROTOCOL='TLS'"),
    ("CJO_DEDUPE_WINDOW_SECONDS", "a day", "CJO_DEDUPE_WINDOW_SECONDS='a day' is not a valid float"),
    ("CJO_WEB_HOST", "x y", "unknown host ("),  # was "unknown error -2"
    # blamed the port setting ("--web-port / CJO_WEB_PORT"); 192.0.2.1 is TEST-NET-1, no machine's address
    ("CJO_WEB_HOST", "192.0.2.1", "'192.0.2.1' is not an address of this machine (CJO_WEB_HOST"),
    # unchecked: 1e20 processes 'found port 35297 in use for worker process 29231'; a RocksDB budget past
    # 2**64 bytes ended with OverflowError (exit 70); a negative session timeout never joined its group
    ("CJO_CONCURRENCY", "100000000000000000000", "CJO_CONCURRENCY=100000000000000000000 (or --concurrency)"),
    ("CJO_ROCKSDB_MEMORY_MB", "99999999999999999", "at most 1048576 (MiB)"),
    ("CJO_SESSION_TIMEOUT_MS", "-5", "CJO_SESSION_TIMEOUT_MS=-5: must be 1000 or more"),
    ("CJO_TIMER_INTERVAL_SECONDS", "-1", "CJO_TIMER_INTERVAL_SECONDS=-1.0"),
    # documented as an option since the first runtime, never implemented: silently at-least-once
    ("CJO_EXACTLY_ONCE", "true", "CJO_EXACTLY_ONCE=true: Kafka transactions are not implemented"),
    # ran: every event was read as a receipt and dead-lettered bad_receipt
    ("CJO_INPUT_TOPIC", "cjo.receipts", "CJO_INPUT_TOPIC and CJO_RECEIPTS_TOPIC are both 'cjo.receipts'"),
    # ran: each dead letter, read as a receipt, was dead-lettered again, without end
    ("CJO_RECEIPTS_TOPIC", "cjo.touchpoints.dlq", "CJO_RECEIPTS_TOPIC='cjo.touchpoints.dlq' is a topic cjo-stream "
                                                  "writes itself"),
])
def test_bad_environment_values_stop_the_worker(var: str, value: str, fragment: str, tmp_path: Path) -> None:
    env = {"CJO_WEB_PORT": str(free_port()), "CJO_BROKER": f"127.0.0.1:{free_port()}", var: value}
    p = run("worker", "--data-dir", str(tmp_path), env=clean_env(**env), timeout=60)
    user_error(p, ExitCode.USAGE, fragment)


@pytest.mark.parametrize("verb", [["worker"], ["dlq"], ["analytics"], ["adapter", "--channel", "console"]])
@pytest.mark.parametrize(("env", "fragment"), [
    # aiokafka's ValueError "sasl_plain_username and sasl_plain_password required": exit 70 (analytics 1)
    ({"CJO_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "CJO_SECURITY_PROTOCOL=SASL_PLAINTEXT needs CJO_SASL_MECHANISM"),
    ({"CJO_SECURITY_PROTOCOL": "SASL_SSL", "CJO_SASL_MECHANISM": "SCRAM-SHA-512"},
     "CJO_SECURITY_PROTOCOL=SASL_SSL with CJO_SASL_MECHANISM=SCRAM-SHA-512 needs CJO_SASL_USERNAME and "
     "CJO_SASL_PASSWORD"),
    # ignored without a word: the process connected in plaintext
    ({"CJO_SASL_MECHANISM": "PLAIN", "CJO_SASL_USERNAME": "u", "CJO_SASL_PASSWORD": "never-printed-secret"},
     "CJO_SASL_MECHANISM=PLAIN is set but CJO_SECURITY_PROTOCOL=PLAINTEXT does not use SASL"),
    # TLS files ignored without a word as well: plaintext, which a TLS listener only answered by not answering
    ({"CJO_SSL_CAFILE": EVENTS}, "CJO_SSL_CAFILE set but CJO_SECURITY_PROTOCOL=PLAINTEXT does not use TLS"),
    ({"CJO_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CJO_SASL_MECHANISM": "SCRAM-SHA-512", "CJO_SASL_USERNAME": "u",
      "CJO_SASL_PASSWORD": "never-printed-secret", "CJO_SSL_CERTFILE": EVENTS, "CJO_SSL_KEYFILE": EVENTS},
     "CJO_SSL_CERTFILE and CJO_SSL_KEYFILE set but CJO_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS"),
])
def test_sasl_settings_that_do_not_go_together_stop_every_verb(verb: list[str], env: dict[str, str],
                                                                fragment: str, tmp_path: Path) -> None:
    env = {"CJO_WEB_PORT": str(free_port()), "CJO_BROKER": f"127.0.0.1:{free_port()}",
           "CJO_DATA_DIR": str(tmp_path), **env}
    p = run(*verb, env=clean_env(**env), timeout=60)
    user_error(p, ExitCode.USAGE, fragment)
    assert "never-printed-secret" not in p.stdout + p.stderr


def test_bad_environment_values_stop_the_clients() -> None:
    user_error(run("produce", "--events", EVENTS, env=clean_env(CJO_PARTITIONS="x")), ExitCode.USAGE,
               "CJO_PARTITIONS='x'")
    user_error(run("adapter", "--channel", "console", env=clean_env(CJO_LOG_LEVEL="loud")), ExitCode.USAGE,
               "unknown log level 'loud'")
    user_error(run("skip", "--topic", "t", "--partition", "0", "--offset", "0", env=clean_env(CJO_PARTITIONS="x")),
               ExitCode.USAGE, "CJO_PARTITIONS='x'")  # was a ValueError traceback


@pytest.mark.parametrize("verb", [["validate", "topologies"], ["simulate", "--events", EVENTS],
                                  ["replay", "--events", EVENTS]])
def test_a_bad_log_setting_stops_the_offline_verbs_too(verb: list[str]) -> None:
    # the README's exit-code table lists CJO_LOG_LEVEL=loud; only the services refused it, the rest ran (exit 0)
    user_error(run(*verb, env=clean_env(CJO_LOG_LEVEL="loud")), ExitCode.USAGE, "unknown log level 'loud'")
    user_error(run(*verb, env=clean_env(CJO_LOG_FORMAT="xml")), ExitCode.USAGE, "CJO_LOG_FORMAT='xml'")


# ---------------------------------------------------------------- bugs keep their traceback
def test_an_internal_error_prints_its_traceback_and_exits_70(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "_cmd_schemas", broken)
    assert cli.main(["schemas"]) == ExitCode.INTERNAL == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug" in err and "internal error" in err
    assert f"the version, {cli._version()};" in err and cli._version() != "(not installed)"  # for the report


def test_debug_adds_the_traceback_to_a_user_error(tmp_path: Path) -> None:
    p = run("--debug", "simulate", "--events", str(tmp_path / "nope.jsonl"))
    assert p.returncode == ExitCode.NO_FILE and "Traceback" in p.stderr and "FileProblem" in p.stderr
    p = run("simulate", "--events", str(tmp_path / "nope.jsonl"), "--debug")  # after the verb too
    assert p.returncode == ExitCode.NO_FILE and "Traceback" in p.stderr
    p = run("simulate", "--events", str(tmp_path / "nope.jsonl"), env=clean_env(CJO_LOG_LEVEL="debug"))
    assert p.returncode == ExitCode.NO_FILE and "Traceback" in p.stderr


def test_every_exit_code_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    documented = {int(c) for c in re.findall(r"^\| `?(\d+)`? \|", table, re.M)}
    assert documented == {int(c) for c in ExitCode}, table


# ---------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("verb", ["simulate", "replay"])  # produce: tests/test_off_path.py (a broker)
def test_ctrl_c_interrupts_a_command_with_130_and_no_traceback(verb: str, tmp_path: Path) -> None:
    """README, exit codes: a command that is not a service exits 130 when Ctrl-C stops it mid-input.

    Its input is a FIFO that stays open, so the command is still reading when the signal comes."""
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    # SIGINT as a terminal leaves it (a test run started in the background would pass it on ignored)
    proc = subprocess.Popen([CLI, verb, "--events", str(fifo)], cwd=ROOT, env=clean_env(CJO_BROKER="127.0.0.1:1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while True:  # the writer's end opens once the command opens its own (never block on one that left)
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    f"{verb} never opened its input (exit {proc.returncode})"
                time.sleep(0.05)
        os.set_blocking(fd, True)
        with open(fd, "wb") as writer:
            writer.write(Path(EVENTS).read_bytes())
            writer.flush()
            time.sleep(1.5)  # it reads what came and waits for more
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert b"Traceback" not in out + err, err.decode()[-3000:]
    assert proc.returncode == ExitCode.INTERRUPTED, (proc.returncode, err.decode()[-3000:])


def test_worker_refuses_a_partition_count_its_topics_do_not_have(tmp_path: Path) -> None:
    """Its internal topics made with 2 partitions, a worker started with 8 ended in aiokafka's
    'Unrecognized partition' AssertionError (exit 70) at its first output."""
    import asyncio

    from cjo_stream.config import Settings
    from cjo_stream.kafka.topics import ensure_topics

    with LocalBroker() as broker:
        s = Settings(bootstrap=broker.bootstrap, app_id="pmis", partitions=2)
        asyncio.run(ensure_topics(s, [s.internal_topic, s.profiles_changelog]))
        env = clean_env(CJO_BROKER=broker.bootstrap, CJO_APP_ID="pmis", CJO_PARTITIONS="8",
                        CJO_WEB_PORT=str(free_port()))
        p = run("worker", "--data-dir", str(tmp_path), env=env, timeout=90)
        user_error(p, ExitCode.USAGE, f"topic {s.internal_topic} has 2 partitions but CJO_PARTITIONS=8", "set 2")


def test_produce_sends_the_rest_when_one_line_is_too_large(tmp_path: Path) -> None:
    """One line over the producer's limit said 'lost the Kafka broker ... MessageSizeTooLargeError' (exit 4)
    and the lines after it were never sent; now it is named by file:line and the rest goes out."""
    events = tmp_path / "events.jsonl"
    good = '{"type":"track","event":"x","userId":"u%d","messageId":"m%d","timestamp":"2026-11-20T10:00:00Z"}'
    big = '{"type":"track","event":"x","userId":"u9","properties":{"blob":"' + "a" * 5_000_000 + '"}}'
    events.write_text("\n".join([good % (1, 1), big, "", good % (2, 2)]) + "\n")
    with LocalBroker() as broker:
        env = clean_env(CJO_BROKER=broker.bootstrap)
        # a --topic that does not exist is refused (a typo was created and filled, exit 0), --create makes it
        user_error(run("produce", "--events", str(events), "--topic", "big.t", env=env), ExitCode.USAGE,
                   "--topic big.t: no such topic on the cluster (nothing sent; producing there would create it)")
        assert not asyncio.run(partition_counts(Settings(bootstrap=broker.bootstrap), ["big.t"]))
        p = run("produce", "--events", str(events), "--topic", "big.t", "--create", env=env)
        assert p.returncode == ExitCode.INVALID, p.stderr
        assert f"{events}:2: 5,000,0" in p.stderr and "not sent" in p.stderr
        assert "produced 2 records to big.t" in p.stderr
        assert "Traceback" not in p.stderr


def test_a_time_ago_written_with_a_minus_says_how_to_write_it() -> None:
    """argparse reads ``-7d`` as a flag: "expected one argument" did not say what was wrong."""
    for flag in ("--since", "--until", "--warmup"):
        user_error(run("replay", flag, "-7d"), ExitCode.USAGE,
                   f"argument {flag}: '-7d': a duration is written without the minus ({flag} 7d)")


def test_validate_counts_steps_in_words(tmp_path: Path) -> None:
    """'(1 steps)' read wrong: one step is 'step'."""
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "policies.yaml").write_text((ROOT / "topologies" / "policies.yaml").read_text())
    (topo / "journeys" / "one.yaml").write_text(
        "journey: one\nentry:\n  event: signed_up\nsteps:\n"
        "  - id: hello\n    send: {channel: email, content: {subject: 'Hello', body: 'Hi'}}\n")
    p = run("validate", str(topo))
    assert p.returncode == 0, p.stderr
    assert "ok  one v1  (1 step)  " in p.stdout
    assert "(5 steps)" in run("validate", "topologies").stdout  # the example's welcome journey


def test_validate_takes_topologies_as_simulate_does(tmp_path: Path) -> None:
    """``validate --topologies DIR`` (as simulate, replay and worker take it) was refused: unrecognized arguments."""
    p = run("validate", "--topologies", "topologies")
    assert p.returncode == 0, p.stderr
    assert "(5 steps)" in p.stdout
    assert run("validate", "topologies", "--topologies", "topologies").returncode == 0  # the same, twice: fine
    user_error(run("validate", "topologies", "--topologies", str(tmp_path)), ExitCode.USAGE,
               f"validate: two journeys directories, topologies and --topologies {tmp_path}: give one")


def test_a_frequency_cap_over_the_bound_is_refused_at_load(tmp_path: Path) -> None:
    """``max: 1000`` was accepted: the profile keeps every send a cap counts, so one customer's send log
    could hold 1,000 entries. A cap's max is now at most 100 (policies.MAX_CAP), refused as file:line."""
    topo = tmp_path / "topo"
    (topo / "journeys").mkdir(parents=True)
    (topo / "journeys" / "welcome.yaml").write_text((ROOT / "topologies" / "journeys" / "welcome.yaml").read_text())
    (topo / "policies.yaml").write_text("frequency_caps:\n  - {channel: email, max: 2, per: 1d}\n"
                                        "  - channel: all\n    max: 1000\n    per: 30d\n")
    err = user_error(run("validate", str(topo)), ExitCode.INVALID,
                     f"{topo / 'policies.yaml'}:4: max 1000 is more than 100: each send a cap counts is kept in "
                     "the customer's profile (state size); cap over a shorter window instead")
    assert len([line for line in err.splitlines() if "max 1000" in line]) == 1 and "\n  " not in err
    (topo / "policies.yaml").write_text("frequency_caps:\n  - {channel: all, max: 100, per: 30d}\n")
    assert run("validate", str(topo)).returncode == 0  # the bound itself is fine


@pytest.mark.parametrize("verb, flags", [
    ("replay", ["--commands", "{events}"]),
    ("replay", ["--commands", "{other_path}"]),  # another path to the same file
    ("replay", ["--html", "{events}"]),
    ("replay", ["--html", "{page}", "--commands", "{page}"]),
    ("simulate", ["--html", "{events}"]),
])
def test_an_output_that_is_an_input_or_the_other_output_is_refused(verb: str, flags: list[str],
                                                                    tmp_path: Path) -> None:
    """``replay --events X --commands X`` emptied X (opened for writing before it was read), then said "X
    holds no events"; ``--html X`` replaced the events with the page, exit 0."""
    events = tmp_path / "events.jsonl"
    shutil.copy(EVENTS, events)
    before = events.read_bytes()
    names = {"events": str(events), "other_path": f"{tmp_path}/../{tmp_path.name}/events.jsonl",
             "page": str(tmp_path / "out.html")}
    err = user_error(run(verb, "--events", str(events), *(f.format(**names) for f in flags)), ExitCode.USAGE)
    assert "choose another path" in err or "each needs its own" in err, err
    assert events.read_bytes() == before  # nothing was overwritten
    assert not (tmp_path / "out.html").exists()


def test_a_relative_topologies_directory_missing_names_the_working_directory(tmp_path: Path) -> None:
    """``simulate --events F`` run outside the project (the default ``topologies`` is relative) said only
    "topologies directory not found: topologies", not where it was looked for (a walkthrough, 2026-12-04)."""
    err = user_error(run("simulate", "--events", EVENTS, cwd=tmp_path), ExitCode.NO_FILE,
                     f"error: topologies directory not found: topologies (relative to the working directory {tmp_path}: "
                     "run the command in the directory that holds it, or give its whole path)")
    assert len(err.strip().splitlines()) == 1, err
