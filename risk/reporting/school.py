"""The principal's school summary (校长): tiers by grade and class, open and overdue cases, returns.

Counts only for tiers (no names); the case tables name students because the principal
owns every case of the school (校长包全校).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import Tables
from risk.reporting._common import (
    LIST_GROUPS,
    OUT_OF_SCHOOL,
    ReportConfig,
    class_text,
    closed_as_returned,
    ledger_on,
    list_group,
    lookup,
    month_period,
    name_of,
    open_case_per_student,
    owner_text,
    school_info,
    school_places,
    school_text,
    stage_text,
    student_at,
    watched_tags,
)
from risk.reporting.labels import CASE_TYPE_LABELS, PLACEMENT_LABELS, Language, label

#: why a case is overdue (:func:`overdue_cases`) -> (zh, en)
LATE_LABELS: dict[str, tuple[str, str]] = {
    "first_contact": ("建档后未联系", "no contact since opening"),
    "next_due": ("约定日期已过", "agreed date passed"),
    "next_step": ("四步法下一步未采取", "next four-step step not taken"),
}

__all__ = ["SchoolSummary", "school_summary", "case_schools", "overdue_cases", "TIER_COUNT_COLUMNS"]

#: count columns of :attr:`SchoolSummary.tiers_by_class` (after grade, class_id): the groups of
#: the class lists (:func:`risk.reporting._common.list_group`), ``shown`` = their sum (the cards
#: of the class list), ``listed`` (red, yellow and selected: without the watch tier and the
#: students kept only by a case), ``watched`` (the 关注 section: a watched group's students
#: with no card) and ``students``
TIER_COUNT_COLUMNS: tuple[str, ...] = (*LIST_GROUPS[:-1], "shown", "listed", "watched", "students")


@dataclass(frozen=True)
class SchoolSummary:
    """What goes into one school's summary.

    Attributes
    ----------
    school_id, township : str
    school_name : str
        The school's name (the contract's optional ``schools.name``), its id without one.
    as_of : Timestamp
        The snapshot day.
    month : Period
        The month whose returns are counted (the month of ``as_of`` by default).
    tiers_by_class : DataFrame
        One row per class: ``grade, class_id, class_name`` (the class as people say it,
        :func:`risk.reporting._common.class_text`) and :data:`TIER_COUNT_COLUMNS` (the same counts
        as the head of that class's weekly list).
    tiers_by_grade : DataFrame
        The same summed per grade, plus a total row (``grade`` = "合计" / "total").
    open_cases_by_owner : DataFrame
        One row per owner: ``owner`` then one column per case-age band (days since opened)
        and ``total``.
    overdue : DataFrame
        Open cases whose next step is late (:func:`overdue_cases`): ``case_id, name, class_id,
        class_name, case_type, owner, stage, late, due, days_overdue``, most overdue first.
    returns : DataFrame
        Out-of-school cases closed as returned or placed (劝返销号) in ``month``:
        ``case_id, name, class_id, class_name, closed_at, placement``.
    counts : dict
        ``students, listed, red, on_list, places, open_cases, overdue, out_of_school, returns``
        (``on_list``: red + yellow this week, ``places``: the school's prevention places).
    """

    school_id: str
    township: str
    as_of: pd.Timestamp
    month: pd.Period
    tiers_by_class: pd.DataFrame
    tiers_by_grade: pd.DataFrame
    open_cases_by_owner: pd.DataFrame
    overdue: pd.DataFrame
    returns: pd.DataFrame
    counts: dict[str, int]
    language: Language = "zh"
    school_name: str = ""


def case_schools(cases: pd.DataFrame, snapshot: pd.DataFrame | None, tables: Tables | None) -> pd.DataFrame:
    """School and class of each case's student when the case opened: ``school_id, class_id, grade``.

    From the ``students`` version in force on ``opened_at`` when tables are given, else from
    the snapshot (the student's school on the snapshot day). Indexed like ``cases``.
    """
    out = pd.DataFrame(index=cases.index, columns=["school_id", "class_id", "grade"], dtype="object")
    if tables is not None and len(cases):
        at = student_at(tables, cases["student_id"], cases["opened_at"])
        out[["school_id", "class_id", "grade"]] = at[["school_id", "class_id", "grade"]].to_numpy()
    if snapshot is not None and len(cases):
        s = snapshot.assign(student_id=snapshot["student_id"].astype("str")).drop_duplicates("student_id")
        s = s.set_index("student_id")
        for c in ("school_id", "class_id", "grade"):
            fill = lookup(cases["student_id"], s[c].astype("object"))
            out[c] = out[c].where(out[c].notna(), fill)
    for c in ("school_id", "class_id"):
        out[c] = out[c].astype("str").where(out[c].notna(), "")
    return out


def overdue_cases(
    cases: pd.DataFrame, events: pd.DataFrame, as_of: pd.Timestamp, *, first_contact_days: int = 7
) -> pd.DataFrame:
    """Open cases whose next step is late on ``as_of``: ``case_id, why, due, days_overdue``.

    ``cases`` and ``events`` are the ledger on ``as_of`` (:func:`ledger_on`). A case is late
    (``why``) for the earliest of:

    - ``first_contact``: no staff event (anything but the job's own events, ``risk.cases``
      ``SYSTEM_EVENT_TYPES``) within ``first_contact_days`` of opening;
    - ``next_due``: the latest staff event set a ``next_due`` before ``as_of``;
    - ``next_step``: the job suggested the next four-step step (an ``escalation`` event) and
      the case has not reached it.

    Examples
    --------
    >>> from risk.reporting._common import normalise_cases, normalise_events
    >>> cases = normalise_cases(pd.DataFrame({"case_id": ["k1", "k2", "k3", "k4"],
    ...     "student_id": ["a", "b", "c", "d"], "status": "open",
    ...     "opened_at": ["2025-02-01", "2025-03-08", "2025-02-01", "2025-02-01"]}))
    >>> events = normalise_events(pd.DataFrame({"event_id": ["e1", "e2", "e3", "e4"],
    ...     "case_id": ["k3", "k4", "k4", "k1"], "ts": ["2025-02-03", "2025-02-03", "2025-03-03", "2025-02-01"],
    ...     "event_type": ["home_visit", "home_visit", "escalation", "opened"],
    ...     "next_due": ["2025-03-01", None, None, None], "four_step_stage": [None, None, 1, None]}))
    >>> overdue_cases(cases, events, pd.Timestamp("2025-03-10"))[["case_id", "why", "days_overdue"]].values.tolist()
    [['k1', 'first_contact', 30], ['k3', 'next_due', 9], ['k4', 'next_step', 7]]
    """
    from risk.cases import SYSTEM_EVENT_TYPES

    open_ = cases.loc[(cases["status"] == "open") & (cases["opened_at"] <= as_of)]
    ev = events.loc[events["ts"] <= as_of].sort_values(["case_id", "ts", "event_id"])
    staff = ev.loc[~ev["event_type"].isin(SYSTEM_EVENT_TYPES)]
    last = staff.drop_duplicates("case_id", keep="last").set_index("case_id")
    has_staff = open_["case_id"].isin(last.index)
    first_due = (open_["opened_at"] + pd.Timedelta(days=first_contact_days)).where(~has_staff)
    next_due = pd.to_datetime(lookup(open_["case_id"], last["next_due"]))
    esc = ev.loc[ev["event_type"] == "escalation"]
    if "four_step_stage" in esc.columns:
        esc = esc.assign(_s=pd.to_numeric(esc["four_step_stage"], errors="coerce").fillna(1))
    else:
        esc = esc.assign(_s=1)
    esc = esc[["case_id", "ts", "_s"]].merge(open_[["case_id", "four_step_stage"]], on="case_id")
    esc = esc.loc[esc["_s"] > esc["four_step_stage"]].groupby("case_id")["ts"].min()
    step_due = pd.to_datetime(lookup(open_["case_id"], esc))
    dues = pd.DataFrame({"first_contact": first_due, "next_due": next_due, "next_step": step_due})
    dues = dues.where(dues < as_of)
    late = dues.notna().any(axis=1)
    due = dues[late].min(axis=1)
    why = dues[late].idxmin(axis=1)
    out = pd.DataFrame(
        {"case_id": open_.loc[late, "case_id"], "why": why, "due": due, "days_overdue": (as_of - due).dt.days}
    )
    return out.sort_values(["days_overdue", "case_id"], ascending=[False, True], ignore_index=True)


def _age_labels(edges: tuple[int, ...], language: Language) -> list[str]:
    unit = "天" if language == "zh" else " days"
    labels = [f"<{edges[0]}{unit}"]
    labels += [f"{lo}–{hi}{unit}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return labels + [f"≥{edges[-1]}{unit}"]


def school_summary(
    snapshot: pd.DataFrame,
    school_id: str,
    *,
    cases: pd.DataFrame | None = None,
    case_events: pd.DataFrame | None = None,
    tables: Tables | None = None,
    month: str | dt.date | pd.Period | None = None,
    config: ReportConfig | None = None,
    language: Language = "zh",
) -> SchoolSummary:
    """The summary of one school on the snapshot day.

    Parameters
    ----------
    snapshot : DataFrame
        The risk snapshot (all schools).
    school_id : str
        The school.
    cases, case_events : DataFrame, optional
        The ledger tables of the data contract.
    tables : Tables, optional
        Loaded tables (names, staff roles, the student's class when a case opened).
    month : str, date or Period, optional
        The month whose returns are listed; default the month of the snapshot day.
    config : ReportConfig, optional
    language : {"zh", "en"}

    Returns
    -------
    SchoolSummary

    Examples
    --------
    >>> from risk.reporting._examples import example_snapshot
    >>> s = school_summary(example_snapshot(), "s1")
    >>> s.tiers_by_class[["class_id", "red", "yellow", "shown", "students"]].values.tolist()
    [['c1', 1, 1, 2, 3], ['c2', 1, 0, 1, 1]]
    """
    cfg = config or ReportConfig()
    snap = snapshot.assign(
        student_id=snapshot["student_id"].astype("str"),
        school_id=snapshot["school_id"].astype("str"),
        class_id=snapshot["class_id"].astype("str"),
        tier=snapshot["tier"].astype("str"),
    )
    mine = snap.loc[snap["school_id"] == str(school_id)]
    if mine.empty:
        raise ValueError(f"school_id {school_id!r} is not in the snapshot")
    as_of = pd.Timestamp(mine["as_of"].max())
    period = month_period(month if month is not None else as_of)
    total = "合计" if language == "zh" else "total"

    c, ev = ledger_on(cases, case_events, as_of)
    followed = open_case_per_student(c, as_of)
    group = list_group(mine["tier"], mine["listed"], mine["student_id"].isin(followed.index))
    keys = [mine["grade"], mine["class_id"]]
    counts = pd.crosstab(keys, group).reindex(columns=list(LIST_GROUPS), fill_value=0)
    counts["shown"] = counts[list(LIST_GROUPS[:-1])].sum(axis=1)
    counts["listed"] = counts[["red", "yellow", "selected"]].sum(axis=1)
    watched = (group == "none").to_numpy() & watched_tags(
        mine["tags"] if "tags" in mine else pd.Series("", index=mine.index)
    ).to_numpy()
    watched = pd.Series(watched, index=mine.index).groupby(keys).sum()
    counts["watched"] = watched.reindex(counts.index).fillna(0).astype("int64")
    counts["students"] = counts[list(LIST_GROUPS)].sum(axis=1)
    counts = counts[list(TIER_COUNT_COLUMNS)]
    by_class = counts.reset_index()
    by_class.columns.name = None
    by_grade = by_class.drop(columns="class_id").groupby("grade", as_index=False).sum()
    by_grade["grade"] = by_grade["grade"].astype("str")
    by_grade = pd.concat(
        [by_grade, pd.DataFrame([{"grade": total, **by_grade.drop(columns="grade").sum().to_dict()}])],
        ignore_index=True,
    )
    by_class.insert(2, "class_name", class_text(by_class["class_id"], tables, language, by_class["grade"]))

    where = case_schools(c, mine, tables)
    c = c.assign(class_id=where["class_id"], _school=where["school_id"])
    c = c.loc[c["_school"] == str(school_id)]
    open_ = c.loc[(c["status"] == "open") & (c["opened_at"] <= as_of)]
    age = (as_of - open_["opened_at"]).dt.days
    bins = [-np.inf, *cfg.case_age_days, np.inf]
    band = pd.cut(age, bins=bins, right=False, labels=_age_labels(cfg.case_age_days, language))
    owner = owner_text(open_["owner_staff_id"], tables, language).replace(
        "", "未指定" if language == "zh" else "no owner"
    )
    by_owner = pd.crosstab(owner, band).reindex(columns=band.cat.categories, fill_value=0)
    by_owner.columns = by_owner.columns.astype("str")
    by_owner["total"] = by_owner.sum(axis=1)
    by_owner = by_owner.rename_axis(index="owner", columns=None).reset_index()
    by_owner = by_owner.sort_values(["total", "owner"], ascending=[False, True], ignore_index=True)

    late = overdue_cases(c, ev, as_of, first_contact_days=cfg.first_contact_days)
    info = c.set_index("case_id")
    overdue = pd.DataFrame(
        {
            "case_id": late["case_id"],
            "name": name_of(lookup(late["case_id"], info["student_id"]), tables),
            "class_id": lookup(late["case_id"], info["class_id"]),
            "class_name": class_text(lookup(late["case_id"], info["class_id"]), tables, language),
            "case_type": lookup(late["case_id"], info["case_type"]).map(
                lambda t: label(CASE_TYPE_LABELS, t, language)
            ),
            "owner": owner_text(lookup(late["case_id"], info["owner_staff_id"]), tables, language),
            "stage": stage_text(lookup(late["case_id"], info["four_step_stage"]), language),
            "late": late["why"].map(lambda w: label(LATE_LABELS, w, language)),
            "due": late["due"],
            "days_overdue": late["days_overdue"],
        }
    )

    closed_in_month = c["closed_at"].dt.to_period("M") == period
    back = c.loc[c["case_type"].isin(OUT_OF_SCHOOL) & closed_as_returned(c) & closed_in_month]
    back = back.sort_values(["closed_at", "case_id"])
    returns = pd.DataFrame(
        {
            "case_id": back["case_id"],
            "name": name_of(back["student_id"], tables),
            "class_id": back["class_id"],
            "class_name": class_text(back["class_id"], tables, language),
            "closed_at": back["closed_at"],
            "placement": back["placement"].map(lambda p: label(PLACEMENT_LABELS, p, language)),
        }
    ).reset_index(drop=True)

    places = school_places(mine)
    summary_counts = {
        "students": int(len(mine)),
        "listed": int(mine["listed"].astype(bool).sum()),
        "red": int((mine["tier"] == "red").sum()),
        "on_list": places[0],
        "places": places[1],
        "open_cases": int(len(open_)),
        "overdue": int(len(overdue)),
        "out_of_school": int(open_["case_type"].isin(OUT_OF_SCHOOL).sum()),
        "returns": int(len(returns)),
    }
    return SchoolSummary(
        school_name=school_text(pd.Series([str(school_id)]), tables).iloc[0],
        school_id=str(school_id),
        township=school_info(tables)["township"].get(str(school_id), ""),
        as_of=as_of,
        month=period,
        tiers_by_class=by_class,
        tiers_by_grade=by_grade,
        open_cases_by_owner=by_owner,
        overdue=overdue.reset_index(drop=True),
        returns=returns,
        counts=summary_counts,
        language=language,
    )
