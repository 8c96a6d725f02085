"""One student's sheet (一生一案) for the counsellor: profile, risk over the term, drivers,
attendance calendar, exams, case history and a plan to edit.

Restricted fields (ethnicity, disability type, health status, 低保, children of prisoners)
appear only with ``show_restricted=True`` — the caller decides from the reader's role.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.catalog import phrase
from features.config import BaoxueConfig, FeaturesConfig
from features.contract import Tables
from risk.reporting._common import (
    ReportConfig,
    class_text,
    is_followed,
    ledger_on,
    lookup,
    name_of,
    owner_text,
    school_text,
    split_text,
    stage_text,
    with_family_events,
)
from risk.reporting._common import county_mean as _county_mean
from risk.reporting.labels import (
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    EVENT_LABELS,
    FAMILY_EVENT_LABELS,
    INTERVENTION_LABELS,
    OUTCOME_LABELS,
    PLACEMENT_LABELS,
    REASON_LABELS,
    ROLE_LABELS,
    SUBJECT_LABELS,
    TIER_LABELS,
    Language,
    label,
    risk_words,
)
from risk.snapshot import MEASURES

__all__ = [
    "StudentPlan",
    "student_plan",
    "waterfall_frame",
    "attendance_calendar",
    "exam_history",
    "ATTENDANCE_LEVELS",
    "EXAM_HISTORY_COLUMNS",
]

#: attendance of a school day, worst session first -> (zh, en)
ATTENDANCE_LEVELS: dict[str, tuple[str, str]] = {
    "unexcused": ("无故缺勤", "unexcused"),
    "leave": ("请假", "leave"),
    "late": ("迟到/早退", "late / left early"),
    "present": ("出勤", "present"),
    "unknown": ("无记录", "no record"),
}
_STATUS_LEVEL = {
    "unexcused": "unexcused",
    "leave_sick": "leave",
    "leave_personal": "leave",
    "late": "late",
    "left_early": "late",
    "present": "present",
}
_RESTRICTED_HARDSHIP = {"dibao", "prisoner_child"}

#: a first goal for each suggested measure (the counsellor edits them)
_GOALS: dict[str, tuple[str, str]] = {
    "home_visit": (
        "两周内完成家访，四周内无无故缺勤",
        "home visit within two weeks; no unexcused day for four weeks",
    ),
    "tutoring": ("下次考试主要科目提高一个等级", "up one level in the main subjects at the next exam"),
    "aid_referral": ("本学期落实资助", "aid in place this term"),
    "care_counselling": (
        "每两周谈心一次，学生愿意留在学校",
        "a talk every two weeks; the student wants to stay",
    ),
    "home_teaching": ("每月送教上门至少两次", "home teaching at least twice a month"),
}


@dataclass(frozen=True)
class StudentPlan:
    """What goes into one student's 一生一案 sheet.

    Attributes
    ----------
    student_id, name : str
    as_of : Timestamp
    current : Series
        The student's snapshot row.
    profile : DataFrame
        ``field, value`` rows in reading order (grade, class, boarding, household, guardians…).
    restricted_shown : bool
        Whether restricted fields were included.
    risk_history : DataFrame
        ``as_of, probability, tier, multiple`` over the past snapshots, oldest first
        (``multiple``: the probability over that night's county average, NaN when the history
        holds only this student's rows).
    drivers : DataFrame or None
        The waterfall (:func:`waterfall_frame`), ``None`` when no contributions were given.
    attendance : DataFrame
        ``date, level, level_label`` for the last school days (:func:`attendance_calendar`).
    exams : DataFrame
        One row per exam: ``exam_date, term_id, exam_type`` and one column per subject
        (share of full marks, 0-1; NaN when the school reports levels only).
    cases : DataFrame
        The student's cases, in words.
    events : DataFrame
        Every event of those cases, oldest first.
    interventions : DataFrame
        The student's support measures.
    plan : DataFrame
        ``goal, measure, owner, review_date``: a draft from the suggested measures.
    exam_levels : DataFrame
        Results a school reports as levels only (A-D): ``exam_date, term_id, exam_type`` and
        one column per subject.
    exam_history : DataFrame
        Every exam up to ``as_of`` in words, the latest first (:func:`exam_history`).
    risk_text : str
        The risk as a multiple of the county average, with last week's
        (:func:`risk.reporting.labels.risk_words`).
    county_mean : float
        The county average that night (mean calibrated probability of the snapshot).
    """

    student_id: str
    name: str
    as_of: pd.Timestamp
    current: pd.Series
    profile: pd.DataFrame
    restricted_shown: bool
    risk_history: pd.DataFrame
    drivers: pd.DataFrame | None
    attendance: pd.DataFrame
    exams: pd.DataFrame
    cases: pd.DataFrame
    events: pd.DataFrame
    interventions: pd.DataFrame
    plan: pd.DataFrame
    language: Language = "zh"
    exam_levels: pd.DataFrame = field(default_factory=pd.DataFrame)
    exam_history: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(EXAM_HISTORY_COLUMNS))
    )
    risk_text: str = ""
    county_mean: float = float("nan")
    school_name: str = ""
    class_name: str = ""


def waterfall_frame(
    contributions: pd.Series,
    values: pd.Series | None = None,
    *,
    top: int = 8,
    base_value: float = 0.0,
    language: Language = "zh",
) -> pd.DataFrame:
    """The drivers of one student's score as waterfall bars, largest first.

    Parameters
    ----------
    contributions : Series
        Feature column -> contribution to the score (SHAP values, model units).
    values : Series, optional
        Feature column -> the student's value (used in the sentence).
    top : int
        Features shown one by one; the rest are summed into one bar.
    base_value : float
        The model's average output (where the waterfall starts).
    language : {"zh", "en"}

    Returns
    -------
    DataFrame
        ``label, contribution, start, end`` — labels are the catalogue's sentences
        (:func:`features.catalog.phrase`), never raw feature names.

    Examples
    --------
    >>> c = pd.Series({"att_unexcused_days_30d": 0.8, "lb_both_parents_away": 0.3, "ctx_class_size": -0.1})
    >>> w = waterfall_frame(c, pd.Series({"att_unexcused_days_30d": 4, "lb_both_parents_away": 1.0}), top=2)
    >>> w["contribution"].round(2).tolist(), w["end"].round(2).tolist()[-1]
    ([0.8, 0.3, -0.1], 1.0)
    """
    c = contributions.astype("float64").dropna()
    c = c.reindex(c.abs().sort_values(ascending=False, kind="stable").index)
    shown, rest = c.iloc[:top], c.iloc[top:]
    vals = values if values is not None else pd.Series(dtype="object")
    labels = []
    for name in shown.index:
        try:
            labels.append(phrase(str(name), vals.get(name, np.nan), language))
        except KeyError:
            labels.append("其他因素" if language == "zh" else "another factor")
    frame = pd.DataFrame({"label": labels, "contribution": shown.to_numpy()})
    if len(rest):
        other = f"其他{len(rest)}项因素" if language == "zh" else f"{len(rest)} other factors"
        frame = pd.concat(
            [frame, pd.DataFrame({"label": [other], "contribution": [rest.sum()]})], ignore_index=True
        )
    frame["end"] = base_value + frame["contribution"].cumsum()
    frame["start"] = frame["end"] - frame["contribution"]
    return frame[["label", "contribution", "start", "end"]]


def attendance_calendar(
    tables: Tables, student_id: str, school_id: str, as_of: pd.Timestamp, *, days: int = 90
) -> pd.DataFrame:
    """The student's last ``days`` school days up to ``as_of``: ``date, level``.

    School days come from the school's ``calendar`` (weekdays when it has none); a school day
    with no attendance row is ``unknown`` (the contract: no row is not "present").
    """
    as_of = pd.Timestamp(as_of)
    cal = tables.calendar
    if cal is not None and (cal["school_id"].astype("str") == school_id).any():
        mine = cal.loc[(cal["school_id"].astype("str") == school_id) & cal["is_school_day"].astype(bool)]
        school_days = pd.DatetimeIndex(sorted(mine.loc[mine["date"] <= as_of, "date"].unique()))
    else:
        school_days = pd.bdate_range(end=as_of, periods=days * 2)
    school_days = school_days[-days:]
    att = tables.attendance
    att = att.loc[(att["student_id"] == student_id) & att["date"].isin(school_days)]
    order = list(ATTENDANCE_LEVELS)
    level = att["status"].astype("str").map(_STATUS_LEVEL).fillna("unknown")
    rank = level.map({lv: i for i, lv in enumerate(order)}).astype("float64")  # float when empty too
    worst = rank.groupby(att["date"].to_numpy()).min()
    out = pd.DataFrame({"date": school_days})
    out["level"] = [order[int(r)] for r in lookup(out["date"], worst).fillna(order.index("unknown"))]
    return out


def _yes(v: object, language: Language) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "未知" if language == "zh" else "unknown"
    return ("是" if v else "否") if language == "zh" else ("yes" if v else "no")


def _profile(
    tables: Tables, row: pd.Series, as_of: pd.Timestamp, show_restricted: bool, language: Language
) -> pd.DataFrame:
    zh = language == "zh"
    sid_ = str(row["student_id"])
    st = tables.students
    st = st.loc[(st["student_id"] == sid_) & (st["valid_from"] <= as_of)].sort_values("valid_from")
    rec = st.iloc[-1] if len(st) else pd.Series(dtype="object")
    items: list[tuple[str, str]] = [
        ("学校" if zh else "school", school_text(pd.Series([str(row["school_id"])]), tables).iloc[0]),
        ("年级" if zh else "grade", str(row["grade"])),
        ("班级" if zh else "class", _class_of(row, tables, language)),
    ]
    if len(rec):
        sex = {"M": "男", "F": "女"} if zh else {"M": "male", "F": "female"}
        items.append(("性别" if zh else "sex", sex.get(str(rec.get("sex")), "")))
        if pd.notna(rec.get("birth_ym")):
            items.append(("出生年月" if zh else "born", f"{pd.Timestamp(rec['birth_ym']):%Y-%m}"))
        items.append(("住校" if zh else "boarding", _yes(rec.get("is_boarding"), language)))
        items.append(("随迁子女" if zh else "migrant child", _yes(rec.get("is_migrant_child"), language)))
        items.append(("独生子女" if zh else "only child", _yes(rec.get("only_child"), language)))
        items.append(("孤儿" if zh else "orphan", _yes(rec.get("orphan"), language)))
        if pd.notna(rec.get("distance_km")):
            items.append(
                ("上下学距离" if zh else "distance to school", f"{float(rec['distance_km']):.1f} km")
            )
        if show_restricted:
            for col, (lz, le) in {
                "ethnicity_code": ("民族 (受限)", "ethnicity (restricted)"),
                "disability_type": ("残疾类型 (受限)", "disability type (restricted)"),
                "health_status": ("健康状况 (受限)", "health status (restricted)"),
            }.items():
                if col in rec and pd.notna(rec[col]):
                    items.append((lz if zh else le, str(rec[col])))
    if tables.guardians is not None:
        g = tables.guardians
        g = g.loc[(g["student_id"] == sid_) & (g["valid_from"] <= as_of)]
        g = g.loc[g["valid_to"].isna() | (g["valid_to"] > as_of)]
        rel = {"father": ("父亲", "father"), "mother": ("母亲", "mother"), "grandparent": ("祖辈", "grandparent"),
               "other": ("其他", "other")}  # fmt: skip
        work = {"none": ("在家", "at home"), "in_county": ("县内务工", "works in county"),
                "in_province": ("省内务工", "works in province"), "out_province": ("省外务工", "works out of province")}  # fmt: skip
        for _, m in g.sort_values("member_no").iterrows():
            who = label(rel, m["relation"], language)
            where = label(work, m.get("migrant_work"), language) if pd.notna(m.get("migrant_work")) else ""
            guard = ("，监护人" if zh else ", guardian") if bool(m.get("is_guardian")) else ""
            items.append(("家庭成员" if zh else "family member", f"{who} {where}{guard}".strip()))
    if tables.left_behind is not None:
        lb = tables.left_behind
        lb = lb.loc[(lb["student_id"] == sid_) & (lb["effective_date"] <= as_of)]
        if len(lb):
            status = int(lb.sort_values("effective_date")["status"].astype("int64").iloc[-1])
            words = {
                "0": ("否", "no"),
                "1": ("单亲外出", "one parent away"),
                "2": ("父母均外出", "both parents away"),
            }
            items.append(("留守" if zh else "left-behind", label(words, status, language)))
    if tables.hardship is not None:
        h = tables.hardship
        h = h.loc[(h["student_id"] == sid_) & (h["valid_from"] <= as_of)]
        h = h.loc[h["valid_to"].isna() | (h["valid_to"] > as_of)]
        kinds = [
            k for k in h["hardship_type"].astype("str") if show_restricted or k not in _RESTRICTED_HARDSHIP
        ]
        words = {"registered_poor": ("建档立卡/脱贫户", "registered poor"), "monitored": ("防返贫监测户", "monitored"),
                 "dibao": ("低保 (受限)", "dibao (restricted)"), "tekun": ("特困", "extreme poverty"),
                 "de_facto_unsupported": ("事实无人抚养", "de facto unsupported"),
                 "disabled_household": ("残疾人家庭", "disabled household"),
                 "prisoner_child": ("服刑人员子女 (受限)", "prisoner's child (restricted)")}  # fmt: skip
        if kinds:
            items.append(
                ("家庭经济困难" if zh else "hardship", "、".join(label(words, k, language) for k in kinds))
            )
    if tables.family_events is not None:
        fe = tables.family_events
        fe = fe.loc[(fe["student_id"] == sid_) & (fe["event_date"] <= as_of)]
        if not show_restricted:
            fe = fe.loc[fe["event_type"].astype("str") != "incarceration"]
        for _, e in fe.sort_values("event_date").tail(3).iterrows():
            items.append(
                (
                    "家庭变故" if zh else "family event",
                    f"{e['event_date']:%Y-%m-%d} {label(FAMILY_EVENT_LABELS, e['event_type'], language)}",
                )
            )
    return pd.DataFrame(items, columns=["field", "value"])


#: full marks of a result that gives none (the contract's ``full_marks`` is optional; the
#: academic features read a missing one as 100, :mod:`features.academic`, and so does the sheet)
DEFAULT_FULL_MARKS = 100.0


def _results(tables: Tables, student_id: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """The student's results of the exams dated on or before ``as_of`` (the day a result becomes
    known, as the features read them), with the exam's term ('' when not given), type and date and
    the share of full marks (a missing ``full_marks`` is 100)."""
    r = tables.exam_results
    r = r.loc[r["student_id"].astype("str") == str(student_id)]
    ex = tables.exams.assign(exam_id=tables.exams["exam_id"].astype("str"))
    ex = ex.drop_duplicates("exam_id")[["exam_id", "term_id", "exam_type", "exam_date"]]
    r = r.assign(exam_id=r["exam_id"].astype("str")).merge(ex, on="exam_id")
    r = r.loc[pd.to_datetime(r["exam_date"]) <= as_of].copy()
    # term_id is optional: a missing one must not drop the exam (groupby and pivot_table drop NaN keys)
    r["term_id"] = r["term_id"].astype("str").where(r["term_id"].notna(), "")
    r["exam_type"] = r["exam_type"].astype("str")
    score = pd.to_numeric(r["score"], errors="coerce") if "score" in r else pd.Series(np.nan, index=r.index)
    if "full_marks" in r:
        full = pd.to_numeric(r["full_marks"], errors="coerce").fillna(DEFAULT_FULL_MARKS)
    else:
        full = pd.Series(DEFAULT_FULL_MARKS, index=r.index)
    r["share"] = (score / full).astype("float64")
    r["level"] = r["level"].astype("str").where(r["level"].notna(), "") if "level" in r else ""
    r["absent"] = r["absent"].fillna(False).astype(bool) if "absent" in r else False
    return r


def _exams(tables: Tables, student_id: str, as_of: pd.Timestamp) -> pd.DataFrame:
    r = _results(tables, student_id, as_of)
    r = r.loc[r["share"].notna()]
    if r.empty:
        return pd.DataFrame(columns=["exam_date", "term_id", "exam_type"])
    wide = r.pivot_table(
        index=["exam_date", "term_id", "exam_type"],
        columns="subject",
        values="share",
        aggfunc="mean",
        observed=True,
    )
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index().sort_values("exam_date", ignore_index=True)


#: columns of :attr:`StudentPlan.exam_history`
EXAM_HISTORY_COLUMNS = ("exam_date", "term_id", "exam_type", "results", "failed_n", "failed", "absent")


def exam_history(
    tables: Tables,
    student_id: str,
    as_of: pd.Timestamp,
    *,
    fail_share: float = 0.60,
    language: Language = "zh",
) -> pd.DataFrame:
    """Every exam of the student up to ``as_of``, the latest first, in words: ``exam_date, term_id,
    exam_type, results`` (each subject's share of full marks or level), ``failed_n`` and
    ``failed`` (subjects under ``fail_share`` of full marks or at level D, as the features count
    them) and ``absent`` (subjects missed).

    A missing ``full_marks`` is 100 (as in :mod:`features.academic`), so a county that exports
    scores without full marks sees the exams its reasons cite.
    """
    zh = language == "zh"
    r = _results(tables, student_id, as_of)
    if r.empty:
        return pd.DataFrame(columns=list(EXAM_HISTORY_COLUMNS))
    sep = "、" if zh else ", "
    rows = []
    keys = ["exam_date", "term_id", "exam_type"]
    r = r.assign(subject=r["subject"].astype("str"), exam_type=r["exam_type"].astype("str"))
    for (day, term, kind), g in r.sort_values(["exam_date", "exam_id"]).groupby(
        keys, sort=False, observed=True
    ):
        shown, failed, absent = [], [], []
        for x in g.itertuples():
            name = label(SUBJECT_LABELS, x.subject, language)
            if x.absent and not np.isfinite(x.share) and not x.level:
                absent.append(name)
                continue
            if np.isfinite(x.share):
                shown.append(f"{name} {x.share:.0%}")
                fail = x.share < fail_share
            elif x.level:
                shown.append(f"{name} {x.level}")
                fail = x.level == "D"
            else:
                continue
            if fail:
                failed.append(name)
        rows.append({"exam_date": pd.Timestamp(day), "term_id": str(term), "exam_type": str(kind),
                     "results": sep.join(shown), "failed_n": len(failed), "failed": sep.join(failed),
                     "absent": sep.join(absent)})  # fmt: skip
    out = pd.DataFrame(rows, columns=list(EXAM_HISTORY_COLUMNS))
    return out.sort_values("exam_date", ascending=False, kind="stable", ignore_index=True)


def _exam_levels(tables: Tables, student_id: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Results reported as levels only (A-D, no score): one row per exam, one column per subject."""
    r = _results(tables, student_id, as_of)
    r = r.loc[(r["level"] != "") & r["share"].isna()]
    if r.empty:
        return pd.DataFrame(columns=["exam_date", "term_id", "exam_type"])
    wide = r.pivot_table(
        index=["exam_date", "term_id", "exam_type"],
        columns="subject",
        values="level",
        aggfunc="first",
        observed=True,
    )
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index().sort_values("exam_date", ignore_index=True)


def student_plan(
    snapshot: pd.DataFrame,
    student_id: str,
    *,
    tables: Tables,
    history: pd.DataFrame | None = None,
    cases: pd.DataFrame | None = None,
    case_events: pd.DataFrame | None = None,
    interventions: pd.DataFrame | None = None,
    contributions: pd.Series | None = None,
    feature_values: pd.Series | None = None,
    base_value: float = 0.0,
    show_restricted: bool = False,
    config: ReportConfig | None = None,
    language: Language = "zh",
    county_mean: float | None = None,
    features_config: FeaturesConfig | None = None,
) -> StudentPlan:
    """The 一生一案 sheet of one student.

    Parameters
    ----------
    snapshot : DataFrame
        The current risk snapshot (the student's row is used).
    student_id : str
    tables : Tables
        Loaded tables (students, guardians, left_behind, hardship, attendance, exams, names).
    history : DataFrame, optional
        Past snapshots stacked (at least ``student_id, as_of, probability, tier``), for the
        risk-over-term line; the current snapshot is added.
    cases, case_events, interventions : DataFrame, optional
        The ledger tables of the data contract.
    contributions, feature_values : Series, optional
        Per-feature contributions to this student's score (``risk.explain``) and the
        feature values; give them to get the waterfall of the current drivers.
    base_value : float
        The model's average output (start of the waterfall).
    show_restricted : bool
        Include restricted fields (only for roles allowed to see them).
    config : ReportConfig, optional
    language : {"zh", "en"}
    county_mean : float, optional
        The county average that night; default the mean probability of ``snapshot`` (give it
        when ``snapshot`` holds only this student's row).
    features_config : FeaturesConfig, optional
        ``fail_share`` for the failed subjects of the exam history (the features' setting).

    Returns
    -------
    StudentPlan
    """
    cfg = config or ReportConfig()
    zh = language == "zh"
    snap = snapshot.assign(student_id=snapshot["student_id"].astype("str"))
    mine = snap.loc[snap["student_id"] == str(student_id)]
    if mine.empty:
        raise ValueError(f"student_id {student_id!r} is not in the snapshot")
    fcfg = BaoxueConfig(features=features_config) if features_config is not None else None
    mine = with_family_events(mine, tables, config=fcfg, show_restricted=show_restricted)
    row = mine.iloc[0]
    as_of = pd.Timestamp(row["as_of"])

    hist_parts = [mine[["as_of", "probability", "tier"]]]
    if history is not None and len(history):
        h = history.loc[history["student_id"] == str(student_id), ["as_of", "probability", "tier"]]
        hist_parts.insert(0, h)
    hist = pd.concat(hist_parts, ignore_index=True)
    hist = hist.assign(as_of=pd.to_datetime(hist["as_of"]), tier=hist["tier"].astype("str"))
    hist = hist.drop_duplicates("as_of", keep="last").sort_values("as_of", ignore_index=True)
    mean_now = _county_mean(snap) if county_mean is None else float(county_mean)
    before = hist.loc[hist["as_of"] < as_of]
    prev_p = prev_mean = None
    if len(before):
        prev_day = before["as_of"].iloc[-1]
        prev_p = float(before["probability"].iloc[-1])
        if history is not None and len(history) and history["student_id"].nunique() > 1:
            prev_mean = _county_mean(history.loc[pd.to_datetime(history["as_of"]) == prev_day])
    risk_text = risk_words(row["probability"], mean_now, prev_p, previous_mean=prev_mean, language=language)
    night_means = pd.Series({as_of: mean_now})
    if history is not None and len(history) and history["student_id"].nunique() > 1:
        past = history.assign(as_of=pd.to_datetime(history["as_of"]))
        night_means = pd.concat([past.groupby("as_of")["probability"].mean(), night_means])
        night_means = night_means[~night_means.index.duplicated(keep="last")]
    hist["multiple"] = hist["probability"].astype("float64") / lookup(hist["as_of"], night_means).astype(
        "float64"
    )

    drivers = None
    if contributions is not None and len(contributions):
        drivers = waterfall_frame(
            contributions,
            feature_values,
            top=cfg.waterfall_features,
            base_value=base_value,
            language=language,
        )

    c, ev = ledger_on(cases, case_events, as_of)
    c = c.loc[c["student_id"] == str(student_id)].sort_values("opened_at", ignore_index=True)
    case_table = pd.DataFrame(
        {
            "case_id": c["case_id"],
            "opened_at": c["opened_at"],
            "case_type": c["case_type"].map(lambda t: label(CASE_TYPE_LABELS, t, language)),
            "reason": c["reason_primary"].map(lambda t: label(REASON_LABELS, t, language)),
            "owner": owner_text(c["owner_staff_id"], tables, language),
            "stage": stage_text(c["four_step_stage"], language),
            "status": c["status"].map(lambda t: label(CASE_STATUS_LABELS, t, language)),
            "placement": c["placement"].map(lambda t: label(PLACEMENT_LABELS, t, language) if t else ""),
            "closed_at": c["closed_at"],
        }
    )
    ev = ev.loc[ev["case_id"].isin(c["case_id"])].sort_values(["ts", "event_id"], ignore_index=True)
    events = pd.DataFrame(
        {
            "ts": ev["ts"],
            "case_id": ev["case_id"],
            "event": ev["event_type"].map(lambda t: label(EVENT_LABELS, t, language)),
            "actor": ev["actor_role"].map(lambda r: label(ROLE_LABELS, r, language) if r else ""),
            "outcome": ev["outcome"].map(lambda t: label(OUTCOME_LABELS, t, language) if t else ""),
            "next_due": ev["next_due"],
        }
    )
    if interventions is not None and len(interventions):
        iv = interventions.loc[
            (interventions["student_id"].astype("str") == str(student_id))
            & (pd.to_datetime(interventions["start_date"]) <= as_of)
        ].copy()
        iv_table = pd.DataFrame(
            {
                "type": iv["type"].astype("str").map(lambda t: label(INTERVENTION_LABELS, t, language)),
                "owner": owner_text(iv["assigned_to_staff_id"], tables, language)
                if "assigned_to_staff_id" in iv
                else "",
                "start_date": pd.to_datetime(iv["start_date"]),
                "end_date": pd.to_datetime(iv["end_date"]) if "end_date" in iv else pd.NaT,
                "sessions": iv["sessions"] if "sessions" in iv else np.nan,
            }
        ).sort_values("start_date", ignore_index=True)
    else:
        iv_table = pd.DataFrame(columns=["type", "owner", "start_date", "end_date", "sessions"])

    open_owner = c.loc[is_followed(c), "owner_staff_id"]
    owner_id = open_owner.iloc[-1] if len(open_owner) and open_owner.iloc[-1] else ""
    if not owner_id and tables.classes is not None:
        k = tables.classes.loc[
            tables.classes["class_id"].astype("str") == str(row["class_id"]), "head_teacher_id"
        ]
        owner_id = str(k.iloc[-1]) if len(k) and pd.notna(k.iloc[-1]) else ""
    owner = owner_text(pd.Series([owner_id]), tables, language).iloc[0]
    review = (as_of + pd.Timedelta(days=cfg.review_days)).date()
    codes = split_text(row.get("measures", ""), ";") or ["care_counselling"]
    plan = pd.DataFrame(
        {
            "goal": [label(_GOALS, m, language) for m in codes],
            "measure": [MEASURES[m][0 if zh else 1] if m in MEASURES else m for m in codes],
            "owner": owner,
            "review_date": review,
        }
    )
    return StudentPlan(
        student_id=str(student_id),
        name=str(name_of(pd.Series([str(student_id)]), tables).iloc[0]),
        as_of=as_of,
        current=row,
        profile=_profile(tables, row, as_of, show_restricted, language),
        restricted_shown=show_restricted,
        risk_history=hist,
        drivers=drivers,
        attendance=attendance_calendar(
            tables, str(student_id), str(row["school_id"]), as_of, days=cfg.attendance_days
        ),
        exams=_exams(tables, str(student_id), as_of),
        cases=case_table,
        events=events,
        interventions=iv_table,
        plan=plan,
        language=language,
        exam_levels=_exam_levels(tables, str(student_id), as_of),
        exam_history=exam_history(
            tables,
            str(student_id),
            as_of,
            fail_share=(features_config or FeaturesConfig()).fail_share,
            language=language,
        ),
        risk_text=risk_text,
        county_mean=mean_now,
        school_name=school_text(pd.Series([str(row["school_id"])]), tables).iloc[0],
        class_name=_class_of(row, tables, language),
    )


def _class_of(row: pd.Series, tables: Tables | None, language: Language) -> str:
    """The student's class as people say it ("六年级(1)班" from ``classes.name``, else "六年级1班")."""
    return class_text(pd.Series([row["class_id"]]), tables, language, pd.Series([row.get("grade")])).iloc[0]


def tier_label(tier: str, language: Language = "zh") -> str:
    """The tier in words (for templates)."""
    return label(TIER_LABELS, tier, language)
