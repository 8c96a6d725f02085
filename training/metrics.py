"""Metrics of a risk list: top-k precision and recall, lift, calibration and lead time.

Lists are made **per as-of date**: on each date the top ``share`` of that date's cohort (or
the top ``k`` of each school) is listed, and counts are pooled over dates. Tied scores at
the cut-off are shared out as under random tie-breaking: each tied row is listed with the
same probability, so a rule that gives many students the same score is scored by its
expected precision, not by row order.

Examples
--------
Ten students on one date, two of them positive; the top 20% is the two highest scores:

>>> y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
>>> s = np.array([.9, .8, .7, .1, .1, .1, .1, .1, .1, .1])
>>> d = np.zeros(10)
>>> at_share(y, s, d, 0.2)
{'precision': 0.5, 'recall': 0.5, 'lift': 2.5, 'listed': 2.0}
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = [
    "inclusion",
    "list_size_share",
    "at_share",
    "at_capacity",
    "expected_calibration_error",
    "reliability_table",
    "lead_time",
    "on_list",
    "score_metrics",
    "per_month_metrics",
    "share_key",
]


def share_key(share: float) -> str:
    """Metric-name suffix of a list share.

    >>> share_key(0.05), share_key(0.1), share_key(0.005)
    ('5pct', '10pct', '0.5pct')
    """
    pct = share * 100
    return f"{pct:g}pct" if pct < 1 else f"{round(pct):d}pct"


def list_size_share(share: float):
    """The list size of a top-``share`` list: ``size(n)`` for a group of ``n`` rows, at least 1.

    The ``size`` argument of :func:`inclusion` and :func:`on_list` for a share of each group.

    >>> size = list_size_share(0.1)
    >>> size(100), size(15), size(3), size(0)
    (10, 2, 1, 0)
    """
    return lambda n: min(n, max(1, math.ceil(share * n - 1e-9)))


def inclusion(score, groups, size) -> np.ndarray:
    """Probability that each row is on its group's list (random tie-breaking at the cut-off).

    Parameters
    ----------
    score : array-like
        Higher = listed first.
    groups : array-like
        The list each row belongs to (an as-of date, or an (as-of, school) key).
    size : callable
        ``size(n)`` is the list length for a group of ``n`` rows.

    Returns
    -------
    ndarray of float
        1 above the cut-off, 0 below, ``(places left) / (rows tied)`` at it.

    Examples
    --------
    >>> inclusion([3, 2, 2, 1], [0, 0, 0, 0], lambda n: 2).tolist()
    [1.0, 0.5, 0.5, 0.0]
    """
    score = np.asarray(score, dtype="float64")
    codes = pd.factorize(pd.Series(np.asarray(groups)), sort=False)[0]
    out = np.zeros(len(score))
    order = np.lexsort((-score, codes))
    bounds = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        idx = order[lo:hi]
        m = size(len(idx))
        if m <= 0:
            continue
        s = score[idx]
        thr = s[m - 1]
        above = s > thr
        tied = s == thr
        out[idx[above]] = 1.0
        out[idx[tied]] = (m - above.sum()) / tied.sum()
    return out


def on_list(score, groups, size, *, seed: int = 0) -> np.ndarray:
    """A definite list (bool): like :func:`inclusion` but ties broken by a seeded shuffle.

    >>> on_list([3, 2, 2, 1], [0, 0, 0, 0], lambda n: 2).sum()
    np.int64(2)
    """
    score = np.asarray(score, dtype="float64")
    codes = pd.factorize(pd.Series(np.asarray(groups)), sort=False)[0]
    tie = np.random.default_rng(seed).random(len(score))
    order = np.lexsort((tie, -score, codes))
    sorted_codes = codes[order]
    start = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    counts = np.diff(np.r_[start, len(order)])
    rank = np.arange(len(order)) - np.repeat(start, counts)
    sizes = np.repeat([size(c) for c in counts], counts)
    out = np.zeros(len(score), bool)
    out[order] = rank < sizes
    return out


def _summary(y: np.ndarray, w: np.ndarray) -> dict[str, float]:
    listed = float(w.sum())
    tp = float((w * y).sum())
    pos = float(y.sum())
    base = pos / len(y) if len(y) else float("nan")
    precision = tp / listed if listed else float("nan")
    return {
        "precision": precision,
        "recall": tp / pos if pos else float("nan"),
        "lift": precision / base if base else float("nan"),
        "listed": listed,
    }


def at_share(y, score, as_of, share: float) -> dict[str, float]:
    """Precision, recall and lift of the top ``share`` of each as-of date's cohort.

    Returns ``{'precision', 'recall', 'lift', 'listed'}``; counts pooled over dates, lift =
    precision / overall positive rate. See the module example.
    """
    y = np.asarray(y, dtype="float64")
    return _summary(y, inclusion(score, as_of, list_size_share(share)))


def at_capacity(y, score, as_of, school, k: int) -> dict[str, float]:
    """Precision, recall and lift when each school lists its top ``k`` on each as-of date.

    >>> y = [1, 0, 0, 1, 0, 0]
    >>> s = [.9, .5, .1, .2, .8, .3]
    >>> at_capacity(y, s, [0] * 6, ["a", "a", "a", "b", "b", "b"], k=1)
    {'precision': 0.5, 'recall': 0.5, 'lift': 1.5, 'listed': 2.0}
    """
    y = np.asarray(y, dtype="float64")
    keys = pd.Series(np.asarray(as_of)).astype("str") + "|" + pd.Series(np.asarray(school)).astype("str")
    return _summary(y, inclusion(score, keys.to_numpy(), lambda n: min(n, k)))


def _bins(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    return np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, max(len(edges) - 2, 0))


def reliability_table(y, proba, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Predicted against observed rate per bin of predicted probability.

    ``strategy='quantile'`` (default) gives bins of equal size, which stay informative
    when most predictions are small; ``'uniform'`` gives bins of equal width on [0, 1].

    Returns
    -------
    DataFrame
        One row per non-empty bin: ``bin``, ``p_min``, ``p_max``, ``n``, ``mean_predicted``,
        ``observed_rate``.

    Examples
    --------
    >>> reliability_table([0, 0, 1, 1], [.1, .2, .7, .9], n_bins=2, strategy="uniform")
       bin  p_min  p_max  n  mean_predicted  observed_rate
    0    0    0.1    0.2  2            0.15            0.0
    1    1    0.7    0.9  2            0.80            1.0
    """
    y = np.asarray(y, dtype="float64")
    p = np.asarray(proba, dtype="float64")
    b = _bins(p, n_bins, strategy)
    frame = pd.DataFrame({"bin": b, "p": p, "y": y})
    out = frame.groupby("bin").agg(
        p_min=("p", "min"),
        p_max=("p", "max"),
        n=("y", "size"),
        mean_predicted=("p", "mean"),
        observed_rate=("y", "mean"),
    )
    return out.reset_index()


