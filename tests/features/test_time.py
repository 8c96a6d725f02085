"""The point-in-time helpers and school days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.time import default_calendar, latest_known, school_days, valid_at


def test_default_calendar_terms_and_holidays():
    cal = default_calendar(dt.date(2024, 7, 1), dt.date(2025, 3, 7))
    days = set(cal["date"].dt.strftime("%Y-%m-%d"))
    assert "2024-07-10" in days and "2024-07-11" not in days  # spring term ends 10 Jul
    assert "2024-09-02" in days and "2024-10-01" not in days and "2024-10-08" in days
    # 调休: Sunday 29 Sep and Saturday 12 Oct 2024 are make-up workdays (chinesecalendar)
    assert "2024-09-29" in days and "2024-10-12" in days and "2024-10-13" not in days
    # winter break: 21 days before to 14 days after 春节 (29 Jan 2025): 8 Jan .. 12 Feb
    assert "2025-01-07" in days and "2025-01-08" not in days and "2025-01-26" not in days
    assert "2025-02-12" not in days and "2025-02-13" in days and "2025-02-17" in days
    assert cal.loc[cal.date == "2025-01-07", "term_id"].item() == "2024-autumn"
    assert cal.loc[cal.date == "2025-02-13", "term_id"].item() == "2024-spring"
    assert cal.loc[cal.date == "2024-10-12", "day_type"].item() == "makeup"


def test_school_days_terms():
    sd = school_days(None, ["s1"], dt.date(2025, 3, 5))
    # spring term 2025: Thu 13 Feb (14 days after 春节); on Wed 5 Mar it is its 15th school day
    assert sd.last[0] - sd.spring_start[0] == 14 and sd.term_start[0] == sd.spring_start[0]
    assert sd.autumn_start[0] >= 0 and sd.autumn_start[0] < sd.spring_start[0]
    # a day off has no ordinal
    sat = pd.Timestamp("2025-03-01").to_datetime64().astype("datetime64[D]").astype("int64")
    assert sd.ordinal(sd.code_of(["s1"]), np.array([sat])).tolist() == [-1]


def test_valid_at_and_latest_known():
    f = pd.DataFrame(
        {
            "student_id": ["a", "a", "b"],
            "valid_from": pd.to_datetime(["2024-01-01", "2024-06-01", "2024-09-01"]),
            "valid_to": pd.to_datetime(["2024-06-01", None, None]),
        }
    )
    assert valid_at(f, dt.date(2024, 6, 1)).index.tolist() == [1]
    assert valid_at(f, dt.date(2024, 5, 31)).index.tolist() == [0]
    last = latest_known(f, dt.date(2024, 8, 1), date_col="valid_from")
    assert last.index.tolist() == ["a"] and last.loc["a", "valid_from"] == pd.Timestamp("2024-06-01")


def test_known_rows_reads_the_declared_known_date():
    from features.contract import TABLES
    from features.load import tables_from_frames
    from features.time import known_date, known_rows

    frames = {
        "students": pd.DataFrame({"student_id": ["a", "b"], "valid_from": ["2024-09-01", "2024-09-01"],
                                  "school_id": ["s1"] * 2, "grade": [7, 7], "sex": ["M", "F"],
                                  "birth_ym": ["2011-03"] * 2}),
        "attendance": pd.DataFrame({"student_id": ["a"], "date": ["2024-09-02"], "status": ["present"]}),
        "exams": pd.DataFrame({"exam_id": ["e1"], "school_id": ["s1"], "grade": [7], "exam_type": ["final"],
                               "exam_date": ["2025-01-10"]}),
        "exam_results": pd.DataFrame({"student_id": ["a"], "exam_id": ["e1"], "subject": ["math"],
                                      "score": [88.0], "full_marks": [100.0]}),
        "registry_events": pd.DataFrame({"student_id": ["a"], "event_date": ["2024-09-01"],
                                         "event_type": ["enrol"]}),
        # a leave known from its start date; its end date and return do not make it known
        "leave_requests": pd.DataFrame({"leave_id": ["l1", "l2", "l3"], "student_id": ["a", "a", "b"],
                                        "start_date": ["2024-09-02", "2024-09-20", None],
                                        "end_date": ["2024-09-30", "2024-09-21", "2024-09-03"],
                                        "leave_type": ["sick"] * 3}),
    }  # fmt: skip
    tables = tables_from_frames(frames, max_reject_share=1.0).tables
    assert known_date("leave_requests") == TABLES["leave_requests"].known_date == "start_date"
    on = dt.date(2024, 9, 10)
    assert known_rows(tables, "leave_requests", on)["leave_id"].tolist() == ["l1"]
    assert known_rows(tables, "leave_requests", dt.date(2024, 9, 20))["leave_id"].tolist() == ["l1", "l2"]
    late = known_rows(tables, "leave_requests", dt.date(2024, 9, 30), since=dt.date(2024, 9, 3))
    assert late["leave_id"].tolist() == ["l2"]
    # the calendar is known day by day (the school-day table reads it so)
    assert known_date("calendar") == "date"
    with pytest.raises(ValueError, match="no known_date"):
        known_date("exam_results")
    with pytest.raises(ValueError, match="not loaded"):
        known_rows(tables, "aid", on)


def test_every_dated_table_declares_its_known_date():
    from features.contract import TABLES

    undated = {"schools", "classes", "student_names", "exam_results", "staff"}
    assert {n for n, t in TABLES.items() if t.known_date is None} == undated
    for t in TABLES.values():
        if t.known_date is not None:
            assert t.column(t.known_date).kind == "date", t.name


def test_school_year_one_definition():
    from features.time import school_year_of, school_year_start, school_years

    days = [dt.date(2024, 7, 31), dt.date(2024, 8, 1), dt.date(2025, 1, 10)]
    assert [school_year_of(d) for d in days] == [2023, 2024, 2024]
    assert school_years(pd.to_datetime(days)).tolist() == [2023, 2024, 2024]
    assert school_year_start(dt.date(2024, 8, 20)) == dt.date(2024, 9, 1)


def test_the_two_streaks_count_differently():
    from features.time import recorded_unexcused_runs, school_day_runs

    # Mon-Tue unexcused, Wed unrecorded, Thu unexcused: on the calendar the gap breaks the
    # unexcused streak (2 then 1); the label's recorded run skips the gap (3 days)
    s, last, n = school_day_runs(np.array([0, 0, 0]), np.array([0, 1, 3]))
    assert n.tolist() == [2.0, 1.0]
    att = pd.DataFrame({"student_id": pd.Categorical(["a"] * 3),
                        "date": pd.to_datetime(["2024-09-02", "2024-09-03", "2024-09-05"]),
                        "status": ["unexcused"] * 3})  # fmt: skip
    assert len(recorded_unexcused_runs(att, 3)) == 3
