"""Replaying the job's assignment policy on a simulated county, with known intervention effects.

An estimator earns trust on real data only after it has recovered a known effect. This
module runs the policy the nightly job runs (:func:`risk.assess.assess_full`: score, rules,
tiers, ranks under each school's capacity, the randomised borderline band switched on) on a
simulated county at a few decision dates, gives every selected student the support their
plan names, lets teachers add a few students of their own ("manual", an observational
assignment), and applies the true effects of SIMULATOR.md to the county's own dropout
episodes. The county's tables are edited so that they show what happened *under* the
policy: an averted dropout leaves no 疑似辍学 / 辍学 mark and the child keeps attending.

**The true effects** (:class:`TrueEffects`, SIMULATOR.md "Interventions"): aid (助学金 /
CCT) multiplies the dropout hazard by 0.4 among poor students (Mo 2013) and does nothing
for others; tutoring multiplies it by 0.8. An effect works on the dropout episodes that
would *begin* while the support runs (``as_of`` to ``as_of + horizon``): each such episode
is averted with probability ``1 - hazard ratio``, by a fixed per-episode number (a hash of
the seed, the student and the episode's first day), so both potential outcomes of every
student are known:

- ``y0`` / ``y1``: the label (:func:`training.labels.make_labels`) without / with the support;
- ``a0`` / ``a1``: the share of the next 30 school days attended without / with it;
- ``effect_expected``: ``-(1 - hr) * p_true``, the expected change in dropout probability
  given what the simulator knew on ``as_of`` (``truth/risk_monthly``; NaN when ``as_of`` is
  not a month start), zero for a child whose dropout had already begun.

What the replay does not model: home visits to children already out (their supports are
logged, with no effect on return), spillovers between classmates, and the four-step
process. An averted dropout keeps attending at the "present" status and has no exam rows
after the episode would have begun (the simulator did not write them), so its later
features look a little worse than a real pupil's.

Ethics (DOMAIN.md): the lottery decides only inside the borderline band, never for red-tier
students or rule alerts; everyone the policy guarantees a case still gets one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.cohort import cohort
from features.config import BaoxueConfig
from features.contract import Tables
from features.errors import DataContractError, PointInTimeError
from features.load import tables_from_frames
from features.sim import TRUTH_DIR, SimulatedCounty, write_county
from features.time import school_years
from risk.assign import PRESENT_STATUSES  # the statuses that count as attending a day
from training.labels import make_labels, observed_until

__all__ = [
    "PRESENT_STATUSES",
    "TRUTH_COLUMNS",
    "PolicyReplay",
    "TrueEffects",
    "default_decision_dates",
    "policy_outcomes",
    "replay_policy",
    "write_replay",
]


#: the columns of ``truth/intervention_effects`` (one row per student and decision date)
TRUTH_COLUMNS: dict[str, str] = {
    "student_id": "opaque student key",
    "as_of": "the decision date (the run)",
    "would_be_type": "the support the student's plan names if selected (aid / tutoring / talk)",
    "hazard_ratio": "the true hazard ratio of that support for this student",
    "poor": "poor household this school year (truth)",
    "treated": "got a support starting on as_of (case or manual)",
    "mechanism": "rule / model_rank / random_borderline / manual / '' (not treated)",
    "p_true": "true probability of a positive label within the horizon (truth/risk_monthly; NaN off month starts)",
    "active": "a dropout episode had already begun on as_of (no support can avert it)",
    "effect_expected": "-(1 - hazard_ratio) * p_true (0 when active; y1 - y0 where p_true is unknown); "
    "ignores that a home visit resolves most suspected marks, so about twice the realised effect on the label",
    "p_manual": "chance of a teacher's own pick (tutoring) were the student not selected (0 in the band)",
    "effect_selection": "expected effect of selection: the support's effect minus what a manual pick would give",
    "would_manual": "a teacher would have picked the student had the policy not selected them",
    "selection_dropout": "realised effect of selection on the label (y1 - y0; 0 where a teacher's pick would give the same)",
    "selection_attendance": "realised effect of selection on attendance, likewise",
    "y0": "label without the support (1 = dropped out within the horizon)",
    "y1": "label with the support",
    "a0": "share of the next 30 school days attended without the support",
    "a1": "share with the support",
}


@dataclass(frozen=True, kw_only=True)
class TrueEffects:
    """The true effects the replay applies (SIMULATOR.md "Interventions") and the policy knobs.

    Attributes
    ----------
    aid_hr_poor, aid_hr_other : float
        Hazard ratio of aid among poor students (Mo 2013: 0.4) and among the others.
    tutoring_hr : float
        Hazard ratio of tutoring (assumption: 0.8).
    manual_share : float
        Share of not-selected students whom teachers give tutoring of their own accord
        ("manual" assignments: the observational comparison for the doubly robust design).
    home_visit_return, return_within_days : float, int
        A home visit (家访劝返) after the 5-day rule brings the child back with this
        probability, on a day drawn uniformly within this many days of the visit (60% within
        30 days: assumption).
    redrop_share, redrop_within_days : float, int
        A returned child drops out again with this probability, within this many days (15%
        within a term: Ao & Huang 2021 on 复学生).
    manual_score_slope, manual_poor_shift : float
        How strongly that choice follows the risk percentile (a top-percentile student is
        ``exp(3 * slope)`` times as likely to be picked as a bottom one) and poverty: teachers pick children who look at risk, so treated and untreated
        differ, but only in what is recorded.
    """

    aid_hr_poor: float = 0.4
    aid_hr_other: float = 1.0
    tutoring_hr: float = 0.8
    manual_share: float = 0.04
    manual_score_slope: float = 0.8
    manual_poor_shift: float = 0.7
    home_visit_return: float = 0.6
    return_within_days: int = 30
    redrop_share: float = 0.15
    redrop_within_days: int = 60

    def __post_init__(self) -> None:
        for name in ("aid_hr_poor", "aid_hr_other", "tutoring_hr"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1] (a protective effect), got {getattr(self, name)}")
        for name in ("home_visit_return", "redrop_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.return_within_days < 1 or self.redrop_within_days < 1:
            raise ValueError("return_within_days and redrop_within_days must be >= 1")
        if not 0 <= self.manual_share < 1:
            raise ValueError(f"manual_share must be in [0, 1), got {self.manual_share}")

    def hazard_ratio(self, support: np.ndarray, poor: np.ndarray) -> np.ndarray:
        """Each student's hazard ratio for the support named (``aid``/``tutoring``; others: 1)."""
        support = np.asarray(support, dtype=object)
        poor = np.asarray(poor, dtype=bool)
        hr = np.ones(len(support))
        hr[support == "tutoring"] = self.tutoring_hr
        aid = support == "aid"
        hr[aid] = np.where(poor[aid], self.aid_hr_poor, self.aid_hr_other)
        return hr


