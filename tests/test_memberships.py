"""The member ids a process keeps in its state directory: read back only once the process that wrote
them is dead (the directory's lock), only for the groups asked about (cjo_stream/kafka/memberships.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cjo_stream.kafka.memberships import FILE, Memberships

GROUPS = ["app-customers", "app-ingest"]

CHILD = """
import sys, time
from cjo_stream.kafka.memberships import Memberships
m = Memberships(sys.argv[1])
assert m.claim()
m.remember("app-customers", "member-c1")
m.remember("app-ingest", "member-i1")
print("recorded", flush=True)
time.sleep(120)
"""


def test_only_the_ids_of_a_dead_process_are_handed_to_the_next_one(tmp_path: Path) -> None:
    d = str(tmp_path / "worker-6066")
    child = subprocess.Popen([sys.executable, "-c", CHILD, d], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "recorded"
        # a second process on the same directory while the first lives: it must not touch that one's members
        second = Memberships(d)
        assert not second.claim()
        assert second.left_behind(GROUPS) == {}
        second.remember("app-customers", "member-c2")
        assert b"member-c2" not in (tmp_path / "worker-6066" / FILE).read_bytes()
    finally:
        os.kill(child.pid, signal.SIGKILL)  # a crash: no clean-up of any kind
        child.wait(10)
    assert second.claim()  # the kernel released the dead process's lock
    assert second.left_behind(GROUPS) == {"app-customers": "member-c1", "app-ingest": "member-i1"}
    assert second.left_behind(["app-customers", "cjo-adapter-email"]) == {"app-customers": "member-c1"}
    # this run's own ids replace them for the run after it
    second.remember("app-customers", "member-c2")
    second.release()
    third = Memberships(d)
    assert third.claim() and third.left_behind(GROUPS) == {"app-customers": "member-c2"}
    third.forget()  # a clean stop: its consumers left their groups themselves
    third.release()
    fourth = Memberships(d)
    assert fourth.claim() and fourth.left_behind(GROUPS) == {}
    fourth.release()


def test_a_missing_or_torn_record_names_no_member(tmp_path: Path) -> None:
    m = Memberships(str(tmp_path))
    assert m.claim()
    assert m.left_behind(GROUPS) == {}
    (tmp_path / FILE).write_bytes(b'{"pid": 1, "members": {"app-custo')  # cut short by a crash mid-write
    assert m.left_behind(GROUPS) == {}
    (tmp_path / FILE).write_bytes(b'["not", "an", "object"]')
    assert m.left_behind(GROUPS) == {}
    m.release()
