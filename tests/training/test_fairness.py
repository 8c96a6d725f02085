"""Fairness audit: hand-computed group metrics, suppression of small cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.fairness import fairness_audit


def test_group_metrics_by_hand():
    # one date, 10 students, top 20% = 2 listed: rows 0 (M, pos) and 5 (F, neg)
    f = pd.DataFrame(
        {
            "label": [1, 0, 0, 0, 0, 0, 1, 0, 0, 0],
            "as_of": 0,
            "sex": list("MMMMMFFFFF"),
        }
    )
    p = np.array([0.9, 0.1, 0.1, 0.1, 0.1, 0.8, 0.2, 0.1, 0.1, 0.1])
    a = fairness_audit(f, p, share=0.2, attributes=["sex"], min_group_size=1)
    g = a.by_group.set_index("group")
    # M: recall 1/1, precision 1/1, FPR 0/4; F: recall 0/1, precision 0/1, FPR 1/4
    assert g.loc["M", ["recall_at_k", "precision_at_k", "false_positive_rate"]].tolist() == [1.0, 1.0, 0.0]
    assert g.loc["F", ["recall_at_k", "precision_at_k", "false_positive_rate"]].tolist() == [0.0, 0.0, 0.25]
    # calibration: M mean predicted 0.26 vs observed 0.2; F 0.26 vs 0.2
    assert g.loc["M", "calibration_gap"] == pytest.approx(0.06)
    assert a.gaps.loc["sex", "recall_at_k"] == 1.0 and a.gaps.loc["sex", "lowest_recall_group"] == "F"


def test_small_groups_are_suppressed():
    f = pd.DataFrame({"label": [1, 0, 0, 1, 0], "as_of": 0, "g": ["a", "a", "a", "a", "b"]})
    a = fairness_audit(f, np.linspace(0.9, 0.1, 5), share=0.4, attributes=["g"], min_group_size=2)
    g = a.by_group.set_index("group")
    assert np.isnan(g.loc["b", "recall_at_k"]) and g.loc["b", "n"] == 1
    assert a.gaps.loc["g", "suppressed"] == 1 and np.isnan(a.gaps.loc["g", "recall_at_k"])
