"""Commands held back at delivery: consent withdrawn or the customer erased after the command was decided."""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import msgspec
from aiokafka.admin import AIOKafkaAdminClient

from cjo_stream.adapters.crm import CrmChannel, CrmConfig
from cjo_stream.adapters.email import EmailChannel
from cjo_stream.adapters.withheld import BOUNCED, ERASED, WITHDRAWN, Withheld
from cjo_stream.commands import ConsentChange, address_digest
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from tests.adapters.conftest import SmtpServer, command, produce, produce_commands, read_topic, run_until
from tests.adapters.test_email import email_cfg
from tests.adapters.test_runner import make_runner


def change(cid: str, withdrawn: list[str] | None = None, erased: bool = False,
           bounced: list[str] | None = None) -> bytes:
    return msgspec.json.encode(ConsentChange(customer_id=cid, at=format_ts(0), withdrawn=withdrawn or [],
                                             erased=erased, bounced=bounced or []))


def rec(value: bytes, ms: int) -> SimpleNamespace:
    return SimpleNamespace(value=value, timestamp=ms)


def test_the_latest_change_decides_and_an_erasure_holds_back_only_what_was_written_before_it() -> None:
    w = Withheld(Settings(), keep=None)
    w.apply([rec(change("a", ["email", "sms"]), 1_000), rec(change("b", ["all", "email"]), 1_000),
             rec(change("c", ["email"]), 1_000), rec(change("c"), 2_000),  # given back
             rec(change("d", ["email"]), 1_000), rec(change("d", erased=True), 5_000),
             rec(b"{not json", 5_000)])
    email, push = command(customer_id="a", channel="email"), command(customer_id="a", channel="push")
    assert w.why(email, 900) == WITHDRAWN  # decided before the withdrawal
    assert w.why(email, 9_000) == WITHDRAWN  # re-driven later: still withdrawn
    assert w.why(push, 900) is None  # another channel
    assert w.why(command(customer_id="c", channel="email"), 900) is None
    assert w.why(command(customer_id="d", channel="email"), 5_000) == ERASED
    assert w.why(command(customer_id="d", channel="email"), 5_001) is None  # a new profile under the id
    assert w.why(command(customer_id="nobody", channel="email"), 0) is None
    # a transactional message (a password reset: asked for) is not held back by consent, but by an erasure
    assert w.why(command(customer_id="a", channel="email", transactional=True), 900) is None
    assert w.why(command(customer_id="d", channel="email", transactional=True), 5_000) == ERASED
    assert w.unreadable == 1
    w.prune(1.5)  # entries written before 1.5 s go: c's and d's later ones stay
    assert set(w.withdrawn) == set() and set(w.erased) == {"d"}


def _tracked_growth(w: Withheld, n: int) -> int:
    """Objects the collector tracks gained by folding in ``n`` customers' unsubscribes from e-mail and SMS."""
    records = [rec(change(f"c{i}", ["email", "sms"] if i % 2 else ["push"]), 1_000) for i in range(n)]
    # a first record opens the table (RocksDB's module and its ~600 objects, imported once per process: run
    # first in a process, the test counted them); a withdrawal of push, which neither adapter here delivers
    w.apply([rec(change("warm-up", ["push"]), 1_000)])
    gc.collect()
    before = len(gc.get_objects())
    w.apply(records)
    gc.collect()
    after = len(gc.get_objects())
    assert len(records) == n  # (still held while counting: only what the table keeps is counted)
    return after - before


def test_an_adapter_keeps_withdrawals_only_of_its_own_channels_and_shares_their_sets() -> None:
    # the crm and slack adapters kept every unsubscribe (a tuple and a frozenset each) for the days their
    # sent-record keeps ids, though no withdrawal ever names an internal channel: +600 objects every 30 s
    # at the deployment bench's load (docs/benchmarks.md, twenty-sixth session)
    crm = Withheld(Settings(), keep=None, channels=["crm"])
    assert _tracked_growth(crm, 2_000) < 50 and not crm.withdrawn
    assert crm.why(command(customer_id="c1", channel="crm"), 0) is None
    email = Withheld(Settings(), keep=None, channels=["email"])
    assert _tracked_growth(email, 2_000) < 1_000 + 50  # a tuple for each of the 1,000 who left e-mail, one set
    assert len(email.withdrawn) == 1_000 and len({id(v[0]) for v in email.withdrawn.values()}) == 1
    assert email.why(command(customer_id="c1", channel="email"), 0) == WITHDRAWN
    assert email.why(command(customer_id="c2", channel="email"), 0) is None  # push only: not kept here
    assert crm.channels == frozenset({"crm"})  # (what the runner gives: the channels of its topics)


