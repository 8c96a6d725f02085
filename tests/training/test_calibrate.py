"""Isotonic calibration that keeps the model's order (training.calibrate.OrderedCalibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from training.calibrate import TIE_BREAK, OrderedCalibration, calibrate


def test_isotonic_steps_keep_the_model_order():
    # x = 0..9, ten rows each; y = 1 for 1 row of each x < 5 and 5 rows of each x >= 5: isotonic
    # pools x = 0..4 into one step of 0.1 and x = 5..9 into one of 0.5, so plain isotonic ties
    # five model scores in each step
    x = np.repeat(np.arange(10.0), 10)
    y = np.concatenate(
        [np.r_[1, np.zeros(9)] if v < 5 else np.r_[np.ones(5), np.zeros(5)] for v in range(10)]
    )
    X = pd.DataFrame({"x": x})
    model = LogisticRegression().fit(X, y)
    cal = calibrate(model, X, y, "isotonic")
    assert isinstance(cal, OrderedCalibration) and cal.method == "isotonic"
    grid = pd.DataFrame({"x": np.arange(10.0)})
    plain = cal.calibrated.predict_proba(grid)[:, 1]
    ordered = cal.predict_proba(grid)[:, 1]
    assert np.allclose(plain, [0.1] * 5 + [0.5] * 5)  # the two steps
    assert np.abs(ordered - plain).max() <= TIE_BREAK  # the same probabilities to within 1e-6
    assert (np.diff(ordered) > 0).all()  # strictly increasing, as the model's own score is
    assert np.allclose(cal.predict_proba(grid).sum(1), 1)


def test_sigmoid_is_left_as_it_is():
    X = pd.DataFrame({"x": np.arange(40.0)})
    y = (np.arange(40) % 3 == 0).astype(int)
    cal = calibrate(LogisticRegression().fit(X, y), X, y, "sigmoid")
    assert not isinstance(cal, OrderedCalibration)
