"""Missed school days come from the school calendar, not from the attendance rows."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from risk.changes import missed_school_days


def _calendar(school: str, days: dict[str, bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "school_id": school,
            "date": pd.to_datetime(list(days)),
            "is_school_day": list(days.values()),
            "term_id": "2024-spring",
        }
    )


def test_missed_days_follow_the_calendar_of_any_school():
    # last run Mon 28 Apr 2025, tonight Wed 7 May. s1: Tue 29 and Wed 30 Apr are school days,
    # 1-5 May the Labour Day holiday, Tue 6 May school again; s2 also makes up Sun 4 May.
    s1 = {"2025-04-29": True, "2025-04-30": True, **{f"2025-05-0{d}": False for d in range(1, 6)},
          "2025-05-06": True}  # fmt: skip
    s2 = {**s1, "2025-05-04": True}
    cal = pd.concat([_calendar("s1", s1), _calendar("s2", s2)], ignore_index=True)
    days = missed_school_days(cal, ["s1", "s2"], dt.date(2025, 4, 28), dt.date(2025, 5, 7), catch_up_days=31)
    assert days == [dt.date(2025, 4, 29), dt.date(2025, 4, 30), dt.date(2025, 5, 4), dt.date(2025, 5, 6)]
    only_s1 = missed_school_days(cal, ["s1"], dt.date(2025, 4, 28), dt.date(2025, 5, 7), catch_up_days=31)
    assert dt.date(2025, 5, 4) not in only_s1
    # the newest catch_up_days of them; none after consecutive nights or with catch-up off
    assert missed_school_days(cal, ["s1"], dt.date(2025, 4, 28), dt.date(2025, 5, 7), catch_up_days=1) == [
        dt.date(2025, 5, 6)
    ]
    assert missed_school_days(cal, ["s1"], dt.date(2025, 5, 6), dt.date(2025, 5, 7), catch_up_days=31) == []
    assert missed_school_days(cal, ["s1"], dt.date(2025, 4, 28), dt.date(2025, 5, 7), catch_up_days=0) == []


def test_a_school_day_without_attendance_rows_is_still_missed():
    # the default calendar (no calendar table): Thu 13 Mar 2025 is a school day whether or not
    # any attendance was entered for it
    days = missed_school_days(None, ["s1"], dt.date(2025, 3, 12), dt.date(2025, 3, 14), catch_up_days=31)
    assert days == [dt.date(2025, 3, 13)]
