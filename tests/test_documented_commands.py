"""The README is executable documentation: every command in a ```sh block of README.md and docs/*.md runs
here, as a user types it, and does what the text around it says.

Commands are extracted from the Markdown (never copied here) and run through ``bash`` with the
project's virtualenv first on PATH, as after ``source .venv/bin/activate``. Where a command must not
clash with other processes on the machine, its values are substituted (fresh ports, temporary
directories, the test broker for ``--broker``), and a synopsis (``[--port 9092]``, ``DIR``,
``rocksdb|memory``) is filled in; a placeholder left unfilled fails the test. Each command is
dispatched to a check by its shape (`CHECKS`); a command with no check fails the suite, so a block
added to the docs later needs a check here.

Commands that cannot run on a test machine get a visible treatment, never silence: they run in a
smoke form that needs nothing missing (`make -n`, ``kubectl --dry-run=client``), what they refer to
is checked (files, services, secret and config-map names the manifests use), and then the test is
*skipped with the reason* (docker: no Docker daemon or image registry here; kubectl: no cluster;
``make test``: it is this suite; ``make bench``: ~13 minutes), so every run lists them.

One broker serves the commands that need one (module fixture); ``broker`` and ``demo`` start their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import pty
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import msgspec
import orjson
import pytest
import yaml
from aiosmtpd.controller import Controller

from cjo_stream.config import Settings
from cjo_stream.events import decode_event, parse_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.connect import probe
from cjo_stream.kafka.local_broker import LocalBroker, free_port, wait_for_port
from cjo_stream.lifetime import die_with_parent
from tests.adapters.conftest import command, produce, produce_commands, read_topic
from tests.processes import alive, descendants

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_EVENTS = "schemas/examples/touchpoints.jsonl"
SCHEMA = json.loads((ROOT / "schemas" / "delivery_command.schema.json").read_text())
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# ------------------------------------------------------------------------------------ extraction
@dataclass(frozen=True)
class Command:
    """One command line of a ```sh block: continuation lines joined, the trailing comment apart."""

    doc: str  # path relative to the repository
    line: int
    text: str
    comment: str
    block: int  # blocks are numbered per run; commands of one block share the number
    cwd: str = "."  # after a `cd DIR` line earlier in the same block

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def split_comment(line: str) -> tuple[str, str]:
    """``cmd  # comment`` -> (``cmd``, ``comment``); a ``#`` inside quotes or a word is kept."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def extract(docs: list[Path] = DOCS, root: Path = ROOT) -> list[Command]:
    found: list[Command] = []
    block = 0
    for doc in docs:
        lines = doc.read_text().splitlines()
        i = 0
        while i < len(lines):
            fence = re.match(r"^(\s*)```sh\s*$", lines[i])
            i += 1
            if not fence:
                continue
            block += 1
            indent = len(fence.group(1))
            cwd = "."
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                start = i + 1
                raw = lines[i][indent:]
                while raw.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    raw = raw[:-1].rstrip() + " " + lines[i].strip()
                i += 1
                text, comment = split_comment(raw.strip())
                if not text:
                    continue
                found.append(Command(str(doc.relative_to(root)), start, text, comment, block, cwd))
                cd = re.fullmatch(r"cd (\S+)", text)
                if cd:
                    cwd = os.path.normpath(os.path.join(cwd, cd.group(1)))
            i += 1
    return found


COMMANDS = extract()

# ------------------------------------------------------------------------------------ running
PLACEHOLDER = re.compile(r"[A-Z]+(?::[A-Z]+)?|FILE\.\w+")