@dataclass
class PolicyReplay:
    """A county as observed under the policy, its risk snapshots and the truth behind them."""

    frames: dict[str, pd.DataFrame]  # every contract table after the policy, ``interventions`` included
    snapshots: pd.DataFrame  # the runs' risk snapshots (risk.snapshot.SNAPSHOT_COLUMNS), stacked
    truth: pd.DataFrame  # TRUTH_COLUMNS
    decision_dates: list[dt.date]
    effects: TrueEffects
    config: BaoxueConfig
    meta: dict = field(default_factory=dict)
    visits: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # one row per home visit: did the child return?
    visit_weeks: pd.DataFrame = field(default_factory=pd.DataFrame)  # true visit effect per event week

    def tables(self) -> Tables:
        """The observed county as validated tables."""
        return tables_from_frames(self.frames).tables


# --------------------------------------------------------------------------- helpers


def _uniform(seed: int, kind: str, *keys: np.ndarray) -> np.ndarray:
    """A fixed number in [0, 1) per row: a hash of the seed, ``kind`` and the keys."""
    text = pd.Series(np.asarray(keys[0], dtype=object)).astype("str")
    for k in keys[1:]:
        text = text + "|" + pd.Series(np.asarray(k, dtype=object)).astype("str").to_numpy()
    h = pd.util.hash_array(text.to_numpy(dtype=object), hash_key=f"{kind}{seed:012d}"[:16], categorize=False)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _academic_year(d: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return school_years(d)  # the one school year (features.time)


def default_decision_dates(county: SimulatedCounty, config: BaoxueConfig | None = None) -> list[dt.date]:
    """1 November and 1 March of the last simulated school year whose label window is observed.

    Month starts, so the expected effect can use ``truth/risk_monthly``; four months apart,
    so one run's support (a horizon of 90 days) has ended before the next run.
    """
    cfg = config or BaoxueConfig()
    att = county.frames["attendance"]["date"]
    last = pd.Timestamp(att.max())
    year = int(_academic_year(pd.DatetimeIndex([last]))[0])
    lag = cfg.train.horizon_days + cfg.train.suspected_resolution_days
    dates = [dt.date(year, 11, 1), dt.date(year + 1, 3, 1)]
    return [d for d in dates if pd.Timestamp(d) + pd.Timedelta(days=lag) <= last]


def policy_outcomes(
    tables: Tables, as_of: dt.date, config: BaoxueConfig, *, days: int = 30, dropout_required: bool = True
) -> pd.DataFrame:
    """The outcomes of a run, from the tables alone (the same code for real and simulated data).

    ``outcome_dropout``: the label of ``as_of`` (:func:`training.labels.make_labels`; censored
    students — transferred, suspended, deceased ... — are left out). ``outcome_attendance``:
    the share of the next ``days`` school days of the student's school (after ``as_of``)
    with an attending status (:data:`PRESENT_STATUSES`); a day with no row counts as absent
    (a child off the roll is not at school).

    When the dropout label of ``as_of`` is not yet observed (its window runs past the tables'
    last day), :class:`~features.errors.PointInTimeError` is raised, or with
    ``dropout_required=False`` every student of the cohort is returned with
    ``outcome_dropout`` missing (NaN); the attendance outcome needs only ``days`` school days.

    Returns
    -------
    DataFrame
        Indexed by ``student_id``: ``outcome_dropout`` (int; float and NaN when not observed)
        and ``outcome_attendance`` (float; NaN where the window is not observed yet).
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    day = pd.Timestamp(as_of)
    spine = cohort(tables, as_of)
    try:
        labels = make_labels(tables, day, config.train)
        ids = labels.index.astype("str")
        dropout = labels["label"].to_numpy(dtype=np.int64)
    except PointInTimeError:
        if dropout_required:
            raise
        ids = spine.index.astype("str")
        dropout = np.full(len(ids), np.nan)
    school = spine["school_id"].astype("str").reindex(ids)

    cal = tables.calendar
    if cal is None or not len(cal):
        raise DataContractError("calendar: needed for the attendance outcome (school days after as_of)")
    c = cal.loc[cal["is_school_day"].astype(bool) & (cal["date"] > day), ["school_id", "date"]]
    c = c.assign(school_id=c["school_id"].astype("str")).sort_values(["school_id", "date"])
    c = c.groupby("school_id", sort=False).head(days)
    window = c.groupby("school_id")["date"].agg(["max", "size"])

    att = tables.attendance
    a = att.loc[
        (att["date"] > day) & att["status"].astype("str").isin(PRESENT_STATUSES), ["student_id", "date"]
    ]
    a = a.assign(student_id=a["student_id"].astype("str")).drop_duplicates()
    a = a.assign(school_id=a["student_id"].map(school))
    a = a.loc[a["school_id"].notna()]
    a = a.merge(c, on=["school_id", "date"], how="inner")  # only the school's own window days
    attended = a.groupby("student_id").size()

    n_days = school.map(window["size"]).to_numpy(dtype=float)
    # a window that runs past the last recorded day is not observed yet (not absent)
    n_days[(school.map(window["max"]) > att["date"].max()).to_numpy(dtype=bool)] = np.nan
    share = attended.reindex(ids).fillna(0).to_numpy(dtype=float) / np.where(n_days > 0, n_days, np.nan)
    return pd.DataFrame(
        {"outcome_dropout": dropout, "outcome_attendance": share},
        index=pd.Index(ids, name="student_id"),
    )


def _avert(
    frames: dict[str, pd.DataFrame], episodes: pd.DataFrame, *, _cal_cache: dict
) -> dict[str, pd.DataFrame]:
    """A copy of ``frames`` in which the dropout ``episodes`` (truth rows) never happen.

    From the episode's disengagement start (or its first day) the child attends: unexcused
    days become ``present``, school days of the rest of the school year without a row get a
    ``present`` row, and the episode's registry marks (suspected, dropout, a later return)
    are removed.
    """
    if not len(episodes):
        return frames
    out = dict(frames)
    ep = episodes.assign(
        student_id=episodes["student_id"].astype("str"),
        start=pd.to_datetime(episodes["start_date"]),
        from_=pd.to_datetime(episodes["disengage_start"]).fillna(pd.to_datetime(episodes["start_date"])),
    )
    ep["from_"] = ep[["from_", "start"]].min(axis=1)
    ep["year"] = _academic_year(ep["start"])

    # registry: drop the episode's marks and a later return in the same school year
    reg = frames["registry_events"]
    sid = reg["student_id"].astype("str")
    rdate = pd.to_datetime(reg["event_date"])
    first_of = ep.groupby("student_id")["start"].min()
    year_of = ep.groupby("student_id")["year"].min()
    m = sid.map(first_of)
    same_year = _academic_year(rdate) == sid.map(year_of).fillna(-1).to_numpy()
    kinds = reg["event_type"].astype("str").isin(("suspected_mark", "dropout_mark", "return_mark"))
    drop = (kinds & (rdate >= m) & same_year).to_numpy(dtype=bool)
    out["registry_events"] = reg.loc[~drop].reset_index(drop=True)

    # attendance: from the disengagement start the child attends, to the end of the school year
    out["attendance"] = _attend(frames, ep.assign(until=pd.NaT), _cal_cache)
    return out


def _school_days(frames: dict[str, pd.DataFrame], cache: dict) -> pd.DataFrame:
    cal = cache.get("cal")
    if cal is None:
        c = frames["calendar"]
        cal = c.loc[c["is_school_day"].astype(bool), ["school_id", "date"]].assign(
            school_id=lambda x: x["school_id"].astype("str"), date=lambda x: pd.to_datetime(x["date"])
        )
        cal["year"] = _academic_year(cal["date"])
        cache["cal"] = cal
    return cal


def _attend(frames: dict[str, pd.DataFrame], spans: pd.DataFrame, cache: dict) -> pd.DataFrame:
    """Attendance in which each span's student attends from ``from_`` to ``until`` (exclusive;
    NaT = the end of that school year): unexcused days become ``present`` and school days of
    the student's school without a row get a ``present`` row. One span per student."""
    att = frames["attendance"]
    if not len(spans):
        return att
    sp = spans.drop_duplicates("student_id").set_index("student_id")
    rows = np.flatnonzero(att["student_id"].isin(sp.index).to_numpy())  # only the spans' students
    sub = att.iloc[rows]
    asid = sub["student_id"].astype("str")
    adate = pd.to_datetime(sub["date"])
    f = asid.map(sp["from_"])
    u = asid.map(sp["until"])
    same_year = _academic_year(adate) == asid.map(sp["year"]).fillna(-1).to_numpy()
    hit = (f.notna() & (adate >= f) & (u.isna() | (adate < u)) & same_year).to_numpy(dtype=bool)
    hit = hit & sub["status"].astype("str").eq("unexcused").to_numpy()
    new_att = att.copy()
    if hit.any():
        at = rows[hit]
        status = new_att["status"].astype("str").to_numpy(dtype=object)
        status[at] = "present"
        new_att["status"] = status
        if "leave_id" in new_att.columns:
            new_att.iloc[at, new_att.columns.get_loc("leave_id")] = None

    school_of = _school_of(frames["students"], sp.reset_index().assign(start=sp["from_"].to_numpy()))
    cal = _school_days(frames, cache)
    want = sp.reset_index()[["student_id", "from_", "until", "year"]]
    want = want.assign(school_id=want["student_id"].map(school_of))
    want = want.dropna(subset=["school_id"]).merge(cal, on=["school_id", "year"], how="inner")
    want = want.loc[(want["date"] >= want["from_"]) & (want["until"].isna() | (want["date"] < want["until"]))]
    have = pd.DataFrame({"student_id": asid, "date": adate})
    add = want[["student_id", "date"]].merge(have.drop_duplicates(), on=["student_id", "date"], how="left",
                                             indicator=True)  # fmt: skip
    add = add.loc[add["_merge"] == "left_only", ["student_id", "date"]]
    if len(add):
        extra = pd.DataFrame({c: pd.Series([None] * len(add), dtype=object) for c in new_att.columns})
        extra["student_id"] = add["student_id"].to_numpy()
        extra["date"] = add["date"].to_numpy()
        extra["status"] = "present"
        if "session" in extra.columns:
            extra["session"] = "day"
        new_att = pd.concat([new_att.astype({"status": "str"}), extra.astype(new_att.dtypes.to_dict())])
        new_att = new_att.sort_values(["student_id", "date"], kind="stable").reset_index(drop=True)
    return new_att


