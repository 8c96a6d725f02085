"""Data coverage: which schools and classes stopped sending data, and which tables went stale.

A model scores what it is given: a class whose attendance stops looks like a class where no
one is absent. Per school and class of the cohort on ``as_of``, over the last ``days``
calendar days: the school days (the school's calendar, :func:`features.time.school_days`)
with no attendance row for any of the class's students, the last day with a row, and whether
the class **stopped** (no row on its last ``stop_days`` school days); the exams its school
and grade sat this school year with no result for any student of the class. Per table: the
latest date it holds and how far behind ``as_of`` that is.

Per school and attendance status (``late``, ``left_early``, the leaves, ``unexcused``): a
school that **stopped recording a status** (迟到 no longer written down, say) while still
sending attendance. Over the last 91 days (a term), the status's share of the school's rows
in the year before, times the school's rows in the window, is the count expected; none seen
when at least 10 were expected flags it. (A month is too short: on a simulated county a
school of 90 pupils goes four weeks without a 迟到 by chance, since lateness clusters in a
few children; over a term, on every night of a school year, no school did.) The county-wide feature
drift check cannot see this: one school of eight that stops writing 迟到 moves the county's
late-count distribution by a normed Wasserstein distance of about 0.05, half the threshold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.cohort import cohort
from features.contract import Tables
from features.time import day_numbers, school_days, school_year_start

__all__ = ["STALE_DAYS", "Coverage", "data_coverage", "gaps_before", "school_statuses"]

#: a table is stale when its latest date is more than this many days before ``as_of``
#: (attendance arrives daily, registry events weekly at least; exams once or twice a term);
#: attendance only when, by the calendar table, more than five school days passed since
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
    statuses : DataFrame
        Per school and attendance status (:func:`school_statuses`): ``recent``,
        ``history``, ``expected``, ``stopped``.
    stopped_statuses : list of str
        The statuses a school stopped recording, as ``"school_id/status"``.
    """

    classes: pd.DataFrame
    schools: pd.DataFrame
    tables: pd.DataFrame
    stopped: list[str]
    as_of: dt.date
    days: int
    statuses: pd.DataFrame = field(default_factory=pd.DataFrame)
    stopped_statuses: list[str] = field(default_factory=list)


def _class_attendance(tables: Tables, members: pd.DataFrame, as_of: dt.date, days: int, stop_days: int):
    """Per class: school days in the window, days without rows, last day with a row, stopped."""
    sd = school_days(tables.calendar, members["school_id"].unique(), as_of, history_days=days)
    start = day_numbers(np.array([np.datetime64(as_of - dt.timedelta(days=days), "D")]))[0]
    att = tables.attendance
    day = day_numbers(att["date"].to_numpy())
    window = np.flatnonzero((day >= start) & (day <= sd.d0 + sd.n_days - 1))
    # each row's class (the cohort's: one row per student) by the student's code, then the
    # distinct (class, day) pairs: the days each class has a row
    sid, cats = _student_codes(att["student_id"], window)
    names, klass_of_member = np.unique(
        members["class_id"].astype("str").to_numpy(dtype=object), return_inverse=True
    )
    klass_of = _lookup(cats, members["student_id"], klass_of_member)
    k = np.where(sid >= 0, klass_of[np.maximum(sid, 0)], -1)
    d = day[window]
    ok = k >= 0
    span = int(sd.n_days) + int(sd.d0) - int(start) + 1
    pairs = np.unique(k[ok] * span + (d[ok] - start))
    seen_k, seen_d = np.divmod(pairs, span)
    bounds = np.searchsorted(seen_k, np.arange(len(names) + 1))
    days_of = {names[i]: seen_d[bounds[i] : bounds[i + 1]] + start for i in range(len(names))}
    rows = []
    for (school, klass), grp in members.groupby(["school_id", "class_id"], sort=True):
        code = sd.code_of([school])[0]
        ordinals = sd.table[code]
        days_idx = np.flatnonzero(ordinals >= 0) + sd.d0
        days_idx = days_idx[days_idx >= start]
        have = days_of.get(str(klass), np.array([], dtype="int64"))
        has_row = np.isin(days_idx, have)
        last = int(have.max()) if len(have) else None
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