async def test_twenty_thousand_withdrawals_are_kept_on_disk_not_in_python_objects(tmp_path: Path) -> None:
    # the e-mail, SMS, push and in-app adapters held every unsubscribe and erasure of their sent-record's
    # retention (e-mail: 4 days) in two dicts: a tuple and a float for each, millions of them at scale
    w = Withheld(Settings(store="rocksdb"), keep=None, channels=["email"], state_dir=str(tmp_path))
    n = 20_000
    records = [rec(change(f"c{i}", ["email"]) if i % 4 else change(f"c{i}", erased=True), 1_000 + i)
               for i in range(n)]
    w.apply(records[:100])  # (the store opened: its objects are not the table's)
    gc.collect()
    objects = len(gc.get_objects())
    tracemalloc.start()
    try:
        w.apply(records[100:])
        gc.collect()
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(gc.get_objects()) - objects < 50
    assert grown < 100_000  # bytes held by Python objects; two dicts of 20,000 entries: over 2 MB
    assert (len(w.withdrawn), len(w.erased)) == (n * 3 // 4, n // 4)
    assert w.why(command(customer_id="c1", channel="email"), 0) == WITHDRAWN
    assert w.why(command(customer_id="c4", channel="email"), 1_004) == ERASED
    assert w.why(command(customer_id="c4", channel="email"), 1_005) is None
    assert w.withdrawn["c1"] == (frozenset({"email"}), 1.001) and w.erased["c4"] == 1.004
    await w.close()
    assert os.listdir(tmp_path) == []  # the store is removed: the next start reads the topic into a fresh one


def test_pruning_drops_entries_past_the_retention_and_their_keys() -> None:
    now = [100.0]
    w = Withheld(Settings(store="rocksdb"), keep=10.0, clock=lambda: now[0], channels=["email"])
    w.apply([rec(change("early", ["email"]), 85_000),  # already past the retention: held back by nothing
             rec(change("kept", ["email"]), 95_000), rec(change("gone", erased=True), 95_000)])
    assert set(w.withdrawn) == {"kept"} and set(w.erased) == {"gone"}
    assert w.why(command(customer_id="early", channel="email"), 0) is None
    now[0] = 100.5
    w.apply([rec(change("mid", ["email"]), 150_000), rec(change("late", ["email"]), 199_000)])  # (not pruned:
    now[0] = 200.0  # at most once a minute)
    w.apply([rec(change("later", ["email"]), 199_500)])  # prunes what was written before 190 s
    assert (set(w.withdrawn), set(w.erased)) == ({"late", "later"}, set())
    assert (len(w.withdrawn), len(w.erased)) == (2, 0)
    w.prune(199.2)  # (late's time is indexed again, apart from mid's, by the prune before)
    assert set(w.withdrawn) == {"later"}
    w.prune(200.0)
    assert not w.withdrawn and w._kv is not None and list(w._kv.items()) == []  # the time index too


def test_the_latest_erasure_is_kept_whatever_order_its_records_come_in() -> None:
    # (an erasure later than every one read before is written without reading the customer's earlier one)
    w = Withheld(Settings(store="rocksdb"), keep=None)
    w.apply([rec(change("a", erased=True), 5_000), rec(change("b", erased=True), 9_000)])
    w.apply([rec(change("a", erased=True), 3_000), rec(change("c", erased=True), 4_000)])  # another worker's clock
    w.apply([rec(change("b", erased=True), 9_500)])
    assert dict(w.erased) == {"a": 5.0, "b": 9.5, "c": 4.0}


def test_the_memory_store_answers_the_same() -> None:
    w = Withheld(Settings(store="memory"), keep=None)
    w.apply([rec(change("a", ["email", "sms"]), 1_000), rec(change("d", erased=True), 5_000)])
    assert w.why(command(customer_id="a", channel="sms"), 0) == WITHDRAWN
    assert w.why(command(customer_id="d", channel="email"), 5_000) == ERASED
    assert w.why(command(customer_id="d", channel="email"), 5_001) is None


async def test_the_withheld_benchmark_reads_the_changes_it_wrote(settings: Settings) -> None:
    # python -m cjo_stream.bench.withheld (docs/benchmarks.md), briefly: its figures come from a real start()
    from cjo_stream.bench.withheld import run

    r = await run(settings.bootstrap, 200, 4)
    assert r["records"] == r["read"] == 200 and r["start_s"] > 0 and r["why_withdrawn_us"] > 0 and r["why_absent_us"] > 0


async def test_the_runner_gives_its_withheld_table_the_channels_it_consumes(settings: Settings) -> None:
    runner = make_runner(settings, CrmChannel(CrmConfig(url="http://127.0.0.1:9/crm/{customer_id}")))
    assert runner.withheld.channels == frozenset({"crm"})


async def test_a_lagging_adapter_holds_back_mail_to_customers_who_unsubscribed_or_were_erased(
        settings: Settings, smtp: SmtpServer) -> None:
    to = {c: f"{c}@shop.example" for c in ("left", "stays", "sms_only", "erased", "again")}
    cmds = {c: command(customer_id=c, channel="email", to=to[c]) for c in to}
    del cmds["again"]
    await produce_commands(settings, list(cmds.values()))
    await asyncio.sleep(0.01)
    topic = settings.consent_changes_topic
    await produce(settings.bootstrap, topic, [(b"left", change("left", ["email", "push"])),
                                              (b"sms_only", change("sms_only", ["sms"])),
                                              (b"erased", change("erased", erased=True)),
                                              (b"again", change("again", erased=True))])
    await asyncio.sleep(0.01)
    later = command(customer_id="again", channel="email", to=to["again"])  # a new profile after the erasure
    await produce_commands(settings, [later])
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)))
    await run_until(runner, lambda: runner.outcomes["sent"] >= 3 and runner.outcomes["withheld"] >= 2)
    assert sorted(rcpt for _, rcpts, _ in smtp.mailbox.messages for rcpt in rcpts) == \
        sorted([to["stays"], to["sms_only"], to["again"]])
    skipped = await read_topic(settings.bootstrap, settings.skipped_topic, lambda r: len(r) >= 2, settle=0.3)
    got = {(s["customer_id"], s["reason"], s["detail"], s["delivery_id"])
           for s in (msgspec.json.decode(r.value) for r in skipped)}
    assert got == {("left", "no_consent", WITHDRAWN, cmds["left"].delivery_id),
                   ("erased", "no_consent", ERASED, cmds["erased"].delivery_id)}
    receipts = await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 3, settle=0.3)
    assert {msgspec.json.decode(r.value)["customer_id"] for r in receipts} == {"stays", "sms_only", "again"}


