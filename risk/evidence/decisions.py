"""The ``decisions`` frame: one row per student and scoring run, the input of every estimator.

It joins three things the system already keeps: the risk snapshot of one run
(:mod:`risk.snapshot`: who was ranked where, who was selected, who was in the
randomised borderline band), the ``interventions`` table of the data contract (what
support actually started) and an outcome table (what happened afterwards: a dropout
within the horizon, the share of the next 30 school days present). Features known on
the run's date can be attached for the doubly robust design and for subgroups.

Build it with :func:`decisions_frame`; :data:`DECISION_COLUMNS` lists its columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import DataContractError

from ._result import require_columns

__all__ = ["DECISION_COLUMNS", "decisions_frame", "grade_band"]

#: column -> meaning; outcome columns are whatever ``outcome_*`` columns the outcome table has
DECISION_COLUMNS: dict[str, str] = {
    "student_id": "opaque student key (one row per student and run)",
    "as_of": "the run's date (snapshot.as_of)",
    "school_id": "school on as_of",
    "grade": "grade 1-9 on as_of",
    "grade_band": "'primary' (grades 1-6) or 'junior' (7-9)",
    "score": "calibrated risk at assignment (snapshot.probability)",
    "rank_school": "1 = highest risk in the school",
    "capacity": "the school's case capacity this run",
    "running_rank": "capacity + 0.5 - rank_school: > 0 inside the capacity cut-off, < 0 outside",
    "tier": "red / yellow / blue / none",
    "rule": "a deterministic rule put the student on the list (assignment_mechanism == 'rule')",
    "selected": "the policy gave the student a case (within capacity, red, or won the borderline lottery)",
    "borderline": "in the borderline band around the capacity cut-off",
    "randomised": "the selection was decided by the seeded lottery (the band was on: = borderline)",
    "assignment_mechanism": "snapshot's mechanism: rule / model_rank / random_borderline / ''",
    "assigned": "an intervention of the type asked for started within the window after as_of",
    "start_date": "first such start_date (NaT when not assigned)",
    "intervention_mechanism": "interventions.assignment_mechanism of that row ('' when not assigned)",
    "outcome_*": "outcomes, e.g. outcome_dropout (0/1 within the horizon), outcome_attendance (share present)",
    "left_behind": "subgroup: lb_status > 0 or a parent away (from features, when given)",
    "hardship": "subgroup: hard_is_poor_any (from features, when given)",
}

_SNAPSHOT_NEEDS = (
    "student_id",
    "as_of",
    "school_id",
    "grade",
    "probability",
    "rank_school",
    "capacity",
    "selected",
    "borderline",
    "assignment_mechanism",
    "tier",
)


def grade_band(grade: pd.Series) -> pd.Series:
    """``'primary'`` for grades 1-6, ``'junior'`` for 7-9 (DOMAIN.md: 初中 is watched most).

    >>> grade_band(pd.Series([3, 7, 9])).tolist()
    ['primary', 'junior', 'junior']
    """
    g = pd.to_numeric(grade, errors="coerce")
    out = pd.Series(np.where(g >= 7, "junior", "primary"), index=grade.index, dtype="str")
    return out.where(g.notna())


def decisions_frame(
    snapshot: pd.DataFrame,
    interventions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    intervention_type: str | None = None,
    assign_window_days: int = 14,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per student of one run: the policy's decision, what started, what followed.

    Parameters
    ----------
    snapshot : DataFrame
        One run's risk snapshot (:data:`risk.snapshot.SNAPSHOT_COLUMNS`); a single ``as_of``.
    interventions : DataFrame
        The ``interventions`` table: ``student_id``, ``type``, ``start_date`` and, when kept,
        ``assignment_mechanism``.
    outcomes : DataFrame
        ``student_id`` (column or index) and one or more ``outcome_*`` columns. Students
        without a row (censored: transferred, suspended ...) are left out of the result.
    intervention_type : str, optional
        Only interventions of this ``type`` count as ``assigned``; ``None`` = any type.
    assign_window_days : int
        An intervention counts for this run when ``as_of <= start_date <= as_of + window``.
    features : DataFrame, optional
        Indexed by ``student_id``: features known on ``as_of`` (covariates for
        :func:`risk.evidence.aipw_effect`); ``left_behind`` and ``hardship`` are derived
        from ``lb_*`` / ``hard_is_poor_any`` when present.

    Returns
    -------
    DataFrame
        The columns of :data:`DECISION_COLUMNS`, plus the feature columns.

    Examples
    --------
    >>> snap = pd.DataFrame({"student_id": ["a", "b", "c"], "as_of": pd.Timestamp("2024-03-04"),
    ...     "school_id": "s1", "grade": [7, 7, 8], "probability": [0.3, 0.2, 0.1],
    ...     "rank_school": [1, 2, 3], "capacity": 1, "selected": [True, False, False],
    ...     "borderline": False, "assignment_mechanism": ["model_rank", "", ""], "tier": "none"})
    >>> iv = pd.DataFrame({"student_id": ["a"], "type": ["home_visit"],
    ...     "start_date": [pd.Timestamp("2024-03-06")]})
    >>> out = pd.DataFrame({"student_id": ["a", "b", "c"], "outcome_dropout": [0, 1, 0]})
    >>> d = decisions_frame(snap, iv, out, intervention_type="home_visit")
    >>> d[["student_id", "running_rank", "assigned"]].to_dict("list")
    {'student_id': ['a', 'b', 'c'], 'running_rank': [0.5, -0.5, -1.5], 'assigned': [True, False, False]}
    """
    require_columns(snapshot, _SNAPSHOT_NEEDS, table="snapshot")
    require_columns(interventions, ("student_id", "type", "start_date"), table="interventions")
    if assign_window_days < 0:
        raise ValueError(f"assign_window_days must be >= 0, got {assign_window_days}")
    as_of_values = pd.to_datetime(snapshot["as_of"]).unique()
    if len(as_of_values) != 1:
        raise DataContractError(
            f"snapshot.as_of: expected one run (one date), got {len(as_of_values)};"
            " build one decisions frame per run"
        )
    as_of = pd.Timestamp(as_of_values[0])
    if snapshot["student_id"].duplicated().any():
        raise DataContractError("snapshot.student_id: duplicated students; expected one row each")

    out = outcomes.reset_index() if "student_id" not in outcomes.columns else outcomes
    require_columns(out, ("student_id",), table="outcomes")
    outcome_cols = [c for c in out.columns if str(c).startswith("outcome_")]
    if not outcome_cols:
        raise DataContractError(f"outcomes: no outcome_* column; it has {list(out.columns)}")
    if out["student_id"].duplicated().any():
        raise DataContractError("outcomes.student_id: duplicated students; expected one row each")

    d = pd.DataFrame(
        {
            "student_id": snapshot["student_id"].astype("str").to_numpy(),
            "as_of": as_of,
            "school_id": snapshot["school_id"].astype("str").to_numpy(),
            "grade": snapshot["grade"].to_numpy(),
            "score": snapshot["probability"].astype(float).to_numpy(),
            "rank_school": snapshot["rank_school"].astype("int64").to_numpy(),
            "capacity": snapshot["capacity"].astype("int64").to_numpy(),
            "tier": snapshot["tier"].astype("str").to_numpy(),
            "selected": snapshot["selected"].astype(bool).to_numpy(),
            "borderline": snapshot["borderline"].astype(bool).to_numpy(),
            "assignment_mechanism": snapshot["assignment_mechanism"].fillna("").astype("str").to_numpy(),
        }
    )
    d["grade_band"] = grade_band(d["grade"])
    d["running_rank"] = d["capacity"] + 0.5 - d["rank_school"]
    d["rule"] = d["assignment_mechanism"].eq("rule")
    d["randomised"] = d["borderline"]

    iv = interventions
    if intervention_type is not None:
        iv = iv.loc[iv["type"].astype("str") == intervention_type]
    start = pd.to_datetime(iv["start_date"])
    iv = iv.loc[(start >= as_of) & (start <= as_of + pd.Timedelta(days=assign_window_days))]
    iv = iv.assign(start_date=pd.to_datetime(iv["start_date"]), student_id=iv["student_id"].astype("str"))
    iv = iv.sort_values("start_date").drop_duplicates("student_id")
    mech = (
        iv["assignment_mechanism"].fillna("").astype("str")
        if "assignment_mechanism" in iv.columns
        else pd.Series("", index=iv.index, dtype="str")
    )
    first = pd.DataFrame(
        {"start_date": iv["start_date"].to_numpy(), "intervention_mechanism": mech.to_numpy()},
        index=pd.Index(iv["student_id"].to_numpy(), name="student_id"),
    )
    d = d.join(first, on="student_id")
    d["assigned"] = d["start_date"].notna()
    d["intervention_mechanism"] = d["intervention_mechanism"].fillna("").astype("str")

    o = out[["student_id", *outcome_cols]].assign(student_id=out["student_id"].astype("str"))
    d = d.merge(o, on="student_id", how="inner", validate="one_to_one")

    if features is not None:
        f = features.copy()
        f.index = f.index.astype("str")
        clash = [c for c in f.columns if c in d.columns]
        if clash:
            raise DataContractError(f"features: column(s) {clash} clash with decisions columns")
        d = d.join(f, on="student_id")
        if "lb_status" in f.columns:
            d["left_behind"] = pd.to_numeric(d["lb_status"], errors="coerce").gt(0)
        elif {"lb_one_parent_away", "lb_both_parents_away"} <= set(f.columns):
            d["left_behind"] = d["lb_one_parent_away"].fillna(False).astype(bool) | d[
                "lb_both_parents_away"
            ].fillna(False).astype(bool)
        if "hard_is_poor_any" in f.columns:
            d["hardship"] = d["hard_is_poor_any"].fillna(False).astype(bool)
    return d.reset_index(drop=True)
