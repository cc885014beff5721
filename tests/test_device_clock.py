"""A device's clock, corrected as Segment's servers do: a record with ``sentAt`` (the device's clock when its batch
left) and ``receivedAt`` (the collector's when it came) and no ``originalTimestamp`` is decided at
``timestamp + (receivedAt - sentAt)``. A phone whose clock is a day behind otherwise sets a wait whose timeout is
already due, and the journey reminds at once, before the app's next event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from cjo_stream.events import InvalidEvent, decode_event, format_ts, parse_ts
from tests.engine.test_overtaken_offline import topology

DAY = 86_400.0
T = parse_ts("2026-03-02T10:00:00.300Z")


def record(at: float, sent: Any = ..., received: Any = ..., original: Any = ..., **more: Any) -> dict[str, Any]:
    """A mobile SDK's track call stamped ``at`` by the device, with the times given (``...``: absent)."""
    out: dict[str, Any] = {"messageId": "m-1", "type": "track", "event": "cart_item_added", "userId": "u-1",
                           "timestamp": format_ts(at), **more}
    for k, v in (("sentAt", sent), ("receivedAt", received), ("originalTimestamp", original)):
        if v is not ...:
            out[k] = format_ts(v) if isinstance(v, float) else v
    return out


def decoded(rec: dict[str, Any]) -> float:
    """The decided time, the same by the checked path, the exact (trusted) path and with the members reordered."""
    raw = orjson.dumps(rec)
    times = {decode_event(raw).ts, decode_event(raw, trusted=True).ts,
             decode_event(orjson.dumps(dict(reversed(rec.items())))).ts,
             decode_event(json.dumps(rec, indent=1).encode()).ts}
    assert len(times) == 1, times
    return times.pop()


def test_a_clock_a_day_behind_is_decided_at_the_collectors_time() -> None:
    # the device stamped its event yesterday; its batch left 30 s later by its clock and came 0.2 s after that
    got = decoded(record(T - DAY, sent=T - DAY + 30, received=T + 30.2))
    assert format_ts(got) == "2026-03-02T10:00:00.500Z"


def test_a_clock_ahead_is_moved_back() -> None:
    assert format_ts(decoded(record(T + 3600, sent=T + 3605, received=T + 5))) == format_ts(T)


def test_a_right_clock_moves_by_the_transfer_only() -> None:
    """A batch sent 20 s after the event by a right clock: the event keeps its time plus the 0.1 s on the way."""
    assert format_ts(decoded(record(T, sent=T + 20, received=T + 20.1))) == "2026-03-02T10:00:00.400Z"


@pytest.mark.parametrize("rec", [
    record(T, sent=T + DAY),  # no receivedAt: nothing to correct by (analytics-python sends sentAt alone)
    record(T, received=T + DAY),  # no sentAt
    record(T, sent=T + 1, received=T + DAY, original=T - DAY),  # Segment's or RudderStack's output: corrected already
    record(T, sent=1_772_445_600, received=T + DAY),  # not times: ignored, as before they were read
    record(T, sent=T + 1, received="yesterday"),
    record(T, sent=None, received=T + DAY),
    record(T, sent={"at": "2026-03-03T10:00:00Z"}, received=T + DAY),
], ids=["sent-only", "received-only", "original", "number", "not-a-time", "null", "object"])
def test_the_timestamp_is_taken_at_its_word_without_both_times(rec: dict[str, Any]) -> None:
    assert decoded(rec) == T


def test_an_original_timestamp_of_null_is_absent() -> None:
    assert format_ts(decoded(record(T - DAY, sent=T - DAY, received=T, original=None))) == format_ts(T)


def test_a_correction_out_of_range_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidEvent) as e:
        decode_event(orjson.dumps(record(T, sent="2100-01-01T00:00:00Z", received="1970-01-02T00:00:00Z")))
    assert e.value.reason == "bad_timestamp" and "receivedAt - sentAt" in e.value.detail




def test_simulate_as_typed_waits_for_the_phone_a_day_behind(tmp_path: Path) -> None:
    """Other customers' events move the file's time on; the phone's cart, stamped a day back, is corrected to now,
    so its checkout 10 minutes later is in time for the wait, not after a timer due the day before."""
    topo = topology(tmp_path)  # quick_cart: a cart waits an hour for checkout, else a reminder

    def phone(mid: str, name: str, at: float) -> dict[str, Any]:  # its clock a day behind; 5 s in its queue
        return record(at - DAY, sent=at - DAY + 5, received=at + 5.1, messageId=mid, event=name, userId="phone")

    lines = [record(T, messageId="o1", userId="other"), phone("p1", "cart_item_added", T + 60),
             record(T + 300, messageId="o2", userId="other", event="page_viewed"),
             phone("p2", "checkout_started", T + 660),
             record(T + 7200, messageId="o3", userId="other", event="page_viewed")]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(map(orjson.dumps, lines)) + b"\n")
    got = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "simulate", "--topologies", str(topo),
                          "--events", str(events)], capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    sent = sorted((c["customer_id"], c["step"], c["decided_at"]) for c in map(json.loads, got.stdout.splitlines()))
    assert sent == [("other", "remind", format_ts(T + 3600)),
                    ("phone", "thanks", format_ts(T + 660.1))], got.stdout