def expected_calibration_error(y, proba, n_bins: int = 10) -> float:
    """Expected calibration error: size-weighted ``|mean predicted - observed rate|`` over
    ``n_bins`` equal-width bins of [0, 1].

    >>> expected_calibration_error([0, 0, 1, 1], [.1, .2, .7, .9], n_bins=2)
    0.175
    """
    t = reliability_table(y, proba, n_bins=n_bins, strategy="uniform")
    n = t["n"].sum()
    return round(float((t["n"] * (t["mean_predicted"] - t["observed_rate"]).abs()).sum() / n), 12)


def lead_time(listed, label, as_of, student_id, event_date) -> dict[str, float]:
    """How early the list caught the children who dropped out.

    An *event* is one (student, first positive event date). It is *caught* if the student
    was listed on some as-of date whose label window holds that event; its lead time is
    the event date minus the earliest such as-of date.

    Parameters
    ----------
    listed : array-like of bool
        On the list (:func:`on_list`).
    label, as_of, student_id, event_date : array-like
        One row per (student, as-of date), as in :func:`training.labels.label_panel`.

    Returns
    -------
    dict
        ``events``, ``caught_share``, ``median_lead_days`` (caught events only),
        ``caught_30d_share`` (events caught at least 30 days ahead / all events).

    Examples
    --------
    Student ``a`` drops out on 2024-12-10. Listed on 11-01 but not on 10-01 (the 10-01
    window also holds the event): caught, 39 days ahead. ``b`` (12-20) is never listed.

    >>> t = pd.to_datetime
    >>> lead_time([False, True, False], [1, 1, 1], t(["2024-10-01", "2024-11-01", "2024-11-01"]),
    ...           ["a", "a", "b"], t(["2024-12-10", "2024-12-10", "2024-12-20"]))
    {'events': 2.0, 'caught_share': 0.5, 'median_lead_days': 39.0, 'caught_30d_share': 0.5}
    """
    frame = pd.DataFrame(
        {
            "listed": np.asarray(listed, bool),
            "label": np.asarray(label),
            "as_of": pd.to_datetime(np.asarray(as_of)),
            "sid": np.asarray(student_id).astype("str"),
            "event": pd.to_datetime(np.asarray(event_date)),
        }
    )
    pos = frame.loc[frame["label"] == 1]
    events = pos.groupby(["sid", "event"]).size()
    caught = pos.loc[pos["listed"]].groupby(["sid", "event"])["as_of"].min()
    lead = (caught.index.get_level_values("event") - caught.to_numpy()).days
    n = float(len(events))
    return {
        "events": n,
        "caught_share": len(caught) / n if n else float("nan"),
        "median_lead_days": float(np.median(lead)) if len(lead) else float("nan"),
        "caught_30d_share": float((lead >= 30).sum()) / n if n else float("nan"),
    }


