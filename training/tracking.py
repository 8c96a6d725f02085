"""MLflow logging: parameters, metrics, report tables and the model bundle; alias ``champion``.

What goes to MLflow is aggregate only: the config, metric values, reliability, per-month
and fairness tables (groups, never students), the markdown report and the bundle file.
Never names, student ids or raw rows. The registered model is an MLflow ``pyfunc`` that
wraps the joblib bundle, so the bundle stays loadable without MLflow
(:func:`training.bundle.load_bundle`).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.tracking import MlflowClient

from features.config import TrainConfig
from training.bundle import ModelBundle, load_bundle, save_bundle
from training.evaluate import EvaluationReport
from training.promotion import PromotionDecision, compare_on_window

__all__ = [
    "run_params",
    "use_store",
    "BundlePyfunc",
    "Registration",
    "log_run",
    "load_champion",
    "log_model_card",
    "promote",
    "record_decision",
    "register_challenger",
    "CHAMPION_ALIAS",
    "CHALLENGER_ALIAS",
]

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"

log = logging.getLogger(__name__)


class BundlePyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper of a :class:`ModelBundle`: ``predict`` returns calibrated risk."""

    def load_context(self, context) -> None:
        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.Series:
        return self.bundle.predict_proba(model_input)


def use_store(uri: str) -> None:
    """Point MLflow's tracking *and* model registry at ``uri``.

    The registry URI is a process-wide setting of its own: one set earlier (by another
    county's job in the same process, a notebook or a test) would otherwise stay, and a
    model would be registered in one store while its run is logged in another ("Run with
    id=... not found"). baoxue keeps runs and registered models in the same store.
    """
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


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
    use_store(tracking_uri or config.tracking_uri)
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


def _model_version(client: MlflowClient, name: str, version: str | int):
    try:
        return client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as exc:
        raise ValueError(f"registered model {name!r} has no version {version!r}") from exc


def _alias_version(client: MlflowClient, name: str, alias: str) -> str:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return ""


def promote(
    config: TrainConfig,
    version: str | int,
    reason: str,
    *,
    tracking_uri: str | None = None,
    by: str = "rule",
) -> str:
    """Give model ``version`` the alias ``champion``; returns the version it replaced ("" if none).

    The reason, the version it replaced and who decided (``by``: ``rule`` when
    :func:`register_challenger` promoted it, ``override`` for ``baoxue promote``) are recorded
    as tags of the model version (``promotion_reason``, ``replaced_champion``,
    ``promoted_by``). A promoted challenger loses the ``challenger`` alias.
    """
    if not reason.strip():
        raise ValueError("a promotion needs a reason (--reason TEXT)")
    use_store(tracking_uri or config.tracking_uri)
    client = MlflowClient()
    name = config.registered_model
    _model_version(client, name, version)
    old = _alias_version(client, name, CHAMPION_ALIAS)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    client.set_model_version_tag(name, str(version), "promotion_reason", reason)
    client.set_model_version_tag(name, str(version), "replaced_champion", old)
    client.set_model_version_tag(name, str(version), "promoted_by", by)
    if _alias_version(client, name, CHALLENGER_ALIAS) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER_ALIAS)
    log.info(
        "model %s version %s -> champion (replaced %s, by %s): %s", name, version, old or "none", by, reason
    )
    return old


def record_decision(
    config: TrainConfig, version: str | int, reason: str, *, tracking_uri: str | None = None
) -> None:
    """Record why a challenger was not promoted (tag ``challenger_reason``)."""
    use_store(tracking_uri or config.tracking_uri)
    MlflowClient().set_model_version_tag(config.registered_model, str(version), "challenger_reason", reason)
    log.info("model %s version %s stays challenger: %s", config.registered_model, version, reason)


@dataclass(frozen=True)
class Registration:
    """What :func:`register_challenger` did: the run, the new version, the alias it holds now
    (``champion`` or ``challenger``), the version that was champion before, and the decision."""

    run_id: str
    version: str
    alias: str
    previous_champion: str
    decision: PromotionDecision


