"""The model bundle: round trip, and clear errors for a wrong features frame."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import DataContractError
from training.bundle import load_bundle, save_bundle
from training.pipeline import train_bundle


@pytest.fixture(scope="module")
def bundle(synthetic_data, small_config):
    return train_bundle(synthetic_data, small_config)


def test_round_trip(bundle, synthetic_data, tmp_path):
    path = save_bundle(bundle, tmp_path / "m" / "bundle.joblib")
    again = load_bundle(path)
    rows = synthetic_data.iloc[:40]
    pd.testing.assert_series_equal(bundle.predict_proba(rows), again.predict_proba(rows))
    assert again.features == bundle.features
    assert again.categories["ctx_school_type"] == ["junior", "primary"]
    assert again.config["horizon_days"] == 90 and again.code_version.startswith("baoxue")
    risk = again.predict_proba(rows)
    assert risk.name == "risk" and risk.between(0, 1).all() and risk.index.equals(rows.index)


def test_missing_and_mistyped_columns_are_named(bundle, synthetic_data):
    rows = synthetic_data.iloc[:5]
    with pytest.raises(DataContractError, match=r"column 'acad_trend' is missing"):
        bundle.predict_proba(rows.drop(columns="acad_trend"))
    with pytest.raises(DataContractError, match=r"'ctx_school_type' must be a pandas category"):
        bundle.predict_proba(rows.assign(ctx_school_type=rows["ctx_school_type"].astype(str)))
    with pytest.raises(DataContractError, match=r"'acad_trend' must be numeric"):
        bundle.predict_proba(rows.assign(acad_trend="x"))


def test_unseen_category_scores(bundle, synthetic_data):
    rows = synthetic_data.iloc[:3].copy()
    rows["ctx_school_type"] = pd.Categorical(["teaching_point"] * 3)
    assert bundle.predict_proba(rows).notna().all()


def test_load_refuses_other_files(tmp_path):
    import joblib

    joblib.dump({"not": "a bundle"}, tmp_path / "x.joblib")
    with pytest.raises(DataContractError, match="not a baoxue ModelBundle"):
        load_bundle(tmp_path / "x.joblib")
    with pytest.raises(FileNotFoundError, match="baoxue train"):
        load_bundle(tmp_path / "missing.joblib")
