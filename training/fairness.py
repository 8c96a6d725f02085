"""Fairness audit of the risk list with fairlearn's ``MetricFrame``.

Groups: sex, left-behind status, household hardship, migrant child, ethnicity, grade band
and school. Restricted fields (ethnicity, hardship types such as 低保) are read here for
the audit only; they are never model features unless the config says so.

For every group the audit reports recall and precision of the top-``share`` list (made
per as-of date over the whole cohort, ties shared out as in :mod:`training.metrics`), the
false positive rate (listed non-dropouts / non-dropouts), and calibration (mean
predicted probability minus observed rate). The gaps are the largest minus the smallest
group value per attribute. Groups with fewer than ``min_group_size`` rows are suppressed
(NaN): small cells are both noisy and close to identifying a child.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from features.cohort import cohort
from features.contract import Tables
from features.time import known_date, latest_known, valid_at
from training.metrics import inclusion, list_size_share

__all__ = ["AUDIT_ATTRIBUTES", "audit_groups", "FairnessAudit", "fairness_audit"]

#: attributes audited by default (columns of :func:`audit_groups`)
AUDIT_ATTRIBUTES = ("sex", "left_behind", "hardship", "migrant", "ethnicity", "grade_band", "school_id")


def _groups_on(tables: Tables, as_of: pd.Timestamp) -> pd.DataFrame:
    day = as_of.date()
    c = cohort(tables, day)
    out = pd.DataFrame(index=c.index)
    out["school_id"] = c["school_id"].astype("str")
    out["grade"] = c["grade"].astype("int64")
    out["sex"] = c["sex"].astype("str")
    out["grade_band"] = np.where(c["grade"] >= 7, "junior_7_9", "primary_1_6")
    out["migrant"] = (
        c["is_migrant_child"].map({True: "migrant", False: "local"}).astype("object").fillna("unknown")
    )
    out["ethnicity"] = c["ethnicity_code"].astype("object").fillna("unknown")
    if tables.left_behind is not None and len(tables.left_behind):
        lb = latest_known(tables.left_behind, day, date_col=known_date("left_behind"))["status"]
        names = {0: "not_left_behind", 1: "one_parent_away", 2: "both_parents_away"}
        out["left_behind"] = lb.reindex(out.index).map(names).astype("object").fillna("unknown")
    else:
        out["left_behind"] = "unknown"
    if tables.hardship is not None:
        hard = valid_at(tables.hardship, day)["student_id"].astype("str").unique()
        out["hardship"] = np.where(out.index.isin(hard), "hardship", "no_hardship")
    else:
        out["hardship"] = "unknown"
    return out


def audit_groups(tables: Tables, as_of_dates: Iterable[dt.date | pd.Timestamp]) -> pd.DataFrame:
    """Audit groups (and ``school_id``, ``grade``) of every cohort student on every as-of date.

    Returns
    -------
    DataFrame
        Columns ``student_id`` (category, the tables' categories), ``as_of``,
        ``school_id``, ``grade`` and the :data:`AUDIT_ATTRIBUTES` as strings.
    """
    parts = []
    for day in sorted({pd.Timestamp(d).normalize() for d in as_of_dates}):
        g = _groups_on(tables, day).reset_index()
        g.insert(1, "as_of", day)
        parts.append(g)
    frame = pd.concat(parts, ignore_index=True)
    frame["student_id"] = pd.Categorical(frame["student_id"], categories=tables.student_ids)
    frame["as_of"] = frame["as_of"].astype("datetime64[s]")
    return frame


def _recall(y_true, y_pred) -> float:
    pos = np.sum(y_true)
    return float(np.sum(y_pred * y_true) / pos) if pos else np.nan


def _precision(y_true, y_pred) -> float:
    listed = np.sum(y_pred)
    return float(np.sum(y_pred * y_true) / listed) if listed else np.nan


def _fpr(y_true, y_pred) -> float:
    neg = np.sum(1 - y_true)
    return float(np.sum(y_pred * (1 - y_true)) / neg) if neg else np.nan


def _listed_share(y_true, y_pred) -> float:
    return float(np.mean(y_pred))


def _mean_predicted(y_true, y_pred, proba) -> float:
    return float(np.mean(proba))


def _observed_rate(y_true, y_pred) -> float:
    return float(np.mean(y_true))


def _calibration_gap(y_true, y_pred, proba) -> float:
    return float(np.mean(proba) - np.mean(y_true))


_METRICS = {
    "recall_at_k": _recall,
    "precision_at_k": _precision,
    "false_positive_rate": _fpr,
    "listed_share": _listed_share,
    "mean_predicted": _mean_predicted,
    "observed_rate": _observed_rate,
    "calibration_gap": _calibration_gap,
}
_GAP_METRICS = ("recall_at_k", "precision_at_k", "false_positive_rate", "calibration_gap")


@dataclass(frozen=True)
class FairnessAudit:
    """The audit: one row per (attribute, group), and the gaps per attribute."""

    by_group: pd.DataFrame
    gaps: pd.DataFrame
    share: float


def fairness_audit(
    frame: pd.DataFrame,
    proba,
    *,
    share: float = 0.10,
    attributes: Sequence[str] = AUDIT_ATTRIBUTES,
    min_group_size: int = 20,
) -> FairnessAudit:
    """Audit the top-``share`` list of ``proba`` across groups.

    Parameters
    ----------
    frame : DataFrame
        Columns ``label``, ``as_of`` and the ``attributes`` (see :func:`audit_groups`).
    proba : array-like
        Calibrated probability per row of ``frame``.

    Returns
    -------
    FairnessAudit
        ``by_group``: ``attribute``, ``group``, ``n``, ``positives`` and the metrics
        (recall_at_k, precision_at_k, false_positive_rate, listed_share, mean_predicted,
        observed_rate, calibration_gap). ``gaps``: per attribute, max - min of each metric over
        unsuppressed groups, and the group with the lowest recall.

    Examples
    --------
    >>> f = pd.DataFrame({"label": [1, 0, 0, 0, 1, 0, 0, 0], "as_of": 0, "sex": list("MMMMFFFF")})
    >>> p = np.array([.9, .8, .1, .1, .05, .7, .1, .1])
    >>> a = fairness_audit(f, p, share=0.25, attributes=["sex"], min_group_size=1)
    >>> a.by_group[["group", "recall_at_k", "precision_at_k"]].values.tolist()
    [['F', 0.0, nan], ['M', 1.0, 0.5]]
    >>> float(a.gaps.loc["sex", "recall_at_k"])
    1.0
    """
    y = frame["label"].to_numpy(dtype="float64")
    p = np.asarray(proba, dtype="float64")
    w = inclusion(p, frame["as_of"].to_numpy(), list_size_share(share))
    rows, gaps = [], []
    for attr in attributes:
        groups = frame[attr].astype("str").to_numpy()
        mf = MetricFrame(
            metrics=_METRICS,
            y_true=y,
            y_pred=w,
            sensitive_features=pd.Series(groups, name=attr),
            sample_params={"mean_predicted": {"proba": p}, "calibration_gap": {"proba": p}},
        )
        table = mf.by_group.copy()
        counts = pd.Series(groups).value_counts()
        pos = pd.Series(y).groupby(groups).sum()
        table.insert(0, "n", counts.reindex(table.index).to_numpy())
        table.insert(1, "positives", pos.reindex(table.index).to_numpy())
        small = table["n"] < min_group_size
        table.loc[small, list(_METRICS)] = np.nan
        table = table.reset_index().rename(columns={attr: "group"})
        table.insert(0, "attribute", attr)
        rows.append(table)
        kept = table.loc[~small.to_numpy()]
        gap = {"attribute": attr, "groups": int(len(kept)), "suppressed": int(small.sum())}
        for m in _GAP_METRICS:
            vals = kept[m].dropna()
            gap[m] = float(vals.max() - vals.min()) if len(vals) > 1 else np.nan
        r = kept.dropna(subset=["recall_at_k"])
        gap["lowest_recall_group"] = str(r.loc[r["recall_at_k"].idxmin(), "group"]) if len(r) else ""
        gaps.append(gap)
    by_group = pd.concat(rows, ignore_index=True)
    return FairnessAudit(by_group, pd.DataFrame(gaps).set_index("attribute"), share)
