"""Data coverage: which schools and classes stopped sending data, and which tables went stale.

A model scores what it is given: a class whose attendance stops looks like a class where no
one is absent. Per school and class of the cohort on ``as_of``, over the last ``days``
calendar days: the school days (the school's calendar, :func:`features.time.school_days`)
with no attendance row for any of the class's students, the last day with a row, and whether
the class **stopped** (no row on its last ``stop_days`` school days); the exams its school
and grade sat this school year with no result for any student of the class. Per table: the
latest date it holds and how far behind ``as_of`` that is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.cohort import cohort
from features.contract import Tables
from features.time import day_numbers, school_days, school_year_start

__all__ = ["STALE_DAYS", "Coverage", "data_coverage", "gaps_before"]

#: a table is stale when its latest date is more than this many days before ``as_of``
#: (attendance arrives daily, registry events weekly at least; exams once or twice a term)
STALE_DAYS: dict[str, tuple[str, int]] = {
    "attendance": ("date", 7),
    "registry_events": ("event_date", 60),
    "exams": ("exam_date", 200),
    "leave_requests": ("start_date", 60),
}


@dataclass(frozen=True)
class Coverage:
    """Attendance and exam coverage per class, and staleness per table.

    Attributes
    ----------
    classes : DataFrame
        ``school_id, class_id, students, school_days, days_without_attendance,
        last_attendance, stopped, exams_sat, exams_missing``; classes with a problem first.
    schools : DataFrame
        The same summed per school (``classes_stopped``).
    tables : DataFrame
        ``table, last_date, days_behind, stale``.
    stopped : list of str
        The classes that stopped sending attendance, as ``"school_id/class_id"``.
    """

    classes: pd.DataFrame
    schools: pd.DataFrame
    tables: pd.DataFrame
    stopped: list[str]
    as_of: dt.date
    days: int


def _class_attendance(tables: Tables, members: pd.DataFrame, as_of: dt.date, days: int, stop_days: int):
    """Per class: school days in the window, days without rows, last day with a row, stopped."""
    sd = school_days(tables.calendar, members["school_id"].unique(), as_of, history_days=days)
    start = day_numbers(np.array([np.datetime64(as_of - dt.timedelta(days=days), "D")]))[0]
    att = tables.attendance
    day = day_numbers(att["date"].to_numpy())
    att = pd.DataFrame({"student_id": att["student_id"].astype("str").to_numpy(), "day": day})
    att = att.loc[(att["day"] >= start) & (att["day"] <= sd.d0 + sd.n_days - 1)]
    att = att.merge(members[["student_id", "school_id", "class_id"]], on="student_id", how="inner")
    seen = att.drop_duplicates(["class_id", "day"])
    rows = []
    for (school, klass), grp in members.groupby(["school_id", "class_id"], sort=True):
        code = sd.code_of([school])[0]
        ordinals = sd.table[code]
        days_idx = np.flatnonzero(ordinals >= 0) + sd.d0
        days_idx = days_idx[days_idx >= start]
        have = set(seen.loc[seen["class_id"] == klass, "day"].tolist())
        has_row = np.array([d in have for d in days_idx], dtype=bool)
        last = max(have) if have else None
        tail = has_row[-stop_days:] if len(has_row) >= stop_days else has_row
        rows.append(
            {
                "school_id": school,
                "class_id": klass,
                "students": len(grp),
                "school_days": len(days_idx),
                "days_without_attendance": int((~has_row).sum()),
                "last_attendance": pd.Timestamp(np.datetime64(int(last), "D"))
                if last is not None
                else pd.NaT,
                "stopped": bool(len(tail) and not tail.any()),
            }
        )
    return pd.DataFrame(rows)


def _class_exams(tables: Tables, members: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    ex = tables.exams
    since = pd.Timestamp(school_year_start(as_of))
    ex = ex.loc[(ex["exam_date"] >= since) & (ex["exam_date"] <= pd.Timestamp(as_of))]
    ex = ex.assign(school_id=ex["school_id"].astype("str"), grade=ex["grade"].astype("int64"))
    classes = members.groupby(["school_id", "class_id"], sort=True)["grade"].agg(
        lambda g: int(g.mode().iloc[0])
    )
    classes = classes.rename("grade").reset_index()
    sat = classes.merge(ex[["exam_id", "school_id", "grade"]], on=["school_id", "grade"], how="inner")
    res = tables.exam_results[["student_id", "exam_id"]].astype({"student_id": "str", "exam_id": "str"})
    res = res.merge(members[["student_id", "class_id"]], on="student_id", how="inner").drop_duplicates(
        ["class_id", "exam_id"]
    )
    sat = sat.astype({"exam_id": "str"}).merge(res.assign(has=True), on=["class_id", "exam_id"], how="left")
    out = sat.groupby(["school_id", "class_id"]).agg(
        exams_sat=("exam_id", "size"), exams_missing=("has", lambda h: int(h.isna().sum()))
    )
    return (
        classes[["school_id", "class_id"]]
        .merge(out.reset_index(), how="left")
        .fillna({"exams_sat": 0, "exams_missing": 0})
        .astype({"exams_sat": "int64", "exams_missing": "int64"})
    )


def _tables(tables: Tables, as_of: dt.date) -> pd.DataFrame:
    rows = []
    day = pd.Timestamp(as_of)
    for name, (col, limit) in STALE_DAYS.items():
        frame = getattr(tables, name, None)
        if frame is None or col not in frame:
            continue
        known = frame.loc[frame[col] <= day, col]
        last = known.max() if len(known) else pd.NaT
        behind = int((day - last).days) if pd.notna(last) else None
        rows.append(
            {"table": name, "last_date": last, "days_behind": behind, "limit_days": limit,
             "stale": bool(behind is None or behind > limit)}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=["table", "last_date", "days_behind", "limit_days", "stale"])


def data_coverage(tables: Tables, as_of: dt.date, *, days: int = 28, stop_days: int = 3) -> Coverage:
    """Coverage of the cohort's classes on ``as_of`` (module docstring).

    Parameters
    ----------
    tables : Tables
        The county's tables.
    as_of : date
        The night judged (only rows dated on or before it are read).
    days : int
        Calendar days looked back for attendance.
    stop_days : int
        A class with no attendance row on its last this many school days has stopped.
    """
    c = cohort(tables, as_of)
    members = pd.DataFrame(
        {
            "student_id": c.index.astype("str"),
            "school_id": c["school_id"].astype("str").to_numpy(),
            "class_id": c["class_id"].astype("str").to_numpy(),
            "grade": c["grade"].astype("int64").to_numpy(),
        }
    )
    att = _class_attendance(tables, members, as_of, days, stop_days)
    exams = _class_exams(tables, members, as_of)
    classes = att.merge(exams, on=["school_id", "class_id"], how="left")
    classes = classes.sort_values(
        ["stopped", "days_without_attendance", "exams_missing", "school_id", "class_id"],
        ascending=[False, False, False, True, True],
        kind="stable",
    ).reset_index(drop=True)
    schools = (
        classes.groupby("school_id", sort=True)
        .agg(
            classes=("class_id", "size"),
            students=("students", "sum"),
            classes_stopped=("stopped", "sum"),
            days_without_attendance=("days_without_attendance", "sum"),
            exams_missing=("exams_missing", "sum"),
        )
        .reset_index()
    )
    stopped = [f"{s}/{k}" for s, k in classes.loc[classes["stopped"], ["school_id", "class_id"]].to_numpy()]
    return Coverage(classes=classes, schools=schools, tables=_tables(tables, as_of), stopped=stopped,
                    as_of=as_of, days=days)  # fmt: skip


def gaps_before(tables: Tables, events: pd.DataFrame, *, days: int = 30) -> pd.DataFrame:
    """The data each child had in the ``days`` before an event (for the missed list).

    ``events`` has ``student_id, event_date`` (and ``school_id``). Returns those columns and
    ``att_days_without_rows`` (weekdays in the window with no attendance row for the child),
    ``att_days_with_rows`` and ``days_since_exam`` (days from the child's last exam result to
    the event; NaN: none).
    """
    if not len(events):
        return pd.DataFrame(columns=["student_id", "event_date", "att_days_with_rows", "att_days_without_rows",
                                     "days_since_exam"])  # fmt: skip
    ev = events[["student_id", "event_date"]].drop_duplicates().astype({"student_id": "str"})
    ev["event_date"] = pd.to_datetime(ev["event_date"]).astype("datetime64[s]")
    att = tables.attendance
    a = pd.DataFrame(
        {"student_id": att["student_id"].astype("str").to_numpy(), "date": att["date"].to_numpy()}
    )
    a = a.loc[a["student_id"].isin(ev["student_id"])].drop_duplicates()
    j = ev.merge(a, on="student_id", how="left")
    inside = (j["date"] < j["event_date"]) & (j["date"] >= j["event_date"] - pd.Timedelta(days=days))
    with_rows = j.loc[inside].groupby(["student_id", "event_date"]).size().rename("att_days_with_rows")
    out = ev.merge(with_rows.reset_index(), on=["student_id", "event_date"], how="left")
    out["att_days_with_rows"] = out["att_days_with_rows"].fillna(0).astype("int64")
    weekdays = np.array(
        [np.busday_count((e - pd.Timedelta(days=days)).date(), e.date()) for e in out["event_date"]],
        dtype="int64",
    )
    out["att_days_without_rows"] = np.maximum(weekdays - out["att_days_with_rows"].to_numpy(), 0)
    res = tables.exam_results[["student_id", "exam_id"]].astype({"student_id": "str", "exam_id": "str"})
    ex = tables.exams[["exam_id", "exam_date"]].astype({"exam_id": "str"})
    r = (
        res.loc[res["student_id"].isin(ev["student_id"])]
        .merge(ex, on="exam_id")
        .drop_duplicates(["student_id", "exam_date"])
    )
    r = ev.merge(r, on="student_id", how="left")
    r = r.loc[r["exam_date"] < r["event_date"]]
    last = r.groupby(["student_id", "event_date"])["exam_date"].max().rename("last_exam").reset_index()
    out = out.merge(last, on=["student_id", "event_date"], how="left")
    out["days_since_exam"] = (out["event_date"] - out["last_exam"]).dt.days.astype("float64")
    return out.drop(columns="last_exam")
