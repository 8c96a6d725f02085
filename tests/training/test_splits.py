"""The splitters: no training label window reaches a test as-of date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from features.config import TrainConfig
from features.errors import ConfigError
from training.labels import label_lag_days
from training.splits import (
    AsOfSplit,
    TemporalDesign,
    deployment_design,
    last_year_design,
    monthly_as_of_dates,
)

CFG = TrainConfig()


def _panel(n_per_date: int = 5) -> pd.DataFrame:
    dates = monthly_as_of_dates("2021-09-01", "2024-06-01")
    rng = np.random.default_rng(0)
    rows = [(d, rng.normal(), int(i % 2)) for d in dates for i in range(n_per_date)]
    return pd.DataFrame(rows, columns=["as_of", "x", "label"])


def test_asof_split_gap_holds_for_every_fold():
    panel = _panel()
    lag = pd.Timedelta(days=label_lag_days(CFG))
    cv = AsOfSplit(n_splits=6, gap_days=lag.days)
    folds = list(cv.split(panel, groups=panel["as_of"]))
    assert len(folds) == cv.get_n_splits() == 6
    for train, test in folds:
        test_day = panel["as_of"].iloc[test].unique()
        assert len(test_day) == 1  # one as-of date per fold
        # every training row's label window (as_of + horizon + resolution) ends by the test date
        label_end = panel["as_of"].iloc[train] + lag
        assert (label_end <= test_day[0]).all()
        assert not set(train) & set(test)


def test_asof_split_reads_as_of_column_and_plugs_into_sklearn():
    panel = _panel()
    scores = cross_val_score(
        LogisticRegression(), panel[["x"]], panel["label"], groups=panel["as_of"], cv=AsOfSplit(3, 120)
    )
    assert len(scores) == 3
    assert len(list(AsOfSplit(2).split(panel))) == 2  # X with an as_of column, no groups


def test_asof_split_errors_name_the_problem():
    days = pd.to_datetime(["2024-01-01", "2024-02-01"])
    with pytest.raises(ValueError, match="n_splits=3 but only 2 distinct"):
        list(AsOfSplit(3).split(None, groups=days))
    with pytest.raises(ValueError, match="before the test date 2024-02-01"):
        list(AsOfSplit(1, gap_days=90).split(None, groups=days))
    with pytest.raises(ValueError, match="needs each row's as-of date"):
        list(AsOfSplit(1).split(np.zeros((2, 1))))


def test_last_year_design_has_no_overlap():
    dates = monthly_as_of_dates("2021-09-01", "2024-03-01")
    d = last_year_design(dates, CFG)
    lag = pd.Timedelta(days=label_lag_days(CFG))
    # test = every month of the last school year (Sep 2023 .. Mar 2024)
    assert [t.strftime("%Y-%m") for t in d.test] == [
        "2023-09",
        "2023-10",
        "2023-11",
        "2023-12",
        "2024-01",
        "2024-02",
        "2024-03",
    ]
    assert max(d.fit) + lag <= min(d.valid)
    assert max(d.valid) + lag <= min(d.test)
    assert len(d.valid) == CFG.valid_months
    panel = _panel()
    masks = [d.part(panel["as_of"], p) for p in ("fit", "valid", "test")]
    assert not (masks[0] & masks[1]).any() and not (masks[1] & masks[2]).any()


def test_design_refuses_overlap_and_too_little_history():
    t = pd.Timestamp
    with pytest.raises(ConfigError, match="valid/test dates overlap"):
        TemporalDesign((t("2023-01-01"),), (t("2023-06-01"),), (t("2023-07-01"),), gap_days=120)
    with pytest.raises(ConfigError, match="no as-of date is 120 days before"):
        deployment_design(monthly_as_of_dates("2024-01-01", "2024-04-01"), CFG)
