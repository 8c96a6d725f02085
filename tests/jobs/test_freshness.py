"""The input checks of a night (jobs.freshness) on small hand-made tables.

Two schools, no calendar table (the default calendar: March 2025 has school on weekdays only):
s1 has four students, s2 two; each has one attendance row per school day.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pandas as pd
import pytest

from jobs.freshness import check_as_of, check_inputs, last_data_date, override_record

MONDAY = dt.date(2025, 3, 31)
STUDENTS = {"a1": "s1", "a2": "s1", "a3": "s1", "a4": "s1", "b1": "s2", "b2": "s2"}


def _tables(until: dict[str, str], thin: dict[str, int] | None = None, empty: tuple[str, ...] = ()):
    """Attendance of every weekday from 3 March up to ``until[school]``; on the days in
    ``thin`` only that many students of s1 have a row."""
    students = pd.DataFrame(
        {
            "student_id": list(STUDENTS),
            "school_id": list(STUDENTS.values()),
            "valid_from": pd.Timestamp("2024-09-01"),
            "valid_to": pd.NaT,
        }  # fmt: skip
    )
    rows = []
    for day in pd.bdate_range("2025-03-03", "2025-03-31"):
        for sid, school in STUDENTS.items():
            if day > pd.Timestamp(until[school]):
                continue
            if thin and school == "s1" and str(day.date()) in thin and int(sid[1]) > thin[str(day.date())]:
                continue
            rows.append({"student_id": sid, "date": day, "session": "day", "status": "present"})
    attendance = pd.DataFrame(rows, columns=["student_id", "date", "session", "status"])
    one = pd.DataFrame({"x": [1]})
    tables = SimpleNamespace(students=students, attendance=attendance, exams=one, exam_results=one,
                             registry_events=one, calendar=None)  # fmt: skip
    for name in empty:
        setattr(tables, name, getattr(tables, name).iloc[0:0])
    return tables


def test_a_weekend_never_makes_attendance_stale():
    tables = _tables({"s1": "2025-03-28", "s2": "2025-03-28"})  # Friday; the night is Monday
    assert check_inputs(tables, MONDAY, max_staleness_days=3) == []
    assert check_inputs(tables, MONDAY, max_staleness_days=1) == []  # Monday itself is not yet due


def test_an_export_that_ends_a_week_early_is_stale_and_names_the_schools():
    (f,) = check_inputs(_tables({"s1": "2025-03-21", "s2": "2025-03-21"}), MONDAY, max_staleness_days=3)
    assert (f.table, f.problem, f.schools) == ("attendance", "stale", ("s1", "s2"))
    assert "ends 2025-03-21, 6 school day(s) missing" in f.detail  # 24-28 and 31 March


def test_staleness_counts_calendar_days_from_the_first_missing_school_day():
    # data to Wednesday 26th: Thursday 27th is missing, 4 days before the night
    tables = _tables({"s1": "2025-03-26", "s2": "2025-03-28"})
    (f,) = check_inputs(tables, MONDAY, max_staleness_days=3)
    assert f.schools == ("s1",)
    assert check_inputs(tables, MONDAY, max_staleness_days=5) == []


def test_one_school_missing_from_the_export_is_named_alone():
    (f,) = check_inputs(_tables({"s1": "2025-03-28", "s2": "2025-03-01"}), MONDAY)
    assert (f.problem, f.schools) == ("stale", ("s2",)) and "s2: no row" in f.detail


def test_a_thin_latest_day_is_incomplete():
    # on Friday 28th only one of s1's four students has a row; usual is 4, the bar is 0.5 * 4
    (f,) = check_inputs(_tables({"s1": "2025-03-28", "s2": "2025-03-28"}, thin={"2025-03-28": 1}), MONDAY)
    assert (f.problem, f.schools) == ("incomplete", ("s1",))
    assert "2025-03-28: 1 rows, usually 4 a school day" in f.detail
    # two of four is exactly half: not below the bar
    assert (
        check_inputs(_tables({"s1": "2025-03-28", "s2": "2025-03-28"}, thin={"2025-03-28": 2}), MONDAY) == []
    )
    assert check_inputs(
        _tables({"s1": "2025-03-28", "s2": "2025-03-28"}, thin={"2025-03-28": 2}), MONDAY, min_rows_share=0.6
    )


@pytest.mark.parametrize("table", ["attendance", "exams", "students"])
def test_an_empty_required_table_is_named(table):
    findings = check_inputs(_tables({"s1": "2025-03-28", "s2": "2025-03-28"}, empty=(table,)), MONDAY)
    assert [(f.table, f.problem) for f in findings] == [(table, "empty")]


def test_a_night_after_the_last_data_day_plus_one_is_refused():
    tables = _tables({"s1": "2025-03-28", "s2": "2025-03-28"})
    assert last_data_date(tables) == (dt.date(2025, 3, 28), "attendance")
    check_as_of(tables, dt.date(2025, 3, 29))  # the night after the last day: fine
    with pytest.raises(ValueError, match=r"after the data's last date \(2025-03-28, in attendance\)"):
        check_as_of(tables, dt.date(2052, 3, 17))


def test_the_last_date_is_the_latest_dated_row_of_any_table():
    tables = _tables({"s1": "2025-03-21", "s2": "2025-03-21"})
    tables.calendar = pd.DataFrame({"school_id": ["s1"], "date": [pd.Timestamp("2025-07-10")],
                                    "is_school_day": [True]})  # fmt: skip
    assert last_data_date(tables) == (dt.date(2025, 7, 10), "calendar")
    check_as_of(tables, MONDAY)  # attendance lags: that is stale input, not a wrong date


def test_the_override_record_keeps_what_was_let_through():
    findings = check_inputs(_tables({"s1": "2025-03-21", "s2": "2025-03-28"}), MONDAY)
    record = json.loads(override_record(findings))
    assert record["accepted"][0]["table"] == "attendance" and record["accepted"][0]["schools"] == ["s1"]
    assert override_record([]) is None
