"""Full-data training on a Dask cluster: a two-worker LocalCluster, the same bundle type."""

from __future__ import annotations

import distributed
import pytest

from training.bundle import ModelBundle, load_bundle, save_bundle
from training.cluster import fit_model_dask, train_bundle_dask, trees_from_sampled_run
from training.fit import fit_model, panel_feature_columns, prepare_features
from training.metrics import score_metrics
from training.splits import deployment_design, last_year_design

pytestmark = pytest.mark.slow  # a Dask cluster fit


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_dask_fit_uses_every_row_and_the_sampled_tree_count(synthetic_data, small_config, client, tmp_path):
    design = last_year_design(synthetic_data["as_of"].unique(), small_config)
    fitted = fit_model_dask(synthetic_data, design, small_config, client)
    trees = trees_from_sampled_run(synthetic_data, design, small_config)
    assert type(fitted.estimator).__name__ == "LGBMClassifier"  # to_local(): scoring is unchanged
    assert fitted.estimator.booster_.num_trees() == trees == fitted.sampling["trees"]
    fit_rows = design.part(synthetic_data["as_of"], "fit")
    assert fitted.n_fit == fit_rows.sum() == fitted.sampling["fit_rows_kept"]
    assert fitted.sampling["workers"] == 2 and fitted.sampling["engine"] == "lightgbm.dask"

    # ranks like the same trees fitted in-process, and stays calibrated
    local = fit_model(synthetic_data, design, small_config)
    test = synthetic_data.loc[design.part(synthetic_data["as_of"], "test")].reset_index(drop=True)
    X = prepare_features(test, panel_feature_columns(synthetic_data))
    m_dask, m_local = (
        score_metrics(test, fitted.predict_proba(X)),
        score_metrics(test, local.predict_proba(X)),
    )
    assert m_dask["roc_auc"] == pytest.approx(m_local["roc_auc"], abs=0.02)
    assert fitted.predict_proba(X).mean() == pytest.approx(test["label"].mean(), abs=0.02)


def test_dask_bundle_scores_like_any_bundle(synthetic_data, small_config, client, tmp_path):
    bundle = train_bundle_dask(synthetic_data, small_config, client, n_estimators=12)
    assert isinstance(bundle, ModelBundle)
    assert bundle.window == deployment_design(synthetic_data["as_of"].unique(), small_config).window()
    assert bundle.sampling["trees"] == 12 and bundle.sampling["trees_from"] == "given"
    again = load_bundle(save_bundle(bundle, tmp_path / "bundle.joblib"))
    rows = synthetic_data.iloc[:40]
    risk = again.predict_proba(rows)
    assert risk.between(0, 1).all() and risk.index.equals(rows.index)
    assert again.model.booster_.num_trees() == 12
