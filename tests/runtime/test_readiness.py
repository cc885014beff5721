"""A worker that sits ``starting`` says in its log what it waits for (CjoWorkerNotStarted's runbook reads the log)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cjo_stream.runtime.readiness import Progress, not_ready, tell_while_not_ready

GROUPS = ("cjo-ingest", "cjo-customers")


def test_a_worker_with_no_assignment_names_its_groups_and_the_wedged_local_broker() -> None:
    why = not_ready(Progress(tables_read=True, ingest_joined=False, assigned=False, ready=False), *GROUPS)
    assert why is not None
    assert why.startswith("stage 1 has not joined its group cjo-ingest; stage 2 has had no partitions assigned in "
                          "its group cjo-customers; a group that never assigns: ")
    assert "Quirks of the local broker" in why


def test_a_worker_restoring_says_so_without_the_group_hint() -> None:
    why = not_ready(Progress(tables_read=True, ingest_joined=True, assigned=True, ready=False), *GROUPS)
    assert why == "stage 2 is restoring its partitions from the changelogs"


def test_nothing_is_told_while_the_global_tables_are_read_or_once_nothing_is_missing() -> None:
    """The global tables have a warning of their own; a worker failing for its broker is told by BrokerWatch."""
    assert not_ready(Progress(tables_read=False, ingest_joined=False, assigned=False, ready=False), *GROUPS) is None
    assert not_ready(Progress(tables_read=True, ingest_joined=True, assigned=True, ready=True), *GROUPS) is None


async def test_the_warning_repeats_until_the_worker_is_ready(caplog: pytest.LogCaptureFixture) -> None:
    stuck = Progress(tables_read=True, ingest_joined=True, assigned=False, ready=False)
    answers: list[Progress | None] = [stuck, stuck, None]
    log = logging.getLogger("test.readiness")
    with caplog.at_level(logging.WARNING, logger="test.readiness"):
        await asyncio.wait_for(tell_while_not_ready(lambda: answers.pop(0), *GROUPS, log, patience=0.01), 10)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and not answers
    assert all(line.startswith("start: not ready after ") and "stage 2 has had no partitions assigned in its "
               "group cjo-customers" in line and line.endswith('/health answers 503 "starting" meanwhile')
               for line in lines), lines
