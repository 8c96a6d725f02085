"""Event study / difference-in-differences of weekly attendance around the week a case opens.

For persuasion (劝返) and home visits the question is what happens to attendance in
the weeks after a case opens, compared with what would have happened anyway. Each
student's attendance is compared with their own weeks before the opening (the
student fixed effect) and with the same calendar weeks of students whose case had
not opened (the week fixed effect): the term's rhythm (Spring Festival, exams) cancels.

Cases open in different weeks and their effect may differ by opening week, where the
classic two-way fixed-effects event study mixes effects of other weeks into each
coefficient. This module uses the interaction-weighted estimator of Sun and Abraham
(2021): one coefficient per opening week (cohort) and event week, averaged over cohorts
with each cohort's share of the students observed at that event week. Standard errors
are clustered by student. Week ``reference`` (default -1, the week before opening) is
the baseline; the leads (weeks before) test for pre-trends.

Assumptions
-----------
- Parallel trends: without the case, the attendance of students whose case opened
  would have moved like that of the comparison students (never treated, or not yet
  treated).
- No anticipation before the window: opening a case does not change attendance before
  the first lead. Cases opened *because* attendance fell (the 3-day and 5-day rules)
  break this: their attendance dips in the weeks before, and bounces back partly on
  its own (Ashenfelter's dip). The pre-trend test shows the dip; read post-opening
  coefficients against it and prefer the borderline lottery or the cut-off for such cases.
- No spill-overs between students; the opening week is recorded correctly.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import linalg, stats

from features.errors import DataContractError

from ._result import EffectEstimate, EstimationError, normal_p_value, outcome_values, require_columns, z_value

__all__ = ["event_study"]

ASSUMPTIONS: tuple[str, ...] = (
    "Parallel trends: without the case, attendance would have moved like the comparison students'.",
    "No anticipation before the first lead; cases opened because attendance fell show a pre-opening dip (see the pre-trend test).",
    "No spill-overs between students; the opening week is recorded correctly.",
    "Effects are averaged over opening weeks by each week's share of students (Sun and Abraham 2021).",
)


def _week_index(values: pd.Series, origin: pd.Timestamp | None) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        assert origin is not None
        return np.floor((values - origin).dt.days.to_numpy(dtype=float) / 7)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def event_study(
    panel: pd.DataFrame,
    *,
    outcome: str = "attendance",
    unit: str = "student_id",
    period: str = "week",
    event: str = "event_week",
    leads: int = 4,
    lags: int = 8,
    reference: int = -1,
    comparison: Literal["never_treated", "not_yet_treated"] = "never_treated",
    level: float = 0.95,
    intervention_type: str = "home_visit",
) -> EffectEstimate:
    """Per-week effects of a case opening on attendance, with leads, lags and a pre-trend test.

    Parameters
    ----------
    panel : DataFrame
        One row per student and week: ``unit``, ``period`` (week start date or integer week),
        ``outcome`` (share of the week's school days present) and ``event`` (the week the
        case opened on the same scale; NaT/NaN for students without a case).
    outcome, unit, period, event : str
        Column names.
    leads, lags : int
        Event weeks ``-leads .. lags`` get coefficients; treated students' weeks after ``lags``
        are left out.
    reference : int
        The baseline event week (coefficient fixed at 0), one of the leads.
    comparison : {"never_treated", "not_yet_treated"}
        ``never_treated``: week effects come from students without a case; treated students'
        weeks before the window are left out. ``not_yet_treated``: those earlier weeks are also
        used as comparison (assumes no effect and no dip that early).
    level : float
        Confidence level.
    intervention_type : str
        Label for the result.

    Returns
    -------
    EffectEstimate
        ``estimate`` is the mean of the post-opening coefficients (weeks ``0 .. lags``).
        Diagnostics: ``coefficients`` (DataFrame: event_week, estimate, se, ci_low, ci_high,
        n_students) and ``pretrend`` (Wald chi-square test that all leads are zero).
    """
    if leads < 1 or lags < 0:
        raise ValueError(f"need leads >= 1 and lags >= 0, got leads={leads}, lags={lags}")
    if not -leads <= reference <= -1:
        raise ValueError(f"reference must be one of the leads -{leads}..-1, got {reference}")
    if comparison not in ("never_treated", "not_yet_treated"):
        raise ValueError(f"comparison must be 'never_treated' or 'not_yet_treated', got {comparison!r}")
    require_columns(panel, (unit, period, event, outcome), table="panel")
    if panel.duplicated([unit, period]).any():
        raise DataContractError(
            f"panel: duplicated ({unit}, {period}) rows; expected one row per student and week"
        )
    y_all = outcome_values(panel, outcome, table="panel")
    origin = None
    if pd.api.types.is_datetime64_any_dtype(panel[period]):
        origin = panel[period].min()
        if not (pd.api.types.is_datetime64_any_dtype(panel[event]) or panel[event].isna().all()):
            raise DataContractError(f"panel.{event}: must be a date like panel.{period}")
        ev_col = pd.to_datetime(panel[event])
    else:
        ev_col = panel[event]
    t_idx = _week_index(panel[period], origin)
    ev = _week_index(ev_col, origin)
    u_codes, _ = pd.factorize(panel[unit])
    ev_by_unit = pd.Series(ev).groupby(u_codes).agg(["min", "max", "count", "size"])
    varies = (ev_by_unit["min"].fillna(-1) != ev_by_unit["max"].fillna(-1)) | (
        (ev_by_unit["count"] > 0) & (ev_by_unit["count"] < ev_by_unit["size"])
    )
    if varies.any():
        raise DataContractError(f"panel.{event}: differs between weeks of {int(varies.sum())} student(s)")

    treated = ~np.isnan(ev)
    # a treated student never seen in the reference week has no baseline of their own: left out
    seen_ref = pd.Series(treated & (t_idx - ev == reference)).groupby(u_codes).transform("any").to_numpy()
    no_baseline = treated & ~seen_ref
    n_no_baseline = int(pd.Series(u_codes[no_baseline]).nunique())
    panel_rows = ~no_baseline
    treated &= panel_rows
    if not treated.any():
        raise EstimationError(
            f"panel.{event}: no student with a case opening is observed in event week {reference}; nothing to study"
        )
    k = np.where(treated, t_idx - ev, np.nan)
    in_window = treated & (k >= -leads) & (k <= lags)
    keep = (~treated & panel_rows) | in_window
    if comparison == "not_yet_treated":
        keep |= treated & (k < -leads)
    if comparison == "never_treated" and treated[panel_rows].all():
        raise EstimationError(f"panel.{event}: every student has a case; use comparison='not_yet_treated'")
    # a calendar week with no comparison row (untreated, or a baseline week) has no week effect
    comparison_row = keep & (~in_window | (k == reference))
    no_comparison = keep & ~np.isin(t_idx, np.unique(t_idx[comparison_row]))
    weeks_dropped = int(len(np.unique(t_idx[no_comparison])))
    keep &= ~no_comparison
    in_window &= keep
    y = y_all[keep]
    u = pd.factorize(u_codes[keep])[0]
    w = pd.factorize(t_idx[keep], sort=True)[0]
    kk = k[keep]
    cohort = ev[keep]
    cell_rows = in_window[keep] & (kk != reference)
    cells = pd.DataFrame({"cohort": cohort[cell_rows], "k": kk[cell_rows]}).drop_duplicates()
    cells = cells.sort_values(["k", "cohort"]).reset_index(drop=True)
    cell_id = np.full(len(y), -1)
    lookup = {(c, e): i for i, (c, e) in enumerate(zip(cells["cohort"], cells["k"], strict=True))}
    cell_id[cell_rows] = [lookup[(c, e)] for c, e in zip(cohort[cell_rows], kk[cell_rows], strict=True)]

    n = len(y)
    n_units = int(u.max()) + 1
    n_weeks = int(w.max()) + 1
    n_cells = len(cells)
    rows = np.arange(n)
    D = sp.csr_matrix((np.ones(cell_rows.sum()), (rows[cell_rows], cell_id[cell_rows])), shape=(n, n_cells))
    W = sp.csr_matrix((np.ones(n), (rows, w)), shape=(n, n_weeks))[:, 1:]
    X = sp.hstack([D, W]).toarray()
    G = sp.csr_matrix((np.ones(n), (u, rows)), shape=(n_units, n))
    counts = np.asarray(G.sum(axis=1)).ravel()
    Xd = X - (G @ X / counts[:, None])[u]
    yd = y - (G @ y / counts)[u]

    XtX_inv = linalg.pinvh(Xd.T @ Xd)
    beta = XtX_inv @ (Xd.T @ yd)
    resid = yd - Xd @ beta
    scores = G @ (Xd * resid[:, None])  # students are the clusters
    n_par = Xd.shape[1]
    correction = n_units / max(n_units - 1, 1) * (n - 1) / max(n - n_par - n_units, 1)
    V = correction * XtX_inv @ (scores.T @ scores) @ XtX_inv

    # aggregate cohort x event-week coefficients with each cohort's share at that event week
    cell_n = np.bincount(cell_id[cell_rows], minlength=n_cells)
    ks = np.array([e for e in range(-leads, lags + 1) if e != reference])
    A = np.zeros((len(ks), n_par))
    n_at_k = np.zeros(len(ks), dtype=int)
    for j, e in enumerate(ks):
        idx = np.flatnonzero(cells["k"].to_numpy() == e)
        if len(idx):
            A[j, idx] = cell_n[idx] / cell_n[idx].sum()
            n_at_k[j] = cell_n[idx].sum()
    observed = n_at_k > 0
    b = A @ beta
    Vb = A @ V @ A.T
    se_k = np.sqrt(np.clip(np.diag(Vb), 0, None))
    z = z_value(level)
    coefs = pd.DataFrame(
        {
            "event_week": ks,
            "estimate": np.where(observed, b, np.nan),
            "se": np.where(observed, se_k, np.nan),
            "n_students": n_at_k,
        }
    )
    coefs["ci_low"] = coefs["estimate"] - z * coefs["se"]
    coefs["ci_high"] = coefs["estimate"] + z * coefs["se"]
    ref_row = pd.DataFrame(
        {
            "event_week": [reference],
            "estimate": [0.0],
            "se": [0.0],
            "n_students": [0],
            "ci_low": [0.0],
            "ci_high": [0.0],
        }
    )
    coefs = pd.concat([coefs, ref_row], ignore_index=True).sort_values("event_week", ignore_index=True)

    post = observed & (ks >= 0)
    if not post.any():
        raise EstimationError(
            f"panel.{period}: no treated student is observed in the weeks after the opening"
        )
    a_post = np.where(post, 1.0, 0.0) / post.sum()
    estimate = float(a_post @ b)
    se = float(np.sqrt(max(a_post @ Vb @ a_post, 0.0)))

    pre = observed & (ks < 0)
    pretrend: dict[str, float | int] = {"statistic": float("nan"), "df": 0, "p_value": float("nan")}
    if pre.any():
        bp, Vp = b[pre], Vb[np.ix_(pre, pre)]
        stat = float(bp @ np.linalg.pinv(Vp) @ bp)
        df = int(np.linalg.matrix_rank(Vp))
        pretrend = {
            "statistic": stat,
            "df": df,
            "p_value": float(stats.chi2.sf(stat, df)) if df else float("nan"),
        }
    warns = []
    if n_no_baseline:
        warns.append(
            f"{n_no_baseline} student(s) with a case but no event week {reference} observed were left out"
        )
    if weeks_dropped:
        warns.append(
            f"{weeks_dropped} calendar week(s) without any comparison student were left out"
            " (every student observed then already had a case)"
        )
    if pre.any() and pretrend["p_value"] < 0.05:
        warns.append(
            f"pre-trend: leads differ from zero (chi2={pretrend['statistic']:.1f}, df={pretrend['df']},"
            f" p={pretrend['p_value']:.3g}); parallel trends or no anticipation is doubtful"
        )

    n_treated_units = int(pd.Series(u[in_window[keep]]).nunique())
    return EffectEstimate(
        estimator="event_study",
        intervention_type=intervention_type,
        outcome=outcome,
        estimand=f"mean effect on {outcome} over event weeks 0..{lags} after the case opened",
        estimate=estimate,
        ci_low=estimate - z * se,
        ci_high=estimate + z * se,
        ci_level=level,
        ci_method="normal, cluster-robust by student (Sun-Abraham interaction-weighted)",
        se=se,
        p_value=normal_p_value(estimate, se),
        n=int(n_units),
        n_treated=n_treated_units,
        n_control=int(n_units - n_treated_units),
        sample=(
            f"{n} student-weeks: students with a case in event weeks -{leads}..{lags}, and"
            + (" students never treated" if comparison == "never_treated" else " not-yet-treated weeks")
        ),
        assumptions=ASSUMPTIONS,
        diagnostics={
            "coefficients": coefs,
            "pretrend": pretrend,
            "comparison": comparison,
            "reference": reference,
            "students_without_baseline_week": n_no_baseline,
            "weeks_without_comparison": weeks_dropped,
        },
        warnings=tuple(warns),
    )
