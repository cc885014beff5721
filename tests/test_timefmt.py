"""The common-form time parser gives what the general parser (msgspec's datetime, then ``timestamp()``) gives."""

from __future__ import annotations

import calendar
import random
from datetime import UTC, datetime

import msgspec
import pytest

from cjo_stream.events import decode_event
from cjo_stream.timefmt import MAX_TS, common_epoch, round_ms, split_us


def _general(text: str) -> float | None:
    try:
        return msgspec.convert(text, datetime).timestamp()
    except msgspec.ValidationError:
        return None


def test_common_times_read_as_the_general_parser_reads_them() -> None:
    rng = random.Random(7)
    for _ in range(50_000):
        t = rng.uniform(0, MAX_TS - 1)
        text = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        text += f".{rng.randrange(1000):03d}Z" if rng.random() < 0.5 else "Z"
        got = common_epoch(text)
        if got == -1.0:  # only the years past 2105, which the general path takes
            assert text >= "2106"
        else:
            assert got == _general(text), text


@pytest.mark.parametrize("text", [
    "1970-01-01T00:00:00Z", "2000-02-29T23:59:59.999Z", "2024-02-29T00:00:00Z", "2026-12-31T23:59:59.000Z",
    "2105-12-31T23:59:59.999Z", "2026-03-02T10:00:00.001Z",
])
def test_edges_of_the_calendar(text: str) -> None:
    assert common_epoch(text) == _general(text)


@pytest.mark.parametrize("text", [
    "2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z",
    "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z",
    "2026-1a-01T00:00:00Z", "2026-01-01T00:00:00.12aZ", "1969-12-31T23:59:59Z", "2106-01-01T00:00:00Z",
    "2026-01-01t00:00:00Z", "2026-01-01T00:00:00z", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00.1Z",
    "2026-01-01 00:00:00Z", "2026-01-01T00:00:00", "٢٠٢٦-01-01T00:00:00Z", "",
])
def test_anything_else_is_left_to_the_general_parser(text: str) -> None:
    assert common_epoch(text) == -1.0


@pytest.mark.parametrize("text", ["2026-01-01t00:00:00Z", "2026-01-01T02:00:00+02:00", "2026-01-01T00:00:00.000000Z"])
def test_decoded_events_take_the_same_time_either_way(text: str) -> None:
    """The other forms still decode, through the general parser, to the same instant."""
    ev = decode_event(b'{"messageId":"m","timestamp":"%s","type":"track","event":"x","userId":"u"}' % text.encode())
    assert ev.ts == common_epoch("2026-01-01T00:00:00Z") == 1767225600.0


def _times(seed: int, unit: float) -> list[float]:
    """200,000 times: any float in range, millisecond times (the common ones), midpoints between two
    ``unit``s (where rounding half to even decides) and finer times."""
    rng = random.Random(seed)
    out = []
    for _ in range(200_000):
        kind = rng.random()
        if kind < 0.25:
            out.append(rng.uniform(0, MAX_TS))
        elif kind < 0.5:
            out.append(rng.randrange(0, int(MAX_TS) * 1000) / 1000)
        elif kind < 0.75:
            out.append((rng.randrange(0, int(MAX_TS / unit)) + 0.5) * unit)
        else:
            out.append(rng.randrange(0, int(MAX_TS) * 10**6) / 10**6)
    return out


def test_round_ms_is_round_to_three_places() -> None:
    for x in _times(11, 0.001):
        assert round_ms(x) == round(x, 3), x
    for x in (0.0, 0.0005, 0.0015, 2.675, 1e-9, MAX_TS - 0.0005, -1.2345, 1e10 + 0.0004):
        assert round_ms(x) == round(x, 3), x


def _shown(ts: float) -> tuple[int, int]:
    """The whole seconds and microseconds ``datetime`` shows for ``ts``."""
    d = datetime.fromtimestamp(ts, UTC)
    return calendar.timegm(d.utctimetuple()), d.microsecond


def test_split_us_is_what_datetime_shows() -> None:
    """The native arithmetic rounds as ``datetime.fromtimestamp`` (to the microsecond, half to even)."""
    for x in _times(12, 1e-6):
        assert split_us(x) == _shown(x), x
    for x in (0.0, 0.5e-6, 1.5e-6, 2.5e-6, 0.9999995, 0.9999996, 1.0 - 2**-40, MAX_TS - 1e-7, 1772445600.2500005):
        assert split_us(x) == _shown(x), x
