"""The point-in-time helpers and school days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features._time import default_calendar, latest_known, school_days, valid_at


def test_default_calendar_terms_and_holidays():
    cal = default_calendar(dt.date(2024, 7, 1), dt.date(2025, 3, 7))
    days = set(cal["date"].dt.strftime("%Y-%m-%d"))
    assert "2024-07-10" in days and "2024-07-11" not in days  # spring term ends 10 Jul
    assert "2024-09-02" in days and "2024-10-01" not in days and "2024-10-08" in days
    assert "2025-01-15" in days and "2025-01-16" not in days and "2025-03-03" in days
    assert cal.loc[cal.date == "2025-01-15", "term_id"].item() == "2024-autumn"
    assert cal.loc[cal.date == "2025-03-03", "term_id"].item() == "2024-spring"


def test_school_days_terms():
    sd = school_days(None, ["s1"], dt.date(2025, 3, 5))
    # spring term 2025: Mon 3 Mar; on Wed 5 Mar it is the 3rd school day of the term
    assert sd.last[0] - sd.spring_start[0] == 2 and sd.term_start[0] == sd.spring_start[0]
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
