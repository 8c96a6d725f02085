"""Calibration on realised outcomes: does a 20% risk still mean one child in five?

For the judged nights (outcome window closed), every scored, labelled child counts once per
night. Per month of the night (and over all of them): the reliability table
(:func:`training.metrics.reliability_table`, equal-size bins) and the expected calibration
error (:func:`training.metrics.expected_calibration_error`, equal-width bins, as in the
training report), the mean predicted and the observed dropout rate. A month whose ECE is
above ``max_ece`` is out of bounds.

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

__all__ = ["CalibrationDrift", "calibration_drift"]


@dataclass(frozen=True)
class CalibrationDrift:
    """Reliability tables and ECE per month.

    Attributes
    ----------
    by_month : DataFrame
        ``month`` (``"2024-10"``; the last row ``"all"``), ``n``, ``positives``,
        ``mean_predicted``, ``observed_rate``, ``observed_to_expected``, ``ece``,
        ``within_bounds``.
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


def _row(month: str, y: np.ndarray, p: np.ndarray, n_bins: int, max_ece: float) -> dict:
    mean_p, obs = float(p.mean()), float(y.mean())
    ece = expected_calibration_error(y, p, n_bins)
    return {
        "month": month,
        "n": len(y),
        "positives": int(y.sum()),
        "mean_predicted": mean_p,
        "observed_rate": obs,
        "observed_to_expected": obs / mean_p if mean_p else math.nan,
        "ece": ece,
        "within_bounds": bool(ece <= max_ece),
    }


def calibration_drift(frame: pd.DataFrame, *, n_bins: int = 10, max_ece: float = 0.05) -> CalibrationDrift:
    """Reliability and ECE per month of ``frame`` (``as_of``, ``probability``, ``label``).

    ``frame`` is the judged nights' scored and labelled rows (e.g. a snapshot merged with
    :func:`training.labels.label_panel`).
    """
    data = frame.loc[frame["probability"].notna(), ["as_of", "probability", "label"]]
    month = pd.to_datetime(data["as_of"]).dt.strftime("%Y-%m")
    rows, rel = [], []
    cols = ["month", "n", "positives", "mean_predicted", "observed_rate", "observed_to_expected", "ece",
            "within_bounds"]  # fmt: skip
    parts = [(m, data.loc[month == m]) for m in sorted(month.unique())]
    if len(data):
        parts.append(("all", data))
    for m, part in parts:
        y = part["label"].to_numpy(dtype="float64")
        p = part["probability"].to_numpy(dtype="float64")
        rows.append(_row(m, y, p, n_bins, max_ece))
        rel.append(reliability_table(y, p, n_bins=n_bins).assign(month=m))
    reliability = (
        pd.concat(rel, ignore_index=True)
        if rel
        else pd.DataFrame(columns=["bin", "p_min", "p_max", "n", "mean_predicted", "observed_rate", "month"])
    )
    return CalibrationDrift(
        by_month=pd.DataFrame(rows, columns=cols), reliability=reliability, max_ece=max_ece
    )
