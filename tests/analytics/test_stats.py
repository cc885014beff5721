"""Statistics against values computed by hand (and published tables)."""

from __future__ import annotations

import math

import pytest

from cjo_stream.analytics.stats import chi_square_p, srm, two_proportion, wilson


def test_wilson_interval_known_values() -> None:
    # 10 of 100: p = 0.1, z = 1.96 -> centre (0.1 + 1.96^2/200) / (1 + 1.96^2/100) = 0.11482,
    # half-width 1.96 * sqrt(0.0009 + 0.00009604) / 1.038415 = 0.05960
    lo, hi = wilson(10, 100)  # type: ignore[misc]
    assert lo == pytest.approx(0.05523, abs=1e-5) and hi == pytest.approx(0.17437, abs=1e-5)
    lo, hi = wilson(0, 10)  # type: ignore[misc]  # 0 successes: [0, z^2 / (n + z^2)]
    assert lo == 0.0 and hi == pytest.approx(1.96 ** 2 / (10 + 1.96 ** 2), abs=1e-4)
    lo, hi = wilson(10, 10)  # type: ignore[misc]
    assert hi == 1.0 and lo == pytest.approx(10 / (10 + 1.959964 ** 2), abs=1e-5)
    assert wilson(0, 0) is None


def test_two_proportion_z_test_known_values() -> None:
    # 60/500 vs 45/500: pooled 0.105, se = sqrt(0.105 * 0.895 * (2/500)) = 0.019388, z = 0.03 / se = 1.5473
    c = two_proportion(60, 500, 45, 500)
    assert c is not None
    assert c.lift_abs == pytest.approx(0.03) and c.lift_rel == pytest.approx(1 / 3)
    assert c.z == pytest.approx(1.5473, abs=1e-4) and c.p_value == pytest.approx(0.12178, abs=1e-4)
    # 200/1000 vs 150/1000: pooled 0.175, se = 0.016993, z = 2.9424, two-sided p = 0.003257
    c = two_proportion(200, 1000, 150, 1000)
    assert c is not None and c.z == pytest.approx(2.9424, abs=1e-4) and c.p_value == pytest.approx(0.003257, abs=2e-6)
    # a worse variant: same |z|, negative lift, same p
    worse = two_proportion(150, 1000, 200, 1000)
    assert worse is not None and worse.lift_abs == pytest.approx(-0.05) and worse.p_value == pytest.approx(c.p_value)
    assert two_proportion(0, 100, 0, 100).p_value is None  # type: ignore[union-attr]  # no variance: undefined
    assert two_proportion(1, 0, 1, 10) is None


@pytest.mark.parametrize(("x", "df"), [(3.841459, 1), (5.991465, 2), (7.814728, 3), (11.070498, 5),
                                       (18.307038, 10), (43.772972, 30)])
def test_chi_square_upper_tail_at_the_5_percent_critical_values(x: float, df: int) -> None:
    assert chi_square_p(x, df) == pytest.approx(0.05, abs=1e-6)


def test_chi_square_df1_equals_the_normal_tail() -> None:
    for z in (0.5, 1.0, 2.0, 3.3):
        assert chi_square_p(z * z, 1) == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert chi_square_p(0.0, 4) == 1.0


def test_sample_ratio_mismatch() -> None:
    # 5050 / 4950 against 50/50: chi2 = 2 * 50^2 / 5000 = 1.0, p = 0.3173 -> fine
    chi2, p = srm([5050, 4950], [50, 50])  # type: ignore[misc]
    assert chi2 == pytest.approx(1.0) and p == pytest.approx(0.31731, abs=1e-5)
    # 5500 / 4500: chi2 = 100 -> p ~ 1.5e-23: the split is broken
    chi2, p = srm([5500, 4500], [1, 1])  # type: ignore[misc]
    assert chi2 == pytest.approx(100.0) and p < 1e-20
    # weights need not sum to 1: 90/10 holdout with 900/100 is perfect
    assert srm([900, 100], [90, 10]) == (0.0, 1.0)
    assert srm([10], [1]) is None and srm([0, 0], [1, 1]) is None
