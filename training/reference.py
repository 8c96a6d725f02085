"""A compact training reference of every feature, kept in the model bundle for drift checks.

Per feature: a numeric sketch (``n_quantiles`` quantiles at the mid-points ``(i + 0.5) / m``,
mean, standard deviation, missing share) or, for categories and numbers with at most
``max_discrete`` distinct values (Evidently treats those as categorical too), the share of
each value. One sketch over all fit rows, and one per as-of month, so that a night in March
can be compared with the Marches the model was fitted on (attendance features move with the
term). Aggregates only: no row, no student id.

>>> X = pd.DataFrame({"att_x": np.arange(10.0), "lb_y": pd.Categorical(list("aab") + [None] * 7)})
>>> ref = feature_reference(X, n_quantiles=4)
>>> ref["features"]["att_x"]["quantiles"], ref["features"]["lb_y"]["shares"]
([1.125, 3.375, 5.625, 7.875], {'a': 0.6666666666666666, 'b': 0.3333333333333333})
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["REFERENCE_FORMAT", "quantile_grid", "feature_sketch", "feature_reference"]

#: bumped when the sketch layout changes
REFERENCE_FORMAT = 1


def quantile_grid(n_quantiles: int) -> np.ndarray:
    """Mid-point probabilities ``(i + 0.5) / n`` (the grid a 1-Wasserstein sum needs)."""
    return (np.arange(n_quantiles) + 0.5) / n_quantiles


def feature_sketch(s: pd.Series, *, n_quantiles: int = 50, max_discrete: int = 5) -> dict:
    """Sketch of one feature column (see the module docstring)."""
    n = len(s)
    missing = float(s.isna().mean()) if n else 0.0
    values = s.dropna()
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        shares = values.astype("str").value_counts(normalize=True).sort_index()
        return {
            "kind": "categorical",
            "n": n,
            "missing": missing,
            "shares": {str(k): float(v) for k, v in shares.items()},
        }
    x = values.to_numpy(dtype="float64")
    distinct = np.unique(x)
    if len(distinct) <= max_discrete:
        shares = pd.Series(x).map(_key).value_counts(normalize=True).sort_index()
        return {
            "kind": "discrete",
            "n": n,
            "missing": missing,
            "shares": {str(k): float(v) for k, v in shares.items()},
        }
    return {
        "kind": "numeric",
        "n": n,
        "missing": missing,
        "mean": float(x.mean()),
        "std": float(x.std()),
        "quantiles": [float(q) for q in np.quantile(x, quantile_grid(n_quantiles))],
    }


def _key(v: float) -> str:
    return f"{v:g}"


def feature_reference(
    X: pd.DataFrame,
    *,
    as_of: pd.Series | None = None,
    n_quantiles: int = 50,
    max_discrete: int = 5,
) -> dict:
    """The reference of every column of ``X`` (the model matrix of the fit rows).

    Parameters
    ----------
    X : DataFrame
        Feature columns as :func:`training.fit.prepare_features` returns them.
    as_of : Series, optional
        Each row's as-of date: adds one sketch per month (``by_month["03"]``).

    Returns
    -------
    dict
        ``format``, ``rows``, ``n_quantiles``, ``features`` (column -> sketch) and
        ``by_month`` (``"MM"`` -> column -> sketch).
    """
    kw = {"n_quantiles": n_quantiles, "max_discrete": max_discrete}
    out = {
        "format": REFERENCE_FORMAT,
        "rows": len(X),
        "n_quantiles": n_quantiles,
        "features": {c: feature_sketch(X[c], **kw) for c in X.columns},
        "by_month": {},
    }
    if as_of is not None:
        month = pd.to_datetime(pd.Series(np.asarray(as_of), index=X.index)).dt.strftime("%m")
        for m in sorted(month.unique()):
            part = X.loc[month == m]
            out["by_month"][m] = {c: feature_sketch(part[c], **kw) for c in X.columns}
    return out
