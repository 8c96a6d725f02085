"""Negative sampling for large panels: every positive, a seeded share of negatives, reweighted.

A province panel (millions of students × 10 monthly as-of dates) holds about one positive
per hundred rows. LightGBM learns nearly as well from every positive plus a sample of the
negatives, when each kept negative counts for the ones left out (weight = negatives /
negatives kept, about ``1 / share``). The calibration rows are never sampled, so the
calibrated probabilities stay on the population's scale.

The draw is stratified by as-of date (each date keeps the same share of its negatives),
seeded, and does not depend on row order: a row is kept when the hash of (student, as-of
date, seed) is among the lowest ``share`` of its date's negatives. Measured loss of
precision@k against full-data training: ``benchmarks/RESULTS.md`` ("Training at scale").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import TrainConfig

__all__ = ["SampleRecord", "sampling_applies", "negative_sample_weights"]


@dataclass(frozen=True)
class SampleRecord:
    """What a sampled fit kept (recorded in the bundle and in MLflow).

    ``share`` 1.0 and ``rows_kept == rows`` mean no sampling.
    """

    share: float
    seed: int
    rows: int
    rows_kept: int
    positives: int
    stop_rows: int = 0
    stop_rows_kept: int = 0

    def as_dict(self) -> dict[str, float]:
        return {
            "share": self.share,
            "seed": self.seed,
            "fit_rows": self.rows,
            "fit_rows_kept": self.rows_kept,
            "fit_positives": self.positives,
            "stop_rows": self.stop_rows,
            "stop_rows_kept": self.stop_rows_kept,
        }


def sampling_applies(n_fit_rows: int, config: TrainConfig) -> bool:
    """True when the fit rows exceed ``[train] sample_above_rows`` and ``negative_sample`` < 1.

    >>> sampling_applies(5_000_000, TrainConfig()), sampling_applies(50_000, TrainConfig())
    (True, False)
    >>> sampling_applies(50_000, TrainConfig(negative_sample=0.1, sample_above_rows=0))
    True
    """
    return config.negative_sample < 1.0 and n_fit_rows > config.sample_above_rows


def _row_keys(student_id: pd.Series, as_of: pd.Series, seed: int) -> np.ndarray:
    """A uint64 per row from (student, as-of date, seed); independent of row order."""
    key = f"negs{seed:012d}"[-16:]
    ids = student_id if isinstance(student_id.dtype, pd.CategoricalDtype) else student_id.astype("category")
    ids = ids.cat.rename_categories(ids.cat.categories.astype("str"))  # hashed once per distinct id
    sid = pd.util.hash_pandas_object(ids, index=False, hash_key=key).to_numpy()
    day = pd.to_datetime(as_of).to_numpy().astype("datetime64[D]").astype("int64").astype("uint64")
    return pd.util.hash_array(sid ^ (day * np.uint64(0x9E3779B97F4A7C15)), hash_key=key)


def negative_sample_weights(
    label, as_of: pd.Series, student_id: pd.Series, *, share: float, seed: int
) -> np.ndarray:
    """Sample weights: 1 for every positive, ``n / k`` for kept negatives, 0 for dropped ones.

    Per as-of date with ``n`` negatives, the ``k = max(1, round(share * n))`` negatives
    with the lowest hash of (student, date, seed) are kept, so each date's weighted
    negative count equals its true count.

    Parameters
    ----------
    label : array-like of {0, 1}
    as_of, student_id : Series
        Each row's as-of date and student.
    share : float
        Share of negatives kept, in (0, 1].
    seed : int
        Same seed, same rows kept, in any row order.

    Examples
    --------
    >>> days = pd.Series(pd.to_datetime(["2024-01-01"] * 6 + ["2024-02-01"] * 4))
    >>> ids = pd.Series([f"s{i}" for i in range(6)] + [f"s{i}" for i in range(4)])
    >>> y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    >>> w = negative_sample_weights(y, days, ids, share=0.5, seed=0)
    >>> w[y == 1].tolist(), (w > 0).sum(), float(w[:6].sum()), float(w[6:].sum())
    ([1.0, 1.0], np.int64(6), 6.0, 4.0)
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    y = np.asarray(label)
    w = np.ones(len(y), dtype="float64")
    if share == 1 or len(y) == 0:
        return w
    neg = np.flatnonzero(y == 0)
    day = pd.to_datetime(as_of).to_numpy().astype("datetime64[D]").astype("int64")[neg]
    keys = _row_keys(student_id.iloc[neg], as_of.iloc[neg], seed)
    order = np.lexsort((keys, day))  # by date, then by hash
    day_sorted = day[order]
    starts = np.flatnonzero(np.r_[True, day_sorted[1:] != day_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    kept = np.maximum(1, np.rint(share * counts)).astype("int64")
    rank = np.arange(len(order)) - np.repeat(starts, counts)  # position within its date
    keep_sorted = rank < np.repeat(kept, counts)
    weight_sorted = np.where(keep_sorted, np.repeat(counts / kept, counts), 0.0)
    w[neg[order]] = weight_sorted
    return w