async def test_a_change_written_while_the_adapter_runs_holds_back_what_it_reads_next(
        settings: Settings, smtp: SmtpServer) -> None:
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)))
    first = command(customer_id="u1", channel="email", to="u1@shop.example")
    await produce_commands(settings, [first])
    task = asyncio.create_task(run_until(runner, lambda: runner.outcomes["withheld"] >= 1, timeout=40))
    for _ in range(400):
        if runner.outcomes["sent"]:
            break
        await asyncio.sleep(0.05)
    assert runner.outcomes["sent"] == 1
    await produce(settings.bootstrap, settings.consent_changes_topic, [(b"u1", change("u1", ["email"]))])
    for _ in range(100):
        if "u1" in runner.withheld.withdrawn:
            break
        await asyncio.sleep(0.05)
    # a command still on the topic from before the unsubscribe (re-driven, or behind a backlog)
    await produce_commands(settings, [command(customer_id="u1", channel="email", to="u1@shop.example")])
    await task
    assert len(smtp.mailbox.messages) == 1


async def test_a_deleted_consent_changes_topic_stops_the_adapter_for_its_supervisor(
        settings: Settings, smtp: SmtpServer) -> None:
    """Deleted under a running adapter and made again (a worker's next withdrawal), the topic's first records
    would lie below the reader's old positions and be skipped: withdrawals unapplied, and nothing said. The
    adapter stops as for its own topics (exit 70, one line), and its next start reads the topic from its start."""
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)))
    task = asyncio.create_task(run_until(runner, lambda: runner.lost is not None, timeout=60))
    for _ in range(400):
        if runner.ready.is_set():
            break
        await asyncio.sleep(0.05)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([settings.consent_changes_topic])
    finally:
        await admin.close()
    await task
    assert runner.lost is not None and runner.lost.startswith("topic cjo.consent-changes no longer exists")


