"""The trained model respects the monotone constraints of training/monotone.py.

The synthetic county below is built so that a free model learns the wrong direction: the true
risk has a dip at 4-6 unexcused days (and at high grade percentiles a bump), so without
constraints raising unexcused days from 3 to 5 lowers the predicted risk on many rows. The
constrained model (``[train] monotone``, the default) must never lower the risk as unexcused
days rise, nor raise it as the grade percentile rises, on any sampled row, raw or calibrated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import TrainConfig
from training.fit import fit_model, prepare_features
from training.monotone import constrained, feature_direction
from training.splits import deployment_design, monthly_as_of_dates

FEATURES = ["att_unexcused_days_10d", "acad_composite_pct_grade_last", "att_leave_days_term"]


@pytest.fixture(scope="module")
def wrong_way_data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    dates = monthly_as_of_dates("2021-09-01", "2024-03-01")
    n = 400
    ids = [f"s{i:03d}" for i in range(n)]
    frames = []
    for d in dates:
        unex = rng.integers(0, 11, n).astype(float)
        pct = rng.uniform(0, 100, n)
        leave = rng.integers(0, 6, n).astype(float)
        # rises with unexcused days except a deep dip at 4-6; falls with the percentile except a bump at 80+
        logit = -3.0 + 0.35 * unex - 2.5 * ((unex >= 4) & (unex <= 6)) - 0.02 * pct + 1.5 * (pct > 80)
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
        frames.append(
            pd.DataFrame(
                {
                    "student_id": ids,
                    "as_of": pd.Timestamp(d),
                    "label": y,
                    "att_unexcused_days_10d": unex,
                    "acad_composite_pct_grade_last": pct,
                    "att_leave_days_term": leave,
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    data["student_id"] = pd.Categorical(data["student_id"], categories=ids)
    data["as_of"] = data["as_of"].astype("datetime64[s]")
    return data


def _fit(data: pd.DataFrame, monotone: bool):
    config = TrainConfig(
        n_estimators=80, num_leaves=15, max_depth=4, min_child_samples=20, early_stopping_rounds=80,
        monotone=monotone,
    )  # fmt: skip
    return fit_model(data, deployment_design(data["as_of"].unique(), config), config, features=FEATURES)


def _sweep(fitted, rows: pd.DataFrame, column: str, grid) -> tuple[np.ndarray, np.ndarray]:
    """Raw and calibrated risk of every row of ``rows`` with ``column`` set to each grid value:
    arrays of shape (len(grid), len(rows))."""
    raw, cal = [], []
    for v in grid:
        X = prepare_features(rows.assign(**{column: float(v)}), FEATURES)
        raw.append(fitted.estimator.predict_proba(X)[:, 1])
        cal.append(fitted.predict_proba(X))
    return np.array(raw), np.array(cal)


def _steps_against(values: np.ndarray, direction: int) -> int:
    """Grid steps where the risk moves against ``direction`` (any row, more than rounding)."""
    return int(((direction * np.diff(values, axis=0)) < -1e-12).sum())


def test_directions_of_the_swept_features():
    assert constrained(FEATURES) == {"att_unexcused_days_10d": 1, "acad_composite_pct_grade_last": -1}
    assert feature_direction("att_leave_days_term") == 0


def test_trained_model_respects_the_constraints(wrong_way_data):
    sample = wrong_way_data.sample(n=300, random_state=0)
    fitted = _fit(wrong_way_data, monotone=True)
    for column, grid in (
        ("att_unexcused_days_10d", range(0, 11)),
        ("acad_composite_pct_grade_last", range(0, 101, 5)),
    ):
        raw, cal = _sweep(fitted, sample, column, grid)
        direction = feature_direction(column)
        assert _steps_against(raw, direction) == 0, column
        assert _steps_against(cal, direction) == 0, column
        # constrained is not flat: the risk does move with the feature
        assert (direction * (raw[-1] - raw[0]) > 0).mean() > 0.9, column


def test_free_model_learns_the_wrong_way_here(wrong_way_data):
    """The check above can fail: without constraints the same fit lowers risk from 3 to 5 days."""
    sample = wrong_way_data.sample(n=300, random_state=0)
    free = _fit(wrong_way_data, monotone=False)
    raw, _ = _sweep(free, sample, "att_unexcused_days_10d", range(0, 11))
    assert _steps_against(raw, 1) > 0
    assert TrainConfig().monotone  # the default is on
