"""The evaluation report on a synthetic panel: every model row, every table, no leakage of ids."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.evaluate import evaluate
from training.fit import fit_model, validation_halves
from training.pipeline import train_bundle
from training.splits import last_year_design


def test_evaluate_reports_model_and_baselines(synthetic_data, small_config):
    truth = synthetic_data[["student_id", "as_of"]].assign(p_true=0.1)
    rep = evaluate(synthetic_data, small_config, truth=truth, capacity=5, explain_rows=200)
    assert list(rep.metrics.index) == ["lightgbm", "rule", "logistic", "school_context", "oracle"]
    for col in (
        "roc_auc",
        "precision_at_5pct",
        "recall_at_10pct",
        "lift_at_10pct",
        "brier",
        "ece",
        "precision_at_cap5",
    ):
        assert col in rep.metrics.columns
    # the signal is strong: the model ranks far better than chance and than school context
    assert rep.metrics.loc["lightgbm", "roc_auc"] > 0.7
    assert rep.metrics.loc["lightgbm", "roc_auc"] > rep.metrics.loc["school_context", "roc_auc"]
    assert rep.metrics.loc["lightgbm", "shap_rows_per_s"] > 0
    assert rep.metrics.loc["lightgbm", "max_tree_depth"] <= small_config.max_depth
    # test period = every month of the last school year (2023-09 .. 2024-03)
    assert sorted(rep.per_month["as_of"].dt.strftime("%Y-%m").unique())[0] == "2023-09"
    assert set(rep.fairness.gaps.index) == {"sex", "grade_band", "school_id"}
    md = rep.to_markdown()
    assert "s001" not in md and "lightgbm" in md
    assert rep.bundle.metrics["roc_auc"] == rep.metrics.loc["lightgbm", "roc_auc"]


def test_fit_calibration_and_stopping_rows_are_later_and_disjoint(synthetic_data, small_config):
    design = last_year_design(synthetic_data["as_of"].unique(), small_config)
    fitted = fit_model(synthetic_data, design, small_config)
    fit_rows = design.part(synthetic_data["as_of"], "fit")
    valid_rows = design.part(synthetic_data["as_of"], "valid")
    stop = validation_halves(synthetic_data["student_id"], small_config)
    assert fitted.n_fit == fit_rows.sum()
    assert fitted.n_stop == (valid_rows & stop).sum() and fitted.n_calibration == (valid_rows & ~stop).sum()
    assert fitted.n_stop > 0 and fitted.n_calibration > 0
    # a student's rows all go to one side of the validation split
    side = pd.Series(stop).groupby(synthetic_data["student_id"].astype(str).to_numpy()).nunique()
    assert (side == 1).all()


def test_training_is_deterministic(synthetic_data, small_config):
    a = train_bundle(synthetic_data, small_config)
    b = train_bundle(synthetic_data, small_config)
    rows = synthetic_data.iloc[:50]
    np.testing.assert_array_equal(a.predict_proba(rows).to_numpy(), b.predict_proba(rows).to_numpy())
    assert a.window["test"] == "" and a.window["valid"] == "2024-01-01..2024-03-01"


def test_rule_columns_follow_the_bottom_share():
    from features.config import BaoxueConfig, FeaturesConfig
    from training.evaluate import RULE_COLUMNS, rule_columns

    assert rule_columns() == RULE_COLUMNS
    assert rule_columns(BaoxueConfig(features=FeaturesConfig(bottom_share=0.3)))[-1] == "acad_bottom30_class"