def _next_school_day(
    frames: dict[str, pd.DataFrame], cache: dict, school: pd.Series, day: pd.Series
) -> pd.Series:
    """The first school day of each row's school on or after ``day`` (NaT when none that year)."""
    cal = _school_days(frames, cache).sort_values("date")
    q = pd.DataFrame(
        {"school_id": school.to_numpy(), "day": pd.to_datetime(day).to_numpy(), "row": np.arange(len(day))}
    )
    q = q.dropna(subset=["school_id", "day"]).sort_values("day")
    q["day"] = q["day"].astype("datetime64[ns]")
    cal = cal.assign(date=cal["date"].astype("datetime64[ns]"), school_id=cal["school_id"].astype("str"))
    q["school_id"] = q["school_id"].astype("str")
    m = pd.merge_asof(q, cal[["school_id", "date"]], left_on="day", right_on="date", by="school_id",
                      direction="forward")  # fmt: skip
    out = pd.Series(pd.NaT, index=range(len(day)), dtype="datetime64[ns]")
    out.loc[m["row"].to_numpy()] = pd.to_datetime(m["date"]).to_numpy()
    out.index = day.index
    return out


def _school_of(students: pd.DataFrame, ep: pd.DataFrame) -> pd.Series:
    """Each episode student's school on the episode's first day (the students row in force)."""
    s = students.assign(student_id=students["student_id"].astype("str"))
    s = s.loc[s["student_id"].isin(ep["student_id"])]
    start = s["student_id"].map(ep.groupby("student_id")["start"].min())
    vf = pd.to_datetime(s["valid_from"])
    vt = pd.to_datetime(s["valid_to"]) if "valid_to" in s.columns else pd.Series(pd.NaT, index=s.index)
    ok = (vf <= start) & (vt.isna() | (vt >= start))
    s = s.loc[ok].sort_values("valid_from").drop_duplicates("student_id", keep="last")
    return pd.Series(s["school_id"].astype("str").to_numpy(), index=s["student_id"].to_numpy())


