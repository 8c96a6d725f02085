"""MLflow logging: parameters, metrics, report tables and the model bundle; alias ``champion``.

What goes to MLflow is aggregate only: the config, metric values, reliability, per-month
and fairness tables (groups, never students), the markdown report and the bundle file.
Never names, student ids or raw rows. The registered model is an MLflow ``pyfunc`` that
wraps the joblib bundle, so the bundle stays loadable without MLflow
(:func:`training.bundle.load_bundle`).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.tracking import MlflowClient

from features.config import TrainConfig
from training.bundle import ModelBundle, load_bundle, save_bundle
from training.evaluate import EvaluationReport

__all__ = [
    "run_params",
    "BundlePyfunc",
    "log_run",
    "load_champion",
    "promote",
    "record_decision",
    "CHAMPION_ALIAS",
    "CHALLENGER_ALIAS",
]

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"


class BundlePyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper of a :class:`ModelBundle`: ``predict`` returns calibrated risk."""

    def load_context(self, context) -> None:
        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.Series:
        return self.bundle.predict_proba(model_input)


def run_params(config: TrainConfig, bundle: ModelBundle) -> dict[str, str]:
    """The MLflow parameters of a bundle: its training config, window, code version, feature count
    and how its fit rows were sampled (aggregate settings only, never data)."""
    out = {f"train.{k}": str(v) for k, v in bundle.config.items()}
    out |= {f"window.{k}": v for k, v in bundle.window.items()}
    out["code_version"] = bundle.code_version
    out["n_features"] = str(len(bundle.features))
    out |= {f"sample.{k}": str(v) for k, v in bundle.sampling.items()}
    if not bundle.sampling:
        out["sample.share"] = "1.0"  # every fit row was used
    th = getattr(bundle, "thresholds", None) or {}
    for k, v in th.items():  # the tiers' thresholds and trigger lifts (training.thresholds)
        if isinstance(v, dict):
            out |= {f"tiers.{k}.{kk}": f"{vv:.6g}" for kk, vv in v.items()}
        else:
            out[f"tiers.{k}"] = f"{v:.6g}" if isinstance(v, float) else str(v)
    return out


def _finite(d: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if v is not None and math.isfinite(float(v))}


def log_run(
    bundle: ModelBundle,
    config: TrainConfig,
    *,
    report: EvaluationReport | None = None,
    tracking_uri: str | None = None,
    run_name: str | None = None,
    register: bool = True,
    alias: str = CHAMPION_ALIAS,
) -> str:
    """Log one training (and, with ``report``, evaluation) run; returns the run id.

    With ``register`` the bundle becomes a new version of ``config.registered_model`` and
    takes ``alias`` (``champion``; pass ``challenger`` and decide with
    :func:`training.promotion.compare_on_window`, then :func:`promote`).
    """
    mlflow.set_tracking_uri(tracking_uri or config.tracking_uri)
    mlflow.set_experiment(config.experiment)
    with mlflow.start_run(run_name=run_name) as run, tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        mlflow.log_params(run_params(config, bundle))
        mlflow.log_metrics(_finite(bundle.metrics))
        if report is not None:
            for model, row in report.metrics.iterrows():
                mlflow.log_metrics(_finite({f"{model}.{k}": v for k, v in row.items()}))
            mlflow.log_metrics(_finite({f"counts.{k}": v for k, v in report.counts.items()}))
            tables = {
                "metrics.csv": report.metrics.reset_index(),
                "reliability.csv": report.reliability,
                "per_month.csv": report.per_month,
                "fairness_by_group.csv": report.fairness.by_group,
                "fairness_gaps.csv": report.fairness.gaps.reset_index(),
                "tiers.csv": report.tiers,
            }
            for name, table in tables.items():
                table.to_csv(tmpdir / name, index=False)
                mlflow.log_artifact(str(tmpdir / name), artifact_path="report")
            (tmpdir / "report.md").write_text(report.to_markdown(), encoding="utf-8")
            mlflow.log_artifact(str(tmpdir / "report.md"), artifact_path="report")
        (tmpdir / "features.json").write_text(
            json.dumps({"features": list(bundle.features), "dtypes": bundle.dtypes}, indent=1),
            encoding="utf-8",
        )
        mlflow.log_artifact(str(tmpdir / "features.json"))
        path = save_bundle(bundle, tmpdir / "bundle.joblib")
        mlflow.log_artifact(str(path), artifact_path="bundle")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BundlePyfunc(),
            artifacts={"bundle": str(path)},
            pip_requirements=["baoxue"],
            registered_model_name=config.registered_model if register else None,
        )
        if register:
            version = info.registered_model_version
            MlflowClient().set_registered_model_alias(config.registered_model, alias, str(version))
        return run.info.run_id


def promote(config: TrainConfig, version: str | int, reason: str, *, tracking_uri: str | None = None) -> None:
    """Give model ``version`` the alias ``champion``; the reason and the version it replaced are
    recorded as tags of the model version (``promotion_reason``, ``replaced_champion``)."""
    mlflow.set_tracking_uri(tracking_uri or config.tracking_uri)
    client = MlflowClient()
    name = config.registered_model
    try:
        old = client.get_model_version_by_alias(name, CHAMPION_ALIAS).version
    except mlflow.exceptions.MlflowException:
        old = ""
    client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    client.set_model_version_tag(name, str(version), "promotion_reason", reason)
    client.set_model_version_tag(name, str(version), "replaced_champion", str(old))


def record_decision(
    config: TrainConfig, version: str | int, reason: str, *, tracking_uri: str | None = None
) -> None:
    """Record why a challenger was not promoted (tag ``challenger_reason``)."""
    mlflow.set_tracking_uri(tracking_uri or config.tracking_uri)
    MlflowClient().set_model_version_tag(config.registered_model, str(version), "challenger_reason", reason)


def load_champion(config: TrainConfig, *, tracking_uri: str | None = None) -> ModelBundle:
    """The bundle of the registered model version aliased ``champion``."""
    mlflow.set_tracking_uri(tracking_uri or config.tracking_uri)
    client = MlflowClient()
    version = client.get_model_version_by_alias(config.registered_model, CHAMPION_ALIAS)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path="bundle/bundle.joblib", dst_path=tmp
        )
        return load_bundle(local)
