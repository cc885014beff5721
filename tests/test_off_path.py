"""Commands used slightly off the README's examples, as users do: input from pipes, files with odd bytes.

Each test is a fault found by doing so; the processes and the broker are real.
"""

from __future__ import annotations

import gzip
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cjo_stream.errors import ExitCode
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from tests.test_cli_errors import CLI, EVENTS, ROOT, clean_env, run, user_error

LINES = sum(1 for line in Path(EVENTS).read_bytes().splitlines() if line.strip())


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


def test_produce_reads_a_pipe_whole(broker: LocalBroker) -> None:
    """`zcat export.gz | cjo-stream produce --events /dev/stdin` sent nothing: produce read the file once to
    count its lines for the progress bar and again to send them, and a pipe gives its bytes only once."""
    p = subprocess.run([CLI, "produce", "--events", "/dev/stdin"], cwd=ROOT, input=Path(EVENTS).read_bytes(),
                       env=clean_env(CJO_BROKER=broker.bootstrap), capture_output=True, timeout=120, check=False)
    err = p.stderr.decode()
    assert p.returncode == 0 and "Traceback" not in err, err
    assert f"produced {LINES} records to cjo.touchpoints" in err, err


def test_generate_draws_its_progress_bar_only_on_a_terminal(broker: LocalBroker) -> None:
    """`cjo-stream generate … > gen.log 2>&1 &` filled the log with one carriage-return line per 0.2 s
    (generate forced its progress bar on); `produce` already drew it only on a terminal or with --progress."""
    p = subprocess.run([CLI, "generate", "--customers", "5", "--rate", "50", "--duration", "1"], cwd=ROOT,
                       env=clean_env(CJO_BROKER=broker.bootstrap), capture_output=True, timeout=120, check=False)
    err = p.stderr.decode()
    assert p.returncode == 0 and "Traceback" not in err, err
    assert re.fullmatch(r"generated 50 events from \d+ customers \(seed \d+\)\n", err), err