def register_challenger(
    bundle: ModelBundle,
    config: TrainConfig,
    window: pd.DataFrame,
    *,
    report: EvaluationReport | None = None,
    capacity: int = 10,
    max_ece: float = 0.05,
    tracking_uri: str | None = None,
    run_name: str | None = None,
) -> Registration:
    """Log ``bundle`` as a new version aliased ``challenger``, then promote it to ``champion``
    only by the rule (:func:`training.promotion.compare_on_window`): on ``window`` (the latest
    labelled rows, :func:`training.pipeline.latest_window`) its precision at ``capacity`` is
    not worse than the champion's by more than ``[train] promote_tolerance`` and its ECE is
    within ``max_ece``. The first model becomes champion. The decision's reason is a tag of
    the run (``promotion_decision``) and of the model version (``promotion_reason`` or
    ``challenger_reason``).
    """
    uri = tracking_uri or config.tracking_uri
    use_store(uri)
    client = MlflowClient()
    old = _alias_version(client, config.registered_model, CHAMPION_ALIAS)
    champion = load_champion(config, tracking_uri=uri) if old else None
    run_id = log_run(
        bundle, config, report=report, tracking_uri=uri, run_name=run_name, alias=CHALLENGER_ALIAS
    )
    version = _alias_version(client, config.registered_model, CHALLENGER_ALIAS)
    try:
        decision = compare_on_window(
            bundle, champion, window, capacity=capacity, tolerance=config.promote_tolerance, max_ece=max_ece
        )
    except (KeyError, ValueError) as exc:  # the champion cannot score today's features
        if champion is None:
            raise
        decision = compare_on_window(bundle, None, window, capacity=capacity, max_ece=max_ece)
        decision = PromotionDecision(
            True,
            f"the champion (version {old}) cannot score the window ({exc}): promoted",
            decision.challenger,
            None,
        )
    what = "promoted" if decision.promote else "stays challenger"
    client.set_tag(run_id, "promotion_decision", f"version {version} {what}: {decision.reason}")
    for k, v in decision.challenger.items():
        if k in ("ece", f"precision_at_cap{capacity}") and math.isfinite(v):
            client.log_metric(run_id, f"window.{k}", v)
    for k, v in (decision.champion or {}).items():
        if k in ("ece", f"precision_at_cap{capacity}") and math.isfinite(v):
            client.log_metric(run_id, f"window.champion.{k}", v)
    if decision.promote:
        promote(config, version, decision.reason, tracking_uri=uri, by="rule")
    else:
        record_decision(config, version, decision.reason, tracking_uri=uri)
    alias = CHAMPION_ALIAS if decision.promote else CHALLENGER_ALIAS
    return Registration(run_id, version, alias, old, decision)


def log_model_card(
    config: TrainConfig, run_id: str, paths, *, version: str = "", tracking_uri: str | None = None
) -> None:
    """Store the model card files (``jobs.reports.model_card.write_model_card``) as artifacts
    of the run under ``model_card/``; with ``version`` the model version's tag ``model_card``
    names them."""
    use_store(tracking_uri or config.tracking_uri)
    client = MlflowClient()
    names = []
    for p in paths:
        client.log_artifact(run_id, str(p), artifact_path="model_card")
        names.append(f"model_card/{Path(p).name}")
    if version:
        client.set_model_version_tag(config.registered_model, str(version), "model_card", ", ".join(names))


def load_champion(config: TrainConfig, *, tracking_uri: str | None = None) -> ModelBundle:
    """The bundle of the registered model version aliased ``champion``."""
    use_store(tracking_uri or config.tracking_uri)
    client = MlflowClient()
    version = client.get_model_version_by_alias(config.registered_model, CHAMPION_ALIAS)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path="bundle/bundle.joblib", dst_path=tmp
        )
        return load_bundle(local)
