"""Negative sampling: every positive kept, seeded per-date draws, probabilities restored by
the weights and the (never sampled) calibration rows, precision@k close to full data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.config import TrainConfig
from features.errors import ConfigError
from training.fit import fit_model, panel_feature_columns, prepare_features
from training.metrics import score_metrics
from training.pipeline import train_bundle
from training.sample import negative_sample_weights, sampling_applies
from training.splits import last_year_design, monthly_as_of_dates
from training.tracking import run_params


def _panel(n: int, seed: int) -> pd.DataFrame:
    """``n`` students monthly 2021-09..2024-03, base rate about 3% (31 dates)."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i:05d}" for i in range(n)]
    school = rng.choice(list("ABCDEFGH"), n)
    grade = rng.integers(1, 10, n)
    frames = []
    for d in monthly_as_of_dates("2021-09-01", "2024-03-01"):
        absence, trend, failed = rng.beta(1, 12, n), rng.normal(size=n), rng.poisson(0.3, n).astype(float)
        logit = -5.0 + 9 * absence + 0.9 * trend + 0.3 * (grade >= 7) + 0.4 * failed
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
        frames.append(
            pd.DataFrame(
                {
                    "student_id": ids,
                    "as_of": pd.Timestamp(d),
                    "label": y,
                    "event_date": pd.NaT,
                    "school_id": school,
                    "grade": grade,
                    "att_absence_rate_term": absence,
                    "acad_failed_subjects_last": failed,
                    "acad_trend": trend,
                    "acad_noise": rng.normal(size=n),
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    data["student_id"] = pd.Categorical(data["student_id"], categories=ids)
    data["school_id"] = data["school_id"].astype("category")
    data["as_of"] = data["as_of"].astype("datetime64[s]")
    data["event_date"] = data["event_date"].astype("datetime64[s]")
    return data


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel(8000, seed=11)  # 248,000 rows, about 7,600 positives; the calibration
    # rows (half the students, 3 months) hold about 370 positives


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    return TrainConfig(
        n_estimators=60, num_leaves=7, max_depth=3, min_child_samples=20, early_stopping_rounds=10
    )


def test_every_positive_kept_and_each_date_reweighted_to_its_count():
    rng = np.random.default_rng(0)
    days = pd.Series(pd.to_datetime(rng.choice(["2024-01-01", "2024-02-01", "2024-03-01"], 5000)))
    ids = pd.Series([f"s{i}" for i in range(5000)])
    y = (rng.random(5000) < 0.05).astype(int)
    w = negative_sample_weights(y, days, ids, share=0.1, seed=3)
    assert (w[y == 1] == 1).all()
    for day in days.unique():
        neg = (days == day).to_numpy() & (y == 0)
        kept = neg & (w > 0)
        # k = round(0.1 * n) negatives kept per date, weighted back to n
        assert kept.sum() == round(0.1 * neg.sum())
        assert w[neg].sum() == pytest.approx(neg.sum())


def test_draw_is_seeded_and_ignores_row_order():
    rng = np.random.default_rng(1)
    days = pd.Series(pd.to_datetime(rng.choice(["2024-01-01", "2024-02-01"], 2000)))
    ids = pd.Series(pd.Categorical([f"s{i % 1000}" for i in range(2000)]))
    y = (rng.random(2000) < 0.05).astype(int)
    w = negative_sample_weights(y, days, ids, share=0.25, seed=7)
    np.testing.assert_array_equal(w, negative_sample_weights(y, days, ids, share=0.25, seed=7))
    order = rng.permutation(2000)
    shuffled = negative_sample_weights(
        y[order],
        days.iloc[order].reset_index(drop=True),
        ids.astype(str).iloc[order].reset_index(drop=True),  # plain strings: same hash as categories
        share=0.25,
        seed=7,
    )
    np.testing.assert_array_equal(shuffled, w[order])
    assert not np.array_equal(w > 0, negative_sample_weights(y, days, ids, share=0.25, seed=8) > 0)
    assert (negative_sample_weights(y, days, ids, share=1.0, seed=7) == 1).all()


@pytest.mark.parametrize(
    "bad", [{"negative_sample": 0.0}, {"negative_sample": 1.5}, {"sample_above_rows": -1}]
)
def test_config_refuses_bad_sampling(bad):
    with pytest.raises(ConfigError, match=rf"\[train\] {next(iter(bad))}"):
        TrainConfig(**bad)


def test_county_panels_are_not_sampled(panel, config):
    assert not sampling_applies(len(panel), TrainConfig())  # default: above 2M fit rows only
    design = last_year_design(panel["as_of"].unique(), config)
    fitted = fit_model(panel, design, config)
    assert fitted.sampling == {} and fitted.n_fit == design.part(panel["as_of"], "fit").sum()


def test_sampled_fit_is_calibrated_and_ranks_like_full_data(panel, config):
    design = last_year_design(panel["as_of"].unique(), config)
    test = panel.loc[design.part(panel["as_of"], "test")].reset_index(drop=True)
    X = prepare_features(test, panel_feature_columns(panel))
    observed = test["label"].mean()
    full = fit_model(panel, design, config)
    sampled = fit_model(panel, design, replace(config, negative_sample=0.1, sample_above_rows=0))

    s = sampled.sampling
    fit_rows = design.part(panel["as_of"], "fit")
    assert s["share"] == 0.1 and s["fit_rows"] == fit_rows.sum() and s["fit_positives"] > 0
    # every positive plus about 10% of the negatives
    assert s["fit_rows_kept"] == pytest.approx(
        s["fit_positives"] + 0.1 * (s["fit_rows"] - s["fit_positives"]), abs=20
    )
    assert sampled.n_fit == s["fit_rows_kept"] and s["stop_rows_kept"] < s["stop_rows"]
    assert sampled.n_calibration == full.n_calibration  # calibration rows are never sampled

    p_full, p = full.predict_proba(X), sampled.predict_proba(X)
    # probabilities restored: the held-out mean matches the observed rate (about 0.031) up to
    # the calibration rows' own noise (seeds 0-11: within 0.004), and the full-data model's
    assert p.mean() == pytest.approx(observed, abs=0.006)
    assert p.mean() == pytest.approx(p_full.mean(), abs=0.001)
    # the weights alone already put the raw model on the population's scale (an unweighted
    # 10% sample would put it near 0.25)
    assert sampled.estimator.predict_proba(X)[:, 1].mean() == pytest.approx(observed, abs=0.003)
    m_full, m = score_metrics(test, p_full), score_metrics(test, p)
    assert m["ece"] < 0.01
    assert m["roc_auc"] == pytest.approx(m_full["roc_auc"], abs=0.01)
    for k in ("precision_at_5pct", "precision_at_10pct"):
        assert m[k] == pytest.approx(m_full[k], abs=0.02), (k, m[k], m_full[k])


def test_sampling_is_recorded_in_the_bundle_and_mlflow_params(panel, config):
    cfg = replace(config, negative_sample=0.25, sample_above_rows=0, sample_seed=5)
    bundle = train_bundle(panel, cfg)
    assert bundle.sampling["share"] == 0.25 and bundle.sampling["seed"] == 5
    assert bundle.sampling["fit_rows_kept"] < bundle.sampling["fit_rows"]
    assert bundle.config["negative_sample"] == 0.25
    params = run_params(cfg, bundle)
    assert params["sample.share"] == "0.25" and params["sample.fit_rows_kept"] == str(
        bundle.sampling["fit_rows_kept"]
    )
    assert run_params(config, train_bundle(panel, config))["sample.share"] == "1.0"