def _safe(fn, y, p) -> float:
    return float(fn(y, p)) if 0 < np.sum(y) < len(y) else float("nan")


def score_metrics(
    frame: pd.DataFrame,
    score,
    *,
    shares: Sequence[float] = (0.01, 0.05, 0.10),
    capacity: int = 10,
    n_bins: int = 10,
    calibrated: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """Every headline metric of one score on labelled rows.

    Parameters
    ----------
    frame : DataFrame
        Columns ``label``, ``as_of``, ``student_id``, ``event_date`` and ``school_id``.
    score : array-like
        One score per row of ``frame``; a probability when ``calibrated``.
    shares : sequence of float
        List sizes as shares of each date's cohort.
    capacity : int
        Students per school and as-of date that staff can visit.
    calibrated : bool
        When False (a raw rule score), Brier and ECE are NaN.

    Returns
    -------
    dict
        ``roc_auc``, ``pr_auc``, ``base_rate``, ``brier``, ``ece``; per share
        ``precision_at_<k>``, ``recall_at_<k>``, ``lift_at_<k>``; per capacity
        ``precision_at_cap<k>`` and friends; lead time at the largest share.
    """
    y = frame["label"].to_numpy(dtype="float64")
    p = np.asarray(score, dtype="float64")
    out: dict[str, float] = {
        "rows": float(len(y)),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "roc_auc": _safe(roc_auc_score, y, p),
        "pr_auc": _safe(average_precision_score, y, p),
        "brier": float(brier_score_loss(y, p)) if calibrated else float("nan"),
        "ece": expected_calibration_error(y, p, n_bins) if calibrated else float("nan"),
    }
    for share in shares:
        r = at_share(y, p, frame["as_of"], share)
        key = share_key(share)
        out |= {
            f"precision_at_{key}": r["precision"],
            f"recall_at_{key}": r["recall"],
            f"lift_at_{key}": r["lift"],
        }
    r = at_capacity(y, p, frame["as_of"], frame["school_id"], capacity)
    out |= {
        f"precision_at_cap{capacity}": r["precision"],
        f"recall_at_cap{capacity}": r["recall"],
        f"lift_at_cap{capacity}": r["lift"],
    }
    share = max(shares)
    listed = on_list(p, frame["as_of"], list_size_share(share), seed=seed)
    lt = lead_time(listed, y, frame["as_of"], frame["student_id"], frame["event_date"])
    key = share_key(share)
    out |= {
        f"caught_share_at_{key}": lt["caught_share"],
        f"median_lead_days_at_{key}": lt["median_lead_days"],
        f"caught_30d_share_at_{key}": lt["caught_30d_share"],
    }
    return out


def per_month_metrics(frame: pd.DataFrame, score, *, shares: Sequence[float] = (0.05, 0.10)) -> pd.DataFrame:
    """Metrics per as-of date (the test year month by month).

    Returns
    -------
    DataFrame
        One row per ``as_of``: ``rows``, ``positives``, ``roc_auc``, ``pr_auc`` and
        ``precision_at_<k>`` / ``recall_at_<k>`` per share.
    """
    p = np.asarray(score, dtype="float64")
    rows = []
    for day, idx in frame.groupby("as_of", sort=True).indices.items():
        y = frame["label"].to_numpy(dtype="float64")[idx]
        row = {
            "as_of": pd.Timestamp(day),
            "rows": len(idx),
            "positives": int(y.sum()),
            "roc_auc": _safe(roc_auc_score, y, p[idx]),
            "pr_auc": _safe(average_precision_score, y, p[idx]),
        }
        for share in shares:
            r = at_share(y, p[idx], np.zeros(len(idx)), share)
            row[f"precision_at_{share_key(share)}"] = r["precision"]
            row[f"recall_at_{share_key(share)}"] = r["recall"]
        rows.append(row)
    return pd.DataFrame(rows)
