"""Full-data training on a Dask cluster (``lightgbm.dask``), for when sampling is not wanted.

Most panels do not need this: :mod:`training.sample` fits a province on one machine at a
measured small loss of precision@k (``benchmarks/RESULTS.md``, "Training at scale"). When
every row must be used, :func:`fit_model_dask` fits ``lightgbm.dask.DaskLGBMClassifier``
on the ``fit`` rows across the cluster's workers, then calibrates locally on the same
later rows as :func:`training.fit.fit_model`, and :func:`train_bundle_dask` returns the same
:class:`~training.bundle.ModelBundle` type, so scoring and explanations do not change.

Two documented limits of ``lightgbm.dask`` shape it:

- **No early stopping.** The tree count is fixed beforehand: by default it is the best
  iteration of a sampled local run (:func:`training.fit.fit_model` with negative sampling
  forced), which early-stops on the usual validation rows.
- **Concurrent fits can hang.** Two trainings on one cluster at the same time can deadlock
  in LightGBM's socket set-up (its docs advise one training per cluster at a time). Fits
  from this process are serialised by a lock; do not start fits from two processes
  against one scheduler.

``dask[distributed]`` is imported only when these functions run.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from features.config import TrainConfig
from training.bundle import ModelBundle, bundle_from_fit
from training.calibrate import calibrate
from training.fit import (
    FittedModel,
    fit_model,
    lightgbm_params,
    panel_feature_columns,
    prepare_features,
    validation_halves,
)
from training.splits import TemporalDesign, deployment_design

__all__ = ["fit_model_dask", "train_bundle_dask", "trees_from_sampled_run"]

#: one lightgbm.dask training at a time from this process (concurrent fits can hang)
_ONE_FIT = threading.Lock()


def trees_from_sampled_run(
    panel: pd.DataFrame, design: TemporalDesign, config: TrainConfig, *, share: float | None = None
) -> int:
    """The tree count for a run without early stopping: the best iteration of a local fit on
    every positive and ``share`` of the negatives (default ``config.negative_sample``).

    A sampled run sees fewer rows, so it may stop a little earlier than a full-data run
    would; the benchmark reports both (``benchmarks/training_scale.py``).
    """
    share = config.negative_sample if share is None else share
    probe = fit_model(panel, design, replace(config, negative_sample=share, sample_above_rows=0))
    return int(probe.estimator.best_iteration_ or probe.estimator.n_estimators_)


def _workers(client) -> int:
    return max(1, len(client.scheduler_info()["workers"]))


def fit_model_dask(
    panel: pd.DataFrame,
    design: TemporalDesign,
    config: TrainConfig,
    client,
    *,
    n_estimators: int | None = None,
    features: Sequence[str] | None = None,
    npartitions: int | None = None,
) -> FittedModel:
    """Fit LightGBM on every ``fit`` row with ``lightgbm.dask``, calibrate on the later rows.

    Parameters
    ----------
    panel : DataFrame
        As for :func:`training.fit.fit_model`: ``student_id``, ``as_of``, ``label`` and
        feature columns.
    design : TemporalDesign
        Which as-of dates fit, which validate.
    client : distributed.Client
        The cluster; the fit rows are split into ``npartitions`` (default: one per worker).
    n_estimators : int, optional
        Trees to grow (no early stopping on Dask). Default: :func:`trees_from_sampled_run`.

    Returns
    -------
    FittedModel
        ``estimator`` is a plain ``LGBMClassifier`` (``DaskLGBMClassifier.to_local()``);
        ``sampling`` records the engine, trees, workers and rows.
    """
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMClassifier

    cols = list(features) if features is not None else panel_feature_columns(panel)
    probe_trees = n_estimators is None
    trees = trees_from_sampled_run(panel, design, config) if probe_trees else int(n_estimators)
    if trees < 1:
        raise ValueError(f"n_estimators must be >= 1, got {trees}")
    fit_rows = design.part(panel["as_of"], "fit")
    valid_rows = design.part(panel["as_of"], "valid")
    cal = valid_rows & ~validation_halves(panel["student_id"], config)
    y = panel["label"].to_numpy()

    parts = npartitions or _workers(client)
    frame = prepare_features(panel.loc[fit_rows, cols], cols).assign(__label=y[fit_rows].astype("int8"))
    ddf = dd.from_pandas(frame, npartitions=parts, sort=False)
    params = {k: v for k, v in lightgbm_params(config, cols).items() if k != "n_jobs"} | {
        "n_estimators": trees
    }
    model = DaskLGBMClassifier(client=client, **params)
    with _ONE_FIT, warnings.catch_warnings():
        # each worker's threads come from the cluster; lightgbm.dask says so for any n_jobs
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        model.fit(ddf[cols], ddf["__label"])
    est = model.to_local()
    X_cal = prepare_features(panel.loc[cal, cols], cols)
    calibrator = calibrate(est, X_cal, y[cal], config.calibration)
    record: dict[str, Any] = {
        "engine": "lightgbm.dask",
        "trees": trees,
        "trees_from": "sampled run" if probe_trees else "given",
        "share": 1.0,
        "fit_rows": int(fit_rows.sum()),
        "fit_rows_kept": int(fit_rows.sum()),
        "fit_positives": int(y[fit_rows].sum()),
        "workers": _workers(client),
        "partitions": parts,
    }
    if probe_trees:
        record["probe_share"] = config.negative_sample
    n_stop = int((valid_rows & ~cal).sum())
    return FittedModel(est, calibrator, tuple(cols), int(fit_rows.sum()), n_stop, int(cal.sum()), record)


def train_bundle_dask(
    data: pd.DataFrame,
    config: TrainConfig,
    client,
    *,
    design: TemporalDesign | None = None,
    n_estimators: int | None = None,
) -> ModelBundle:
    """:func:`training.pipeline.train_bundle` with the fit on a Dask cluster (every row).

    Examples
    --------
    A sketch (needs ``dask[distributed]``)::

        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
            bundle = train_bundle_dask(data, TrainConfig(), client)
        bundle.predict_proba(features)  # as any bundle
    """
    design = design or deployment_design(data["as_of"].unique(), config)
    fitted = fit_model_dask(data, design, config, client, n_estimators=n_estimators)
    return bundle_from_fit(fitted, data, config, design)
