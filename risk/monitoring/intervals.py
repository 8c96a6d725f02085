"""Intervals for the monitor: Wilson score interval of a realised rate, and the interval
the model itself expects for the rate of a list (a sum of Bernoulli probabilities)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["Z95", "wilson", "expected_interval"]

#: two-sided 95% normal quantile
Z95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes / n``; ``(nan, nan)`` when ``n`` is 0.

    >>> lo, hi = wilson(3, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.1078, 0.6032)
    >>> wilson(0, 0)
    (nan, nan)
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def expected_interval(probabilities, z: float = Z95, *, groups=None) -> tuple[float, float, float]:
    """Expected rate of a list and its interval if the probabilities are right (CBPE-like).

    The number of dropouts among ``n`` listed children with calibrated probabilities ``p_i``
    has mean ``sum p_i`` and variance ``sum p_i (1 - p_i)`` (Poisson-binomial); the rate's
    interval is the normal approximation, clipped to [0, 1].

    Returns ``(expected, low, high)``; NaNs for an empty list.

    With ``groups`` (one key per probability: the child), rows of one child are taken as
    perfectly correlated (a child listed on many nights drops out on all of them or none):
    the variance is the sum over children of ``(sum of their sd) ** 2``, an upper bound that
    widens the interval of lists pooled over nights; one row per child changes nothing.

    >>> e, lo, hi = expected_interval([0.5, 0.5, 0.5, 0.5])
    >>> e, round(lo, 4), round(hi, 4)
    (0.5, 0.01, 0.99)
    >>> e, lo, hi = expected_interval([0.1] * 8, groups=list("aabbccdd"))
    >>> round(lo, 4), round(hi, 4)
    (0.0, 0.394)
    """
    p = np.asarray(probabilities, dtype="float64")
    keep = ~np.isnan(p)
    p = p[keep]
    if not len(p):
        return (math.nan, math.nan, math.nan)
    n = len(p)
    mean = float(p.sum() / n)
    sds = np.sqrt(p * (1 - p))
    if groups is not None:
        g = pd.Series(sds).groupby(np.asarray(groups)[keep]).sum()
        sd = math.sqrt(float((g.to_numpy() ** 2).sum())) / n
    else:
        sd = math.sqrt(float((sds**2).sum())) / n
    return (mean, max(0.0, mean - z * sd), min(1.0, mean + z * sd))
