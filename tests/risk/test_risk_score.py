"""Scoring and TreeSHAP: calibrated risk as the bundle gives it, additivity, chunking, mismatches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataContractError
from risk.explain import EXPECTED, FAMILIES, contributions, family_contributions
from risk.score import load_model, raw_margin, score
from training.bundle import save_bundle


def test_fast_path_equals_the_bundle(risk_bundle, day_features):
    p = score(risk_bundle, day_features)
    expected = risk_bundle.predict_proba(day_features)
    assert p.name == "probability"
    assert p.index.equals(day_features.index)
    np.testing.assert_allclose(p.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)


def test_chunking_does_not_change_anything(risk_bundle, day_features):
    whole = score(risk_bundle, day_features)
    pieces = score(risk_bundle, day_features, chunk_size=37)
    pd.testing.assert_series_equal(whole, pieces)
    c1 = contributions(risk_bundle, day_features.iloc[:200])
    c2 = contributions(risk_bundle, day_features.iloc[:200], chunk_size=13)
    pd.testing.assert_frame_equal(c1, c2)


def test_contributions_add_up_to_the_margin_for_every_row(risk_bundle, day_features):
    contrib = contributions(risk_bundle, day_features)
    assert list(contrib.columns) == [*risk_bundle.features, EXPECTED]
    margin = raw_margin(risk_bundle, day_features)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), margin, rtol=0, atol=1e-9)
    # and the margin is what the uncalibrated model's probability says
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), risk_bundle.raw_score(day_features), atol=1e-12)
    fam = family_contributions(contrib)
    assert list(fam.columns) == list(FAMILIES)
    np.testing.assert_allclose(fam.sum(axis=1), contrib.drop(columns=EXPECTED).sum(axis=1), atol=1e-9)


def test_a_missing_column_is_named(risk_bundle, day_features):
    used = risk_bundle.features[3]
    with pytest.raises(DataContractError, match=used):
        score(risk_bundle, day_features.drop(columns=used))
    with pytest.raises(DataContractError, match=used):
        contributions(risk_bundle, day_features.drop(columns=used))


def test_a_mistyped_column_is_named(risk_bundle, day_features):
    cat = next(c for c in risk_bundle.features if risk_bundle.dtypes[c] == "category")
    bad = day_features.assign(**{cat: day_features[cat].astype("str")})
    with pytest.raises(DataContractError, match=f"{cat}.*category"):
        score(risk_bundle, bad)


def test_empty_frame_scores_to_nothing(risk_bundle, day_features):
    assert len(score(risk_bundle, day_features.iloc[:0])) == 0


def test_load_from_a_file_records_its_hash(risk_bundle, tmp_path, day_features):
    path = save_bundle(risk_bundle, tmp_path / "m.joblib")
    model = load_model(path)
    assert model.version.startswith("m.joblib sha256:")
    assert risk_bundle.code_version in model.version
    pd.testing.assert_series_equal(score(model, day_features), score(risk_bundle, day_features))
    with pytest.raises(FileNotFoundError, match="neither a bundle file nor an MLflow URI"):
        load_model(tmp_path / "missing.joblib")


def test_load_from_the_mlflow_registry(risk_bundle, risk_config, tmp_path, day_features, monkeypatch):
    from dataclasses import replace

    from training.tracking import log_run

    monkeypatch.chdir(tmp_path)  # MLflow writes its artifact folder here
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    log_run(risk_bundle, replace(risk_config.train, tracking_uri=uri))
    model = load_model("models:/baoxue@champion", tracking_uri=uri)
    assert model.version.startswith("baoxue v1 (")
    pd.testing.assert_series_equal(score(model, day_features), score(risk_bundle, day_features))