def _student_codes(col: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """The ``rows``' student codes in ``col``'s categories (a category of ids; other columns
    are made one), and those categories as strings."""
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.iloc[rows].astype("str").astype("category")
        return col.cat.codes.to_numpy().astype("int64"), pd.Index(col.cat.categories.astype("str"))
    return col.cat.codes.to_numpy()[rows].astype("int64"), pd.Index(col.cat.categories.astype("str"))


def _lookup(cats: pd.Index, ids: pd.Series, values: np.ndarray) -> np.ndarray:
    """Per category: the value of its row in ``ids`` (one row per student), -1 where none."""
    out = np.full(len(cats), -1, dtype="int64")
    at = cats.get_indexer(pd.Index(ids.astype("str")))
    out[at[at >= 0]] = np.asarray(values)[at >= 0]
    return out


_STATUS_COLUMNS = ["school_id", "status", "recent", "history", "expected", "stopped"]


def school_statuses(
    attendance: pd.DataFrame,
    members: pd.DataFrame,
    as_of: dt.date,
    *,
    days: int = 91,
    history_days: int = 365,
    min_expected: float = 10.0,
) -> pd.DataFrame:
    """Per school and ``attendance`` status other than ``present``: rows in the last ``days``
    (``recent``) and in the ``history_days`` before (``history``), the count ``expected`` in
    the window from the status's share of the school's rows before it, and ``stopped`` (none
    seen, at least ``min_expected`` expected). ``members`` maps ``student_id`` to
    ``school_id`` (the cohort on ``as_of``).

    >>> att = pd.DataFrame({"student_id": ["a"] * 60 + ["b"] * 60,
    ...     "date": list(pd.date_range("2024-01-01", periods=60)) * 2,
    ...     "status": (["late", "present"] * 30) + (["late"] * 20 + ["present"] * 40)})
    >>> members = pd.DataFrame({"student_id": ["a", "b"], "school_id": ["s1", "s2"]})
    >>> t = school_statuses(att, members, dt.date(2024, 2, 29), days=20, history_days=40)
    >>> t[["school_id", "status", "recent", "expected", "stopped"]].values.tolist()
    [['s2', 'late', 0, 10.0, True], ['s1', 'late', 10, 10.0, False]]
    """
    att = attendance
    end = pd.Timestamp(as_of)
    cut = end - pd.Timedelta(days=days)
    start = cut - pd.Timedelta(days=history_days)
    date = att["date"]
    window = np.flatnonzero(((date > start) & (date <= end)).to_numpy())
    if not len(window):
        return pd.DataFrame(columns=_STATUS_COLUMNS)
    # rows counted per (school, status, recent) by integer codes (the cohort: one row per
    # student), then the counts grouped as the rows themselves would be
    sid, cats = _student_codes(att["student_id"], window)
    schools, school_of_member = np.unique(
        members["school_id"].astype("str").to_numpy(dtype=object), return_inverse=True
    )
    school = _lookup(cats, members["student_id"], school_of_member)
    school = np.where(sid >= 0, school[np.maximum(sid, 0)], -1)
    st = att["status"].iloc[window]
    if isinstance(st.dtype, pd.CategoricalDtype):
        status, statuses = st.cat.codes.to_numpy().astype("int64"), st.cat.categories.astype("str")
    else:
        status, statuses = pd.factorize(st)
    statuses = np.append(np.asarray(statuses, dtype=object).astype(str), "nan")  # code -1: a missing status
    status = np.where(status >= 0, status, len(statuses) - 1)
    recent = (date.iloc[window] > cut).to_numpy()
    ok = school >= 0
    n_s = len(statuses)
    cell = (school[ok] * n_s + status[ok]) * 2 + recent[ok]
    counts_of = np.bincount(cell, minlength=len(schools) * n_s * 2)
    at = np.flatnonzero(counts_of)
    sc, rest = np.divmod(at, n_s * 2)
    stc, rec = np.divmod(rest, 2)
    frame = pd.DataFrame(
        {
            "school_id": pd.array(schools[sc].astype(str), dtype="str"),
            "status": pd.array(statuses[stc], dtype="str"),
            "recent": rec.astype(bool),
            "n": counts_of[at].astype("int64"),
        }
    )
    if not len(frame):
        return pd.DataFrame(columns=_STATUS_COLUMNS)
    rows = frame.groupby(["school_id", "recent"])["n"].sum().unstack("recent", fill_value=0)
    rows = rows.reindex(columns=[False, True], fill_value=0)
    counts = (
        frame.loc[frame["status"] != "present"]
        .groupby(["school_id", "status", "recent"])["n"]
        .sum()
        .unstack("recent", fill_value=0)
        .reindex(columns=[False, True], fill_value=0)
        .reset_index()
        .rename(columns={False: "history", True: "recent"})
    )
    counts.columns.name = None
    school_rows = rows.rename(columns={False: "rows_history", True: "rows_recent"})
    counts = counts.merge(school_rows, left_on="school_id", right_index=True, how="left")
    share = counts["history"] / counts["rows_history"].where(counts["rows_history"] > 0)
    counts["expected"] = (share * counts["rows_recent"]).fillna(0.0)
    counts["stopped"] = (counts["recent"] == 0) & (counts["expected"] >= min_expected)
    out = counts[_STATUS_COLUMNS].astype({"recent": "int64", "history": "int64"})
    return out.sort_values(["stopped", "school_id", "status"], ascending=[False, True, True]).reset_index(
        drop=True
    )


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
        stale = behind is None or behind > limit
        cal = tables.calendar
        if name == "attendance" and stale and behind is not None and cal is not None and len(cal):
            # holidays are not gaps: stale only when more school days than a week's passed
            between = cal.loc[
                (cal["date"] > last) & (cal["date"] <= day) & cal["is_school_day"].astype(bool), "date"
            ]
            stale = between.nunique() > 5
        rows.append(
            {"table": name, "last_date": last, "days_behind": behind, "limit_days": limit, "stale": bool(stale)}
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
    statuses = school_statuses(tables.attendance, members, as_of)
    gone = [f"{s}/{k}" for s, k in statuses.loc[statuses["stopped"], ["school_id", "status"]].to_numpy()]
    return Coverage(classes=classes, schools=schools, tables=_tables(tables, as_of), stopped=stopped,
                    as_of=as_of, days=days, statuses=statuses, stopped_statuses=gone)  # fmt: skip


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
    col = att["student_id"]
    if isinstance(col.dtype, pd.CategoricalDtype):  # the events' children's rows by code, not by string
        cats = pd.Index(col.cat.categories.astype("str"))
        wanted = cats.get_indexer(pd.Index(ev["student_id"].unique()))
        rows = np.flatnonzero(np.isin(col.cat.codes.to_numpy(), wanted[wanted >= 0]))
        ids = cats.to_numpy(dtype=object)[col.cat.codes.to_numpy()[rows]]
    else:
        rows = np.flatnonzero(col.astype("str").isin(ev["student_id"]).to_numpy())
        ids = col.astype("str").to_numpy(dtype=object)[rows]
    a = pd.DataFrame({"student_id": pd.array(ids, dtype="str"), "date": att["date"].to_numpy()[rows]})
    a = a.drop_duplicates()
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