def test_a_topic_withdrawn_holds_back_that_topics_commands_on_every_adapter() -> None:
    """The e-mail adapter holds back the newsletter (not the order update) after an unsubscribe from the topic; an
    adapter keeps withdrawals of its own channels only, but every topic (it cannot tell which its sends carry)."""
    email, sms = (Withheld(Settings(store="rocksdb"), keep=None, channels=[ch]) for ch in ("email", "sms"))
    value = msgspec.json.encode(ConsentChange(customer_id="a", at=format_ts(0), withdrawn=["push"],
                                              topics=["newsletter"]))
    for w in (email, sms):
        w.apply([rec(value, 1_000)])
    assert email.why(command(customer_id="a", channel="email", topic="newsletter"), 900) == WITHDRAWN
    assert email.why(command(customer_id="a", channel="email"), 900) is None
    assert email.why(command(customer_id="a", channel="email", topic="offers"), 900) is None
    assert sms.why(command(customer_id="a", channel="sms", topic="newsletter"), 900) == WITHDRAWN
    assert email.withdrawn["a"][0] == frozenset({"#newsletter"})  # push is not this adapter's


def test_a_command_to_an_address_that_bounced_since_is_held_back() -> None:
    """A backlog to a dead mailbox would bounce once more per command (what providers count against the sender):
    the worker lists the addresses that hard-bounced, by digest, and the adapter holds back a command to one,
    a transactional one too; another address of the customer goes, and a later record without it (the customer's
    ``bounce_cleared``) lets it go again."""
    dead = f"email:{address_digest('ann@example.com')}"
    email, sms = (Withheld(Settings(store="rocksdb"), keep=None, channels=[ch]) for ch in ("email", "sms"))
    for w in (email, sms):
        w.apply([rec(change("a", ["push"], bounced=[dead, f"sms:{address_digest('+49151')}"]), 1_000),
                 rec(change("b", ["email"], bounced=[dead]), 1_000)])
    assert email.why(command(customer_id="a", channel="email", to=" Ann@Example.com"), 900) == BOUNCED
    assert email.why(command(customer_id="a", channel="email", to="ann@example.com", transactional=True),
                     900) == BOUNCED
    assert email.why(command(customer_id="a", channel="email", to="ann@new.example"), 900) is None
    assert sms.why(command(customer_id="a", channel="sms", to="+49151"), 900) == BOUNCED
    assert sms.why(command(customer_id="a", channel="sms", to="+49152"), 900) is None
    assert email.withdrawn["a"][0] == frozenset()  # push is not this adapter's; the bounce is no channel
    assert email.why(command(customer_id="b", channel="email", to="other@example.com"), 900) == WITHDRAWN
    email.apply([rec(change("a", ["push"]), 2_000)])  # cleared
    assert email.why(command(customer_id="a", channel="email", to="ann@example.com"), 900) is None
    assert "a" not in email.withdrawn


async def test_a_lagging_adapter_skips_mail_to_an_address_that_bounced_since(
        settings: Settings, smtp: SmtpServer) -> None:
    cmds = [command(customer_id="ann", channel="email", to=to) for to in ("ann@example.com", "ann@new.example")]
    await produce_commands(settings, cmds)
    await asyncio.sleep(0.01)
    await produce(settings.bootstrap, settings.consent_changes_topic,
                  [(b"ann", change("ann", bounced=[f"email:{address_digest('ann@example.com')}"]))])
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)))
    await run_until(runner, lambda: runner.outcomes["sent"] >= 1 and runner.outcomes["withheld"] >= 1)
    assert [rcpt for _, rcpts, _ in smtp.mailbox.messages for rcpt in rcpts] == ["ann@new.example"]
    skipped = await read_topic(settings.bootstrap, settings.skipped_topic, lambda r: len(r) >= 1, settle=0.3)
    assert [(s["reason"], s["detail"], s["delivery_id"]) for s in (msgspec.json.decode(r.value) for r in skipped)] \
        == [("undeliverable", BOUNCED, cmds[0].delivery_id)]
