"""``cjo-stream adapter`` as a real process: configuration errors, console delivery, /health, clean SIGTERM,
a restart after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from cjo_stream.adapters.runner import group_id
from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import free_port
from cjo_stream.kafka.memberships import Memberships
from cjo_stream.scratch import make
from tests.adapters.conftest import command, env_without_cjo, produce_commands, read_topic
from tests.runtime.conftest import GroupWatch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cjo_stream.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **kw)


def test_missing_configuration_is_reported_before_connecting() -> None:
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", "CJO_SMTP_PASSWORD": "hunter2",
           "CJO_SMTP_USERNAME": "mailer"}
    p = run_cli("adapter", "--channel", "email", env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert "CJO_EMAIL_FROM is not set" in err and "hunter2" not in err + out


def test_a_state_dir_that_is_a_file_is_refused_before_connecting(tmp_path: Path) -> None:
    """It ran with a NotADirectoryError traceback at each partition assignment and no local sent-record."""
    (tmp_path / "afile").write_text("")
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", "CJO_ADAPTER_STATE_DIR": str(tmp_path / "afile")}
    p = run_cli("adapter", "--channel", "console", "--web-port", "-1", env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3, err
    assert err.strip().splitlines()[-1] == (f"error: cannot create the adapter's state directory {tmp_path}/afile/"
                                            "cjo-console (CJO_ADAPTER_STATE_DIR): not a directory")
    assert "Traceback" not in err


def test_a_state_dir_another_live_adapter_holds_is_refused_before_anything_is_opened(settings: Settings,
                                                                                       tmp_path: Path) -> None:
    """Two replicas given one CJO_ADAPTER_STATE_DIR (a walkthrough): the second only warned, then wiped the live
    first one's consent-withdrawal table (made afresh at each start) and, as it stopped, removed it."""
    mine = tmp_path / "cjo-console"
    (mine / "withheld-0").mkdir(parents=True)
    (mine / "withheld-0" / "CURRENT").write_text("the live adapter's\n")
    live = Memberships(str(mine))  # the other process: this test's, holding the directory's lock
    assert live.claim()
    try:
        env = {**env_without_cjo(), "CJO_BROKER": settings.bootstrap, "CJO_ADAPTER_STATE_DIR": str(tmp_path)}
        p = run_cli("adapter", "--channel", "console", "--web-port", "-1", env=env)
        try:
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:  # (before: it ran on, beside the live one)
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    finally:
        live.release()
    assert p.returncode == 2, err
    assert err.strip().splitlines()[-1] == (f"error: the adapter's state directory {mine} (CJO_ADAPTER_STATE_DIR) is "
                                            f"in use by another live process (pid {os.getpid()}): give each adapter "
                                            "process its own directory")
    assert "Traceback" not in err
    assert (mine / "withheld-0" / "CURRENT").read_text() == "the live adapter's\n"


