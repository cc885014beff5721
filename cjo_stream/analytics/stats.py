"""The statistics of the variant table: Wilson intervals, two-proportion z-tests, the sample-ratio check.

Written with :mod:`statistics` and :mod:`math` only (scipy would be a large dependency for four
formulas); each is checked against hand-computed values in ``tests/analytics/test_stats.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_N = NormalDist()
Z95 = _N.inv_cdf(0.975)  # 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion (95 % by default); None without observations.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0 and n successes, which
    matters for small journeys and rare conversions.
    """
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact bounds where rounding would blur them
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True)
class Comparison:
    """A variant against the control: lift and a two-sided p-value of the two-proportion z-test."""

    lift_abs: float  # rate - control rate
    lift_rel: float | None  # lift_abs / control rate (None when the control rate is 0)
    z: float | None
    p_value: float | None  # None when the test is undefined (no observations, or both rates 0 or 1)


def two_proportion(x1: int, n1: int, x0: int, n0: int) -> Comparison | None:
    """Group 1 (variant) against group 0 (control), pooled-variance z-test, two-sided."""
    if n1 <= 0 or n0 <= 0:
        return None
    p1, p0 = x1 / n1, x0 / n0
    lift = p1 - p0
    rel = lift / p0 if p0 > 0 else None
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return Comparison(lift, rel, None, None)
    z = lift / se
    return Comparison(lift, rel, z, 2 * (1 - _N.cdf(abs(z))))


def chi_square_p(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with ``df`` degrees of freedom (regularized upper gamma)."""
    if x <= 0:
        return 1.0
    return _gamma_q(df / 2.0, x / 2.0)


def srm(observed: list[int], weights: list[float]) -> tuple[float, float] | None:
    """Sample-ratio mismatch: chi-square statistic and p-value of observed arm counts against weights.

    None with fewer than two arms or no observations. A small p-value (we flag < 0.001, as common
    experimentation practice does) means the split did not assign as configured: results are suspect.
    """
    total, wsum = sum(observed), sum(weights)
    if len(observed) < 2 or total <= 0 or wsum <= 0:
        return None
    chi2 = 0.0
    for o, w in zip(observed, weights, strict=True):
        e = total * w / wsum
        if e > 0:
            chi2 += (o - e) ** 2 / e
    return chi2, chi_square_p(chi2, len(observed) - 1)


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x): series below a + 1, continued fraction above."""
    lg = math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - lg))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - lg) * h)
