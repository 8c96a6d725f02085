"""Effects by intervention type and by subgroup, with the multiple-comparison caution attached.

Splitting one estimate into many (three supports × left-behind × hardship × grade band)
is how spurious findings are made: with twenty comparisons, one is "significant" at 5%
by chance. :func:`effects_by_group` runs one estimator per type and group, reports
every result (also the ones that failed, with the reason), adds Holm-adjusted p-values
over the whole family and a note in words that travels with the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._result import EffectEstimate, EstimationError, jsonable, plural, require_columns, results_frame

__all__ = ["SubgroupEffects", "effects_by_group", "holm"]


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error rate); NaN stays NaN and is not counted.

    >>> holm([0.01, 0.04, 0.03, np.nan]).round(2).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


@dataclass(frozen=True)
class SubgroupEffects:
    """The results of one estimator over intervention types and subgroups.

    Attributes
    ----------
    table : DataFrame
        One row per (type, group): the group columns, the result columns of
        :meth:`EffectEstimate.to_frame`, ``p_holm`` and ``error`` (why a group has no estimate).
    results : dict
        ``(type, *group values) -> EffectEstimate`` for the groups that were estimated.
    note : str
        The multiple-comparison caution in words; print it with the table.
    """

    table: pd.DataFrame
    results: Mapping[tuple[Any, ...], EffectEstimate] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: the table as records and the note."""
        return {"note": self.note, "table": jsonable(self.table)}


def effects_by_group(
    estimator: Callable[..., EffectEstimate],
    decisions: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    by: str | Sequence[str] = (),
    min_rows: int = 40,
    **kwargs: Any,
) -> SubgroupEffects:
    """Run ``estimator`` per intervention type and per subgroup; adjust p-values with Holm.

    Parameters
    ----------
    estimator : callable
        One of :func:`borderline_effect`, :func:`rd_effect`, :func:`aipw_effect`,
        :func:`event_study` (anything that takes the frame first and returns an
        :class:`EffectEstimate`, with an ``intervention_type`` keyword).
    decisions : DataFrame or mapping of str to DataFrame
        One frame, or one frame per intervention type (e.g. ``{"tutoring": d_tut, "aid": d_aid}``,
        each built by :func:`decisions_frame` with that ``intervention_type``).
    by : str or sequence of str
        Subgroup columns, e.g. ``"left_behind"``, ``["hardship", "grade_band"]``; empty = whole frame.
    min_rows : int
        Groups with fewer rows are reported with an error instead of an estimate.
    **kwargs
        Passed to ``estimator`` (``outcome=``, ``seed=`` ...).

    Returns
    -------
    SubgroupEffects

    Examples
    --------
    >>> from risk.evidence import borderline_effect
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"randomised": True, "selected": rng.random(400) < 0.5,
    ...     "outcome_dropout": (rng.random(400) < 0.1).astype(int), "left_behind": np.arange(400) < 120})
    >>> res = effects_by_group(borderline_effect, d, by="left_behind", strata=None)
    >>> res.table[["left_behind", "n"]].to_dict("list")
    {'left_behind': [False, True], 'n': [280, 120]}
    >>> "Holm" in res.note
    True
    """
    by = [by] if isinstance(by, str) else list(by)
    frames = dict(decisions) if isinstance(decisions, Mapping) else {None: decisions}
    rows: list[pd.DataFrame] = []
    results: dict[tuple[Any, ...], EffectEstimate] = {}
    for kind, frame in frames.items():
        require_columns(frame, by)
        groups = frame.groupby(by, sort=True, dropna=False) if by else [((), frame)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            label = dict(zip(by, key, strict=True))
            extra = {"intervention_type": kind} if kind is not None else {}
            head = pd.DataFrame([{"intervention_type": kind, **label}] if kind is not None else [label])
            if len(part) < min_rows:
                rows.append(head.assign(error=f"{len(part)} rows < min_rows={min_rows}"))
                continue
            try:
                res = estimator(part, **kwargs, **extra)
            except EstimationError as exc:
                rows.append(head.assign(error=str(exc)))
                continue
            results[(kind, *key)] = res
            res_row = res.to_frame()
            if kind is not None:
                res_row = res_row.drop(columns="intervention_type")
            rows.append(pd.concat([head, res_row], axis=1).assign(error=""))
    table = pd.concat(rows, ignore_index=True) if rows else results_frame([])
    if "p_value" not in table.columns:
        table["p_value"] = np.nan
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float))
    m = int(table["p_value"].notna().sum())
    note = (
        f"{plural(m, 'estimate')} from one family of comparisons (types × groups). p_holm controls the chance of"
        " any false 'effect' across all of them (Holm); unadjusted p-values and CIs describe each group"
        " alone. Subgroups were chosen in advance (left-behind, hardship, grade band) but are small: a"
        " group whose interval includes zero is not evidence of no effect, and two groups differ only"
        " if an interaction test says so, not because one is significant and the other is not."
    )
    return SubgroupEffects(table=table, results=results, note=note)