def _support(measures: pd.Series, rules: pd.Series) -> np.ndarray:
    """The support a plan names first: aid when it refers to aid, else tutoring; a rule alert on a
    run date gets the head teacher's call to the family (``talk``; the home visit itself is
    logged when the 5-day rule opens the suspected-dropout case)."""
    m = measures.fillna("").astype("str")
    aid = m.str.split(";").map(lambda xs: "aid_referral" in xs).to_numpy(dtype=bool)
    rule = rules.fillna("").astype("str").ne("").to_numpy()
    return np.where(rule, "talk", np.where(aid, "aid", "tutoring")).astype(object)


def _expected(active: np.ndarray, formula: np.ndarray, hr: np.ndarray, realised: np.ndarray) -> np.ndarray:
    """The expected effect: 0 for a dropout already begun or a support without effect; the
    formula where the truth knows ``p_true``; else (a child the simulator counted as gone, back
    after a home visit) the realised change."""
    out = np.where(np.isnan(formula), realised, formula)
    return np.where(active | (hr >= 1), 0.0, out)


def _manual_probability(
    score: pd.Series, poor: np.ndarray, eligible: np.ndarray, eff: TrueEffects
) -> np.ndarray:
    """Each student's chance of a teacher's own pick *if eligible*: rising with the risk
    percentile and poverty, ``manual_share`` on average over the eligible (capped at 0.9)."""
    if eff.manual_share <= 0 or not eligible.any():
        return np.zeros(len(score))
    pct = (score.reset_index(drop=True).rank(method="average").to_numpy() - 0.5) / len(score)
    w = np.exp(eff.manual_score_slope * 3 * pct + eff.manual_poor_shift * poor)
    return np.minimum(0.9, eff.manual_share * w / w[eligible].mean())


