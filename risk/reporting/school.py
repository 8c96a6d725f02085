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
    OUT_OF_SCHOOL,
    ReportConfig,
    closed_as_returned,
    lookup,
    month_period,
    name_of,
    normalise_cases,
    normalise_events,
    owner_text,
    school_info,
    stage_text,
    student_at,
)
from risk.reporting.labels import CASE_TYPE_LABELS, PLACEMENT_LABELS, Language, label
from risk.snapshot import TIERS

__all__ = ["SchoolSummary", "school_summary", "case_schools", "overdue_cases"]


@dataclass(frozen=True)
class SchoolSummary:
    """What goes into one school's summary.

    Attributes
    ----------
    school_id, township : str
    as_of : Timestamp
        The snapshot day.
    month : Period
        The month whose returns are counted (the month of ``as_of`` by default).
    tiers_by_class : DataFrame
        One row per class: ``grade, class_id, red, yellow, blue, none, students, listed``.
    tiers_by_grade : DataFrame
        The same summed per grade, plus a total row (``grade`` = "合计" / "total").
    open_cases_by_owner : DataFrame
        One row per owner: ``owner`` then one column per case-age band (days since opened)
        and ``total``.
    overdue : DataFrame
        Open cases whose next step is late: ``case_id, name, class_id, case_type, owner,
        stage, due, days_overdue``, most overdue first.
    returns : DataFrame
        Out-of-school cases closed as returned or placed (劝返销号) in ``month``:
        ``case_id, name, class_id, closed_at, placement``.
    counts : dict
        ``students, listed, red, open_cases, overdue, out_of_school, returns``.
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
    """Open cases whose next step is late on ``as_of``: ``case_id, due, days_overdue``.

    A case is overdue when its latest event set a ``next_due`` before ``as_of``, or when it
    has no event at all ``first_contact_days`` after it opened.

    Examples
    --------
    >>> cases = normalise_cases(pd.DataFrame({"case_id": ["k1", "k2", "k3"], "student_id": ["a", "b", "c"],
    ...     "opened_at": ["2025-02-01", "2025-03-08", "2025-02-01"], "status": "open"}))
    >>> events = normalise_events(pd.DataFrame({"event_id": ["e1"], "case_id": ["k3"],
    ...     "ts": ["2025-02-03"], "event_type": ["home_visit"], "next_due": ["2025-03-01"]}))
    >>> overdue_cases(cases, events, pd.Timestamp("2025-03-10"))[["case_id", "days_overdue"]].values.tolist()
    [['k1', 30], ['k3', 9]]
    """
    open_ = cases.loc[(cases["status"] == "open") & (cases["opened_at"] <= as_of)]
    ev = events.loc[events["ts"] <= as_of].sort_values(["case_id", "ts", "event_id"])
    last = ev.drop_duplicates("case_id", keep="last").set_index("case_id")
    due = lookup(open_["case_id"], last["next_due"])
    has_event = open_["case_id"].isin(last.index)
    first_due = open_["opened_at"] + pd.Timedelta(days=first_contact_days)
    due = pd.to_datetime(due.where(has_event, first_due))
    late = due.notna() & (due < as_of)
    out = pd.DataFrame(
        {"case_id": open_.loc[late, "case_id"], "due": due[late], "days_overdue": (as_of - due[late]).dt.days}
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
    >>> s.tiers_by_class[["class_id", "red", "yellow", "students"]].values.tolist()
    [['c1', 1, 1, 3], ['c2', 1, 0, 1]]
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

    counts = pd.crosstab([mine["grade"], mine["class_id"]], mine["tier"]).reindex(
        columns=list(TIERS), fill_value=0
    )
    counts["students"] = counts.sum(axis=1)
    counts["listed"] = (
        mine.groupby(["grade", "class_id"])["listed"].sum().reindex(counts.index).astype("int64")
    )
    by_class = counts.reset_index()
    by_class.columns.name = None
    by_grade = by_class.drop(columns="class_id").groupby("grade", as_index=False).sum()
    by_grade["grade"] = by_grade["grade"].astype("str")
    by_grade = pd.concat(
        [by_grade, pd.DataFrame([{"grade": total, **by_grade.drop(columns="grade").sum().to_dict()}])],
        ignore_index=True,
    )

    c = normalise_cases(cases)
    ev = normalise_events(case_events)
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
            "case_type": lookup(late["case_id"], info["case_type"]).map(
                lambda t: label(CASE_TYPE_LABELS, t, language)
            ),
            "owner": owner_text(lookup(late["case_id"], info["owner_staff_id"]), tables, language),
            "stage": stage_text(lookup(late["case_id"], info["four_step_stage"]), language),
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
            "closed_at": back["closed_at"],
            "placement": back["placement"].map(lambda p: label(PLACEMENT_LABELS, p, language)),
        }
    ).reset_index(drop=True)

    summary_counts = {
        "students": int(len(mine)),
        "listed": int(mine["listed"].astype(bool).sum()),
        "red": int((mine["tier"] == "red").sum()),
        "open_cases": int(len(open_)),
        "overdue": int(len(overdue)),
        "out_of_school": int(open_["case_type"].isin(OUT_OF_SCHOOL).sum()),
        "returns": int(len(returns)),
    }
    return SchoolSummary(
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
