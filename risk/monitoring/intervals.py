"""Intervals for the monitor: Wilson score interval of a realised rate, and the interval
the model itself expects for the rate of a list (a sum of Bernoulli probabilities)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["Z95", "EXACT_MAX_ROWS", "wilson", "expected_interval"]

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


#: lists up to this many rows get the exact interval (a convolution over counts); longer ones
#: the normal approximation, which is then close to it
EXACT_MAX_ROWS = 2000


def expected_interval(probabilities, z: float = Z95, *, groups=None) -> tuple[float, float, float]:
    """Expected rate of a list and its interval if the probabilities are right (CBPE-like).

    The number of dropouts among ``n`` listed children with calibrated probabilities ``p_i``
    has mean ``sum p_i`` (Poisson-binomial). For a list of up to :data:`EXACT_MAX_ROWS` rows
    the interval is exact: the 2.5% and 97.5% quantiles of that count's distribution (built
    by convolution), divided by ``n``; a normal approximation undercovers the upper end when
    only a few dropouts are expected (the monitor's blue tier: 2.05 expected, 5 seen, which
    happens 5.6-6.6% of the time). Longer lists use the normal approximation (variance
    ``sum p_i (1 - p_i)``), clipped to [0, 1]. ``z`` sets the level (1.96: 95%).

    Returns ``(expected, low, high)``; NaNs for an empty list.

    With ``groups`` (one key per probability: the child), rows of one child are taken as
    perfectly correlated (a child listed on many nights drops out on all of them or none):
    the child is one draw with their mean probability counting once per row (normal
    approximation: the variance is the sum over children of ``(sum of their sd) ** 2``, an
    upper bound). One row per child changes nothing.

    >>> e, lo, hi = expected_interval([0.5, 0.5, 0.5, 0.5])  # Binomial(4, 0.5): 0 and 4 both 6.25%
    >>> e, lo, hi
    (0.5, 0.0, 1.0)
    >>> e, lo, hi = expected_interval([0.1] * 8, groups=list("aabbccdd"))  # 2 x Binomial(4, 0.1)
    >>> round(e, 4), lo, hi
    (0.1, 0.0, 0.5)
    """
    p = np.asarray(probabilities, dtype="float64")
    keep = ~np.isnan(p)
    p = p[keep]
    if not len(p):
        return (math.nan, math.nan, math.nan)
    n = len(p)
    mean = float(p.sum() / n)
    if n <= EXACT_MAX_ROWS:
        if groups is not None:
            frame = (
                pd.DataFrame({"p": p, "g": np.asarray(groups)[keep]}).groupby("g")["p"].agg(["mean", "size"])
            )
            draws = list(zip(frame["mean"].to_numpy(), frame["size"].to_numpy(), strict=True))
        else:
            draws = [(q, 1) for q in p]
        lo_q, hi_q = _exact_quantiles(draws, n, _tail(z))
        return (mean, lo_q / n, hi_q / n)
    sds = np.sqrt(p * (1 - p))
    if groups is not None:
        g = pd.Series(sds).groupby(np.asarray(groups)[keep]).sum()
        sd = math.sqrt(float((g.to_numpy() ** 2).sum())) / n
    else:
        sd = math.sqrt(float((sds**2).sum())) / n
    return (mean, max(0.0, mean - z * sd), min(1.0, mean + z * sd))


def _tail(z: float) -> float:
    """The one-sided tail probability of a normal quantile (1.96 -> 0.025)."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def _exact_quantiles(draws, n: int, tail: float) -> tuple[int, int]:
    """The ``tail`` and ``1 - tail`` quantiles of the sum of independent ``k * Bernoulli(p)``
    over ``draws`` (``(p, k)`` pairs, ``sum k = n``): the smallest counts whose cumulative
    probability reaches them.

    >>> _exact_quantiles([(0.5, 1)] * 4, 4, 0.025)
    (0, 4)
    """
    dist = np.zeros(n + 1)
    dist[0] = 1.0
    top = 0
    for q, k in draws:
        k = int(k)
        new = dist * (1.0 - q)
        new[k : top + k + 1] += dist[: top + 1] * q
        dist, top = new, top + k
    cdf = np.cumsum(dist)
    low = int(np.searchsorted(cdf, tail - 1e-12))
    high = int(np.searchsorted(cdf, 1.0 - tail - 1e-12))
    return low, min(high, n)