def fill(text: str, flags: dict[str, str] | None = None, words: dict[str, str] | None = None) -> str:
    """A documented command with values put in: ``[...]`` groups are taken, a flag's value is replaced
    by ``flags[flag]`` (for ``a|b|c`` it must be one of the documented choices), other words by
    ``words``. A placeholder (``DIR``, ``H:P``, ``N``, ``FILE.jsonl``, ``a|b``) left over fails."""
    flags, words = flags or {}, words or {}
    text = re.sub(r"\[([^\[\]]*)\]", r"\1", text)
    toks = shlex.split(text)
    out: list[str] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        out.append(words.get(tok, tok))
        value = toks[i + 1] if i + 1 < len(toks) else None
        if tok.startswith("--") and value is not None and not value.startswith("--"):
            if tok in flags:
                if "|" in value:
                    assert flags[tok] in value.split("|"), f"{tok} {flags[tok]} is not among the documented {value}"
                out.append(flags[tok])
            else:
                assert not PLACEHOLDER.fullmatch(value) and "|" not in value, \
                    f"no value for the placeholder in `{tok} {value}` of `{text}`"
                out.append(words.get(value, value))
            i += 2
            continue
        i += 1
    return shlex.join(out)


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user with the virtualenv activated and no CJO_* settings of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(BIN.parent), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def shell(text: str, *, cwd: Path = ROOT, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(["bash", "-c", text], cwd=cwd, env=env or user_env(), capture_output=True, text=True,
                       timeout=timeout, check=False)
    assert "Traceback" not in p.stdout + p.stderr, f"`{text}` printed a traceback:\n{p.stderr[-4000:]}"
    return p


class Background:
    """A long-running documented command (``exec``'d by bash, so signals reach it); output to files."""

    def __init__(self, text: str, env: dict[str, str], tmp: Path, name: str, cwd: Path = ROOT) -> None:
        self.text = text
        self.out, self.err = tmp / f"{name}.out", tmp / f"{name}.err"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            # its own session, SIGKILLed if the test run dies (no orphans from a killed pytest either), with
            # Ctrl-C's signal as on a terminal: a test run started in the background of a script has it
            # ignored, and an ignored signal stays ignored across exec (bash cannot undo that either)
            dies = die_with_parent()

            def preexec() -> None:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
                if dies is not None:
                    dies()

            m = re.match(r"(?:\w+=\S+\s+)*", text)  # `A=b cmd` runs as `A=b exec cmd` (`exec A=b` is no command)
            assigned = m.group(0) if m else ""
            self.proc = subprocess.Popen(["bash", "-c", f"{assigned}exec {text[len(assigned):]}"], cwd=cwd, env=env,
                                         stdout=o, stderr=e, preexec_fn=preexec, start_new_session=dies is None)

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_for(self, what: str, ok: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            assert self.proc.poll() is None, (f"`{self.text}` exited with {self.proc.returncode} before {what}:\n"
                                              f"{self.stderr()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"`{self.text}`: {what} not seen after {timeout} s:\n{self.stderr()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                raise AssertionError(f"`{self.text}` did not stop on signal {sig}") from None
        assert "Traceback" not in self.stderr(), self.stderr()[-4000:]
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def need(tool: str, why: str) -> str:
    """Path of a tool the check runs; missing: skipped here, a failure in CI (like tests/deploy)."""
    path = shutil.which(tool, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        if IN_CI:
            pytest.fail(f"{tool} is not installed ({why}); `make setup` installs it")
        pytest.skip(f"{tool} is not installed here ({why})")
    return path


def not_run(cmd: Command, reason: str, checked: str) -> None:
    """The visible end of a check for a command that cannot run here."""
    pytest.skip(f"`{cmd.text}` not run: {reason}; checked instead: {checked}")


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


@dataclass
class Flow:
    """produce -> worker -> tail, with the documented produce and tail commands."""

    produce: Command
    tail: Command
    produced: subprocess.CompletedProcess[str]
    tail_lines: list[str]
    tail_stderr: str
    tail_exit: int
    worker_exit: int


def documented(pattern: str) -> Command:
    for c in COMMANDS:
        if re.match(pattern, c.text):
            return c
    pytest.fail(f"no documented command matches {pattern!r}: the produce -> worker -> tail check needs one")


@pytest.fixture(scope="module")
def flow(broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    tmp = tmp_path_factory.mktemp("flow")
    env = user_env(CJO_BROKER=broker.bootstrap)
    web = free_port()
    worker = Background("cjo-stream worker", user_env(
        CJO_BROKER=broker.bootstrap, CJO_APP_ID="docs-flow", CJO_TOPOLOGIES="topologies", CJO_STORE="memory",
        CJO_DATA_DIR=str(tmp / "data"), CJO_WEB_PORT=str(web), CJO_PARTITIONS="2"), tmp, "worker")
    produce, tail_cmd = documented(r"cjo-stream produce "), documented(r"cjo-stream tail\b")
    tail = Background(fill(tail_cmd.text), env, tmp, "tail")
    try:
        worker.wait_for("/health 200", lambda: healthy(web), timeout=120)
        tail.wait_for("tail following its topics", lambda: "tail: following" in tail.stderr())
        produced = shell(fill(produce.text, {"--events": EXAMPLE_EVENTS}), env=env)
        tail.wait_for("delivery commands", lambda: len(tail.stdout().splitlines()) >= 5, timeout=90)
        time.sleep(1)
        tail_exit = tail.stop(signal.SIGINT)
        worker_exit = worker.stop(signal.SIGTERM)
        yield Flow(produce, tail_cmd, produced, tail.stdout().splitlines(), tail.stderr(), tail_exit, worker_exit)
    finally:
        tail.kill()
        worker.kill()


# ------------------------------------------------------------------------------------ checks
Check = Callable[[Command, Callable[[str], Any]], None]
CHECKS: list[tuple[re.Pattern[str], Check]] = []


def check(pattern: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS.append((re.compile(pattern), fn))
        return fn
    return register


def find_check(cmd: Command) -> Check | None:
    for pattern, fn in CHECKS:
        if pattern.match(cmd.text):
            return fn
    return None


@check(r"make demo$")
def _make_demo(cmd: Command, fx: Callable[[str], Any]) -> None:
    # the README: "without a terminal it runs 60 s (make demo DEMO_ARGS="--duration 120")"; 20 s here
    p = shell(f'{cmd.text} DEMO_ARGS="--duration 20"', timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    live = [line for line in p.stdout.splitlines()
            if re.match(r"\d\d:\d\d:\d\d  (email|sms|push|in_app|webhook|slack|crm)\s+\w+/\w+", line)]
    assert live, f"no delivery command printed live:\n{p.stdout[-3000:]}"
    shown = re.search(r"demo done after \d+ s: (\d+) delivery commands shown", p.stdout)
    assert shown and int(shown.group(1)) == len(live), p.stdout[-2000:]
    assert "/customers/<id>" in p.stdout and "/metrics" in p.stdout  # where the state API is
    _demo_ctrl_c(fx("tmp_path"))


def _demo_live_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if re.match(r"\d\d:\d\d:\d\d  (email|sms|push|in_app|webhook|slack|crm)\s+\w+/\w+", line)]


def _demo_ctrl_c(tmp: Path) -> None:
    """The README: "Ctrl-C stops everything it started". A terminal's Ctrl-C signals the foreground process
    group (make and the demo); the summary still counts every command shown, and nothing is left running."""
    demo = Background('make demo DEMO_ARGS="--duration 300"', user_env(), tmp, "demo-ctrl-c")
    try:
        demo.wait_for("a delivery command shown live", lambda: bool(_demo_live_lines(demo.stdout())), timeout=180)
        started = descendants(demo.proc.pid)
        demo.stop(signal.SIGINT)
    finally:
        demo.kill()
    out = demo.stdout()
    shown = re.search(r"demo done after \d+ s: (\d+) delivery commands shown", out)
    assert "stopping ..." in out and shown, out[-2000:]
    assert int(shown.group(1)) == len(_demo_live_lines(out)) > 0, out[-2000:]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in started):
        time.sleep(0.2)
    left = [p for p in started if alive(p)]
    assert not left, f"still running after Ctrl-C: {left}"


@check(r"source \.venv/bin/activate$")
def _activate(cmd: Command, fx: Callable[[str], Any]) -> None:
    """In a new user's shell (no virtualenv on PATH) it puts the project's ``cjo-stream`` and ``python`` there,
    which every later command of the docs needs (shell() runs them as after it)."""
    env = {k: v for k, v in user_env().items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if Path(d).resolve() != BIN.resolve())
    before = shell("command -v cjo-stream", env=env)
    assert before.returncode != 0, f"cjo-stream is on PATH without the virtualenv ({before.stdout.strip()})"
    p = shell(f"{cmd.text} && command -v cjo-stream && command -v python", env=env)
    assert p.returncode == 0, p.stderr
    assert [Path(line).parent.resolve() for line in p.stdout.split()] == [(ROOT / ".venv" / "bin").resolve()] * 2, \
        p.stdout


@check(r"make test$")
def _make_test(cmd: Command, fx: Callable[[str], Any]) -> None:
    p = shell(f"make -n {cmd.text.split()[1]}")
    assert p.returncode == 0 and "-m pytest" in p.stdout, p.stdout + p.stderr
    assert re.search(r"pip install .*-c requirements\.lock", p.stdout) or (ROOT / ".venv" / ".installed").exists()
    not_run(cmd, "it is the suite running this test (make test -> pytest)",
            "`make -n test` sets up from requirements.lock and runs pytest")


@check(r"make bench$")
def _make_bench(cmd: Command, fx: Callable[[str], Any]) -> None:
    p = shell("make -n bench")
    assert p.returncode == 0 and "-m cjo_stream.bench" in p.stdout, p.stdout + p.stderr
    not_run(cmd, "it takes ~13 minutes on 2 cores (performance lives in `make bench`, not in tests)",
            "`make -n bench` runs `python -m cjo_stream.bench`, whose options the next documented command checks")


@check(r"make soak( SOAK_ARGS=.*)?$")
def _make_soak(cmd: Command, fx: Callable[[str], Any]) -> None:
    p = shell("make -n soak")
    assert p.returncode == 0 and "-m cjo_stream.bench.soak" in p.stdout, p.stdout + p.stderr
    not_run(cmd, "it runs for 30 minutes by default (a benchmark, not a test)",
            "`make -n soak` runs `python -m cjo_stream.bench.soak`, whose options the next documented command checks")


@check(r"make soak-deployment( DEPLOY_ARGS=.*)?$")
def _make_soak_deployment(cmd: Command, fx: Callable[[str], Any]) -> None:
    p = shell("make -n soak-deployment")
    assert p.returncode == 0 and "-m cjo_stream.bench.deployment" in p.stdout, p.stdout + p.stderr
    not_run(cmd, "it runs the whole deployment for 8 minutes by default (a benchmark, not a test; "
            "tests/test_bench_deployment.py runs it for 24 s)",
            "`make -n soak-deployment` runs `python -m cjo_stream.bench.deployment`, whose options the next "
            "documented command checks")


@check(r"\S*python -m cjo_stream\.bench(\.soak|\.deployment)? --help$")
def _bench_help(cmd: Command, fx: Callable[[str], Any]) -> None:
    text = cmd.text if (ROOT / cmd.text.split()[0]).exists() else cmd.text.replace(cmd.text.split()[0], sys.executable)
    p = shell(text)
    assert p.returncode == 0 and "usage:" in p.stdout, p.stderr
    for flag in re.findall(r"--[a-z-]+", cmd.comment):  # the options the comment promises
        assert flag in p.stdout, f"{flag} is not an option of the bench"


# the runbook "A journey sends the wrong thing" (docs/operations.md): before the generic checks of these verbs
def _paused_copy(tmp: Path) -> Path:
    """``topologies/`` with the abandoned-cart journey paused, as step 1 of the runbook has it."""
    d = tmp / "paused" / "topologies"
    shutil.copytree(ROOT / "topologies", d)
    cart = d / "journeys" / "abandoned_cart.yaml"
    cart.write_text(cart.read_text().replace("\nversion: 1\n", "\nversion: 1\nstatus: paused\n", 1))
    assert "status: paused" in cart.read_text()
    return d


@check(r"cjo-stream validate topologies \| grep paused$")
def _validate_paused(cmd: Command, fx: Callable[[str], Any]) -> None:
    paused = _paused_copy(fx("tmp_path"))
    p = shell(cmd.text, cwd=paused.parent)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.fullmatch(r"ok  abandoned_cart v1  \(\d+ steps, paused\)  topologies/journeys/abandoned_cart\.yaml\n",
                        p.stdout), p.stdout
    assert "note: journey abandoned_cart version 1 is paused" in p.stderr
    live = shell(cmd.text)  # the repository's topologies are live: nothing found, grep's exit 1
    assert live.returncode == 1 and live.stdout == "", live.stdout


def _receipt(delivery: str, customer: str, step: str, status: str, channel: str = "push") -> bytes:
    return orjson.dumps({"delivery_id": delivery, "customer_id": customer, "channel": channel, "status": status,
                         "at": "2026-03-02T10:00:00.000Z", "journey": "abandoned_cart", "step": step})


@check(r"cjo-stream tail --receipts --channel push --to-end \| grep '\"step\":\"push_coupon\"'$")
def _tail_receipts_to_end(cmd: Command, fx: Callable[[str], Any]) -> None:
    """Who got the push: its receipts, and it exits once it has read the topic (no Ctrl-C, no --limit)."""
    broker = fx("broker")
    mine = uuid.uuid4().hex[:12]  # the module's broker has other tests' receipts too
    wanted = [_receipt(f"{mine}-1", "ada", "push_coupon", "sent"), _receipt(f"{mine}-1", "ada", "push_coupon", "delivered")]
    others = [_receipt(f"{mine}-2", "bob", "remind", "sent"), _receipt(f"{mine}-3", "cy", "push_coupon", "sent", "email")]
    topics = Settings(bootstrap=broker.bootstrap, partitions=2)
    from cjo_stream.kafka.topics import ensure_topics

    asyncio.run(ensure_topics(topics, [topics.receipts_topic]))
    asyncio.run(produce(broker.bootstrap, topics.receipts_topic, [(v[:8], v) for v in wanted + others]))
    p = shell(cmd.text, env=user_env(CJO_BROKER=broker.bootstrap), timeout=60)
    assert p.returncode == 0, p.stderr
    assert sorted(ln for ln in p.stdout.splitlines() if mine in ln) == sorted(v.decode() for v in wanted), p.stdout
    assert "from the beginning to the end" in p.stderr


@check(r"cjo-stream tail --journey-events --journey abandoned_cart --to-end \| grep journey_paused$")
def _tail_held_to_end(cmd: Command, fx: Callable[[str], Any]) -> None:
    broker = fx("broker")
    mine = uuid.uuid4().hex[:12]

    def event(journey: str, reason: str, n: int) -> bytes:
        return orjson.dumps({"journey": journey, "version": 1, "kind": "deferred", "instance": f"{mine}-{n}",
                             "customer_id": f"u{n}", "at": 1772445600.0, "step": "remind", "channel": "email",
                             "reason": reason})

    held = [event("abandoned_cart", "journey_paused", 1), event("abandoned_cart", "journey_paused", 2)]
    others = [event("abandoned_cart", "quiet_hours", 3), event("welcome", "journey_paused", 4)]
    settings = Settings(bootstrap=broker.bootstrap, partitions=2)
    from cjo_stream.kafka.topics import ensure_topics

    asyncio.run(ensure_topics(settings, [settings.journey_events_topic]))
    asyncio.run(produce(broker.bootstrap, settings.journey_events_topic, [(b"u", v) for v in held + others]))
    p = shell(cmd.text, env=user_env(CJO_BROKER=broker.bootstrap), timeout=60)
    assert p.returncode == 0, p.stderr
    assert sorted(ln for ln in p.stdout.splitlines() if mine in ln) == sorted(v.decode() for v in held), p.stdout


@check(r"cjo-stream replay --since 1h --warmup 30d --compare DIR --only-changed$")
def _replay_pause(cmd: Command, fx: Callable[[str], Any]) -> None:
    """The last hour from the topics, as if paused an hour ago: ada, in the journey then, is held at her reminder;
    bob's cart, after it, enters nothing."""
    broker, tmp = fx("broker"), fx("tmp_path")
    mine = uuid.uuid4().hex[:8]
    env = user_env(CJO_BROKER=broker.bootstrap, CJO_INPUT_TOPIC=f"incident-{mine}.touchpoints",
                   CJO_RECEIPTS_TOPIC=f"incident-{mine}.receipts")
    now = time.time()

    def ev(mid: str, who: str, ago_min: float, name: str | None = None, **fields: Any) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - ago_min * 60)) + ".000Z"
        body: dict[str, Any] = {"messageId": f"{mine}-{mid}", "userId": who, "timestamp": stamp, **fields}
        return {**body, "type": "track", "event": name} if name else {**body, "type": "identify"}

    events = [ev("1", "ada", 120, traits={"email": "ada@example.com"}),
              ev("2", "ada", 70, "cart_item_added", properties={"cart_value": 50}),  # her reminder is due at -10 min
              ev("3", "bob", 40, traits={"email": "bob@example.com"}),
              ev("4", "bob", 30, "cart_item_added", properties={"cart_value": 50})]
    path = tmp / "incident.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    produced = shell(f"cjo-stream produce --events {path} --create", env=env)
    assert produced.returncode == 0, produced.stderr
    paused = _paused_copy(tmp)
    p = shell(fill(cmd.text, {"--compare": str(paused)}), env=env, timeout=180)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "journey abandoned_cart: live under A, paused under B" in out, out
    rows = {tuple(ln.split()[2:-3]): ln.split()[-3:] for ln in out.splitlines() if ln.startswith("* abandoned_cart")}
    assert rows[("remind", "(email)", "deferred:journey_paused")] == ["0", "1", "+1"], out
    assert rows[("entered",)] == ["1", "0", "-1"], out  # bob
    assert "defined differently" not in out


@check(r"cjo-stream simulate ")
def _simulate(cmd: Command, fx: Callable[[str], Any]) -> None:
    p = shell(fill(cmd.text))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) > 10, p.stdout
    validator = jsonschema.Draft202012Validator(SCHEMA)
    allowed = set(SCHEMA["$defs"]["DeliveryCommand"]["properties"])
    for n, line in enumerate(lines, 1):
        obj = orjson.loads(line)  # one JSON object per line
        errors = [e.message for e in validator.iter_errors(obj)]
        assert not errors, f"stdout line {n} breaks delivery_command.schema.json: {errors}"
        assert set(obj) <= allowed, f"line {n} has keys outside the schema: {set(obj) - allowed}"
        assert list(obj) == sorted(obj) and list(obj["content"]) == sorted(obj["content"]), f"line {n}: keys unsorted"
    events = shlex.split(cmd.text)[shlex.split(cmd.text).index("--events") + 1]
    bad = re.findall(rf"^{re.escape(events)}:\d+: skipped bad event \([a-z_]+\): .+$", p.stderr, re.M)
    assert len(bad) == 3, f"the README promises three broken lines, reported with their line: {bad}"
    if "--report" in cmd.text:  # the funnel per journey, step and variant
        argv = shlex.split(cmd.text)
        topology = load_topology(str(ROOT / (argv[argv.index("--topologies") + 1] if "--topologies" in argv
                                             else "topologies")))  # the default
        for j in topology.journeys:
            assert re.search(rf"^{j.id}\s+\w+\s+\d+", p.stderr, re.M), f"no funnel rows for {j.id}"
        assert re.search(r"^journey\s+variant\s+entered\s+converted", p.stderr, re.M)
        summary = re.search(r"^(\d+) delivery commands, \d+ skips, 3 bad lines", p.stderr, re.M)
        assert summary and int(summary.group(1)) == len(lines), p.stderr[-500:]
    if "--html" in cmd.text:  # the same analytics page the service serves, as one file
        argv = shlex.split(cmd.text)
        html = Path(argv[argv.index("--html") + 1]).read_text()
        assert "<table" in html and "abandoned_cart" in html, html[:300]


@check(r"cjo-stream replay ")
def _replay(cmd: Command, fx: Callable[[str], Any]) -> None:
    from cjo_stream.engine import Engine
    from cjo_stream.jsonl import jsonl_lines
    from cjo_stream.simulator import Simulator

    topo = load_topology(str(ROOT / "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.run_lines(jsonl_lines(str(ROOT / EXAMPLE_EVENTS)))
    sim.finish()
    if "--events" not in cmd.text:  # from the topics: the examples the documented produce put there
        fx("flow")
        p = shell(fill(cmd.text), env=user_env(CJO_BROKER=fx("broker").bootstrap))
        assert p.returncode == 0, p.stderr
        assert re.search(r"^replayed 453 events in .*; 3 bad", p.stdout, re.M), p.stdout  # March 2026 on
        assert f"{len(sim.commands)} delivery commands would have been sent" in p.stdout
        assert re.search(r"^abandoned_cart\s+\d+", p.stdout, re.M), "no funnel report"
        return
    tmp = fx("tmp_path")
    exported = tmp / "export.jsonl.gz"  # an export as Segment writes it: gzipped JSON lines
    import gzip

    exported.write_bytes(gzip.compress((ROOT / EXAMPLE_EVENTS).read_bytes()))
    stricter = tmp / "stricter"  # "DIR": the next version of the journeys, with a higher cart threshold
    shutil.copytree(ROOT / "topologies", stricter)
    cart = stricter / "journeys" / "abandoned_cart.yaml"
    cart.write_text(cart.read_text().replace("cart_value >= 20", "cart_value >= 50"))
    p = shell(fill(cmd.text, {"--events": str(exported), "--compare": str(stricter)}))
    assert p.returncode == 1 and "differences found" in p.stdout, p.stdout + p.stderr  # --fail-on-change
    assert re.search(r"^\* abandoned_cart\s+entered\s+\d+\s+\d+\s+-\d+", p.stdout, re.M), p.stdout
    assert p.stderr.count(f"{exported}:") == 3  # bad lines by file:line, as simulate reports them
    same = shell(fill(cmd.text, {"--events": str(exported), "--compare": "topologies"}))
    assert same.returncode == 0 and "no differences" in same.stdout, same.stdout + same.stderr


@check(r"cjo-stream skip ")
def _skip(cmd: Command, fx: Callable[[str], Any]) -> None:
    """It writes the request the owning worker acts on (tests/runtime/test_unreadable.py runs that end to end)."""
    from cjo_stream.kafka.skips import SkipRequest, skip_key
    from cjo_stream.kafka.topics import ensure_topics

    app = f"docs-skip-{uuid.uuid4().hex[:6]}"
    with LocalBroker() as broker:  # its input topic has the default 8 partitions, as a deployment's has
        asyncio.run(ensure_topics(Settings(bootstrap=broker.bootstrap), ["cjo.touchpoints"]))
        asyncio.run(_fill_partition(broker.bootstrap, "cjo.touchpoints", 3, 1300))  # so offset 1200 exists
        p = shell(fill(cmd.text, {"--topic": "cjo.touchpoints", "--partition": "3", "--offset": "1200"}),
                  env=user_env(CJO_BROKER=broker.bootstrap, CJO_APP_ID=app))
        assert p.returncode == 0, p.stderr
        records = asyncio.run(read_topic(broker.bootstrap, f"{app}.skips", lambda r: len(r) >= 1, timeout=30))
    (rec,) = records
    req = msgspec.json.decode(rec.value, type=SkipRequest)
    assert rec.key == skip_key("cjo.touchpoints", 3, 1200) and (req.topic, req.partition, req.offset) == \
        ("cjo.touchpoints", 3, 1200)
    reason = re.search(r'--reason "([^"]+)"', cmd.text)
    assert req.reason == (reason.group(1) if reason else "")


@check(r"cjo-stream dlq ")
def _dlq(cmd: Command, fx: Callable[[str], Any]) -> None:
    """On a dead letter as a worker writes it (tests/runtime/test_dlq_cli.py runs it on a worker's own):
    one line without the payload, and the re-drive puts the record back on its source topic."""
    from aiokafka import AIOKafkaProducer

    value = b'{"messageId":"m1","type":"track","event":"x","timestamp":"2026-01-01T00:00:00Z","ssn":"078-05-1120"}'

    async def dead_letter(bootstrap: str) -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        try:
            await p.send_and_wait("cjo.touchpoints.dlq", value, key=b"k", headers=[
                ("cjo.reason", b"missing_id"), ("cjo.detail", b"an event needs userId or anonymousId (or both)"),
                ("cjo.source.topic", b"cjo.touchpoints"), ("cjo.source.partition", b"0"),
                ("cjo.source.offset", b"7"), ("cjo.failed_at", b"1780000000.5")])
        finally:
            await p.stop()

    with LocalBroker() as broker:
        asyncio.run(dead_letter(broker.bootstrap))
        p = shell(fill(cmd.text, {"--reason": "missing_id"}), env=user_env(CJO_BROKER=broker.bootstrap))
        assert p.returncode == 0, p.stderr
        (line,) = p.stdout.splitlines()
        assert " missing_id  from cjo.touchpoints[0]@7 " in line and "078-05" not in line, line
        assert "2026-05-28T" in line  # the worker's epoch seconds as a time
        if "--redrive" in cmd.text:
            assert "re-drove 1 to cjo.touchpoints" in p.stderr, p.stderr
            (back,) = asyncio.run(read_topic(broker.bootstrap, "cjo.touchpoints", lambda r: len(r) >= 1, timeout=30))
            assert (back.key, back.value) == (b"k", value)


async def _fill_partition(bootstrap: str, topic: str, partition: int, n: int) -> None:
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await p.start()
    try:
        await asyncio.gather(*[await p.send(topic, b"{}", partition=partition) for _ in range(n)])
    finally:
        await p.stop()


def _tokens_of(text: str) -> dict[str, tuple[set[str], str]]:
    """name -> (scopes, secret) of a token list in the documented format, checked by the real parser."""
    from cjo_stream.auth import parse_tokens

    parsed = {t.name: set(t.scopes) for t in parse_tokens(text)}
    out = {}
    for entry in text.split():
        name, scopes, secret = entry.split(":", 2)
        assert parsed[name] == set(scopes.split(",")), entry
        out[name] = (parsed[name], secret)
    return out


@check(r"export CJO_API_TOKENS=")
def _export_tokens(cmd: Command, fx: Callable[[str], Any]) -> None:
    p = shell(f'{cmd.text} && printf %s "$CJO_API_TOKENS"')
    assert p.returncode == 0, p.stderr
    tokens = _tokens_of(p.stdout)
    assert tokens["ops"][0] == {"read", "erase"}
    assert "prometheus" not in tokens or tokens["prometheus"][0] == {"metrics"}  # (Compose's: ops only)


@check(r"printf 'ops:read,erase:")
def _printf_tokens(cmd: Command, fx: Callable[[str], Any]) -> None:
    tmp = fx("tmp_path")
    p = shell(cmd.text, cwd=tmp)
    assert p.returncode == 0, p.stderr
    tokens = _tokens_of((tmp / "tokens").read_text())  # the file CJO_API_TOKENS_FILE mounts
    assert set(tokens) == {"ops", "prometheus"}


@check(r"curl -H \"Authorization: Bearer ")
def _curl_state_api(cmd: Command, fx: Callable[[str], Any]) -> None:
    url = re.search(r"(https?)://([\w.-]+):(\d+)(/\S+)", cmd.text)
    assert url, cmd.text
    scheme, host, port, path = url.groups()
    if host != "127.0.0.1":  # the in-cluster name of a worker: check what it names, then skip visibly
        k8s = "\n".join(p.read_text() for p in (ROOT / "deploy" / "k8s").glob("*.yaml"))
        pod, service, namespace = host.split(".")[:3]
        assert f"name: {service}" in k8s and f"namespace: {namespace}" in k8s, f"no service {service} in deploy/k8s"
        assert f"name: {pod.rsplit('-', 1)[0]}" in k8s and port in k8s and scheme == "https"
        not_run(cmd, "the URL is a worker's name inside a Kubernetes cluster; there is none here",
                f"deploy/k8s has the headless service {service} in namespace {namespace}, the StatefulSet and port {port}")
    secret = "s" * 24 + uuid.uuid4().hex
    web = free_port()
    tmp = fx("tmp_path")
    worker = Background("cjo-stream worker", user_env(
        CJO_BROKER=fx("broker").bootstrap, CJO_APP_ID=f"docs-auth-{uuid.uuid4().hex[:6]}", CJO_STORE="memory",
        CJO_DATA_DIR=str(tmp / "data"), CJO_WEB_PORT=str(web), CJO_PARTITIONS="2",
        CJO_API_TOKENS=f"ops:read,erase:{secret}"), tmp, "worker-auth")
    try:
        worker.wait_for("/health 200", lambda: healthy(web), timeout=120)
        text = cmd.text.replace("<the ops secret>", secret).replace(f":{port}/", f":{web}/")
        p = shell(f"{text} -s -o /dev/null -w '%{{http_code}}'")
        assert p.stdout == "404", p.stdout + p.stderr  # authenticated: an unknown customer, not 401
        bare = shell(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{web}{path}")
        assert bare.stdout == "401", bare.stdout  # and without the token it is refused
    finally:
        worker.stop()


@check(r"\S*python -m cjo_stream\.bench --")
def _bench_flags(cmd: Command, fx: Callable[[str], Any]) -> None:
    helptext = shell(".venv/bin/python -m cjo_stream.bench --help").stdout
    words = shlex.split(cmd.text)
    for w in words:
        if w.startswith("--"):
            assert w in helptext, f"{w} is not an option of the bench"
    skip = words[words.index("--skip") + 1].split(",") if "--skip" in words else []
    for name in skip:
        assert re.search(rf"\b{name}\b", helptext), f"--skip {name}: not a section the bench knows"
    not_run(cmd, "a benchmark run takes minutes and measures a quiet machine, not a test run",
            f"its options {[w for w in words if w.startswith('--')]} and --skip names exist")


@check(r"(PYTHONPATH=\S+ )?\S*python -m cjo_stream\.bench\.(soak|deployment) --")
def _soak_flags(cmd: Command, fx: Callable[[str], Any]) -> None:
    """A soak or deployment run as docs/benchmarks.md records it: its options exist, and each ``--set`` names
    a setting (``CJO_...=value``) the processes are started with."""
    words = shlex.split(cmd.text)
    module = next(w for w in words if w.startswith("cjo_stream.bench."))
    helptext = shell(f".venv/bin/python -m {module} --help").stdout
    for w in words:
        if w.startswith("--"):
            assert w in helptext, f"{w} is not an option of {module}"
    for i, w in enumerate(words):
        if w == "--set":
            assert re.fullmatch(r"CJO_[A-Z_]+=\S+", words[i + 1]), f"--set {words[i + 1]}: not a CJO_ setting"
    not_run(cmd, "a run over time takes 6-20 minutes (a benchmark, not a test; tests/test_bench_deployment.py and "
            "tests/test_soak_rows.py run the harnesses briefly)", f"its options exist in `{module} --help`")


@check(r"cjo-stream validate ")
def _validate(cmd: Command, fx: Callable[[str], Any]) -> None:
    p = shell(cmd.text)
    assert p.returncode == 0, p.stderr
    directory = ROOT / shlex.split(cmd.text)[2]
    for path in (directory / "journeys").glob("*.yaml"):
        journey = yaml.safe_load(path.read_text())["journey"]
        assert re.search(rf"^ok  {journey} v\d+ ", p.stdout, re.M), f"{journey} not reported ok:\n{p.stdout}"
    # "every problem as file:line: reason, exit 1 if any": the same command on a broken copy
    broken = fx("tmp_path") / "broken"
    shutil.copytree(directory, broken)
    victims = sorted((broken / "journeys").glob("*.yaml"))[:2]
    for victim in victims:  # a bad duration in each of two files
        text, n = re.subn(r"(\b(?:wait|timeout|max_duration): |after )\d+[smhdw]\b", r"\1soonish", victim.read_text(), count=1)
        assert n, f"no duration to break in {victim.name}"
        victim.write_text(text)
    p = shell(fill(cmd.text, words={shlex.split(cmd.text)[2]: str(broken)}))
    assert p.returncode == 1, p.stdout + p.stderr
    for victim in victims:
        assert re.search(rf"^{re.escape(str(victim))}:\d+: .*soonish", p.stderr, re.M), \
            f"{victim.name}: no file:line: reason in\n{p.stderr}"


@check(r"cjo-stream schemas")
def _schemas(cmd: Command, fx: Callable[[str], Any]) -> None:  # no block shows it yet (`make schemas` does)
    out = fx("tmp_path") / "schemas"
    p = shell(fill(cmd.text, {"--out": str(out)}))
    assert p.returncode == 0, p.stderr
    for made in out.glob("*.json"):
        assert made.read_bytes() == (ROOT / "schemas" / made.name).read_bytes(), f"{made.name} differs"


@check(r"cjo-stream broker\b")
def _broker(cmd: Command, fx: Callable[[str], Any]) -> None:
    port = free_port()
    b = Background(fill(cmd.text, {"--port": str(port)}), user_env(), fx("tmp_path"), "broker")
    try:
        b.wait_for("the broker's port", lambda: "listening on" in b.stderr(), timeout=30)
        wait_for_port(port, timeout=10)
        asyncio.run(probe(Settings(bootstrap=f"127.0.0.1:{port}")))  # answers as a Kafka broker
        assert b.stop(signal.SIGINT) == 0  # "in the foreground": Ctrl-C stops it
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the broker still listens after Ctrl-C"
    finally:
        b.kill()


@check(r"cjo-stream worker\b")
def _worker(cmd: Command, fx: Callable[[str], Any]) -> None:
    broker, tmp = fx("broker"), fx("tmp_path")
    web = free_port()
    text = fill(cmd.text, {"--broker": broker.bootstrap, "--topologies": "topologies", "--store": "rocksdb",
                           "--web-port": str(web), "--data-dir": str(tmp / "data"), "--partitions": "2",
                           "--concurrency": "1"})
    w = Background(text, user_env(CJO_APP_ID="docs-worker"), tmp, "worker")
    try:
        w.wait_for("/health 200", lambda: healthy(web), timeout=120)
        journeys = httpx.get(f"http://127.0.0.1:{web}/journeys", timeout=5).json()
        assert "abandoned_cart" in json.dumps(journeys)
        assert {j["status"] for j in journeys["journeys"]} == {"live"}  # (`status: paused` files: "paused")
        assert w.stop(signal.SIGTERM) == 0
    finally:
        w.kill()


@check(r"cjo-stream analytics\b")
def _analytics(cmd: Command, fx: Callable[[str], Any]) -> None:
    """The service starts on the documented flags and serves every journey's row (no tokens set: open on
    loopback; tokens, the page and the numbers themselves: tests/analytics/test_live.py)."""
    broker, tmp = fx("broker"), fx("tmp_path")
    web = free_port()
    text = fill(cmd.text, {"--web-port": str(web), "--topologies": "topologies", "--data-dir": str(tmp / "analytics")})
    a = Background(text, user_env(CJO_BROKER=broker.bootstrap, CJO_APP_ID="docs-analytics"), tmp, "analytics")
    try:
        a.wait_for("/health 200", lambda: healthy(web), timeout=120)
        rows = httpx.get(f"http://127.0.0.1:{web}/analytics/journeys", timeout=5).json()["journeys"]
        assert {r["journey"] for r in rows} >= {"abandoned_cart", "welcome"}  # every journey, none entered yet
        assert a.stop(signal.SIGTERM) == 0
    finally:
        a.kill()


@check(r"cjo-stream produce ")
def _produce(cmd: Command, fx: Callable[[str], Any]) -> None:
    flow: Flow = fx("flow")
    assert flow.produce == cmd, "only the first documented produce command is run end to end"
    p = flow.produced
    lines = [line for line in (ROOT / EXAMPLE_EVENTS).read_bytes().splitlines() if line.strip()]
    assert p.returncode == 0, p.stderr
    assert f"produced {len(lines)} records to cjo.touchpoints" in p.stderr  # "each line to cjo.touchpoints"
    records = asyncio.run(read_topic(fx("broker").bootstrap, "cjo.touchpoints", lambda r: len(r) >= len(lines)))
    assert sorted(r.value for r in records) == sorted(lines)
    for r in records:  # keyed by userId/anonymousId (the broken lines have neither: unkeyed)
        with contextlib.suppress(orjson.JSONDecodeError):
            obj = orjson.loads(r.value)
            if isinstance(obj, dict) and (obj.get("userId") or obj.get("anonymousId")):
                assert r.key == str(obj.get("userId") or obj.get("anonymousId")).encode()


@check(r"cjo-stream tail\b")
def _tail(cmd: Command, fx: Callable[[str], Any]) -> None:
    flow: Flow = fx("flow")
    assert flow.tail == cmd, "only the first documented tail command is run end to end"
    channels = re.findall(r"--channel (\w+)", cmd.text)
    assert flow.tail_lines, f"tail printed nothing:\n{flow.tail_stderr}"
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for line in flow.tail_lines:
        obj = orjson.loads(line)
        assert not list(validator.iter_errors(obj)), line
        assert not channels or obj["channel"] in channels, f"--channel {channels} but got {obj['channel']}"
    assert flow.tail_exit == 130 and flow.worker_exit == 0  # README, exit codes: a follower interrupted; a service stopped


@check(r"cjo-stream generate --out ")
def _generate_file(cmd: Command, fx: Callable[[str], Any]) -> None:
    """"the same traffic as JSON lines, no broker: test data for simulate and replay"; the same seed and --start
    write the same file, and --rate x --duration events."""
    tmp: Path = fx("tmp_path")
    texts = [fill(cmd.text, {"--out": str(tmp / f"{n}.jsonl"), "--customers": "50", "--rate": "20",
                             "--duration": "30"}) + " --seed 11 --start 2026-03-02T09:00:00Z" for n in ("a", "b")]
    for text in texts:
        p = shell(text, env=user_env(CJO_BROKER="127.0.0.1:1"))  # no broker is asked
        assert p.returncode == 0 and re.fullmatch(r"generated 600 events from \d+ customers \(seed 11\) into \S+\n",
                                                  p.stderr), p.stderr
    lines = (tmp / "a.jsonl").read_bytes().splitlines()
    assert (tmp / "a.jsonl").read_bytes() == (tmp / "b.jsonl").read_bytes() and len(lines) == 600
    events = [decode_event(line) for line in lines]  # valid touchpoints, from the given start on
    assert events[0].ts == parse_ts("2026-03-02T09:00:00Z") and len({e.user_id or e.anonymous_id for e in events}) > 1
    sim = shell(f"cjo-stream simulate --events {tmp / 'a.jsonl'}")
    assert sim.returncode == 0 and sim.stdout.strip(), sim.stderr[-2000:]


@check(r"cjo-stream generate ")
def _generate(cmd: Command, fx: Callable[[str], Any]) -> None:
    broker = fx("broker")
    topic = f"docs.generate.{uuid.uuid4().hex[:6]}"
    text = fill(cmd.text, {"--customers": "20", "--rate": "25", "--duration": "2"})
    # "progress bar on a terminal": stderr a terminal (a pty) here, a pipe in the second run (none there)
    main, term = pty.openpty()
    with open(term, "wb", closefd=True) as err_tty:
        p = subprocess.run(["bash", "-c", text], cwd=ROOT, env=user_env(CJO_BROKER=broker.bootstrap, CJO_INPUT_TOPIC=topic),
                           stdout=subprocess.DEVNULL, stderr=err_tty, timeout=120, check=False)
    on_tty = b""
    with contextlib.suppress(OSError):  # EIO once everything written is read
        while chunk := os.read(main, 65536):
            on_tty += chunk
    os.close(main)
    assert p.returncode == 0 and b"Traceback" not in on_tty, on_tty
    summary = re.search(rb"generated 50 events from (\d+) customers \(seed (\d+)\)", on_tty)
    assert re.search(rb"\[#+-*\] \d+/50", on_tty) and summary and 0 < int(summary.group(1)) <= 50, on_tty
    piped = shell(text, env=user_env(CJO_BROKER=broker.bootstrap, CJO_INPUT_TOPIC=topic + ".piped"))
    again = re.fullmatch(r"generated 50 events from \d+ customers \(seed (\d+)\)\n", piped.stderr)
    assert piped.returncode == 0 and again, piped.stderr
    # a second run is new traffic (one fixed default seed resent the same messageIds: all dropped as duplicates)
    assert again.group(1) != summary.group(2).decode()
    records = asyncio.run(read_topic(broker.bootstrap, topic, lambda r: len(r) >= 50, timeout=30))
    assert len(records) == 50
    events = [decode_event(r.value) for r in records]  # valid touchpoints
    assert len({e.user_id or e.anonymous_id for e in events}) > 1
    sources = {str((e.context or {}).get("channel")) for e in events}
    assert sources <= {"web", "app", "pos", "email", "crm"}, sources


def adapter_env(broker: LocalBroker, **extra: str) -> dict[str, str]:
    return user_env(CJO_BROKER=broker.bootstrap, CJO_ADAPTER_GROUP=f"docs-{uuid.uuid4().hex[:8]}",
                    CJO_ADAPTER_WEB_PORT=str(free_port()), **extra)


def run_adapter(text: str, env: dict[str, str], tmp: Path, produce: list[Any],
                done: Callable[[Background], bool], cwd: Path = ROOT) -> Background:
    """Start a documented adapter command, feed it commands, wait for ``done``; stops it (exit 0)."""
    settings = Settings(bootstrap=env["CJO_BROKER"], partitions=2)
    a = Background(text, env, tmp, f"adapter-{uuid.uuid4().hex[:6]}", cwd)
    try:
        for cmd in produce:
            asyncio.run(produce_commands(settings, [cmd]))
        a.wait_for("the deliveries", lambda: done(a), timeout=60)
        assert a.stop(signal.SIGTERM) == 0, a.stderr()
    finally:
        a.kill()
    return a


@check(r"cjo-stream adapter --channel email\|")
def _adapter_synopsis(cmd: Command, fx: Callable[[str], Any]) -> None:
    # the synopsis, with the channel that needs no provider: "console prints deliveries"
    broker = fx("broker")
    env = adapter_env(broker)
    tag = uuid.uuid4().hex[:8]
    cmds = [command(channel="email", to="ada@example.com", content={"subject": f"Lamp is waiting {tag}"}),
            command(channel="sms", to="+15550001111", content={"body": f"Your code {tag}"})]
    port = int(env["CJO_ADAPTER_WEB_PORT"])
    seen: dict[str, bool] = {}

    def done(a: Background) -> bool:
        seen["health"] = seen.get("health") or healthy(port)
        return a.stdout().count(tag) >= 2 and bool(seen["health"])

    a = run_adapter(fill(cmd.text, {"--channel": "console"}), env, fx("tmp_path"), cmds, done)
    assert "ada@example.com" not in a.stdout() and "+15550001111" not in a.stdout()  # never the address
    receipts = asyncio.run(read_topic(broker.bootstrap, "cjo.receipts",
                                      lambda r: {c.delivery_id for c in cmds} <= ids_of(r), timeout=30))
    assert {c.delivery_id for c in cmds} <= ids_of(receipts)


def ids_of(records: list[Any]) -> set[str]:
    return {orjson.loads(r.value)["delivery_id"] for r in records}


@check(r"cjo-stream adapter --channel email$")
def _adapter_email(cmd: Command, fx: Callable[[str], Any]) -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope.content)
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        env = adapter_env(fx("broker"), CJO_SMTP_HOST="127.0.0.1", CJO_SMTP_PORT=str(smtp.port),
                          CJO_SMTP_SECURITY="none", CJO_EMAIL_FROM="Shop <news@shop.example>")
        subject = f"You left Lamp behind {uuid.uuid4().hex[:6]}"
        cmds = [command(channel="email", to="ada@example.com", content={"subject": subject, "body": "Hi Ada!"})]
        run_adapter(fill(cmd.text), env, fx("tmp_path"), cmds,
                    lambda a: any(message_from_bytes(m)["Subject"] == subject for m in received))
    finally:
        smtp.stop()


class Recorder:
    """An HTTP server on loopback (its own thread) that records requests and answers 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            do_POST = do_PUT = do_PATCH = _any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


@check(r"cjo-stream adapter --channel webhook ")
def _adapter_webhook(cmd: Command, fx: Callable[[str], Any]) -> None:
    broker, rec = fx("broker"), fx("recorder")
    port = free_port()
    env = adapter_env(broker, CJO_WEBHOOK_URL=f"{rec.url}/hook")
    text = fill(cmd.text, {"--broker": broker.bootstrap, "--web-port": str(port)})
    assert "--concurrency" in text
    c = command(channel="webhook", content={"text": "hello"})
    state: dict[str, bool] = {}

    def done(a: Background) -> bool:
        state["health"] = state.get("health") or healthy(port)  # served on --web-port
        return state["health"] and any(h.get("X-CJO-Delivery-Id") == c.delivery_id for _, _, h, _ in rec.requests)

    run_adapter(text, env, fx("tmp_path"), [c], done)


@check(r"MYCO_WA_URL=\S+ cjo-stream adapter --channel myco_whatsapp --channel-class myco_channels:WhatsApp$")
def _adapter_own_channel(cmd: Command, fx: Callable[[str], Any]) -> None:
    """docs/adapters.md, "Your own channel": the documented class, saved as the file the text names in a directory
    of its own, run by the command as typed from there; the documented API is a loopback recorder here."""
    broker, rec = fx("broker"), fx("recorder")
    work = fx("tmp_path") / "own-channel"
    work.mkdir()
    section = (ROOT / cmd.doc).read_text().split("## Your own channel", 1)[1]
    code = re.search(r"\(`myco_channels\.py`.*?```python\n(.*?)```", section, re.S)
    assert code, "the class's block after its file name"
    (work / "myco_channels.py").write_text(code.group(1))
    env = adapter_env(broker)
    port = int(env["CJO_ADAPTER_WEB_PORT"])
    # without the URL: the class's ConfigError, one line, exit 2, before connecting
    bare = shell(cmd.text.split(" ", 1)[1], cwd=work, env=env)
    assert (bare.returncode, bare.stderr.strip()) == (2, "error: --channel-class='myco_channels:WhatsApp': MYCO_WA_URL "
                                                         "is not set: the messaging API's URL"), bare.stderr
    c = command(channel="myco_whatsapp", to="+4915100000", content={"body": f"Welcome, Ada! {uuid.uuid4().hex[:6]}"})
    state: dict[str, bool] = {}

    def ours() -> list[tuple[str, str, dict[str, str], bytes]]:
        return [r for r in rec.requests if r[2].get("Idempotency-Key") == c.delivery_id]

    def done(a: Background) -> bool:
        state["health"] = state.get("health") or healthy(port)
        return state["health"] and bool(ours())

    text = re.sub(r"^MYCO_WA_URL=\S+", f"MYCO_WA_URL={rec.url}/v1/messages", cmd.text)
    run_adapter(text, env, fx("tmp_path"), [c], done, cwd=work)
    [(method, path, _, body)] = ours()
    assert (method, path, json.loads(body)) == ("POST", "/v1/messages", {"to": c.to, "text": c.content["body"]})
    receipts = asyncio.run(read_topic(broker.bootstrap, "cjo.receipts", lambda r: c.delivery_id in ids_of(r)))
    got = [orjson.loads(r.value) for r in receipts if orjson.loads(r.value)["delivery_id"] == c.delivery_id]
    assert [(g["status"], g["channel"]) for g in got] == [("sent", "myco_whatsapp")]


@dataclass
class CrmRun:
    env: dict[str, str]
    request: tuple[str, str, dict[str, str], bytes]
    customer: str
    journey: str
    token: str


_crm_runs: dict[int, CrmRun] = {}


def crm_run(cmd: Command, fx: Callable[[str], Any]) -> CrmRun:
    """The documented CRM settings (one block) with an adapter, once per block."""
    if cmd.block in _crm_runs:
        return _crm_runs[cmd.block]
    env: dict[str, str] = {}
    for c in COMMANDS:
        if c.block == cmd.block:
            name, _, value = c.text.partition("=")
            env[name] = shlex.split(value)[0]
    rec: Recorder = fx("recorder")
    token = f"t-{uuid.uuid4().hex[:8]}"
    token_file = fx("tmp_path") / "crm-token"
    token_file.write_text(token + "\n")
    # the documented provider is not on this network: same path template, on a loopback recorder
    env["CJO_CRM_URL"] = re.sub(r"^https?://[^/]+", rec.url, env["CJO_CRM_URL"])
    env["CJO_CRM_TOKEN_FILE"] = str(token_file)
    sent = command(channel="crm", customer_id=f"u-{uuid.uuid4().hex[:6]}", journey="lead_alert",
                content={"status": "hot"})

    def ours() -> list[tuple[str, str, dict[str, str], bytes]]:  # the broker also holds other commands
        return [r for r in rec.requests if r[2].get("Idempotency-Key") == sent.delivery_id]

    run_adapter("cjo-stream adapter --channel crm", adapter_env(fx("broker"), **env), fx("tmp_path"), [sent],
                lambda a: bool(ours()))
    _crm_runs[cmd.block] = CrmRun(env, ours()[0], sent.customer_id, sent.journey, token)
    return _crm_runs[cmd.block]


@check(r"CJO_[A-Z_]+=")
def _env_setting(cmd: Command, fx: Callable[[str], Any]) -> None:
    name = cmd.text.split("=", 1)[0]
    assert name.startswith("CJO_CRM_"), f"{name}: a settings block with no check (only CJO_CRM_* is checked)"
    run = crm_run(cmd, fx)
    method, path, headers, body = run.request
    if name == "CJO_CRM_URL":
        assert path == f"/api/leads/{run.customer}"
    elif name == "CJO_CRM_METHOD":
        assert method == run.env["CJO_CRM_METHOD"]
    elif name == "CJO_CRM_BODY":
        assert json.loads(body) == {"status": "hot", "source": f"cjo:{run.journey}"}
    elif name == "CJO_CRM_TOKEN_FILE":
        assert headers.get("Authorization") == f"Bearer {run.token}"  # as the comment says
    else:
        pytest.fail(f"{name}: no check for this setting")


@check(r"curl -X POST localhost:\d+/engagement ")
def _engagement(cmd: Command, fx: Callable[[str], Any]) -> None:
    need("curl", "the documented example uses it")
    broker = fx("broker")
    port = free_port()
    env = adapter_env(broker)
    a = Background(f"cjo-stream adapter --channel console --web-port {port}", env, fx("tmp_path"), "engagement")
    try:
        a.wait_for("/health 200", lambda: healthy(port), timeout=60)
        p = shell(re.sub(r"localhost:\d+", f"localhost:{port}", cmd.text) + " -s -w ' %{http_code}'")
        assert p.stdout.endswith(" 202") and json.loads(p.stdout[:-4]) == {"accepted": 1}, p.stdout
        delivery = re.search(r'"delivery_id": "([^"]+)"', cmd.text).group(1)  # type: ignore[union-attr]
        receipts = asyncio.run(read_topic(broker.bootstrap, "cjo.receipts", lambda r: delivery in ids_of(r)))
        got = [orjson.loads(r.value) for r in receipts if orjson.loads(r.value)["delivery_id"] == delivery]
        assert got and got[-1]["status"] == "opened"
        assert a.stop() == 0
    finally:
        a.kill()


def _in_a_copy(cmd: Command, fx: Callable[[str], Any], outputs: list[str]) -> None:
    """A generator script rewrites files in deploy/: run it as typed in a copy of the repository's
    deploy/ and require the committed files to be exactly what it writes (and nothing else changed)."""
    copy = fx("tmp_path") / "repo"
    shutil.copytree(ROOT / "deploy", copy / "deploy")
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    p = shell(cmd.text, cwd=copy)
    assert p.returncode == 0, p.stderr
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    changed = sorted(str(k) for k in after if before.get(k) != after[k])
    assert not changed, f"`{cmd.text}` changed {changed}: regenerate and commit them"
    for out in outputs:
        assert (copy / out).exists(), out


@check(r"python deploy/prometheus/gen_rules_test\.py$")
def _gen_rules_test(cmd: Command, fx: Callable[[str], Any]) -> None:
    _in_a_copy(cmd, fx, ["deploy/prometheus/rules.test.yml"])


@check(r"python deploy/k8s/gen\.py$")
def _gen_k8s(cmd: Command, fx: Callable[[str], Any]) -> None:
    _in_a_copy(cmd, fx, ["deploy/k8s/prometheusrule.yaml", "deploy/k8s/grafana-dashboard.yaml"])


@check(r"\(?(cd \S+ && )?promtool ")
def _promtool(cmd: Command, fx: Callable[[str], Any]) -> None:
    need("promtool", "Debian's prometheus package, installed by `make setup`")
    p = shell(cmd.text, cwd=ROOT / cmd.cwd)
    assert p.returncode == 0 and "SUCCESS" in p.stdout + p.stderr, p.stdout + p.stderr


@check(r"cd \S+$")
def _cd(cmd: Command, fx: Callable[[str], Any]) -> None:
    assert (ROOT / cmd.cwd / cmd.text.split()[1]).is_dir(), f"{cmd.text}: no such directory"


COMPOSE_NAMES = {"Kafka": "kafka", "worker": "worker", "adapters": "adapter-", "Mailpit": "mailpit",
                 "webhook sink": "webhook", "Prometheus": "prometheus", "Grafana": "grafana"}


@check(r"docker ")
def _docker(cmd: Command, fx: Callable[[str], Any]) -> None:
    words = shlex.split(cmd.text)
    checked: list[str] = []
    if words[1] == "build":
        dockerfile = ROOT / words[words.index("-f") + 1]
        assert dockerfile.is_file() and words[-1] == "."
        assert re.search(r"^FROM ", dockerfile.read_text(), re.M)
        checked.append(f"{dockerfile.relative_to(ROOT)} exists and has a FROM")
    else:
        compose = ROOT / cmd.cwd / "docker-compose.yml"
        services = yaml.safe_load(compose.read_text())["services"]
        for word, name in COMPOSE_NAMES.items():  # what the comment promises is in the file
            if word in cmd.comment:
                assert any(s.startswith(name) for s in services), f"{word}: no {name}* service"
        for w in words[3:]:
            if not w.startswith("-"):
                assert w in services, f"no service {w!r} in {compose}"
        checked.append(f"{compose.relative_to(ROOT)} has the services named (see also tests/deploy/test_compose.py)")
    not_run(cmd, _why_no_docker(), "; ".join(checked))


def _why_no_docker() -> str:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on this machine"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        return "no Docker daemon running on this machine"
    return "the test machines reach no container registry to pull the base images from"


def _k8s_refs() -> tuple[set[tuple[str, str]], set[str]]:
    """(secret name, key) pairs and config-map names the Kubernetes manifests use."""
    text = "\n".join(p.read_text() for p in (ROOT / "deploy" / "k8s").glob("*.yaml"))
    secrets = set(re.findall(r"secretKeyRef: \{name: ([\w-]+), key: ([\w-]+)\}", text))
    secrets |= set(re.findall(r"secretKeyRef:\s*\n\s*name: ([\w-]+)\s*\n\s*key: ([\w-]+)", text))
    secrets |= {(name, "*") for name in re.findall(r"secretName: ([\w-]+)", text)}  # mounted whole
    maps = set(re.findall(r"configMap:\s*\n\s*name: ([\w-]+)", text))
    return secrets, maps


@check(r"kubectl ")
def _kubectl(cmd: Command, fx: Callable[[str], Any]) -> None:
    create = cmd.text.split(" | ")[0]
    words = shlex.split(create)
    secrets, maps = _k8s_refs()
    assert words[:4] == ["kubectl", "-n", "cjo", "create"], create  # the namespace of deploy/k8s
    kind = words[4]
    name = words[5] if kind == "configmap" else words[6]  # `create secret generic NAME`
    checked = []
    if kind == "secret":
        keys = [w.split("=", 1)[1].split("=")[0] for w in words if w.startswith("--from-")]
        for key in keys:
            assert (name, key) in secrets or (name, "*") in secrets, f"manifests use no secret {name}/{key}"
        checked.append(f"deploy/k8s uses secret {name} with keys {keys}")
    else:
        assert name in maps, f"no manifest mounts config map {name}"
        checked.append(f"deploy/k8s mounts config map {name}")
    if shutil.which("kubectl"):
        tmp = fx("tmp_path")  # the files the command reads, made up, in a directory of its own
        for w in words:
            m = re.match(r"--from-file=(?:[\w.-]+=)?(\./[\w./-]+)$", w)
            if m:
                (tmp / m.group(1)).write_text("example\n")
        cwd = ROOT if "topologies" in create else tmp
        dry = create if "--dry-run" in create else f"{create} --dry-run=client -o yaml"
        p = shell(dry, cwd=cwd)
        assert p.returncode == 0, p.stderr
        obj = yaml.safe_load(p.stdout)
        assert obj["metadata"]["name"] == name and obj["metadata"]["namespace"] == "cjo"
        if kind == "configmap":
            src = ROOT / next(w.split("=", 1)[1] for w in words if w.startswith("--from-file="))
            files = [p.name for p in src.glob("*.yaml")] if src.is_dir() else [src.name]
            assert sorted(obj["data"]) == sorted(files)
        checked.append(f"`{dry}` makes the {kind} offline")
    not_run(cmd, "needs a Kubernetes cluster (none here)", "; ".join(checked))


# ------------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("cmd", COMMANDS, ids=[f"{c.doc}:{c.line}" for c in COMMANDS])
def test_documented_command(cmd: Command, request: pytest.FixtureRequest) -> None:
    fn = find_check(cmd)
    if fn is None:
        pytest.fail(f"{cmd}\nhas no check: add one to tests/test_documented_commands.py (CHECKS) saying how "
                    "its documented effect is verified, or how it is treated if it cannot run here")
    fn(cmd, request.getfixturevalue)


def test_make_targets_the_readme_names() -> None:
    """`make simulate`, `make validate` (prose in the README, not a block) work as the README says."""
    p = shell("make simulate", timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    commands = [orjson.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert commands and re.search(rf"^{len(commands)} delivery commands, ", p.stderr, re.M), p.stderr[-1000:]
    p = shell("make validate", timeout=180)
    assert p.returncode == 0 and "ok  welcome v1" in p.stdout, p.stderr[-3000:]


def test_schemas_regenerates_byte_identical_files(tmp_path: Path) -> None:
    """`make schemas` is `cjo-stream schemas --out schemas`: into a temporary directory here."""
    assert "cjo-stream schemas --out schemas" in shell("make -n schemas").stdout
    p = shell(f"cjo-stream schemas --out {tmp_path}")
    assert p.returncode == 0, p.stderr
    made = sorted(tmp_path.glob("*.json"))
    assert [m.name for m in made] == sorted(m.name for m in (ROOT / "schemas").glob("*.schema.json"))
    for m in made:
        assert m.read_bytes() == (ROOT / "schemas" / m.name).read_bytes(), f"{m.name}: run `make schemas`"


def test_the_commands_are_found() -> None:
    """The extraction sees the blocks: the README's own examples, indented blocks, continuations."""
    texts = [c.text for c in COMMANDS]
    assert any(t.startswith("cjo-stream simulate --topologies topologies") for t in texts)
    assert any(c.doc == "docs/operations.md" and c.text.startswith("kubectl -n cjo create secret") for c in COMMANDS)
    curl = next(c for c in COMMANDS if c.text.startswith("curl ") and "/engagement" in c.text)
    assert curl.text.endswith("'") and "-d '{" in curl.text  # the continuation line is joined
    assert next(c for c in COMMANDS if c.text.startswith("docker compose up")).cwd == "deploy/compose"
    assert len(COMMANDS) >= 25


def test_the_environment_is_activated_before_the_first_command_that_needs_it() -> None:
    """A new user types the commands into a shell without .venv/bin on PATH: the docs must tell them to
    activate it before the first ``cjo-stream`` or ``python`` command (the README named none: `command not found`)."""
    needs = [i for i, c in enumerate(COMMANDS) if re.match(r"\(?(cjo-stream|python)\b", c.text)]
    activate = [i for i, c in enumerate(COMMANDS) if c.text == "source .venv/bin/activate"]
    assert needs and activate, "no `source .venv/bin/activate` among the documented commands"
    assert activate[0] < needs[0], f"{COMMANDS[needs[0]]} comes before {COMMANDS[activate[0]]}"


def test_a_command_without_a_check_fails(tmp_path: Path) -> None:
    doc = tmp_path / "new.md"
    doc.write_text("Try:\n\n```sh\ncjo-stream rewind --from yesterday   # a new verb\n```\n")
    [new] = extract([doc], tmp_path)
    assert new.text == "cjo-stream rewind --from yesterday" and new.comment == "a new verb"
    assert find_check(new) is None  # so test_documented_command fails for it


def test_fill_refuses_a_placeholder_left_over() -> None:
    with pytest.raises(AssertionError, match="no value for the placeholder"):
        fill("cjo-stream produce --events FILE.jsonl")
    with pytest.raises(AssertionError, match="not among the documented"):
        fill("cjo-stream worker --store rocksdb|memory", {"--store": "disk"})
    assert fill("cjo-stream broker [--port 9092]", {"--port": "1234"}) == "cjo-stream broker --port 1234"

