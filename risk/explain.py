"""Explanations: per-student SHAP contributions from LightGBM's native TreeSHAP.

:func:`contributions` asks the booster for ``pred_contrib=True`` chunk by chunk: one
column per model feature plus ``expected_value``, in log-odds of the *uncalibrated*
model, so that for every row ``contributions.sum(axis=1)`` equals the raw margin
(:func:`risk.score.raw_margin`; a test checks it). Calibration is monotone, so the
features that push the margin up are the ones that push the calibrated risk up.

:func:`family_contributions` sums them by family (attendance, academic, hardship,
left-behind, context). :func:`shap_plots` draws the researcher's global views (beeswarm
and dependence plots) with the ``shap`` package from the same values; ``shap``'s own
``TreeExplainer`` runs the same C++ TreeSHAP, so computing the values once natively and
handing them to ``shap.Explanation`` avoids doing the work twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.catalog import family_of
from risk.score import DEFAULT_CHUNK, ScoringModel, chunks, design_matrix
from training.bundle import ModelBundle

__all__ = ["EXPECTED", "FAMILIES", "contributions", "family_contributions", "shap_plots"]

#: the column of :func:`contributions` holding the expected value (the base margin)
EXPECTED = "expected_value"
#: explanation families, in display order
FAMILIES: tuple[str, ...] = ("attendance", "academic", "hardship", "left_behind", "context")


def _bundle(model: ModelBundle | ScoringModel) -> ModelBundle:
    return model.bundle if isinstance(model, ScoringModel) else model


def contributions(
    model: ModelBundle | ScoringModel, features: pd.DataFrame, *, chunk_size: int = DEFAULT_CHUNK // 4
) -> pd.DataFrame:
    """TreeSHAP contributions of every model feature for every row of ``features``.

    Parameters
    ----------
    model : ModelBundle or ScoringModel
    features : DataFrame
        The features frame; checked against the bundle (missing columns are named).
    chunk_size : int
        Rows per chunk (TreeSHAP output is ``n_rows x (n_features + 1)`` float64).

    Returns
    -------
    DataFrame
        Indexed like ``features``; the bundle's feature columns (log-odds contributions)
        and :data:`EXPECTED`. Rows sum to the raw margin.
    """
    bundle = _bundle(model)
    bundle.check(features)
    cols = [*bundle.features, EXPECTED]
    out = np.empty((len(features), len(cols)), dtype="float64")
    booster = bundle.model.booster_
    for part in chunks(len(features), chunk_size):
        out[part] = booster.predict(design_matrix(bundle, features.iloc[part]), pred_contrib=True)
    return pd.DataFrame(out, index=features.index, columns=cols)


def family_contributions(contrib: pd.DataFrame) -> pd.DataFrame:
    """Contributions summed by feature family (columns :data:`FAMILIES`), expected value apart.

    >>> c = pd.DataFrame({"att_a": [0.5], "att_b": [0.25], "lb_c": [-0.1], "expected_value": [-3.0]})
    >>> family_contributions(c).round(2).values.tolist()
    [[0.75, 0.0, 0.0, -0.1, 0.0]]
    """
    feats = [c for c in contrib.columns if c != EXPECTED]
    fam = pd.Index([family_of(c) for c in feats])
    values = contrib[feats].to_numpy()
    out = {f: values[:, np.flatnonzero(fam == f)].sum(axis=1) for f in FAMILIES}
    return pd.DataFrame(out, index=contrib.index)


def shap_plots(
    model: ModelBundle | ScoringModel,
    features: pd.DataFrame,
    out_dir: str | Path,
    *,
    contrib: pd.DataFrame | None = None,
    dependence: int = 4,
    max_display: int = 15,
) -> dict[str, Path]:
    """Global explanation plots for researchers: a beeswarm and dependence plots (PNG).

    Parameters
    ----------
    model, features
        As :func:`contributions`.
    out_dir : path
        Folder for ``shap_beeswarm.png`` and ``shap_dependence_<feature>.png``.
    contrib : DataFrame, optional
        Contributions already computed for ``features``.
    dependence : int
        Dependence plots for this many features with the largest mean |SHAP|.
    max_display : int
        Features shown in the beeswarm.

    Returns
    -------
    dict
        Plot name -> file path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    bundle = _bundle(model)
    if contrib is None:
        contrib = contributions(bundle, features)
    X = bundle._matrix(features)

    def numeric(c: str) -> np.ndarray:  # categories as their codes, missing as NaN (for colouring)
        if isinstance(X[c].dtype, pd.CategoricalDtype):
            codes = X[c].cat.codes.to_numpy(dtype="float64")
            return np.where(codes < 0, np.nan, codes)
        return X[c].to_numpy(dtype="float64")

    data = np.column_stack([numeric(c) for c in bundle.features])
    explanation = shap.Explanation(
        values=contrib[list(bundle.features)].to_numpy(),
        base_values=contrib[EXPECTED].to_numpy(),
        data=data,
        feature_names=list(bundle.features),
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    shap.plots.beeswarm(explanation, max_display=max_display, show=False)
    paths["beeswarm"] = out / "shap_beeswarm.png"
    plt.gcf().savefig(paths["beeswarm"], dpi=110, bbox_inches="tight")
    plt.close("all")
    order = np.argsort(-np.abs(explanation.values).mean(axis=0))[:dependence]
    for i in order:
        name = bundle.features[i]
        shap.plots.scatter(explanation[:, i], show=False)
        paths[f"dependence {name}"] = out / f"shap_dependence_{name}.png"
        plt.gcf().savefig(paths[f"dependence {name}"], dpi=110, bbox_inches="tight")
        plt.close("all")
    return paths
