"""The time-budgeted settings search (``[train] search_seconds``, training.fit.search_lightgbm)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import TrainConfig
from features.errors import ConfigError
from training.fit import SEARCH_GRID, search_lightgbm

SMALL = TrainConfig(n_estimators=20, num_leaves=4, min_child_samples=10, early_stopping_rounds=5)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "att_unexcused_days_10d": rng.poisson(1, 1200).astype(float),
            "ctx_grade": rng.integers(1, 10, 1200).astype(float),
        }
    )
    p = 1 / (1 + np.exp(-(X["att_unexcused_days_10d"] - 3)))
    y = (rng.random(1200) < p).astype(int)
    return X.iloc[:800], y[:800], X.iloc[800:], y[800:]


def test_search_tries_the_grid_in_order_and_keeps_the_best(rows):
    grid = ({}, {"num_leaves": 2}, {"learning_rate": 0.3})
    cfg = TrainConfig(**{**SMALL.__dict__, "search_seconds": 1e6})
    model, record = search_lightgbm(*rows, cfg, grid=grid)
    assert record["tried"] == 3 and len(record["scores"]) == 3
    best = int(np.argmax(record["scores"]))  # ties keep the earlier candidate, as argmax does
    assert record["overrides"] == grid[best]
    assert model.get_params()["num_leaves"] == (2 if best == 1 else 4)


def test_an_exhausted_budget_still_fits_the_configured_settings(rows):
    cfg = TrainConfig(**{**SMALL.__dict__, "search_seconds": 1e-9})
    _, record = search_lightgbm(*rows, cfg)
    assert record["tried"] == 1 and record["overrides"] == {}
    assert SEARCH_GRID[0] == {}


def test_search_seconds_must_not_be_negative():
    with pytest.raises(ConfigError, match=r"\[train\] search_seconds must be >= 0, got -1"):
        TrainConfig(search_seconds=-1)