def weekly_attendance(
    attendance: pd.DataFrame,
    calendar: pd.DataFrame,
    school_of: pd.Series,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Each student's share of the week's school days attended (weeks start on Monday).

    ``school_of`` maps ``student_id`` to the school whose calendar counts the days; weeks with
    no school day are left out; a school day with no row counts as absent. Returns
    ``student_id``, ``week`` (the Monday) and ``attendance``.
    """
    cal = calendar.loc[calendar["is_school_day"].astype(bool), ["school_id", "date"]]
    cal = cal.assign(school_id=cal["school_id"].astype("str"), date=pd.to_datetime(cal["date"]))
    cal = cal.loc[(cal["date"] >= start) & (cal["date"] <= end)]
    cal["week"] = cal["date"] - pd.to_timedelta(cal["date"].dt.day_of_week, unit="D")
    days = cal.groupby(["school_id", "week"]).size().rename("days").reset_index()
    sch = pd.DataFrame(
        {"student_id": school_of.index.astype("str"), "school_id": school_of.astype("str").to_numpy()}
    )
    grid = sch.merge(days, on="school_id", how="inner")
    a = attendance.loc[:, ["student_id", "date", "status"]]
    a = a.assign(student_id=a["student_id"].astype("str"), date=pd.to_datetime(a["date"]))
    a = a.loc[a["status"].astype("str").isin(PRESENT_STATUSES) & a["student_id"].isin(grid["student_id"])]
    a = a.merge(sch, on="student_id").merge(cal[["school_id", "date", "week"]], on=["school_id", "date"])
    got = a.drop_duplicates(["student_id", "date"]).groupby(["student_id", "week"]).size().rename("present")
    grid = grid.join(got, on=["student_id", "week"])
    share = grid["present"].fillna(0).to_numpy(dtype=float) / grid["days"].to_numpy(dtype=float)
    return pd.DataFrame({"student_id": grid["student_id"], "week": grid["week"], "attendance": share})


def _home_visits(
    frames: dict[str, pd.DataFrame], episodes: pd.DataFrame, eff: TrueEffects, seed: int, cache: dict
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Every dropout episode's 5-day rule opens a case and a home visit follows the next day;
    the visit brings the child back with ``eff.home_visit_return`` (the truth of each visit in
    the returned frame). The frames show the visits' results."""
    ep = episodes.dropna(subset=["mark_date"]).copy()
    if not len(ep):
        return frames, pd.DataFrame()
    ep["start"] = pd.to_datetime(ep["start_date"])
    ep["case_open"] = pd.to_datetime(ep["mark_date"])
    ep["visit_date"] = ep["case_open"] + pd.Timedelta(days=1)
    ep["year"] = _academic_year(ep["start"])
    ep = ep.sort_values("start").drop_duplicates("student_id")  # one case per child and year
    school = ep["student_id"].map(_school_of(frames["students"], ep))
    sid, key = ep["student_id"].to_numpy(), ep["start"].astype("str").to_numpy()
    back = _uniform(seed, "return", sid, key) < eff.home_visit_return
    offset = np.floor(_uniform(seed, "return_day", sid, key) * eff.return_within_days).astype(int)
    r_day = _next_school_day(frames, cache, school, ep["visit_date"] + pd.to_timedelta(offset, unit="D"))
    r_ok = (
        back & r_day.notna().to_numpy() & (_academic_year(r_day.fillna(ep["start"])) == ep["year"].to_numpy())
    )
    redrop = r_ok & (_uniform(seed, "redrop", sid, key) < eff.redrop_share)
    r_off = 1 + np.floor(_uniform(seed, "redrop_day", sid, key) * eff.redrop_within_days).astype(int)
    d_day = _next_school_day(frames, cache, school, r_day + pd.to_timedelta(r_off, unit="D"))
    redrop &= d_day.notna().to_numpy() & (_academic_year(d_day.fillna(ep["start"])) == ep["year"].to_numpy())
    visits = pd.DataFrame(
        {
            "student_id": sid,
            "episode_start": ep["start"].to_numpy(),
            "case_open": ep["case_open"].to_numpy(),
            "visit_date": ep["visit_date"].to_numpy(),
            "returned": r_ok,
            "return_date": r_day.where(r_ok).to_numpy(),
            "redrop": redrop,
            "redrop_date": d_day.where(redrop).to_numpy(),
            "year": ep["year"].to_numpy(),
        }
    )
    out = dict(frames)
    back_v = visits.loc[visits["returned"]]
    spans = pd.DataFrame(
        {
            "student_id": back_v["student_id"],
            "from_": back_v["return_date"],
            "until": back_v["redrop_date"],
            "year": back_v["year"],
        }
    )
    out["attendance"] = _attend(frames, spans, cache)
    # registry: a return mark on the day back; no 辍学 mark after it; a new suspected mark after a re-drop
    reg = frames["registry_events"]
    rsid = reg["student_id"].astype("str")
    rdate = pd.to_datetime(reg["event_date"])
    rb = back_v.set_index("student_id")
    first_back = rsid.map(rb["return_date"])
    same_year = _academic_year(rdate) == rsid.map(rb["year"]).fillna(-1).to_numpy()
    drop = (reg["event_type"].astype("str").eq("dropout_mark") & (rdate >= first_back) & same_year).to_numpy(
        dtype=bool
    )
    added = [
        pd.DataFrame({"student_id": back_v["student_id"], "event_date": back_v["return_date"],
                      "event_type": "return_mark", "verified": True})
    ]  # fmt: skip
    re = visits.loc[visits["redrop"]]
    if len(re):
        mark = _next_school_day(frames, cache, re["student_id"].map(school.set_axis(sid)),
                                re["redrop_date"] + pd.Timedelta(days=6))  # fmt: skip
        ok = mark.notna().to_numpy()
        added.append(pd.DataFrame({"student_id": re["student_id"].to_numpy()[ok], "event_date": mark.to_numpy()[ok],
                                   "event_type": "suspected_mark", "verified": False}))  # fmt: skip
    new = pd.concat(added, ignore_index=True)
    new = new.astype({"event_date": reg["event_date"].dtype}) if reg["event_date"].dtype != object else new
    out["registry_events"] = pd.concat([reg.loc[~drop], new], ignore_index=True)
    return out, visits


def _visit_effects(before: pd.DataFrame, after: pd.DataFrame, frames: dict[str, pd.DataFrame],
                   visits: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """The true effect of the visits per event week: attendance with minus without, over the visited."""
    if not len(visits):
        return pd.DataFrame(columns=["event_week", "effect", "n"])
    school = _school_of(frames["students"], visits.assign(start=visits["case_open"]))
    start, end = (
        visits["case_open"].min() - pd.Timedelta(days=70),
        visits["case_open"].max() + pd.Timedelta(days=70),
    )
    w0 = weekly_attendance(before, frames["calendar"], school, start=start, end=end)
    w1 = weekly_attendance(after, frames["calendar"], school, start=start, end=end)
    w = w0.merge(w1, on=["student_id", "week"], suffixes=("0", "1"))
    opened = visits.set_index("student_id")["case_open"]
    open_week = opened - pd.to_timedelta(opened.dt.day_of_week, unit="D")
    w["event_week"] = ((w["week"] - w["student_id"].map(open_week)).dt.days // 7).astype("int64")
    w["effect"] = w["attendance1"] - w["attendance0"]
    return w.groupby("event_week")["effect"].agg(effect="mean", n="size").reset_index()


# --------------------------------------------------------------------------- the replay


def replay_policy(
    county: SimulatedCounty,
    model,
    *,
    config: BaoxueConfig | None = None,
    decision_dates: list[dt.date] | None = None,
    effects: TrueEffects | None = None,
    borderline_band: int = 5,
    seed: int = 0,
    attendance_days: int = 30,
    places_per_100: float | None = 1.0,
) -> PolicyReplay:
    """Run the job's policy on ``county`` at ``decision_dates`` and apply the true effects.

    Parameters
    ----------
    county : SimulatedCounty
        A county from :func:`features.sim.simulate_county` (its truth is needed).
    model : ModelBundle, ScoringModel or str
        The model the job would use (trained elsewhere, e.g. on a neighbouring simulated county).
    config : BaoxueConfig, optional
        The job's settings; ``[risk] borderline_band`` is set to ``borderline_band`` and
        ``borderline_seed`` to ``seed`` (the replay is about the randomised band).
    decision_dates : list of date, optional
        Runs whose supports are assigned (default :func:`default_decision_dates`). Each needs
        its label window observed.
    effects : TrueEffects, optional
        The true effects (default SIMULATOR.md's).
    borderline_band : int
        Ranks either side of each school's cut-off decided by the lottery (0: no lottery, the
        cut-off alone decides; the regression discontinuity then has no hole at the cut-off).
    seed : int
        Seeds the lottery, the manual picks and which episodes a support averts.
    attendance_days : int
        School days of the attendance outcome.
    places_per_100 : float or None
        ``[risk] capacity_per_100`` for the replay (default 1.0: scarce staff). The lottery
        only draws where a school has more eligible students (risk at or above the yellow
        threshold) than places, since yellow is capped by capacity and never filled to it.
        With every school's staff able to take all its eligible students there is nothing
        to randomise, so a replay needs places to be scarce. ``None`` keeps the config's.

    Returns
    -------
    PolicyReplay
    """
    from risk.assess import assess_full
    from risk.score import ScoringModel, load_model

    if borderline_band < 0:
        raise ValueError(f"borderline_band must be >= 0, got {borderline_band}")
    if places_per_100 is not None and not places_per_100 > 0:
        raise ValueError(f"places_per_100 must be > 0 (or None), got {places_per_100}")
    eff = effects or TrueEffects()
    base = config or BaoxueConfig()
    scarce = {} if places_per_100 is None else {"capacity_per_100": float(places_per_100)}
    cfg = replace(
        base,
        risk=replace(
            base.risk, borderline_band=borderline_band, borderline_seed=seed, explain="all", **scarce
        ),
    )
    scoring = model if isinstance(model, ScoringModel) else load_model(model)
    dates = list(decision_dates) if decision_dates is not None else default_decision_dates(county, cfg)
    if not dates:
        raise DataContractError("no decision date with an observed label window; simulate more years")
    dates = sorted(dates)

    episodes = county.truth["episodes"]
    episodes = episodes.loc[episodes["fatal"].astype(bool)].assign(
        student_id=lambda e: e["student_id"].astype("str"),
        start_date=lambda e: pd.to_datetime(e["start_date"]),
    )
    episodes = episodes.assign(v=_uniform(seed, "avert", episodes["student_id"], episodes["start_date"]))
    years = county.truth["student_years"][["student_id", "academic_year", "poor"]].assign(
        student_id=lambda x: x["student_id"].astype("str")
    )
    risk_monthly = county.truth.get("risk_monthly")
    frames = {k: v.copy() for k, v in county.frames.items()}
    cache: dict = {}
    # the 5-day rule's home visits of the whole school year come first: they are policy, never withheld
    year0 = int(_academic_year(pd.DatetimeIndex([pd.Timestamp(dates[0])]))[0])
    in_year = episodes.loc[_academic_year(episodes["start_date"]) == year0]
    before_visits = frames["attendance"]
    frames, visits = _home_visits(frames, in_year, eff, seed, cache)
    after_visits = frames["attendance"]
    snapshots, truth_rows, iv_rows = [], [], []
    averted = pd.Index([], dtype="str")  # episode keys already averted
    for k, as_of in enumerate(dates):
        if isinstance(as_of, dt.datetime):
            as_of = as_of.date()
        day = pd.Timestamp(as_of)
        tables = tables_from_frames(frames).tables
        until = observed_until(tables)
        if day + pd.Timedelta(days=cfg.train.horizon_days + cfg.train.suspected_resolution_days) > until:
            raise DataContractError(
                f"decision date {as_of}: its label window ends after the data ({until.date()})"
            )
        snap = assess_full(tables, as_of, scoring, cfg, explain="all").snapshot
        ids = snap.index.astype("str")
        year = int(_academic_year(pd.DatetimeIndex([day]))[0])
        poor = (
            years.loc[years["academic_year"] == year]
            .set_index("student_id")["poor"]
            .reindex(ids)
            .fillna(False)
        ).to_numpy(dtype=bool)
        support = _support(snap["measures"], snap["rules"])
        hr = eff.hazard_ratio(support, poor)

        selected = snap["selected"].to_numpy(dtype=bool)
        rule = snap["rules"].astype("str").ne("").to_numpy()
        u = _uniform(seed, "manual", ids, np.repeat(str(as_of), len(ids)))
        band = snap["borderline"].to_numpy(dtype=bool)
        p_manual = _manual_probability(snap["probability"], poor, ~selected & ~rule & ~band, eff)
        p_manual[rule | band] = 0.0  # teachers do not add lottery losers: they are the control group
        manual = ~selected & ~rule & ~band & (u < p_manual)
        mech = np.where(
            selected, snap["assignment_mechanism"].astype("str").to_numpy(), np.where(manual, "manual", "")
        )
        plan_hr = hr
        # had a selected student not been selected, would a teacher have picked them? (fixed draw)
        would_manual = ~rule & ~band & (u < p_manual)
        plan_tutoring = support == "tutoring"
        support = np.where(manual, "tutoring", support)
        hr = np.where(manual, eff.tutoring_hr, hr)
        treated = selected | manual

        # episodes a support starting on as_of could avert: they begin while it runs
        end = day + pd.Timedelta(days=cfg.train.horizon_days)
        key = episodes["student_id"] + "|" + episodes["start_date"].astype("str")
        window = episodes.loc[
            (episodes["start_date"] >= day) & (episodes["start_date"] < end) & ~key.isin(averted)
        ].copy()
        hr_of = pd.Series(hr, index=ids)
        window = window.loc[window["student_id"].isin(ids)]
        window["hr"] = window["student_id"].map(hr_of).to_numpy(dtype=float)
        avertable = window.loc[window["v"] < 1 - window["hr"]]
        treated_ids = pd.Index(ids[treated])

        world1 = _avert(frames, avertable, _cal_cache=cache)
        out0 = policy_outcomes(tables, as_of, cfg, days=attendance_days)
        out1 = policy_outcomes(tables_from_frames(world1).tables, as_of, cfg, days=attendance_days)
        observed = avertable.loc[avertable["student_id"].isin(treated_ids)]
        frames = _avert(frames, observed, _cal_cache=cache)
        averted = averted.append(
            pd.Index(observed["student_id"] + "|" + observed["start_date"].astype("str"))
        )

        active = episodes.loc[
            (episodes["start_date"] < day) & (pd.to_datetime(episodes["dropout_date"]) >= day), "student_id"
        ]
        is_active = np.isin(ids, active.to_numpy())
        o0 = out0.reindex(ids)
        o1 = out1.reindex(ids)
        y0, y1 = o0["outcome_dropout"].to_numpy(dtype=float), o1["outcome_dropout"].to_numpy(dtype=float)
        a0, a1 = (
            o0["outcome_attendance"].to_numpy(dtype=float),
            o1["outcome_attendance"].to_numpy(dtype=float),
        )
        realised = y1 - y0
        if risk_monthly is not None and (risk_monthly["as_of"] == day).any():
            pt = risk_monthly.loc[risk_monthly["as_of"] == day].assign(
                student_id=lambda x: x["student_id"].astype("str")
            )
            p_true = pt.set_index("student_id")["p_true"].reindex(ids).to_numpy(dtype=float)
        else:
            p_true = np.full(len(ids), np.nan)
        truth = pd.DataFrame(
            {
                "student_id": ids,
                "as_of": day,
                "would_be_type": support.astype("str"),
                "hazard_ratio": hr,
                "poor": poor,
                "treated": treated,
                "mechanism": mech.astype("str"),
                "p_true": p_true,
                "active": is_active,
                "effect_expected": _expected(is_active, -(1 - hr) * p_true, hr, realised),
                "p_manual": p_manual,
                "effect_selection": _expected(
                    is_active, (-(1 - plan_hr) + p_manual * (1 - eff.tutoring_hr)) * p_true, plan_hr, realised
                ),
                "would_manual": would_manual,
                # the realised effect of *selection*: what the plan's support changed, against what
                # the student would have had unselected (a teacher's tutoring when would_manual; the
                # same support when the plan is tutoring, so no change)
                "selection_dropout": np.where(would_manual & (plan_tutoring | manual), 0.0, realised),
                "selection_attendance": np.where(would_manual & (plan_tutoring | manual), 0.0, a1 - a0),
                "y0": y0,
                "y1": y1,
                "a0": a0,
                "a1": a1,
            }
        )
        truth_rows.append(truth)
        t = np.flatnonzero(treated)
        iv_rows.append(
            pd.DataFrame(
                {
                    "intervention_id": [f"R{k + 1:02d}-{i:06d}" for i in range(len(t))],
                    "student_id": ids[t],
                    "type": support[t].astype("str"),
                    "start_date": day,
                    "end_date": end,
                    "assignment_mechanism": mech[t].astype("str"),
                    "list_version": f"{as_of.isoformat()}",
                    "score_at_assign": snap["probability"].to_numpy(dtype=float)[t],
                    "rank_at_assign": snap["rank_school"].to_numpy(dtype=np.int64)[t],
                }
            )
        )
        snapshots.append(snap.reset_index(drop=True))

    if len(visits):
        # a visit to an episode a support averted never happened
        vkey = visits["student_id"] + "|" + pd.to_datetime(visits["episode_start"]).astype("str")
        visits = visits.loc[~vkey.isin(averted)].reset_index(drop=True)
        iv_rows.append(
            pd.DataFrame(
                {
                    "intervention_id": [f"HV-{i:06d}" for i in range(len(visits))],
                    "student_id": visits["student_id"],
                    "type": "home_visit",
                    "start_date": visits["visit_date"],
                    "end_date": visits["visit_date"] + pd.Timedelta(days=eff.return_within_days),
                    "assignment_mechanism": "rule",
                    "list_version": "rule_5day",
                }
            )
        )
    visit_weeks = _visit_effects(before_visits, after_visits, county.frames, visits)
    frames["interventions"] = pd.concat(iv_rows, ignore_index=True)
    truth_all = pd.concat(truth_rows, ignore_index=True)
    snaps = pd.concat(snapshots, ignore_index=True)
    drawn = snaps.loc[snaps["borderline"].astype(bool)]
    meta = {
        "decision_dates": [d.isoformat() for d in dates],
        "borderline_band": borderline_band,
        "places_per_100": cfg.risk.capacity_per_100,
        "seed": seed,
        "effects": {k: getattr(eff, k) for k in eff.__dataclass_fields__},
        "n_treated": int(truth_all["treated"].sum()),
        "n_in_lottery": int(len(drawn)),
        "n_lottery_winners": int(drawn["selected"].astype(bool).sum()),
        "n_averted": int(len(averted)),
        "n_home_visits": int(len(visits)),
        "n_returned_after_visit": int(visits["returned"].sum()) if len(visits) else 0,
        "model_version": scoring.version,
    }
    return PolicyReplay(
        frames=frames,
        snapshots=snaps,
        truth=truth_all,
        decision_dates=dates,
        effects=eff,
        config=cfg,
        meta=meta,
        visits=visits,
        visit_weeks=visit_weeks,
    )


def write_replay(replay: PolicyReplay, county: SimulatedCounty, out: str | Path) -> dict[str, int]:
    """Write the observed county (``out/<table>.parquet``, ``interventions`` included), the
    runs' snapshots (``out/snapshots.parquet``) and the truth (``out/truth/``, with
    ``intervention_effects.parquet`` and ``replay.json``)."""
    import json

    observed = SimulatedCounty(frames=replay.frames, truth=county.truth, meta=county.meta)
    counts = write_county(observed, out)
    out = Path(out)
    replay.snapshots.to_parquet(out / "snapshots.parquet", index=False)
    replay.truth.to_parquet(out / TRUTH_DIR / "intervention_effects.parquet", index=False)
    replay.visits.to_parquet(out / TRUTH_DIR / "home_visits.parquet", index=False)
    replay.visit_weeks.to_parquet(out / TRUTH_DIR / "home_visit_weeks.parquet", index=False)
    (out / TRUTH_DIR / "replay.json").write_text(
        json.dumps(replay.meta, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    counts["snapshots"] = len(replay.snapshots)
    counts["truth/intervention_effects"] = len(replay.truth)
    return counts
