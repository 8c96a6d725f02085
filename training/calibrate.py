"""Probability calibration on a period after the training data, never on training rows.

The model is fitted first; :func:`calibrate` wraps it in sklearn's ``FrozenEstimator``
(so it is not refitted) and fits ``CalibratedClassifierCV`` on rows from a later period
(:class:`~training.splits.TemporalDesign` ``valid`` dates). The result is the object the
model bundle saves: its ``predict_proba`` gives calibrated probabilities.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from features.errors import BaoxueError, ConfigError

log = logging.getLogger(__name__)

__all__ = ["TooFewLabels", "calibrate", "calibration_method"]


def calibration_method(method: str, positives: int, min_positives: int) -> str:
    """The method to use: isotonic regression on few positives collapses the scores into a few
    steps (ties a hash then orders, and a list decided by the hash), so below ``min_positives``
    calibration positives the strictly monotone sigmoid is used instead.

    >>> calibration_method("isotonic", 19, 200), calibration_method("isotonic", 500, 200)
    ('sigmoid', 'isotonic')
    """
    if method == "isotonic" and positives < min_positives:
        return "sigmoid"
    return method


class TooFewLabels(BaoxueError, ValueError):
    """The calibration rows hold one label only (a county too small, or too few dropouts)."""


def calibrate(
    estimator,
    X_cal: pd.DataFrame,
    y_cal,
    method: Literal["isotonic", "sigmoid"] = "isotonic",
    *,
    isotonic_min_positives: int = 0,
) -> CalibratedClassifierCV:
    """Calibrate a fitted classifier on held-out later rows.

    Parameters
    ----------
    estimator : fitted classifier
        Any fitted estimator with ``predict_proba``; it is frozen, never refitted.
    X_cal, y_cal
        Rows from a period after the estimator's training data.
    method : {'isotonic', 'sigmoid'}
        Isotonic regression (flexible, needs a few hundred positives) or Platt scaling.
    isotonic_min_positives : int
        Below this many positives in ``y_cal``, isotonic becomes sigmoid
        (:func:`calibration_method`; ``[train] isotonic_min_positives``). The method used is
        the result's ``method``.

    Returns
    -------
    CalibratedClassifierCV
        Fitted; ``predict_proba(X)[:, 1]`` is the calibrated probability.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"x": np.r_[np.zeros(50), np.ones(50)]})
    >>> y = np.r_[np.zeros(45), np.ones(5), np.zeros(25), np.ones(25)]
    >>> model = LogisticRegression().fit(X, y)
    >>> cal = calibrate(model, X, y, "isotonic")
    >>> cal.predict_proba(pd.DataFrame({"x": [0.0, 1.0]}))[:, 1].round(2).tolist()
    [0.1, 0.5]
    """
    if method not in ("isotonic", "sigmoid"):
        raise ConfigError(f"[train] calibration must be 'isotonic' or 'sigmoid', got {method!r}")
    y = np.asarray(y_cal)
    if len(np.unique(y)) < 2:
        lacking = "no dropouts (label 1)" if (y != 1).all() else "no students who stayed (label 0)"
        raise TooFewLabels(
            f"the {len(y):,} calibration rows (the later half of the validation period) hold {lacking}, "
            "so the model's probabilities cannot be calibrated: the county is too small or its dropout "
            "rate too low for a model. Use more students or more school years (a simulated county: "
            "--students/--years, or --preset reap_2010, whose dropout rates are higher), or more "
            "[train] valid_months"
        )
    method = calibration_method(method, int((y == 1).sum()), isotonic_min_positives)
    if method != "isotonic":
        log.info("calibration: sigmoid (%d positives < isotonic_min_positives)", int((y == 1).sum()))
    return CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(X_cal, y)
