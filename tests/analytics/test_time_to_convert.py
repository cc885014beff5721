"""Time to convert: the median and p90 of the histogram, placed inside a bin by the bin's mean.

A walkthrough found every conversion of a journey taking exactly 6 h reported as a median of 4.5 h, and
conversions between 31 and 36 days as 45 days: the quantiles spread each bin's conversions over the whole
bin (6 h is the upper edge of (3 h, 6 h]; (30 d, 60 d] is wide). Journeys' waits are round durations, so
a bin's conversions often all took the same time.
"""

from __future__ import annotations

import random
import statistics

from cjo_stream.analytics import report
from cjo_stream.analytics.fold import TTC_BOUNDS, Analytics, merge
from cjo_stream.analytics.records import JourneyEvent
from tests.conftest import T0

DAY = 86400.0


def _converted(durations: list[float]) -> dict[str, int]:
    """The merged counters of one instance per duration, each converting that long after entering."""
    a = Analytics()
    for n, took in enumerate(durations):
        base = {"journey": "promo", "version": 1, "instance": f"i{n}", "customer_id": f"c{n}"}
        a.apply_all([JourneyEvent(kind="entered", at=T0, **base),  # type: ignore[arg-type]
                     JourneyEvent(kind="step", step="wait", at=T0, **base),  # type: ignore[arg-type]
                     JourneyEvent(kind="converted", step="wait", at=T0 + took, **base)])  # type: ignore[arg-type]
    return merge(a.buckets.values())


def _ttc(counters: dict[str, int]) -> dict[str, float | int | None]:
    return report.headline(counters)["time_to_convert"]  # type: ignore[no-any-return]


def test_conversions_that_all_took_one_round_time_give_that_time() -> None:
    assert _ttc(_converted([6 * 3600.0] * 6)) == {"median_s": 21600.0, "p90_s": 21600.0, "converted": 6}
    assert _ttc(_converted([12 * 3600.0, 12 * 3600.0, 48 * 3600.0])) == {"median_s": 43200.0, "p90_s": 172800.0,
                                                                           "converted": 3}


def test_conversions_spread_inside_a_wide_bin_are_placed_around_their_mean() -> None:
    rnd = random.Random(5)
    took = [rnd.uniform(31.1 * DAY, 36.0 * DAY) for _ in range(205)]
    got = _ttc(_converted(took))
    median, p90 = got["median_s"], got["p90_s"]
    assert isinstance(median, float) and isinstance(p90, float)
    assert abs(median - statistics.median(took)) < 0.05 * statistics.median(took)
    assert 30 * DAY < p90 < 37.5 * DAY  # spread over the whole bin (30 d, 60 d]: 57 d


def test_evenly_spread_conversions_give_the_whole_bin_as_before() -> None:
    lo, hi = 3 * 3600.0, 6 * 3600.0  # the bin (3 h, 6 h]
    assert TTC_BOUNDS[TTC_BOUNDS.index(int(lo)) + 1] == hi
    took = [lo + (hi - lo) * (i + 0.5) / 100 for i in range(100)]
    c = _converted(took)
    old = {k: v for k, v in c.items() if not k.startswith("ttcms|")}  # folded before the sums were kept
    new, before = _ttc(c), _ttc(old)
    assert before["median_s"] == 4.5 * 3600
    assert abs(new["median_s"] - before["median_s"]) < 60 and abs(new["p90_s"] - before["p90_s"]) < 60  # type: ignore[operator]


def test_counters_without_sums_spread_the_bin_and_a_short_sum_stays_inside_it() -> None:
    c = _converted([6 * 3600.0] * 4)
    old = {k: v for k, v in c.items() if not k.startswith("ttcms|")}
    assert _ttc(old)["median_s"] == 4.5 * 3600  # the estimate of counters folded before this change
    (bin_,) = [k for k in c if k.startswith("ttc|")]
    mixed = dict(c)
    mixed[bin_] += 4  # four more conversions counted before the sums were kept: the mean is too low
    assert 3 * 3600 <= _ttc(mixed)["median_s"] <= 6 * 3600  # type: ignore[operator]
