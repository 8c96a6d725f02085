"""Metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.metrics import (
    at_capacity,
    at_share,
    expected_calibration_error,
    inclusion,
    lead_time,
    per_month_metrics,
    reliability_table,
    score_metrics,
)


def test_top_share_per_date_with_ties():
    # date 1: 10 rows, top 10% = 1 row: the 0.9 (positive). date 2: 10 rows, all scores tied
    # at 0.5 with 2 positives: the one listed row is positive with probability 2/10.
    y = np.r_[[1] + [0] * 9, [1, 1] + [0] * 8]
    s = np.r_[[0.9] + [0.1] * 9, [0.5] * 10]
    d = np.r_[[1] * 10, [2] * 10]
    r = at_share(y, s, d, 0.10)
    # TP = 1 + 0.2 = 1.2 over 2 listed -> precision 0.6; 3 positives -> recall 0.4
    assert r["precision"] == pytest.approx(0.6)
    assert r["recall"] == pytest.approx(0.4)
    assert r["lift"] == pytest.approx(0.6 / (3 / 20))
    assert r["listed"] == pytest.approx(2)


def test_list_size_rounds_up():
    # 15 rows, top 10% -> ceil(1.5) = 2 rows
    w = inclusion(np.arange(15), np.zeros(15), lambda n: min(n, int(np.ceil(0.1 * n))))
    assert w.sum() == 2 and w[-2:].tolist() == [1.0, 1.0]


def test_capacity_per_school():
    # school a lists 2 of 3: (.9 pos, .5 neg); school b (1 row) lists its only student (pos)
    y = [1, 0, 1, 1]
    s = [0.9, 0.5, 0.1, 0.05]
    r = at_capacity(y, s, [0, 0, 0, 0], ["a", "a", "a", "b"], k=2)
    assert r == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "lift": pytest.approx(8 / 9),
        "listed": 3.0,
    }


def test_calibration_metrics():
    y = [0, 0, 0, 1, 0, 1]
    p = [0.05, 0.05, 0.15, 0.15, 0.85, 0.85]
    # uniform bins of width 0.1: [0, .1): 2 rows, mean .05, rate 0 -> |.05|
    # [.1, .2): 2 rows, mean .15, rate .5 -> .35; [.8, .9): 2 rows, mean .85, rate .5 -> .35
    # ECE = (2*.05 + 2*.35 + 2*.35) / 6 = 0.25
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.25)
    t = reliability_table(y, p, n_bins=10, strategy="uniform")
    assert t["n"].tolist() == [2, 2, 2]
    assert t["observed_rate"].tolist() == [0.0, 0.5, 0.5]
    q = reliability_table(y, p, n_bins=3, strategy="quantile")
    assert q["n"].sum() == 6


def test_lead_time_counts_each_event_once():
    t = pd.to_datetime
    # a: event 2024-12-10, listed 10-01 and 11-01 -> lead 70 days (earliest listing)
    # b: event 2024-11-15, listed only 11-01 -> 14 days; c: never listed
    frame = {
        "listed": [True, True, False, True, False],
        "label": [1, 1, 1, 1, 0],
        "as_of": t(["2024-10-01", "2024-11-01", "2024-10-01", "2024-11-01", "2024-11-01"]),
        "student_id": ["a", "a", "b", "b", "c"],
        "event_date": t(["2024-12-10", "2024-12-10", "2024-11-15", "2024-11-15", None]),
    }
    r = lead_time(**frame)
    assert r == {"events": 2.0, "caught_share": 1.0, "median_lead_days": 42.0, "caught_30d_share": 0.5}


def test_score_metrics_and_per_month():
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame(
        {
            "label": rng.random(n) < 0.1,
            "as_of": pd.to_datetime(np.repeat(["2024-01-01", "2024-02-01"], n // 2)),
            "student_id": np.tile(np.arange(n // 2), 2).astype(str),
            "school_id": rng.choice(["s1", "s2"], n),
        }
    )
    frame["label"] = frame["label"].astype(int)
    frame["event_date"] = frame["as_of"].where(frame["label"] == 1) + pd.Timedelta(days=40)
    perfect = frame["label"] * 0.9 + 0.05
    m = score_metrics(frame, perfect, shares=(0.05, 0.1), capacity=5)
    assert m["roc_auc"] == 1.0 and m["precision_at_5pct"] == 1.0
    assert m["median_lead_days_at_10pct"] == 40.0
    assert set(m) >= {"brier", "ece", "precision_at_cap5", "recall_at_10pct", "lift_at_10pct"}
    raw = score_metrics(frame, rng.random(n), calibrated=False)
    assert np.isnan(raw["brier"]) and 0.3 < raw["roc_auc"] < 0.7
    pm = per_month_metrics(frame, perfect)
    assert pm["rows"].tolist() == [200, 200] and (pm["precision_at_5pct"] == 1.0).all()
