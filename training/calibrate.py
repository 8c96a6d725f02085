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
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from features.errors import BaoxueError, ConfigError

log = logging.getLogger(__name__)

__all__ = ["TooFewLabels", "calibrate", "calibration_method", "OrderedCalibration", "TIE_BREAK"]

#: the weight of the model's own probability in :class:`OrderedCalibration` (a shift of at
#: most this much in any probability)
TIE_BREAK = 1e-6


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


class OrderedCalibration:
    """Isotonic calibration whose steps keep the model's own order.

    Isotonic regression maps the model's probability to a step function: on a county panel
    a few hundred steps, so hundreds of students share one probability and a list cut inside
    a step is decided by the tie-break, not by the model. This wrapper returns
    ``(1 - TIE_BREAK) * isotonic(p) + TIE_BREAK * p``: the same probabilities to within
    ``TIE_BREAK``, strictly increasing in the model's ``p``, so the ranking is the model's
    (on a 10,000-student county: PR AUC 0.551 -> 0.577 on the validation year,
    benchmarks/RESULTS.md "Closing on the oracle").

    ``calibrated`` is the fitted ``CalibratedClassifierCV`` of a frozen classifier;
    ``calibrated_classifiers_``, ``method`` and ``classes_`` are its own.
    """

    def __init__(self, calibrated: CalibratedClassifierCV, tie_break: float = TIE_BREAK) -> None:
        self.calibrated = calibrated
        self.tie_break = tie_break

    @property
    def calibrated_classifiers_(self):
        return self.calibrated.calibrated_classifiers_

    @property
    def method(self) -> str:
        return self.calibrated.method

    @property
    def classes_(self):
        return self.calibrated.classes_

    def predict_proba(self, X) -> np.ndarray:
        """``(n, 2)`` calibrated probabilities, ordered as the model orders the rows."""
        pieces = self.calibrated.calibrated_classifiers_
        est = pieces[0].estimator
        # the values sklearn calibrates: the decision function where there is one, else P(1)
        if hasattr(est, "decision_function"):
            values = np.asarray(est.decision_function(X), dtype="float64")
            raw = expit(values)
        else:
            values = raw = est.predict_proba(X)[:, 1]
        p = np.mean([piece.calibrators[0].predict(values) for piece in pieces], axis=0)
        p = (1 - self.tie_break) * np.clip(p, 0.0, 1.0) + self.tie_break * raw
        return np.column_stack([1 - p, p])


def calibrate(
    estimator,
    X_cal: pd.DataFrame,
    y_cal,
    method: Literal["isotonic", "sigmoid"] = "isotonic",
    *,
    isotonic_min_positives: int = 0,
) -> CalibratedClassifierCV | OrderedCalibration:
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
    CalibratedClassifierCV or OrderedCalibration
        Fitted; ``predict_proba(X)[:, 1]`` is the calibrated probability. Isotonic
        calibration comes wrapped in :class:`OrderedCalibration`, so that its steps keep the
        model's order; sigmoid is strictly monotone already.

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
    fitted = CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(X_cal, y)
    if method == "isotonic" and _one_calibrator_each(fitted):
        return OrderedCalibration(fitted)
    return fitted


def _one_calibrator_each(fitted: CalibratedClassifierCV) -> bool:
    """The binary layout :class:`OrderedCalibration` reads: one calibrator per piece, one piece."""
    pieces = getattr(fitted, "calibrated_classifiers_", [])
    return len(pieces) == 1 and all(len(getattr(p, "calibrators", ())) == 1 for p in pieces)