async def test_console_adapter_process(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    env = {**env_without_cjo(), "CJO_BROKER": settings.bootstrap, "CJO_PARTITIONS": "2",
           "CJO_ADAPTER_SESSION_TIMEOUT": "1s", "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)}
    left = make("cjo-sent-")  # what an adapter killed before a clean stop left behind (its lock: released)
    assert left.fd is not None
    os.close(left.fd)
    cmds = [command(channel="email", to="ada@example.com", content={"subject": "Lamp is waiting"}),
            command(channel="sms", to="+15550001111", content={"body": "Your code"})]
    await produce_commands(settings, cmds[:1])
    await produce_commands(settings, cmds[1:])
    p = run_cli("adapter", "--channel", "console", "--web-port", str(port), env=env)
    try:
        receipts = await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 2, timeout=60)
        assert sorted(msgspec.json.decode(r.value)["status"] for r in receipts) == ["sent", "sent"]
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert health["status"] == "ok" and health["adapter"] == "console" and health["outcomes"]["sent"] == 2
        assert health["sent_ids"] >= 2  # RocksDB's estimate: an id read back after recording it may count twice
        assert "cjo.delivery.email" in health["topics"] and "cjo.delivery.sms" in health["topics"]
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    assert p.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and any("Lamp is waiting" in line for line in lines)
    assert not any("ada@example.com" in line or "+15550001111" in line for line in lines)  # no addresses
    assert "ada@example.com" not in err
    assert "removed 1 temporary directory of adapters that are gone" in err
    assert os.listdir(tmp_path) == []  # that one at start, its own at the clean stop


async def test_console_adapter_restarted_after_sigkill_replaces_its_dead_member(settings: Settings,
                                                                               tmp_path: Path) -> None:
    env = {**env_without_cjo(), "CJO_BROKER": settings.bootstrap, "CJO_PARTITIONS": "2",
           "CJO_ADAPTER_SESSION_TIMEOUT": "3s", "CJO_ADAPTER_STATE_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    cmds = [command(channel="email", to="ada@example.com"), command(channel="sms", to="+15550001111")]
    group = group_id("console")

    def receipts_for(n: int) -> Any:
        return read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= n, timeout=60)

    await produce_commands(settings, cmds[:1])
    p = run_cli("adapter", "--channel", "console", "--web-port=-1", env=env)
    try:
        assert len(await receipts_for(1)) == 1
        async with GroupWatch(settings.bootstrap, [group]) as watch:
            dead = watch.seen[group][-1]
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
            await produce_commands(settings, cmds[1:])
            p = run_cli("adapter", "--channel", "console", "--web-port=-1", env=env)
            receipts = await receipts_for(2)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    # the restarted adapter removed its dead run's member from the group before joining it: never both
    assert len(dead) == 1 and watch.replaced(group, dead), watch.seen[group]
    assert sorted(msgspec.json.decode(r.value)["delivery_id"] for r in receipts) == sorted(c.delivery_id for c in cmds)
    assert len(out.splitlines()) == 1, out  # the second run delivered only the new command


def test_web_port_0_banner_names_no_port_0() -> None:
    """`--web-port 0` (any free port, docs/adapters.md) printed `endpoint http://127.0.0.1:0`: the port is chosen
    when the endpoint binds, after the broker answered; the banner now says so instead of naming port 0."""
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", "PYTHONUNBUFFERED": "1"}
    p = run_cli("adapter", "--channel", "console", "--web-port", "0", env=env)
    try:
        assert p.stderr is not None
        banner = p.stderr.readline().rstrip("\n")  # printed before it waits for the broker
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    assert banner == ("cjo-stream adapter console: broker 127.0.0.1:1, endpoint http://127.0.0.1 on a free port "
                      "(logged once bound: 'adapter endpoint on ...')"), banner
    assert p.returncode in (0, -signal.SIGTERM) and "Traceback" not in err, err  # SIGTERM before its handler: README


@pytest.mark.parametrize("ca_file", ["missing.pem", "garbage.pem", "."])
def test_an_smtp_ca_file_that_cannot_be_loaded_is_one_line_exit_2(tmp_path: Path, ca_file: str) -> None:
    """``CJO_SMTP_CA_FILE`` missing, not a CA bundle or a directory ended the adapter with a traceback (exit 70)."""
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", "CJO_EMAIL_FROM": "a@b.example",
           "CJO_SMTP_CA_FILE": str(tmp_path / ca_file)}
    p = run_cli("adapter", "--channel", "email", "--web-port", "-1", env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"error: CJO_SMTP_CA_FILE='{tmp_path / ca_file}': "), err


def test_an_adapter_web_port_beyond_65535_is_one_line_exit_2() -> None:
    """``CJO_ADAPTER_WEB_PORT=70000`` reached ``bind()`` and ended with an OverflowError traceback (exit 70)."""
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", "CJO_ADAPTER_WEB_PORT": "70000"}
    p = run_cli("adapter", "--channel", "console", env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert err.strip().splitlines() == ["error: CJO_ADAPTER_WEB_PORT=70000 must be at most 65535"]


def test_an_inbox_topic_kafka_refuses_is_one_line_exit_2() -> None:
    """``CJO_INBOX_TOPIC=bad/name`` was taken: on Kafka the adapter failed only when it made its topics."""
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", "CJO_INBOX_TOPIC": "bad/name"}
    p = run_cli("adapter", "--channel", "in_app", "--web-port", "-1", env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert err.strip().splitlines()[-1].startswith("error: CJO_INBOX_TOPIC='bad/name': Kafka names are"), err


@pytest.mark.parametrize("topic", ["cjo.touchpoints", "cjo.delivery.in_app"])
def test_an_inbox_topic_cjo_stream_reads_is_one_line_exit_2(topic: str) -> None:
    """Taken before: the input's in-app messages were dead-lettered by the workers; ``cjo.delivery.in_app`` was the
    adapter's own input."""
    env = {**env_without_cjo(), "CJO_BROKER": "127.0.0.1:1", "CJO_INBOX_TOPIC": topic}
    p = run_cli("adapter", "--channel", "in_app", "--web-port", "-1", env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert err.strip().splitlines()[-1] == (f"error: CJO_INBOX_TOPIC={topic!r} is a topic cjo-stream reads or writes "
                                            "itself: in-app messages go to a topic of their own (default cjo.inbox), "
                                            "which apps read"), err
