"""Fit the LightGBM risk model: early stopping on a later period, deterministic with a seed.

The validation period (``TemporalDesign.valid``) is split by student into an
early-stopping half and a calibration half (``TrainConfig.early_stopping_share``), so
the three row sets (fit, early stopping, calibration) are disjoint and the last two are
later than the first.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.config import TrainConfig
from training.calibrate import calibrate
from training.monotone import monotone_constraints
from training.sample import SampleRecord, negative_sample_weights, sampling_applies
from training.splits import TemporalDesign

__all__ = [
    "FEATURE_PREFIXES",
    "panel_feature_columns",
    "prepare_features",
    "validation_halves",
    "lightgbm_params",
    "fit_lightgbm",
    "SEARCH_GRID",
    "search_lightgbm",
    "FittedModel",
    "fit_model",
    "tree_depths",
    "explain_speed",
]

#: the registered feature-family prefixes (STYLE C3)
FEATURE_PREFIXES = ("att_", "acad_", "hard_", "lb_", "ctx_")


def panel_feature_columns(panel: pd.DataFrame) -> list[str]:
    """The feature columns of a panel: every column with a registered prefix, in order.

    >>> panel_feature_columns(pd.DataFrame(columns=["student_id", "as_of", "att_x", "acad_y", "label"]))
    ['att_x', 'acad_y']
    """
    return [c for c in panel.columns if str(c).startswith(FEATURE_PREFIXES)]


def prepare_features(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The model's input: ``columns`` of ``frame``; booleans and nullable numbers as float64
    (missing stays NaN), categories kept as pandas ``category``. ``frame`` is not changed.

    >>> f = pd.DataFrame({"att_a": pd.array([1, None], dtype="Int64"), "lb_b": pd.array([True, None])})
    >>> prepare_features(f, ["att_a", "lb_b"]).dtypes.astype(str).tolist()
    ['float64', 'float64']
    """
    out = {}
    for c in columns:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s
        else:
            out[c] = pd.to_numeric(s.astype("float64") if s.dtype == bool else s, errors="raise").astype(
                "float64"
            )
    return pd.DataFrame(out, index=frame.index)


def validation_halves(student_id: pd.Series, config: TrainConfig) -> np.ndarray:
    """True for validation rows used for early stopping, False for calibration rows.

    The split is by student (all of a student's rows go the same way), deterministic for a
    seed, with ``early_stopping_share`` of students on the early-stopping side.
    """
    key = pd.util.hash_array(student_id.astype("str").to_numpy(), hash_key=f"{config.seed:016d}"[:16])
    return (key % 10_000) < config.early_stopping_share * 10_000


