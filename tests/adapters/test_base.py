"""What a channel's ``deliver`` gives back, as the runner reports it: a channel of a user's own that returns no
result, or a result with fields of the wrong type, neither stops the adapter nor loses a receipt."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cjo_stream.adapters.base import BaseChannel, DeliveryResult, PermanentError, attempt, checked
from cjo_stream.adapters.retry import RetryPolicy
from cjo_stream.adapters.runner import AdapterRunner
from cjo_stream.commands import DeliveryCommand
from cjo_stream.config import Settings
from cjo_stream.receipts import receipt_record_event
from tests.adapters.conftest import command, produce_commands, read_topic, run_until

CHANNEL = "myco_whatsapp"
UNTYPED: Any = DeliveryResult  # as a channel of a user's own, unchecked by mypy, may call it


class Returns(BaseChannel):
    """Returns what it is given for each customer, counting the calls (each one a message the provider got)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: dict[str, int] = {}

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        self.calls[cmd.customer_id] = self.calls.get(cmd.customer_id, 0) + 1
        answer: DeliveryResult = self.answers[cmd.customer_id]
        return answer


class Raises(BaseChannel):
    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        fields: dict[str, str] = {}
        return DeliveryResult.sent(fields["message_id"])  # a KeyError raised on this line


@pytest.mark.parametrize("answer, reason", [
    (None, "deliver() returned None, not DeliveryResult.sent/transient/permanent"),
    ("wamid.1", "deliver() returned str, not DeliveryResult.sent/transient/permanent"),
    (UNTYPED("ok"), "deliver() returned a DeliveryResult with outcome 'ok', not "
                           "DeliveryResult.sent/transient/permanent"),
])
async def test_a_deliver_that_returns_no_result_fails_without_a_retry(answer: Any, reason: str) -> None:
    result = await attempt(Returns({"u1": answer}), command(channel=CHANNEL))
    assert (result.outcome, result.reason, result.status) == ("permanent", reason, "failed")


@pytest.mark.parametrize("given, kept", [(12345, "12345"), ("wamid.1", "wamid.1"), (True, None), (1.5, None),
                                         ({"id": "x"}, None), ("", None), ("x" * 201, None)])
async def test_a_provider_message_id_is_text_or_none(given: Any, kept: str | None) -> None:
    result = await attempt(Returns({"u1": DeliveryResult.sent(given)}), command(channel=CHANNEL))
    assert (result.outcome, result.provider_message_id) == ("sent", kept)


def test_fields_of_the_wrong_type_are_mended() -> None:
    bad = UNTYPED("transient", reason=429, retry_after="soon", status="nope", response="OK")
    assert checked(bad) == DeliveryResult("transient", reason="429")
    assert checked(PermanentError(404).result()).reason == "404"  # type: ignore[arg-type]
    good = DeliveryResult.sent("p-1", response={"status": 200})
    assert checked(good) is good


async def test_an_exception_says_where_it_was_raised() -> None:
    result = await attempt(Raises(), command(channel=CHANNEL))
    assert result.outcome == "transient"
    assert result.reason is not None and result.reason.startswith("unexpected KeyError at test_base.py:")
    assert "message_id" not in result.reason  # the exception's text is never in it: it may be a customer's


async def test_the_runner_carries_on_and_every_receipt_is_one_the_workers_read(settings: Settings) -> None:
    """Before, ``None`` (a ``deliver`` without ``return``) stopped the adapter with a traceback; restarted,
    it called the provider again and stopped again. A number as the message id made a receipt the workers
    refused (``bad_receipt``), so the journey never saw ``message_sent``."""
    none, numbered, fine = (command(channel=CHANNEL, customer_id=c) for c in ("u-none", "u-num", "u-ok"))
    channel = Returns({"u-none": None, "u-num": UNTYPED.sent(12345), "u-ok": DeliveryResult.sent("w-1")})
    await produce_commands(settings, [none, numbered, fine])
    runner = AdapterRunner(settings, channel, name=CHANNEL, session_timeout_ms=1000,
                           retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, budget=30))
    await run_until(runner, lambda: runner.outcomes["sent"] + runner.outcomes["failed"] >= 3)
    assert channel.calls == {"u-none": 1, "u-num": 1, "u-ok": 1}  # no retry of a call that ended normally

    records = await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 3)
    events = [msgspec.json.decode(receipt_record_event(r.value)) for r in records]  # none is a bad_receipt
    got = {e["userId"]: (e["event"], e["properties"].get("provider_message_id")) for e in events}
    assert got == {"u-none": ("message_failed", None), "u-num": ("message_sent", "12345"),
                   "u-ok": ("message_sent", "w-1")}
    dlq = await read_topic(settings.bootstrap, f"{settings.delivery_topic(CHANNEL)}.dlq", lambda r: len(r) >= 1)
    assert [dict(r.headers)["cjo.reason"] for r in dlq] == [b"permanent_failure"]  # re-driven once the class is fixed
