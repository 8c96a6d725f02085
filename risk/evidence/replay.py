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
from features.errors import DataContractError
from features.load import tables_from_frames
from features.simulate import SimulatedCounty
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

#: attendance statuses that count as attending a day
PRESENT_STATUSES: tuple[str, ...] = ("present", "late", "left_early")

#: the columns of ``truth/intervention_effects`` (one row per student and decision date)
TRUTH_COLUMNS: dict[str, str] = {
    "student_id": "opaque student key",
    "as_of": "the decision date (the run)",
    "would_be_type": "the support the student's plan names if selected (aid / tutoring / home_visit)",
    "hazard_ratio": "the true hazard ratio of that support for this student",
    "poor": "poor household this school year (truth)",
    "treated": "got a support starting on as_of (case or manual)",
    "mechanism": "rule / model_rank / random_borderline / manual / '' (not treated)",
    "p_true": "true probability of a positive label within the horizon (truth/risk_monthly; NaN off month starts)",
    "active": "a dropout episode had already begun on as_of (no support can avert it)",
    "effect_expected": "-(1 - hazard_ratio) * p_true (0 when active): expected change in dropout probability",
    "p_manual": "chance of a teacher's own pick (tutoring) were the student not selected (0 in the band)",
    "effect_selection": "expected effect of selection: the support's effect minus what a manual pick would give",
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

    def __post_init__(self) -> None:
        for name in ("aid_hr_poor", "aid_hr_other", "tutoring_hr"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1] (a protective effect), got {getattr(self, name)}")
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
    d = pd.DatetimeIndex(d)
    return np.asarray(d.year - (d.month < 8), dtype=np.int64)


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


def policy_outcomes(tables: Tables, as_of: dt.date, config: BaoxueConfig, *, days: int = 30) -> pd.DataFrame:
    """The outcomes of a run, from the tables alone (the same code for real and simulated data).

    ``outcome_dropout``: the label of ``as_of`` (:func:`training.labels.make_labels`; censored
    students — transferred, suspended, deceased ... — are left out). ``outcome_attendance``:
    the share of the next ``days`` school days of the student's school (after ``as_of``)
    with an attending status (:data:`PRESENT_STATUSES`); a day with no row counts as absent
    (a child off the roll is not at school).

    Returns
    -------
    DataFrame
        Indexed by ``student_id``: ``outcome_dropout`` (int) and ``outcome_attendance`` (float).
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    day = pd.Timestamp(as_of)
    labels = make_labels(tables, day, config.train)
    spine = cohort(tables, as_of)
    school = spine["school_id"].astype("str").reindex(labels.index.astype("str"))

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

    ids = labels.index.astype("str")
    n_days = school.map(window["size"]).to_numpy(dtype=float)
    share = attended.reindex(ids).fillna(0).to_numpy(dtype=float) / np.where(n_days > 0, n_days, np.nan)
    return pd.DataFrame(
        {"outcome_dropout": labels["label"].to_numpy(dtype=np.int64), "outcome_attendance": share},
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

    # attendance: unexcused from the disengagement start -> present; missing school days -> present
    att = frames["attendance"]
    asid = att["student_id"].astype("str")
    adate = pd.to_datetime(att["date"])
    from_of = ep.groupby("student_id")["from_"].min()
    f = asid.map(from_of)
    a_year = _academic_year(adate)
    hit = (f.notna() & (adate >= f) & (a_year == asid.map(year_of).fillna(-1).to_numpy())).to_numpy(
        dtype=bool
    )
    hit = hit & att["status"].astype("str").eq("unexcused").to_numpy()
    new_att = att.copy()
    if hit.any():
        status = new_att["status"].astype("str").to_numpy(dtype=object)
        status[hit] = "present"
        new_att["status"] = status
        if "leave_id" in new_att.columns:
            new_att.loc[hit, "leave_id"] = None

    school_of = _school_of(frames["students"], ep)
    cal = _cal_cache.get("cal")
    if cal is None:
        c = frames["calendar"]
        cal = c.loc[c["is_school_day"].astype(bool), ["school_id", "date"]].assign(
            school_id=lambda x: x["school_id"].astype("str"), date=lambda x: pd.to_datetime(x["date"])
        )
        cal["year"] = _academic_year(cal["date"])
        _cal_cache["cal"] = cal
    want = ep[["student_id", "from_", "year"]].assign(school_id=ep["student_id"].map(school_of))
    want = want.dropna(subset=["school_id"]).merge(cal, on=["school_id", "year"], how="inner")
    want = want.loc[want["date"] >= want["from_"], ["student_id", "date"]]
    have = pd.DataFrame({"student_id": asid, "date": adate})
    add = want.merge(have.drop_duplicates(), on=["student_id", "date"], how="left", indicator=True)
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
    out["attendance"] = new_att
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
    """The support a plan names first: aid when it refers to aid, home visit for a rule alert, else tutoring."""
    m = measures.fillna("").astype("str")
    aid = m.str.split(";").map(lambda xs: "aid_referral" in xs).to_numpy(dtype=bool)
    rule = rules.fillna("").astype("str").ne("").to_numpy()
    return np.where(rule, "home_visit", np.where(aid, "aid", "tutoring")).astype(object)


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
) -> PolicyReplay:
    """Run the job's policy on ``county`` at ``decision_dates`` and apply the true effects.

    Parameters
    ----------
    county : SimulatedCounty
        A county from :func:`features.simulate.simulate_county` (its truth is needed).
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
        Ranks either side of each school's cut-off decided by the lottery (> 0).
    seed : int
        Seeds the lottery, the manual picks and which episodes a support averts.
    attendance_days : int
        School days of the attendance outcome.

    Returns
    -------
    PolicyReplay
    """
    from risk.assess import assess_full
    from risk.score import ScoringModel, load_model

    if borderline_band < 1:
        raise ValueError("borderline_band must be >= 1: the replay exists to check the randomised design")
    eff = effects or TrueEffects()
    base = config or BaoxueConfig()
    cfg = replace(
        base, risk=replace(base.risk, borderline_band=borderline_band, borderline_seed=seed, explain="all")
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
                "effect_expected": np.where(is_active, 0.0, -(1 - hr) * p_true),
                "p_manual": p_manual,
                "effect_selection": np.where(
                    is_active, 0.0, -(1 - plan_hr) * p_true + p_manual * (1 - eff.tutoring_hr) * p_true
                ),
                "y0": out0["outcome_dropout"].reindex(ids).to_numpy(dtype=float),
                "y1": out1["outcome_dropout"].reindex(ids).to_numpy(dtype=float),
                "a0": out0["outcome_attendance"].reindex(ids).to_numpy(dtype=float),
                "a1": out1["outcome_attendance"].reindex(ids).to_numpy(dtype=float),
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

    frames["interventions"] = pd.concat(iv_rows, ignore_index=True)
    truth_all = pd.concat(truth_rows, ignore_index=True)
    meta = {
        "decision_dates": [d.isoformat() for d in dates],
        "borderline_band": borderline_band,
        "seed": seed,
        "effects": {k: getattr(eff, k) for k in eff.__dataclass_fields__},
        "n_treated": int(truth_all["treated"].sum()),
        "n_averted": int(len(averted)),
        "model_version": scoring.version,
    }
    return PolicyReplay(
        frames=frames,
        snapshots=pd.concat(snapshots, ignore_index=True),
        truth=truth_all,
        decision_dates=dates,
        effects=eff,
        config=cfg,
        meta=meta,
    )


def write_replay(replay: PolicyReplay, county: SimulatedCounty, out: str | Path) -> dict[str, int]:
    """Write the observed county (``out/<table>.parquet``, ``interventions`` included), the
    runs' snapshots (``out/snapshots.parquet``) and the truth (``out/truth/``, with
    ``intervention_effects.parquet`` and ``replay.json``)."""
    import json

    from features.simulate import write_county

    observed = SimulatedCounty(frames=replay.frames, truth=county.truth, meta=county.meta)
    counts = write_county(observed, out)
    out = Path(out)
    replay.snapshots.to_parquet(out / "snapshots.parquet", index=False)
    replay.truth.to_parquet(out / "truth" / "intervention_effects.parquet", index=False)
    (out / "truth" / "replay.json").write_text(
        json.dumps(replay.meta, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    counts["snapshots"] = len(replay.snapshots)
    counts["truth/intervention_effects"] = len(replay.truth)
    return counts
