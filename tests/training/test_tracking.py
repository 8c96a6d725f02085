"""MLflow: a run on a temporary SQLite store, the champion alias, no student ids logged."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from training.evaluate import evaluate
from training.tracking import load_champion, log_run


@pytest.mark.slow
def test_log_run_registers_champion(synthetic_data, small_config, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    # a registry left pointing elsewhere (another county's job in the same process) must not
    # receive this run's model: under pytest-xdist that gave "Run with id=... not found"
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    rep = evaluate(synthetic_data, small_config, capacity=5, explain_rows=100)
    run_id = log_run(rep.bundle, small_config, report=rep, tracking_uri=uri)
    run = mlflow.get_run(run_id)
    assert run.data.metrics["lightgbm.roc_auc"] == pytest.approx(rep.metrics.loc["lightgbm", "roc_auc"])
    assert run.data.params["train.horizon_days"] == "90"
    champion = load_champion(small_config, tracking_uri=uri)
    assert mlflow.get_registry_uri() == uri
    assert [m.name for m in mlflow.MlflowClient(uri, uri).search_registered_models()] == [
        small_config.registered_model
    ]
    rows = synthetic_data.iloc[:20]
    pd.testing.assert_series_equal(champion.predict_proba(rows), rep.bundle.predict_proba(rows))
    # nothing logged names a student
    local = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="report", dst_path=str(tmp_path))
    )
    text = "".join(p.read_text(encoding="utf-8") for p in local.glob("*") if p.suffix in (".csv", ".md"))
    assert "s001" not in text and "s299" not in text
    assert not any("s0" in v for v in run.data.params.values())
