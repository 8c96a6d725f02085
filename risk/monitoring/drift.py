"""Input drift: each feature tonight against the model's training reference.

Following Evidently's defaults (without depending on it: it does not import on pandas 3):

- numbers: the **normed Wasserstein distance**, the 1-Wasserstein (earth mover's) distance
  divided by the reference's standard deviation;
- categories (and numbers with at most 5 distinct reference values): the **Jensen-Shannon
  distance** (square root of the divergence, natural log) between the value shares;
- a feature drifts when its distance is at least ``threshold`` (0.1); the dataset drifts
  when at least ``drift_share`` (0.5) of the features drift.

Beyond Evidently, a change of the missing share by at least ``threshold`` also counts as
drift (a table that stops arriving shows up as missing values before it moves anything
else), and a night is compared with the reference of the same month when the bundle has one
(:func:`training.reference.feature_reference`), so that the term's rhythm is not drift.
With quantile sketches the Wasserstein distance is the mean absolute difference of the two
quantile functions on the mid-point grid, which converges to the exact value.

Examples
--------
>>> wasserstein_distance([0, 1, 3], [5, 6, 8])
5.0
>>> round(normed_wasserstein([0, 1, 2, 3], [1, 2, 3, 4]), 4)   # 1 / std([0, 1, 2, 3]) = 1 / 1.118
0.8944
>>> round(jensen_shannon({"a": 0.5, "b": 0.5}, {"a": 1.0}), 4)
0.4645
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.reference import feature_sketch, quantile_grid

__all__ = [
    "DRIFT_THRESHOLD",
    "DRIFT_SHARE",
    "CALENDAR_FEATURES",
    "wasserstein_distance",
    "normed_wasserstein",
    "jensen_shannon",
    "InputDrift",
    "input_drift",
]

#: Evidently's default per-feature threshold (normed Wasserstein and Jensen-Shannon)
DRIFT_THRESHOLD = 0.1
#: Evidently's default share of drifted features that makes the dataset drift
DRIFT_SHARE = 0.5
#: features that are functions of the date alone (where the night falls in the term): they
#: move with the calendar, not with the children, so they are shown but not counted
CALENDAR_FEATURES = frozenset(
    {"ctx_weeks_into_term", "ctx_september_window", "ctx_march_window", "ctx_before_zhongkao",
     "att_recorded_days_term", "acad_days_since_exam"}
)  # fmt: skip


def wasserstein_distance(a, b) -> float:
    """1-Wasserstein distance between two samples: the area between their CDFs."""
    a = np.sort(np.asarray(a, dtype="float64"))
    b = np.sort(np.asarray(b, dtype="float64"))
    if not len(a) or not len(b):
        return math.nan
    both = np.sort(np.concatenate([a, b]))
    deltas = np.diff(both)
    fa = np.searchsorted(a, both[:-1], side="right") / len(a)
    fb = np.searchsorted(b, both[:-1], side="right") / len(b)
    return float(np.sum(np.abs(fa - fb) * deltas))


def normed_wasserstein(reference, current) -> float:
    """Wasserstein distance divided by the reference's standard deviation (Evidently's
    ``wasserstein``); 0 for equal constant samples, inf for a constant reference that moved."""
    ref = np.asarray(reference, dtype="float64")
    w = wasserstein_distance(ref, current)
    std = float(ref.std()) if len(ref) else math.nan
    return _norm(w, std)


def _norm(w: float, std: float) -> float:
    if math.isnan(w):
        return math.nan
    if std > 0:
        return w / std
    return 0.0 if w == 0 else math.inf


def jensen_shannon(p: dict[str, float], q: dict[str, float]) -> float:
    """Jensen-Shannon distance (natural log) between two share dicts over their union of keys."""
    keys = sorted(set(p) | set(q))
    if not keys:
        return math.nan
    a = np.array([p.get(k, 0.0) for k in keys], dtype="float64")
    b = np.array([q.get(k, 0.0) for k in keys], dtype="float64")
    if a.sum() == 0 or b.sum() == 0:
        return math.nan
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / m[nz])))

    return math.sqrt(max(0.0, (kl(a) + kl(b)) / 2))


@dataclass(frozen=True)
class InputDrift:
    """Per-feature drift and the dataset verdict.

    Attributes
    ----------
    table : DataFrame
        One row per feature: ``feature, kind, method, distance, threshold, reference_missing,
        current_missing, drifted, reference`` (``"month 03"`` or ``"all"``), most drifted first.
    share : float
        Drifted features / features compared (calendar features left out).
    dataset_drift : bool
        ``share >= drift_share``.
    source : str
        Where the reference came from (``bundle`` or what the caller says).
    """

    table: pd.DataFrame
    share: float
    dataset_drift: bool
    drift_share: float
    threshold: float
    source: str = "bundle"


def _distance(ref: dict, cur: pd.Series, n_quantiles: int) -> tuple[str, float, float]:
    """(method, distance, current missing share) of one feature."""
    if ref["kind"] == "numeric":
        x = pd.to_numeric(cur, errors="coerce").to_numpy(dtype="float64")
        missing = float(np.isnan(x).mean()) if len(x) else 0.0
        x = x[~np.isnan(x)]
        if not len(x):
            return "wasserstein", math.nan, missing
        q_ref = np.asarray(ref["quantiles"], dtype="float64")
        q_cur = np.quantile(x, quantile_grid(len(q_ref)))
        return "wasserstein", _norm(float(np.mean(np.abs(q_ref - q_cur))), float(ref["std"])), missing
    sk = feature_sketch(
        cur if ref["kind"] == "categorical" else pd.to_numeric(cur, errors="coerce"), max_discrete=10**9
    )
    shares = sk.get("shares")
    if shares is None:  # numeric current sketch of a discrete reference: share its values
        x = pd.to_numeric(cur, errors="coerce").dropna()
        shares = {str(k): float(v) for k, v in x.map(lambda v: f"{v:g}").value_counts(normalize=True).items()}
    return "jensen_shannon", jensen_shannon(ref["shares"], shares), float(sk["missing"])


def input_drift(
    reference: dict,
    current: pd.DataFrame,
    *,
    month: str | None = None,
    threshold: float = DRIFT_THRESHOLD,
    drift_share: float = DRIFT_SHARE,
    source: str = "bundle",
) -> InputDrift:
    """Compare every reference feature present in ``current`` with its reference.

    Parameters
    ----------
    reference : dict
        :func:`training.reference.feature_reference` output (``ModelBundle.reference``).
    current : DataFrame
        Tonight's model matrix (:func:`training.fit.prepare_features` of the features).
    month : str, optional
        ``"MM"`` of the night: use the reference of that month when it has one.
    """
    base = reference.get("features", {})
    by_month = reference.get("by_month", {}).get(month or "", {})
    n_q = int(reference.get("n_quantiles", 50))
    rows = []
    for feat, sketch in base.items():
        if feat not in current.columns:
            continue
        ref = by_month.get(feat, sketch)
        method, dist, cur_missing = _distance(ref, current[feat], n_q)
        miss_shift = abs(cur_missing - float(ref["missing"]))
        drifted = bool((not math.isnan(dist) and dist >= threshold) or miss_shift >= threshold)
        calendar = feat in CALENDAR_FEATURES
        rows.append(
            {
                "feature": feat,
                "kind": ref["kind"],
                "method": method,
                "distance": dist,
                "threshold": threshold,
                "reference_missing": float(ref["missing"]),
                "current_missing": cur_missing,
                "drifted": drifted and not calendar,
                "calendar": calendar,
                "reference": f"month {month}" if feat in by_month else "all",
            }
        )
    cols = ["feature", "kind", "method", "distance", "threshold", "reference_missing", "current_missing",
            "drifted", "calendar", "reference"]  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    if len(table):
        order = table["distance"].replace(math.inf, 1e300).fillna(-1)
        table = table.iloc[np.lexsort((order.to_numpy() * -1, ~table["drifted"].to_numpy()))].reset_index(
            drop=True
        )
    counted = table.loc[~table["calendar"].astype(bool)] if len(table) else table
    share = float(counted["drifted"].mean()) if len(counted) else 0.0
    return InputDrift(
        table=table,
        share=share,
        dataset_drift=bool(len(table) and share >= drift_share),
        drift_share=drift_share,
        threshold=threshold,
        source=source,
    )
