"""Calibration on realised outcomes: does a 20% risk still mean one child in five?

For the judged nights (outcome window closed), every scored, labelled child counts once per
night. Per month of the night (and over all of them): the reliability table
(:func:`training.metrics.reliability_table`, equal-size bins) and the expected calibration
error (:func:`training.metrics.expected_calibration_error`, equal-width bins, as in the
training report), the mean predicted and the observed dropout rate. A month whose ECE is
above ``max_ece`` is out of bounds.

ECE is absolute, so it cannot see a model that expects seven dropouts where one happens
when both rates are small (a ``reap_2010`` model on a ``current`` county: ECE 0.005). The
**observed-to-expected** ratio (calibration in the large) can: ``observed_to_expected`` with
its 95% interval (exact Poisson on the dropouts, widened by how many nights each dropout
counts on, since one child's dropout is a positive on every night whose window holds it).
An interval wholly outside ``[oe_min, oe_max]`` is out of bounds (``oe_within``).

Examples
--------
Four children on one night: predicted .1 and .2 (neither drops out), .7 and .9 (both do);
ECE with two bins = (2 * |.15 - 0| + 2 * |.8 - 1|) / 4 = 0.175:

>>> frame = pd.DataFrame({"as_of": pd.Timestamp("2024-10-01"), "probability": [.1, .2, .7, .9],
...                       "label": [0, 0, 1, 1]})
>>> cal = calibration_drift(frame, n_bins=2, max_ece=0.1)
>>> cal.by_month[["month", "n", "ece", "within_bounds"]].to_dict("records")
[{'month': '2024-10', 'n': 4, 'ece': 0.175, 'within_bounds': False}, {'month': 'all', 'n': 4, 'ece': 0.175, 'within_bounds': False}]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.metrics import expected_calibration_error, reliability_table

__all__ = ["CalibrationDrift", "calibration_drift", "oe_interval"]


@dataclass(frozen=True)
class CalibrationDrift:
    """Reliability tables and ECE per month.

    Attributes
    ----------
    by_month : DataFrame
        ``month`` (``"2024-10"``; the last row ``"all"``), ``n``, ``positives``,
        ``mean_predicted``, ``observed_rate``, ``observed_to_expected`` with ``oe_low`` and
        ``oe_high``, ``ece``, ``within_bounds`` (ECE) and ``oe_within`` (O/E).
    reliability : DataFrame
        :func:`training.metrics.reliability_table` rows with a ``month`` column.
    max_ece : float
    """

    by_month: pd.DataFrame
    reliability: pd.DataFrame
    max_ece: float

    @property
    def overall_ece(self) -> float:
        row = self.by_month.loc[self.by_month["month"] == "all", "ece"]
        return float(row.iloc[0]) if len(row) else math.nan


def oe_interval(observed: float, expected: float, *, repeats: float = 1.0, z_level: float = 0.95):
    """Observed / expected with an exact Poisson interval on ``observed``, each event counted
    ``repeats`` times (the interval of ``observed / repeats`` scaled back).

    >>> [round(v, 3) for v in oe_interval(1, 7.2)]
    [0.139, 0.004, 0.774]
    >>> [round(v, 3) for v in oe_interval(10, 10, repeats=2)]
    [1.0, 0.325, 2.334]
    """
    from scipy.stats import chi2

    if not expected or expected <= 0:
        return (math.nan, math.nan, math.nan)
    k = max(float(repeats), 1.0)
    o, e = observed / k, expected / k
    a = (1 - z_level) / 2
    lo = chi2.ppf(a, 2 * o) / 2 if o > 0 else 0.0
    hi = chi2.ppf(1 - a, 2 * o + 2) / 2
    return (observed / expected, float(lo / e), float(hi / e))


def _row(month: str, part: pd.DataFrame, n_bins: int, max_ece: float, oe: tuple[float, float]) -> dict:
    y = part["label"].to_numpy(dtype="float64")
    p = part["probability"].to_numpy(dtype="float64")
    mean_p, obs = float(p.mean()), float(y.mean())
    ece = expected_calibration_error(y, p, n_bins)
    repeats = 1.0
    if "student_id" in part.columns and y.sum():
        repeats = float(y.sum()) / part.loc[y == 1, "student_id"].astype("str").nunique()
    ratio, lo, hi = oe_interval(float(y.sum()), float(p.sum()), repeats=repeats)
    return {
        "month": month,
        "n": len(y),
        "positives": int(y.sum()),
        "mean_predicted": mean_p,
        "observed_rate": obs,
        "observed_to_expected": ratio,
        "oe_low": lo,
        "oe_high": hi,
        "ece": ece,
        "within_bounds": bool(ece <= max_ece),
        "oe_within": not (hi < oe[0] or lo > oe[1]),
    }


def calibration_drift(
    frame: pd.DataFrame,
    *,
    n_bins: int = 10,
    max_ece: float = 0.05,
    oe_bounds: tuple[float, float] = (0.5, 2.0),
) -> CalibrationDrift:
    """Reliability and ECE per month of ``frame`` (``as_of``, ``probability``, ``label``).

    ``frame`` is the judged nights' scored and labelled rows (e.g. a snapshot merged with
    :func:`training.labels.label_panel`); with ``student_id`` the O/E interval counts each
    dropout child once.
    """
    keep = ["as_of", "probability", "label", *(["student_id"] if "student_id" in frame.columns else [])]
    data = frame.loc[frame["probability"].notna(), keep]
    when = pd.to_datetime(data["as_of"])
    month = (when.dt.year * 100 + when.dt.month).to_numpy()  # YYYYMM: sorts as "%Y-%m" does
    rows, rel = [], []
    cols = ["month", "n", "positives", "mean_predicted", "observed_rate", "observed_to_expected", "oe_low",
            "oe_high", "ece", "within_bounds", "oe_within"]  # fmt: skip
    parts = [(f"{m // 100:04d}-{m % 100:02d}", data.loc[month == m]) for m in np.unique(month)]
    if len(data):
        parts.append(("all", data))
    for m, part in parts:
        y = part["label"].to_numpy(dtype="float64")
        p = part["probability"].to_numpy(dtype="float64")
        rows.append(_row(m, part, n_bins, max_ece, oe_bounds))
        rel.append(reliability_table(y, p, n_bins=n_bins).assign(month=m))
    reliability = (
        pd.concat(rel, ignore_index=True)
        if rel
        else pd.DataFrame(columns=["bin", "p_min", "p_max", "n", "mean_predicted", "observed_rate", "month"])
    )
    return CalibrationDrift(
        by_month=pd.DataFrame(rows, columns=cols), reliability=reliability, max_ece=max_ece
    )