@pytest.mark.parametrize("verb", ["replay", "simulate"])
def test_a_truncated_gzip_file_is_a_file_problem_not_a_crash(verb: str, tmp_path: Path) -> None:
    """An export cut short (a download stopped half-way) ended `replay` with a traceback and exit 70. The
    message names the last whole line read: `simulate` has printed the commands of the lines before it."""
    cut = tmp_path / "export.jsonl.gz"
    packed = gzip.compress(Path(EVENTS).read_bytes() * 40)
    cut.write_bytes(packed[: len(packed) // 2])
    whole = 0
    with pytest.raises(EOFError), gzip.open(cut) as f:
        for whole, _ in enumerate(f, 1):  # noqa: B007
            pass
    assert whole > 1
    user_error(run(verb, "--events", str(cut)), ExitCode.NO_FILE, str(cut), "ended before",
               f"(after line {whole:,}: the file is cut short")


SERVICES = {
    "worker": ["worker", "--topologies", str(ROOT / "topologies")],
    "adapter": ["adapter", "--channel", "console", "--web-port", "-1"],
    "analytics": ["analytics", "--topologies", str(ROOT / "topologies")],
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_waits_for_its_broker_and_stops_cleanly_on_sigterm(service: str, tmp_path: Path) -> None:
    """Started before its broker (Compose starts everything at once): `analytics` crashed at once with a
    traceback; `worker` and `adapter` waited, but SIGTERM then killed them (exit 143, not the README's 0
    for a service stopped by SIGTERM)."""
    env = clean_env(CJO_BROKER=f"127.0.0.1:{free_port()}", CJO_DATA_DIR=str(tmp_path / "data"),
                    CJO_WEB_PORT=str(free_port()), CJO_ANALYTICS_WEB_PORT=str(free_port()))
    log = tmp_path / "service.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([CLI, *SERVICES[service]], cwd=tmp_path, env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "not reachable, attempt 2" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "Traceback" not in log.read_text(), log.read_text()


def test_analytics_names_a_port_in_use(tmp_path: Path) -> None:
    """`analytics --web-port` on a taken port connected to the broker, then exited 1 with Python's
    `[Errno 98] error while attempting to bind ...`; the README's code for a port in use is 5."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        p = run("analytics", "--web-port", port, "--data-dir", str(tmp_path),
                env=clean_env(CJO_BROKER=f"127.0.0.1:{free_port()}"), timeout=30)
    user_error(p, ExitCode.PORT_IN_USE, f"port {port} on 127.0.0.1 is already in use")


@pytest.mark.parametrize(("args", "env", "code", "fragment"), [
    (["--web-port", "70000"], {}, ExitCode.USAGE, "a port is 1-65535"),
    ([], {"CJO_ANALYTICS_WEB_PORT": "70000"}, ExitCode.USAGE, "CJO_ANALYTICS_WEB_PORT=70000"),
    ([], {"CJO_BROKER": " "}, ExitCode.USAGE, "CJO_BROKER is empty"),
    (["--broker", " "], {}, ExitCode.USAGE, "error: --broker is empty"),  # (not "CJO_BROKER", which was set)
    (["--topologies", "no-such-dir"], {}, ExitCode.NO_FILE, "topologies directory not found: no-such-dir"),
    (["--data-dir", "/proc/no-such-dir"], {}, ExitCode.NO_FILE, "cannot create the data directory /proc/no-such-dir"),
])
def test_analytics_mistakes_have_the_readme_exit_codes(args: list[str], env: dict[str, str], code: int,
                                                       fragment: str) -> None:
    """`analytics` checked its flags and `CJO_*` values apart from the other verbs: a port over 65535 was a
    traceback (exit 70), an unwritable data directory Python's `[Errno 2] ...` (exit 1), a missing
    topologies directory `no-such-dir:1: not a directory` (exit 1 instead of 3)."""
    env = {"CJO_BROKER": f"127.0.0.1:{free_port()}", "CJO_ANALYTICS_WEB_PORT": str(free_port()), **env}
    user_error(run("analytics", *args, env=clean_env(**env), timeout=30), code, fragment)


def test_ctrl_c_while_the_verbs_load_is_130_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in a command's first half second (on a loaded machine: while the verbs' modules import to
    build the parser) printed a KeyboardInterrupt traceback and died by the signal, not exit 130."""
    from cjo_stream import cli

    def interrupted() -> list[object]:
        raise KeyboardInterrupt  # where a real Ctrl-C lands then: inside the imports _extensions() runs

    monkeypatch.setattr(cli, "_extensions", interrupted)
    assert cli.main(["simulate", "--events", EVENTS]) == ExitCode.INTERRUPTED
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("form", ["bom", "gzip", "bom+gzip"])
def test_simulate_and_replay_read_an_export_as_its_plain_text(form: str, tmp_path: Path) -> None:
    """A UTF-8 byte-order mark (Windows tools, PowerShell's Out-File) made line 1 `invalid_json`, and
    `simulate` read a gzip export (which `replay` reads) as binary lines: ~70 `invalid_json`, exit 0."""
    plain = Path(EVENTS).read_bytes()
    data = b"\xef\xbb\xbf" + plain if "bom" in form else plain
    path = tmp_path / "export.jsonl"
    path.write_bytes(gzip.compress(data) if "gzip" in form else data)
    for verb in (["simulate"], ["replay", "--commands", "/dev/stdout"]):
        want = run(*verb, "--events", EVENTS)
        got = run(*verb, "--events", str(path))
        commands = [line for line in want.stdout.splitlines() if line.startswith("{")]
        assert commands and got.returncode == 0, got.stderr[-2000:]
        assert [line for line in got.stdout.splitlines() if line.startswith("{")] == commands
        assert got.stderr.count("skipped bad event") == want.stderr.count("skipped bad event") == 3, got.stderr


def test_replay_events_given_twice_reads_both(tmp_path: Path) -> None:
    """`replay --events jan.jsonl --events feb.jsonl` replayed February only: the second flag replaced the
    first without a word (as `--events jan.jsonl feb.jsonl` reads both)."""
    lines = Path(EVENTS).read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[:200]))
    second.write_bytes(b"".join(lines[200:]))
    both = run("replay", "--events", str(first), str(second))
    twice = run("replay", "--events", str(first), "--events", str(second))
    assert both.returncode == twice.returncode == 0, twice.stderr
    counted = re.compile(r"replayed ([\d,]+) events")
    assert counted.search(twice.stdout)[1] == counted.search(both.stdout)[1], twice.stdout  # type: ignore[index]


def test_times_no_decision_can_be_written_at_are_bad_timestamps(tmp_path: Path) -> None:
    """An event dated after 2106 (a 4-byte epoch) ended `simulate` and `replay` with 'int too big to
    convert' (exit 70), as did `--until 9999-...` with a scheduled journey; Go's zero time (year 1) did
    with one in a zone west of UTC. Such events are now `bad_timestamp` lines, such flags exit 2."""
    good = Path(EVENTS).read_text().splitlines(keepends=True)[0]
    odd = [good.replace('"timestamp":"2026-03-02T22:23:04.886Z"', f'"timestamp":"{ts}"').replace('"m-7-0"', f'"x{i}"')
           for i, ts in enumerate(["9999-12-31T23:59:59Z", "2106-02-07T06:28:16Z", "0001-01-01T00:00:00Z"])]
    assert all(line != good for line in odd)
    path = tmp_path / "odd.jsonl"
    path.write_text(good + "".join(odd))
    for verb in (["simulate"], ["replay"]):
        p = run(*verb, "--events", str(path))
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
        for n in (2, 3, 4):
            assert f"{path}:{n}: skipped bad event (bad_timestamp)" in p.stderr, p.stderr
    user_error(run("simulate", "--events", EVENTS, "--until", "9999-12-31T23:59:59Z"), ExitCode.USAGE,
               "expected an RFC 3339 time from 1970 to 2106")
    user_error(run("replay", "--events", EVENTS, "--until", "9999-12-31T23:59:59Z"), ExitCode.USAGE, "9999")


def test_tail_limit_stops_at_the_limit_within_one_fetch(broker: LocalBroker) -> None:
    """`tail --limit 3` printed every record of the first fetch (91 of a topic that held 91)."""
    import asyncio
    import io

    from cjo_stream.config import Settings
    from cjo_stream.runtime.commands import produce_lines, tail

    s = Settings(bootstrap=broker.bootstrap, partitions=1)
    topic = s.delivery_topic("webhook")
    lines = [b'{"delivery_id": "d%d", "customer_id": "c"}' % i for i in range(20)]
    assert asyncio.run(produce_lines(s, lines, topic=topic)) == 20
    out = io.StringIO()
    assert asyncio.run(tail(s, [topic], from_beginning=True, limit=3, out=out, timeout=30)) == 3
    assert out.getvalue().splitlines() == [line.decode() for line in lines[:3]]


def test_tail_of_new_records_prints_none_of_the_old(broker: LocalBroker) -> None:
    """`tail` (new records) printed the rest of each partition's last record batch, i.e. commands decided
    long before: the local broker reports a partition's end one past that batch's base offset."""
    import asyncio
    import io

    from cjo_stream.config import Settings
    from cjo_stream.runtime.commands import produce_lines, tail

    s = Settings(bootstrap=broker.bootstrap, partitions=1)
    topic = s.delivery_topic("slack")
    old = [b'{"delivery_id": "old%d", "customer_id": "c"}' % i for i in range(20)]
    assert asyncio.run(produce_lines(s, old, topic=topic)) == 20

    async def follow() -> str:
        out = io.StringIO()
        task = asyncio.create_task(tail(s, [topic], from_beginning=False, limit=1, out=out, timeout=120))
        n = 0
        while not task.done():  # new records until tail prints one: it starts after some of them, not before
            await produce_lines(s, [b'{"delivery_id": "new%d", "customer_id": "c"}' % n], topic=topic)
            n += 1
            await asyncio.wait([task], timeout=0.5)
        await task
        return out.getvalue()

    printed = asyncio.run(follow())
    assert printed.startswith('{"delivery_id": "new'), printed


def test_replay_of_a_topic_that_does_not_exist_says_so(broker: LocalBroker) -> None:
    """`replay --topic cjo.touchpionts` (a typo) replayed 0 events and exited 0 as if the history were empty."""
    p = run("replay", "--topic", "cjo.touchpionts", "--since", "7d", env=clean_env(CJO_BROKER=broker.bootstrap))
    user_error(p, ExitCode.USAGE, f"topic 'cjo.touchpionts' does not exist on {broker.bootstrap}")


def test_tail_says_once_that_the_broker_went_away(tmp_path: Path) -> None:
    """With its broker gone, tail wrote aiokafka's 'Unable connect to node ...', 'Unable to update metadata'
    and 'Failed fetch messages' ~40 times a second (2,000 lines in 50 s); each is now said once a minute."""
    err = tmp_path / "tail.err"
    with LocalBroker() as b, err.open("w") as f:
        p = subprocess.Popen([CLI, "tail", "--broker", b.bootstrap], cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL,
                             stderr=f, text=True)
        deadline = time.monotonic() + 60
        while "following" not in err.read_text() and time.monotonic() < deadline:
            assert p.poll() is None, err.read_text()
            time.sleep(0.2)
    try:
        time.sleep(8)  # the broker is gone
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    lines = [line for line in err.read_text().splitlines() if line.strip()]
    assert "Traceback" not in err.read_text()
    assert 1 < len(lines) <= 12, "\n".join(lines[:40])
    assert len(set(lines)) == len(lines), lines


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a disk that is always full)")
@pytest.mark.parametrize("args, redirect, message", [
    # said 'cannot read events file ...: no space left on device'
    (["simulate", "--events", EVENTS], True,
     "error: cannot write the delivery commands to standard output: no space left on device"),
    # both were an OSError traceback, exit 70
    (["replay", "--events", EVENTS, "--commands", "/dev/full"], False,
     "error: cannot write the commands file /dev/full: no space left on device"),
    (["replay", "--events", EVENTS], True, "error: cannot write the output: no space left on device"),
    (["validate", "topologies"], True, "error: cannot write the output: no space left on device"),
])
def test_a_full_disk_is_one_line_naming_what_could_not_be_written(args: list[str], redirect: bool,
                                                                  message: str) -> None:
    with open("/dev/full", "wb") as full:
        p = subprocess.run([CLI, *args], cwd=ROOT, env=clean_env(), stdout=full if redirect else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert p.returncode == ExitCode.NO_FILE, p.stderr
    assert p.stderr.strip().splitlines()[-1] == message
