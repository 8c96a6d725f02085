"""Baselines: the county rule by hand, the school-context rate, the oracle join."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataContractError
from training.baselines import RuleBaseline, SchoolContextBaseline, oracle_scores
from training.calibrate import calibrate


def test_rule_flags_by_hand():
    X = pd.DataFrame(
        {
            "abs": [0.05, 0.10, 0.0, np.nan, 0.5],  # >= 10% flags rows 1 and 4
            "fail": [0, 0, 1, np.nan, 2],  # >= 1 flags rows 2 and 4
            "low": pd.array([False, False, False, None, True]),  # flags row 4
        }
    )
    rule = RuleBaseline("abs", "fail", "low").fit(X)
    assert rule.flags(X).tolist() == [0, 1, 1, 0, 3]  # missing raises no flag
    s = rule.predict_proba(X)[:, 1]
    assert s[4] > s[1] > s[2] > s[0]  # flags first, then absence share
    with pytest.raises(DataContractError, match="column.*fail"):
        RuleBaseline("abs", "fail", "low").fit(X.drop(columns="fail"))


def test_rule_can_be_calibrated():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"abs": rng.random(400) * 0.2, "fail": rng.integers(0, 2, 400), "low": rng.random(400) < 0.2}
    )
    y = (rng.random(400) < 0.05 + 0.2 * (X["abs"] >= 0.1)).astype(int)
    cal = calibrate(RuleBaseline("abs", "fail", "low").fit(X, y), X, y, "isotonic")
    p = cal.predict_proba(X)[:, 1]
    assert 0 <= p.min() and p.max() <= 1 and abs(p.mean() - y.mean()) < 0.02


def test_school_context_shrinks_to_grade_rate():
    X = pd.DataFrame({"school_id": ["a"] * 4 + ["b"] * 4, "grade": [7] * 8})
    m = SchoolContextBaseline(prior=4).fit(X, [1, 1, 1, 1, 0, 0, 0, 0])
    # grade rate 0.5 (with prior towards global 0.5); school a: (4 + 4*0.5) / (4 + 4) = 0.75
    assert m.predict_proba(X)[:, 1].tolist() == [0.75] * 4 + [0.25] * 4
    unseen = pd.DataFrame({"school_id": ["z"], "grade": [3]})
    assert m.predict_proba(unseen)[0, 1] == 0.5  # unknown grade -> global rate


def test_oracle_join_and_missing():
    rows = pd.DataFrame({"student_id": ["a", "b"], "as_of": pd.to_datetime(["2024-01-01"] * 2)})
    truth = pd.DataFrame(
        {"student_id": ["b", "a"], "as_of": pd.to_datetime(["2024-01-01"] * 2), "p_true": [0.2, 0.1]}
    )
    assert oracle_scores(rows, truth).tolist() == [0.1, 0.2]
    with pytest.raises(DataContractError, match="1 of 2 rows have no p_true"):
        oracle_scores(rows, truth.iloc[:1])
