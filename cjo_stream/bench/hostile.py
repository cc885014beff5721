"""``make bench`` section: what a hostile record costs the worker before it is dead-lettered.

Each kind of bad record the decoder refuses (README "Event model") is decoded many times and timed one
by one; the table shows p50/p99 per kind next to a good record, and the p99 over all of them mixed,
so a flood of bad records can be priced in CPU. Template bombs (a 10^9-iteration loop, 100 MB of
output) are timed the same way: they fail one send, bounded by the render limits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from cjo_stream.events import MAX_EVENT_BYTES, InvalidEvent, decode_event
from cjo_stream.journeys.templates import RenderError, Template

_BASE = {"messageId": "m-1", "type": "track", "event": "viewed", "userId": "u-1",
         "timestamp": "2026-03-02T11:00:00Z", "properties": {"sku": "A-1", "price": 19.9}, "context": {"channel": "web"}}


def _raw(**over: Any) -> bytes:
    return json.dumps({**_BASE, **over}, separators=(",", ":")).encode()


def _spliced(tail: bytes) -> bytes:
    return _raw()[:-1] + tail


def records() -> list[tuple[str, bytes]]:
    """(kind, record): a good record first, then one of each hostile kind."""
    return [
        ("good record (baseline)", _raw()),
        ("too_large (300 KiB)", _raw(properties={"s": "x" * (MAX_EVENT_BYTES + 44_000)})),
        ("too_deep (10,000 levels)", _spliced(b',"x":' + b"[" * 10_000 + b"]" * 10_000 + b"}")),
        ("too_deep (33 levels)", _spliced(b',"properties":{"a":' + b"[" * 31 + b"]" * 31 + b"}}")),
        ("bad_number (2^64)", _raw(properties={"n": 2**64})),
        ("bad_number (1e400)", _spliced(b',"properties":{"x":1e400}}')),
        ("invalid_json (NaN)", _spliced(b',"properties":{"x":NaN}}')),
        ("invalid_encoding", _spliced(b',"properties":{"x":"\xc3\x28"}}')),
        ("duplicate_key (userId twice)", _spliced(b',"userId":"other"}')),
        ("duplicate_key (spaced, escaped)", _spliced(b', "user\\u0049d" : "other"}')),
        ("bad_id (600 characters)", _raw(userId="u" * 600)),
        ("accepted: 60,000-item array", _raw(properties={"list": [7] * 60_000})),
        ("accepted: 250 KiB string", _raw(properties={"s": "y" * (MAX_EVENT_BYTES - 6_000)})),
    ]


def _times(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return sorted(out)


def _decode(raw: bytes) -> Callable[[], object]:
    def run() -> object:
        try:
            return decode_event(raw)
        except InvalidEvent as e:
            return e.reason

    return run


def _render(source: str, data: dict[str, Any]) -> Callable[[], object]:
    tpl = Template(source)

    def run() -> object:
        try:
            return tpl.render({"event": {"properties": data}, "profile": {}, "journey": {}})
        except RenderError as e:
            return e.reason

    return run


def q(samples: list[float], p: float) -> float:
    return samples[min(len(samples) - 1, int(len(samples) * p))]


def bad_record_costs(reps: int = 300) -> tuple[list[tuple[str, str, float, float]], float]:
    """Per kind: (kind, outcome, p50 µs, p99 µs); and the p99 µs over all bad records mixed."""
    rows: list[tuple[str, str, float, float]] = []
    bad: list[float] = []
    for kind, raw in records():
        fn = _decode(raw)
        outcome = fn()
        t = _times(fn, reps)
        rows.append((kind, outcome if isinstance(outcome, str) else "accepted", q(t, 0.5), q(t, 0.99)))
        if isinstance(outcome, str):
            bad.extend(t)
    for kind, src, data in (
            ("template: loop 10^9 times", "{% for i in (1..event.properties.n) %}x{% endfor %}", {"n": 10**9}),
            ("template: render 100 MB", "{% for i in (1..1000) %}{{ event.properties.s }}{% endfor %}",
             {"s": "x" * 100_000})):
        fn = _render(src, data)
        t = _times(fn, max(10, reps // 10))
        rows.append((kind, str(fn()), q(t, 0.5), q(t, 0.99)))
    return rows, q(sorted(bad), 0.99)


def report(reps: int = 300) -> None:
    rows, p99_all = bad_record_costs(reps)
    print(f"\nHostile records: decode and check cost per record ({reps} timings each; template bombs fail "
          "one send)")
    print(f"  {'record':<36} {'outcome':<38} {'p50 µs':>9} {'p99 µs':>9}")
    for kind, outcome, p50, p99 in rows:
        print(f"  {kind:<36} {outcome[:38]:<38} {p50:9.1f} {p99:9.1f}")
    print(f"  p99 over all refused records: {p99_all:.1f} µs")