def lightgbm_params(config: TrainConfig, columns: Sequence[str] | None = None) -> dict:
    """LightGBM keyword arguments from the config (binary objective, deterministic); with
    ``columns`` and ``[train] monotone``, the monotone constraints of those feature columns
    (:func:`training.monotone.monotone_constraints`).

    >>> lightgbm_params(TrainConfig(), ["att_unexcused_days_10d", "ctx_grade"])["monotone_constraints"]
    [1, 0]
    >>> "monotone_constraints" in lightgbm_params(TrainConfig(monotone=False), ["att_unexcused_days_10d"])
    False
    """
    constraints = {}
    if config.monotone and columns is not None:
        directions = monotone_constraints(columns)
        if any(directions):
            constraints = {"monotone_constraints": directions}
    return constraints | {
        "objective": "binary",
        "n_estimators": config.n_estimators,
        "num_leaves": config.num_leaves,
        "max_depth": config.max_depth,
        "min_child_samples": config.min_child_samples,
        "learning_rate": config.learning_rate,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "random_state": config.seed,
        "n_jobs": config.n_jobs,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def fit_lightgbm(
    X_fit: pd.DataFrame,
    y_fit,
    X_stop: pd.DataFrame,
    y_stop,
    config: TrainConfig,
    *,
    w_fit=None,
    w_stop=None,
    overrides: dict | None = None,
) -> lgb.LGBMClassifier:
    """Fit LightGBM on ``X_fit`` with early stopping on the later rows ``X_stop``.

    ``w_fit`` / ``w_stop`` are sample weights (negative sampling, :mod:`training.sample`);
    the early-stopping log loss is weighted the same way. With ``[train] monotone`` the
    features of known direction are constrained (:mod:`training.monotone`). The fitted model
    keeps ``best_iteration_`` trees for prediction. ``overrides`` replace some of
    :func:`lightgbm_params` (one entry of :data:`SEARCH_GRID`).
    """
    model = lgb.LGBMClassifier(**(lightgbm_params(config, list(X_fit.columns)) | (overrides or {})))
    model.fit(
        X_fit,
        np.asarray(y_fit),
        sample_weight=None if w_fit is None else np.asarray(w_fit),
        eval_X=(X_stop,),
        eval_y=(np.asarray(y_stop),),
        eval_sample_weight=None if w_stop is None else [np.asarray(w_stop)],
        eval_metric="binary_logloss",
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    return model


#: the tree settings :func:`search_lightgbm` tries, in this order, each on top of the configured
#: ones (``{}``: as configured). No entry deepens the trees, adds leaves or trees: TreeSHAP's
#: cost grows with all three (31 leaves made it 4x slower on a 10,000-student county,
#: benchmarks/RESULTS.md "Closing on the oracle").
SEARCH_GRID: tuple[dict[str, Any], ...] = (
    {},
    {"min_child_samples": 200},
    {"min_child_samples": 20},
    {"num_leaves": 7},
    {"learning_rate": 0.1},
    {"colsample_bytree": 0.6},
    {"reg_lambda": 10.0},
    {"min_child_samples": 200, "reg_lambda": 10.0},
    {"num_leaves": 7, "learning_rate": 0.1},
)


def search_lightgbm(
    X_fit: pd.DataFrame,
    y_fit,
    X_stop: pd.DataFrame,
    y_stop,
    config: TrainConfig,
    *,
    w_fit=None,
    w_stop=None,
    grid: Sequence[dict[str, Any]] = SEARCH_GRID,
) -> tuple[lgb.LGBMClassifier, dict[str, Any]]:
    """The best of ``grid`` by average precision on the early-stopping rows, within
    ``[train] search_seconds``.

    The candidates are fitted in ``grid`` order (each as :func:`fit_lightgbm`, early-stopped on
    ``X_stop``); no new one starts once ``search_seconds`` have passed, so the first (the
    configured settings) is always tried and a slower machine tries fewer. Ties keep the
    earlier candidate. Returns the model and a record: the chosen ``overrides``, every
    candidate's ``scores`` and how many were ``tried``.
    """
    from sklearn.metrics import average_precision_score

    t0 = time.perf_counter()
    best, best_score, best_over, scores = None, -np.inf, {}, []
    for over in grid:
        if best is not None and time.perf_counter() - t0 >= config.search_seconds:
            break
        model = fit_lightgbm(X_fit, y_fit, X_stop, y_stop, config, w_fit=w_fit, w_stop=w_stop, overrides=over)
        score = float(
            average_precision_score(
                np.asarray(y_stop), model.predict_proba(X_stop)[:, 1], sample_weight=w_stop
            )
        )
        scores.append(round(score, 5))
        if score > best_score:
            best, best_score, best_over = model, score, dict(over)
    record = {
        "overrides": best_over,
        "scores": scores,
        "tried": len(scores),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return best, record


@dataclass(frozen=True)
class FittedModel:
    """A fitted estimator, its calibrator, and the rows each part used."""

    estimator: object
    calibrator: object
    features: tuple[str, ...]
    n_fit: int
    n_stop: int
    n_calibration: int
    #: :class:`~training.sample.SampleRecord` as a dict when the fit rows were sampled (or the
    #: Dask fit's record, :func:`training.cluster.fit_model_dask`), else empty
    sampling: dict[str, Any] = field(default_factory=dict)
    #: the search's record (:func:`search_lightgbm`) when ``[train] search_seconds`` > 0, else empty
    search: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a positive label (1-D)."""
        return self.calibrator.predict_proba(X)[:, 1]


def fit_model(
    panel: pd.DataFrame,
    design: TemporalDesign,
    config: TrainConfig,
    *,
    features: Sequence[str] | None = None,
    estimator=None,
) -> FittedModel:
    """Fit on the design's ``fit`` dates, early-stop and calibrate on its ``valid`` dates.

    Parameters
    ----------
    panel : DataFrame
        Features and labels: ``student_id``, ``as_of``, ``label`` and feature columns.
    design : TemporalDesign
        Which as-of dates fit and which validate.
    features : sequence of str, optional
        Default: :func:`panel_feature_columns`.
    estimator : sklearn classifier, optional
        Fit this on the ``fit`` rows instead of LightGBM (the baselines); it gets no early
        stopping, no negative sampling, but the same calibration rows.

    Notes
    -----
    When the fit rows exceed ``config.sample_above_rows`` (and ``config.negative_sample``
    < 1), LightGBM fits on every positive and a seeded share of each as-of date's
    negatives, weighted by the inverse share; the early-stopping rows are sampled and
    weighted the same way. The calibration rows are never sampled, so the calibrated
    probabilities are those of the whole population.
    """
    cols = list(features) if features is not None else panel_feature_columns(panel)
    fit_rows = design.part(panel["as_of"], "fit")
    valid_rows = design.part(panel["as_of"], "valid")
    stop = valid_rows & validation_halves(panel["student_id"], config)
    cal = valid_rows & ~stop
    y = panel["label"].to_numpy()
    sampling: dict[str, Any] = {}
    w_fit = w_stop = None
    if estimator is None and sampling_applies(int(fit_rows.sum()), config):
        fit_rows, w_fit, stop, w_stop, record = _sample(panel, fit_rows, stop, config)
        sampling = record.as_dict()
    # only the rows each part uses are converted (sampled: a small part of a province panel)
    X_fit, X_stop, X_cal = (prepare_features(panel.loc[rows, cols], cols) for rows in (fit_rows, stop, cal))
    search: dict[str, Any] = {}
    if estimator is None and config.search_seconds > 0:
        est, search = search_lightgbm(X_fit, y[fit_rows], X_stop, y[stop], config, w_fit=w_fit, w_stop=w_stop)
    elif estimator is None:
        est = fit_lightgbm(X_fit, y[fit_rows], X_stop, y[stop], config, w_fit=w_fit, w_stop=w_stop)
    else:
        est = estimator.fit(X_fit, y[fit_rows])
    calibrator = calibrate(
        est, X_cal, y[cal], config.calibration, isotonic_min_positives=config.isotonic_min_positives
    )
    return FittedModel(
        est, calibrator, tuple(cols), int(fit_rows.sum()), int(stop.sum()), int(cal.sum()), sampling, search
    )


def _sample(panel: pd.DataFrame, fit_rows: np.ndarray, stop: np.ndarray, config: TrainConfig):
    """Fit and early-stopping masks narrowed to the kept rows, their weights, and the record."""
    share, seed = config.negative_sample, config.sample_seed
    out = []
    label = panel["label"].to_numpy()
    for rows in (fit_rows, stop):
        w = negative_sample_weights(
            label[rows], panel["as_of"][rows], panel["student_id"][rows], share=share, seed=seed
        )
        kept = rows.copy()
        kept[np.flatnonzero(rows)[w == 0]] = False
        out.append((kept, w[w > 0]))
    (fit_kept, w_fit), (stop_kept, w_stop) = out
    record = SampleRecord(
        share=share,
        seed=seed,
        rows=int(fit_rows.sum()),
        rows_kept=int(fit_kept.sum()),
        positives=int(label[fit_rows].sum()),
        stop_rows=int(stop.sum()),
        stop_rows_kept=int(stop_kept.sum()),
    )
    return fit_kept, w_fit, stop_kept, w_stop, record


def tree_depths(model: lgb.LGBMClassifier) -> np.ndarray:
    """Depth of every tree the model predicts with (``best_iteration_`` trees)."""

    def depth(node: dict) -> int:
        if "leaf_index" in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    dump = model.booster_.dump_model(num_iteration=model.best_iteration_ or None)
    return np.array([depth(t["tree_structure"]) for t in dump["tree_info"]])


def explain_speed(model: lgb.LGBMClassifier, X: pd.DataFrame, *, max_rows: int = 2000) -> dict[str, float]:
    """Rows per second of TreeSHAP (``shap.TreeExplainer``) and of plain scoring.

    Explanation cost grows with tree depth squared; this is recorded next to the
    champion's metrics. Wall-clock figures: for reports, never for tests.
    """
    import shap

    sample = X.iloc[:max_rows]
    explainer = shap.TreeExplainer(model.booster_)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # shap notes its LightGBM output format; nothing to act on
        warnings.simplefilter("ignore", UserWarning)
        explainer.shap_values(sample)
    t_shap = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(5):
        model.predict_proba(sample)
    t_pred = (time.perf_counter() - t0) / 5
    depths = tree_depths(model)
    return {
        "shap_rows_per_s": len(sample) / t_shap,
        "predict_rows_per_s": len(sample) / t_pred,
        "trees": float(len(depths)),
        "max_tree_depth": float(depths.max()) if len(depths) else 0.0,
        "mean_tree_depth": float(depths.mean()) if len(depths) else 0.0,
    }
