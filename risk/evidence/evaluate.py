"""``baoxue evaluate-interventions``: every design the logged data supports, in one table.

:func:`evaluation_decisions` turns the stored risk snapshots, the ``interventions`` table
and what happened afterwards (:func:`risk.evidence.replay.policy_outcomes`) into one
decisions frame over all runs in a date range. :func:`evaluate_interventions` runs on it:

- the **borderline lottery** (:func:`~risk.evidence.borderline_effect`): selection for a
  case among the randomised students, within school and run;
- the **regression discontinuity** at each school's capacity cut-off
  (:func:`~risk.evidence.rd_effect`, rank as running variable, the band and rule alerts
  left out);
- the **doubly robust** comparison (:func:`~risk.evidence.aipw_effect`) of the supports
  teachers gave of their own accord (``assignment_mechanism = manual``) among students the
  policy did not select;
- the lottery **by subgroup** (hardship, left-behind, grade band) with Holm-adjusted p-values.

Each for the two outcomes (dropout within the horizon, attendance over the next 30 school
days). When the data is simulated (``truth/intervention_effects.parquet``), every row also
carries the true effect over the same students and whether the interval covers it.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features
from features.config import BaoxueConfig
from features.contract import Tables
from features.errors import PointInTimeError
from training.labels import label_lag_days

from ._result import EffectEstimate, EstimationError, jsonable, plural
from .borderline import borderline_effect
from .decisions import decisions_frame
from .doubly_robust import OverlapWarning, aipw_effect
from .event_study import event_study
from .rd import rd_effect
from .replay import policy_outcomes, weekly_attendance
from .subgroups import effects_by_group

__all__ = [
    "AIPW_COVARIATES",
    "InterventionEvaluation",
    "evaluate_interventions",
    "evaluation_decisions",
    "event_panel",
]

#: event study window: weeks before and after the case opened
LEADS, LAGS = 4, 8

#: covariates of the doubly robust design: the risk at assignment and what teachers see
AIPW_COVARIATES: tuple[str, ...] = (
    "score",
    "hard_is_poor_any",
    "att_unexcused_days_10d",
    "att_absence_rate_term",
    "grade",
)
OUTCOMES: tuple[str, ...] = ("outcome_dropout", "outcome_attendance")
SUBGROUPS: tuple[str, ...] = ("hardship", "left_behind", "grade_band")


def evaluation_decisions(
    snapshots: pd.DataFrame,
    tables: Tables,
    config: BaoxueConfig | None = None,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    truth: pd.DataFrame | None = None,
    attendance_days: int = 30,
) -> tuple[pd.DataFrame, list[str]]:
    """One decisions frame over every run in ``[start, end]`` whose outcomes are observed.

    Returns the frame (:data:`risk.evidence.DECISION_COLUMNS` plus ``run``, ``stratum``,
    the covariates and, with ``truth``, its columns) and notes on the runs left out.
    """
    cfg = config or BaoxueConfig()
    if tables.interventions is None:
        raise EstimationError("interventions: no table; the designs need the supports that were given")
    snaps = snapshots.assign(as_of=pd.to_datetime(snapshots["as_of"]))
    if start is not None:
        snaps = snaps.loc[snaps["as_of"] >= pd.Timestamp(start)]
    if end is not None:
        snaps = snaps.loc[snaps["as_of"] <= pd.Timestamp(end)]
    iv = tables.interventions.assign(
        student_id=tables.interventions["student_id"].astype("str"),
        type=tables.interventions["type"].astype("str"),
    )
    notes: list[str] = []
    frames = []
    unlabelled: list[str] = []
    for day, snap in snaps.groupby("as_of", sort=True):
        try:
            outcomes = policy_outcomes(tables, day.date(), cfg, days=attendance_days, dropout_required=False)
        except PointInTimeError:
            notes.append(f"run {day.date()}: outcomes not yet observed; left out")
            continue
        if outcomes["outcome_dropout"].isna().all():
            unlabelled.append(day.date().isoformat())
        if outcomes.isna().all().all():
            notes.append(f"run {day.date()}: outcomes not yet observed (the data ends too soon); left out")
            continue
        feats = build_features(tables, day.date(), cfg)
        cols = [
            c for c in (*AIPW_COVARIATES, "lb_status") if c in feats.columns and c not in ("score", "grade")
        ]
        d = decisions_frame(snap, iv, outcomes, features=feats[cols])
        d["run"] = day.date().isoformat()
        d["stratum"] = d["school_id"] + "|" + d["run"]
        frames.append(d)
    if unlabelled:
        lag = label_lag_days(cfg.train)
        runs = unlabelled[0] if len(unlabelled) == 1 else f"{unlabelled[0]} to {unlabelled[-1]}"
        notes.append(
            f"dropout within {cfg.train.horizon_days} days: not yet observed for "
            f"{plural(len(unlabelled), 'run')} ({runs}; the label needs {lag} days of data after the run), "
            "so those runs count for attendance only"
        )
    if not frames:
        raise EstimationError("no run with observed outcomes in the date range")
    out = pd.concat(frames, ignore_index=True)
    if truth is not None:
        t = truth.assign(student_id=truth["student_id"].astype("str"), as_of=pd.to_datetime(truth["as_of"]))
        keep = [c for c in t.columns if c not in out.columns or c in ("student_id", "as_of")]
        out = out.merge(t[keep], on=["student_id", "as_of"], how="left", validate="one_to_one")
    return out, notes


def event_panel(
    tables: Tables,
    *,
    support: str = "home_visit",
    start: dt.date | None = None,
    end: dt.date | None = None,
    controls: int = 1500,
    seed: int = 0,
) -> pd.DataFrame:
    """Weekly attendance of the students who got ``support`` (their first one in the range)
    and of a seeded sample of ``controls`` students who never got it, for the event study.

    Columns ``student_id``, ``week`` (Monday), ``attendance`` (share of the week's school days)
    and ``event_week`` (the Monday of the week the support started; NaT for controls).
    """
    if tables.interventions is None:
        raise EstimationError("interventions: no table; the event study needs the supports that were given")
    iv = tables.interventions
    iv = iv.loc[iv["type"].astype("str") == support, ["student_id", "start_date"]]
    iv = iv.assign(student_id=iv["student_id"].astype("str"), start_date=pd.to_datetime(iv["start_date"]))
    ever = set(iv["student_id"])
    if start is not None:
        iv = iv.loc[iv["start_date"] >= pd.Timestamp(start)]
    if end is not None:
        iv = iv.loc[iv["start_date"] <= pd.Timestamp(end)]
    if not len(iv):
        raise EstimationError(f"interventions: no {support} in the date range; no event study")
    first = iv.sort_values("start_date").drop_duplicates("student_id").set_index("student_id")["start_date"]
    students = tables.students.assign(student_id=tables.students["student_id"].astype("str"))
    school_of = students.drop_duplicates("student_id", keep="last").set_index("student_id")["school_id"]
    pool = np.array(sorted(set(school_of.index) - ever), dtype=object)
    rng = np.random.default_rng(seed)
    picked = rng.choice(pool, size=min(controls, len(pool)), replace=False) if len(pool) else pool
    who = school_of.loc[list(first.index) + list(picked)]
    lo = first.min() - pd.Timedelta(weeks=LEADS + 4)
    hi = first.max() + pd.Timedelta(weeks=LAGS + 2)
    panel = weekly_attendance(tables.attendance, tables.calendar, who, start=lo, end=hi)
    open_week = first - pd.to_timedelta(first.dt.day_of_week, unit="D")
    panel["event_week"] = panel["student_id"].map(open_week)
    return panel


@dataclass
class InterventionEvaluation:
    """The estimates (one row each in ``table``) and what they came from."""

    table: pd.DataFrame
    results: list[EffectEstimate]
    decisions: pd.DataFrame
    by_group: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    simulated: bool = False

    def to_json(self) -> str:
        """One JSON object: ``estimates`` (per estimator, type and outcome: estimate, CI, n and
        the true effect when simulated), ``by_group``, ``notes``."""
        cols = ["estimator", "intervention_type", "outcome", "group", "estimate", "ci_low", "ci_high", "n",
                "n_treated", "n_control", "p_value", "true_effect", "covers", "warnings"]  # fmt: skip
        est = self.table[[c for c in cols if c in self.table.columns]]
        grp = self.by_group
        return json.dumps(
            {
                "estimates": jsonable(est),
                "by_group": jsonable(grp),
                "notes": self.notes,
                "simulated": self.simulated,
            },
            ensure_ascii=False,
            indent=2,
        )


def _true_effect(d: pd.DataFrame, mask: np.ndarray, outcome: str, selection: bool) -> float:
    """The realised true effect over the rows an estimate used (NaN without truth columns):
    both potential outcomes of every student are known, so this is the sample's own effect.
    ``selection``: the effect of being selected (lottery, cut-off) rather than of the support."""
    if not mask.any():
        return float("nan")
    part = d.loc[mask]
    kind = "dropout" if outcome == "outcome_dropout" else "attendance"
    col = f"selection_{kind}"
    if selection and col in part.columns:
        return float(part[col].mean())
    a, b = ("y0", "y1") if kind == "dropout" else ("a0", "a1")
    if {a, b} <= set(part.columns):
        return float((part[b] - part[a]).mean())
    return float("nan")


def evaluate_interventions(
    decisions: pd.DataFrame,
    *,
    panel: pd.DataFrame | None = None,
    visit_weeks: pd.DataFrame | None = None,
    seed: int = 0,
    level: float = 0.95,
    n_boot: int = 1000,
) -> InterventionEvaluation:
    """Run every design the decisions support; a design the data cannot support is a note, not an error.

    ``panel`` (:func:`event_panel`) adds the event study of home visits; ``visit_weeks`` (the
    replay's ``truth/home_visit_weeks``) its true effect per event week."""
    d = decisions
    simulated = "y0" in d.columns
    rows: list[pd.DataFrame] = []
    results: list[EffectEstimate] = []
    notes: list[str] = []

    def add(res: EffectEstimate, frame: pd.DataFrame, mask: np.ndarray, selection: bool) -> None:
        row = res.to_frame().assign(group="all")
        if simulated:
            truth = _true_effect(frame, mask, res.outcome, selection)
            row["true_effect"] = truth
            row["covers"] = bool(res.covers(truth)) if np.isfinite(truth) else None
        rows.append(row)
        results.append(res)

    for outcome in OUTCOMES:
        # the rows whose outcome is observed (a run whose dropout label is still open counts
        # for attendance only; evaluation_decisions says which)
        od = d.loc[d[outcome].notna()].reset_index(drop=True)
        if not len(od):
            notes.append(f"{outcome}: not observed for any run yet; no design estimates it")
            continue
        randomised = od["randomised"].to_numpy(dtype=bool)
        try:
            res = borderline_effect(
                od, outcome=outcome, strata="stratum", seed=seed, level=level, n_boot=n_boot
            )
            add(res, od, randomised, True)
        except EstimationError as exc:
            notes.append(f"borderline, {outcome}: {exc}")
        try:
            res = rd_effect(od, outcome=outcome, treatment="selected", intervention_type="case", level=level)
            h = float(res.diagnostics.get("bandwidth_h", np.nan))
            r = od["running_rank"].to_numpy(dtype=float)
            mask = ~randomised & ~od["rule"].to_numpy(dtype=bool) & (np.abs(r) <= h)
            add(res, od, mask, True)
        except EstimationError as exc:
            notes.append(f"rd, {outcome}: {exc}")
        pool = od.loc[
            ~od["selected"].to_numpy(dtype=bool) & ~od["rule"].to_numpy(dtype=bool) & ~randomised
        ].copy()
        pool["manual"] = (
            pool["assigned"].to_numpy(dtype=bool) & pool["intervention_mechanism"].eq("manual").to_numpy()
        )
        covs = [c for c in AIPW_COVARIATES if c in pool.columns]
        if pool["manual"].sum() >= 10:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", OverlapWarning)
                    res = aipw_effect(pool, outcome=outcome, treatment="manual", covariates=covs, estimand="att",
                                      intervention_type="tutoring", seed=seed, level=level)  # fmt: skip
                notes.extend(
                    f"aipw, {outcome}: {w.message}" for w in caught if issubclass(w.category, OverlapWarning)
                )
                mask = np.zeros(len(od), dtype=bool)
                mask[pool.index[pool["manual"].to_numpy()]] = True
                add(res, od, mask, False)
            except EstimationError as exc:
                notes.append(f"aipw, {outcome}: {exc}")
        else:
            notes.append(
                f"aipw, {outcome}: fewer than 10 manual supports outside the list; no observational comparison"
            )

    if panel is not None:
        try:
            res = event_study(panel, outcome="attendance", period="week", event="event_week", leads=LEADS,
                              lags=LAGS, reference=-1, level=level, intervention_type="home_visit")  # fmt: skip
            pre = res.diagnostics.get("pretrend") or {}
            if float(pre.get("p_value", 1.0)) < 0.05:
                notes.append(
                    "event study: the pre-trend test rejects (p = {:.2g}): cases open because attendance"
                    " collapsed, so the weeks before the opening are no baseline for the weeks after and the"
                    " estimate is not the visits' effect. Guaranteed supports have no untreated comparison;"
                    " read this design as descriptive.".format(float(pre["p_value"]))
                )
            row = res.to_frame().assign(group="all")
            if visit_weeks is not None and len(visit_weeks):
                w = visit_weeks.set_index("event_week")["effect"].reindex(range(0, LAGS + 1))
                truth = float(w.mean())
                row["true_effect"] = truth
                row["covers"] = bool(res.covers(truth)) if np.isfinite(truth) else None
            rows.append(row)
            results.append(res)
        except EstimationError as exc:
            notes.append(f"event study: {exc}")

    groups = []
    band = d.loc[d["randomised"].to_numpy(dtype=bool) & d["outcome_dropout"].notna().to_numpy()]
    for by in SUBGROUPS:
        if by not in band.columns or band[by].isna().all():
            continue
        try:
            res = effects_by_group(
                borderline_effect, band.assign(**{by: band[by].astype("str")}), by=by, outcome="outcome_dropout",
                strata="stratum", seed=seed, level=level, n_boot=n_boot, min_rows=30,
            )  # fmt: skip
        except EstimationError as exc:
            notes.append(f"subgroups by {by}: {exc}")
            continue
        t = res.table.rename(columns={by: "value"}).assign(subgroup=by)
        if simulated and "y0" in band.columns:
            truth = [
                _true_effect(band, (band[by].astype("str") == v).to_numpy(), "outcome_dropout", True)
                for v in t["value"]
            ]
            t["true_effect"] = truth
        groups.append(t)
        if res.note not in notes:
            notes.append(res.note)
    by_group = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame()
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return InterventionEvaluation(
        table=table, results=results, decisions=d, by_group=by_group, notes=notes, simulated=simulated
    )


def read_snapshots(path: str | Path) -> pd.DataFrame:
    """Risk snapshots from a Parquet/CSV file (e.g. a replay's ``snapshots.parquet``)."""
    p = Path(path)
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
