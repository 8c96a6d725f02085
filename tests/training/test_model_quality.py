"""On a simulated county, the model beats the county rule and comes near the oracle.

Stated bar: the model's precision on the top 10% list is above the rule's and at least
70% of the oracle's (the simulator's true probability). SIMULATOR.md expects a model that
knew every observed cause to reach about 85-95% of the oracle; a small county with few
positives leaves room for noise, hence 70%.
"""

from __future__ import annotations

import pytest

from features.config import BaoxueConfig, TrainConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from training.evaluate import evaluate_tables

ORACLE_SHARE = 0.70


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_model_beats_rule_and_nears_oracle(seed):
    county = simulate_county(students=1500, years=4, seed=seed, preset="reap_2010")
    tables = tables_from_frames(county.frames, max_reject_share=1.0).tables
    config = BaoxueConfig(train=TrainConfig(n_estimators=150))
    report = evaluate_tables(tables, config, truth=county.truth["risk_monthly"])
    m = report.metrics["precision_at_10pct"]
    assert m["lightgbm"] > m["rule"], report.headline()
    assert m["lightgbm"] >= ORACLE_SHARE * m["oracle"], report.headline()
    assert report.metrics.loc["lightgbm", "ece"] < 0.02
