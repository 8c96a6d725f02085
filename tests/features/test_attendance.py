"""Attendance features on a hand-made school; every expected value is worked out in a comment.

The school's calendar table (``TERM``): autumn term 2024 starts Mon 2 Sep; 1-7 Oct is the
National Day holiday; Mon-Fri otherwise (no Mid-Autumn days off, no 调休 weekend days, unlike
the default calendar). School days up to Wed 9 Oct 2024: Sep 2-6, 9-13, 16-20, 23-27,
Sep 30, Oct 8, Oct 9 = 23 days. Before Sep 2 the default calendar applies (summer from 11 Jul).
- last 10 school days on Oct 9: Sep 19, 20, 23-27, 30, Oct 8, 9
- last 20 school days on Oct 9: Sep 5 .. Oct 9, so the term "before them" is Sep 2, 3, 4
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from _handmade import attendance, school_days, students, tables

from features.attendance import attendance_columns, attendance_features
from features.config import BaoxueConfig, RulesConfig

AS_OF = dt.date(2024, 10, 9)
TERM = school_days("2024-09-02", "2024-10-09", holidays=tuple(f"2024-10-0{d}" for d in range(1, 8)))
assert len(TERM) == 23


def _county():
    rows = []
    # a: present Sep 2-26 (19 days), unexcused Fri Sep 27, Mon Sep 30, (holiday) Tue Oct 8, Wed Oct 9
    for d in TERM:
        rows.append(("a", d, "unexcused" if d >= "2024-09-27" else "present"))
    # b: am/pm sessions; Sep 10 late am, Sep 11 left early pm, Sep 12 unexcused pm (worst -> unexcused),
    #    Sep 16-20 unexcused but covered by approved leave Sep 16-23, Sep 23 sick leave,
    #    Sep 24 evening unexcused (evening does not count)
    for d in TERM:
        am, pm = "present", "present"
        if d == "2024-09-10":
            am = "late"
        if d == "2024-09-11":
            pm = "left_early"
        if d == "2024-09-12":
            pm = "unexcused"
        if "2024-09-16" <= d <= "2024-09-20":
            am = pm = "unexcused"
        if d == "2024-09-23":
            am = pm = "leave_sick"
        rows += [("b", d, am, "am"), ("b", d, pm, "pm")]
    rows.append(("b", "2024-09-24", "unexcused", "evening"))
    # c: present Sep 2-6 only, nothing recorded afterwards (unknown days)
    rows += [("c", d, "present") for d in TERM[:5]]
    # d: nothing Sep 2-4, unexcused Sep 5-6, present from Mon Sep 9
    rows += [("d", d, "unexcused") for d in TERM[3:5]] + [("d", d, "present") for d in TERM[5:]]
    # e: present on the last day of the spring term (Wed 10 Jul), unexcused every day of the autumn term
    rows += [("e", "2024-07-10", "present")] + [("e", d, "unexcused") for d in TERM]
    leave = pd.DataFrame(
        {
            "leave_id": ["L1", "L2"],
            "student_id": ["b", "b"],
            "start_date": ["2024-09-16", "2024-09-12"],
            "end_date": ["2024-09-23", "2024-09-12"],
            "approved": [True, False],  # L2 was refused: Sep 12 stays unexcused
        }
    )
    ids = list("abcde")
    calendar = pd.DataFrame({"school_id": "s1", "date": TERM, "is_school_day": True})
    return tables(
        ids,
        calendar=calendar,
        students=students(ids, valid_from="2024-03-01"),
        attendance=attendance(rows),
        leave_requests=leave,
        registry_events=pd.DataFrame({"student_id": ids, "event_date": "2024-03-01", "event_type": "enrol"}),
    )


@pytest.fixture(scope="module")
def feats():
    return attendance_features(_county(), AS_OF)


def test_columns_and_dtypes(feats):
    assert list(feats.columns) == attendance_columns()
    assert (feats.dtypes == "float64").all()
    assert feats.index.tolist() == list("abcde")


def test_streak_across_weekend_and_holiday(feats):
    a = feats.loc["a"]
    # unexcused Fri Sep 27, Mon Sep 30, Tue Oct 8, Wed Oct 9: the weekend and the Oct 1-7 holiday do not break it
    assert a["att_unexcused_streak_current"] == 4
    assert a["att_unexcused_streak_max_term"] == 4
    # 48 h: >= 2 days; suspected dropout: > 3 days; registry mark: >= 5 days
    assert (a["att_rule_48h"], a["att_rule_3day"], a["att_rule_5day"]) == (1, 1, 0)
    assert a["att_absence_rate_term"] == pytest.approx(4 / 23)
    assert a["att_unexcused_rate_term"] == pytest.approx(4 / 23)
    # last 10 days: Sep 19, 20, 23-26 present (6), 4 unexcused
    assert a["att_unexcused_days_10d"] == 4
    assert a["att_absence_rate_10d"] == pytest.approx(0.4)
    # last 20: 4 of 20; before them (Sep 2-4): 0 of 3 -> trend +0.2
    assert a["att_absence_rate_20d"] == pytest.approx(0.2)
    assert a["att_absence_trend_20d"] == pytest.approx(0.2)
    # last present Thu Sep 26: Sep 27, Sep 30, Oct 8, Oct 9 since
    assert a["att_days_since_present"] == 4
    assert a["att_return_late_autumn"] == 0  # present on the first day
    assert math.isnan(a["att_return_late_spring"])  # spring term of 2024-25 not begun


def test_rules_follow_config():
    t = _county()
    strict = BaoxueConfig(rules=RulesConfig(suspected_dropout_days=4, registry_update_days=4))
    a = attendance_features(t, AS_OF, config=strict).loc["a"]
    assert (a["att_rule_3day"], a["att_rule_5day"]) == (0, 1)  # 4 is not > 4; 4 >= 4


def test_sessions_leave_and_evening(feats):
    b = feats.loc["b"]
    # absent days: Sep 12 (unexcused pm) + Sep 16-20 (covered by approved leave) + Sep 23 (sick) = 7
    assert b["att_absence_rate_term"] == pytest.approx(7 / 23)
    assert b["att_unexcused_rate_term"] == pytest.approx(
        1 / 23
    )  # only Sep 12; the evening of Sep 24 is ignored
    assert b["att_late_count_term"] == 1 and b["att_left_early_count_term"] == 1
    # leave Sep 16-20 + 23: 6 consecutive school days > 5 -> principal-level leave
    assert b["att_leave_days_term"] == 6 and b["att_leave_over5_term"] == 1
    assert b["att_unexcused_streak_current"] == 0 and b["att_unexcused_streak_max_term"] == 1
    # last 10 (Sep 19 .. Oct 9): Sep 19, 20, 23 on leave -> 3/10 absent, 0 unexcused
    assert b["att_absence_rate_10d"] == pytest.approx(0.3) and b["att_unexcused_days_10d"] == 0
    # last 20 (Sep 5 .. Oct 9): all 7 absences -> 0.35; before: 0/3 -> trend 0.35
    assert b["att_absence_trend_20d"] == pytest.approx(0.35)
    assert b["att_days_since_present"] == 0
    assert b["att_rule_48h"] == 0


def test_unknown_days_are_not_present(feats):
    c = feats.loc["c"]
    assert c["att_recorded_days_term"] == 5 and c["att_absence_rate_term"] == 0
    # nothing recorded in the last 10 school days -> NaN, not 0
    assert math.isnan(c["att_absence_rate_10d"]) and math.isnan(c["att_unexcused_days_10d"])
    # last 20 (Sep 5 ..): Sep 5, 6 recorded present -> 0
    assert c["att_absence_rate_20d"] == 0
    # last present Fri Sep 6 = school day 5 of 23 -> 18 school days since
    assert c["att_days_since_present"] == 18
    # the last school day (Oct 9) is unknown: no current streak
    assert c["att_unexcused_streak_current"] == 0


def test_return_lateness(feats):
    # d: first present Mon Sep 9, the 6th school day (ordinal 5) -> 5 school days late
    assert feats.loc["d", "att_return_late_autumn"] == 5
    # e: not back at all: 23 school days so far (a lower bound)
    e = feats.loc["e"]
    assert e["att_return_late_autumn"] == 23
    assert e["att_unexcused_streak_current"] == 23 and e["att_rule_5day"] == 1
    # last present Wed 10 Jul: the 23 autumn days since (the summer is not school)
    assert e["att_days_since_present"] == 23


def test_term_boundary_first_day():
    t = _county()
    f = attendance_features(t, dt.date(2024, 9, 2)).loc["e"]
    # term = autumn, one day (Sep 2, unexcused)
    assert f["att_recorded_days_term"] == 1 and f["att_absence_rate_term"] == 1
    # the last 10 school days reach back into July: Jul 10 present + Sep 2 unexcused -> 1/2
    assert f["att_absence_rate_10d"] == 0.5
    # the streak does not join July to September: Jul 10 was present
    assert f["att_unexcused_streak_current"] == 1 and f["att_rule_48h"] == 0
    # nothing in the term before the last 20 days -> no trend
    assert math.isnan(f["att_absence_trend_20d"])


def test_summer_break_reads_the_term_just_ended():
    t = _county()
    f = attendance_features(t, dt.date(2024, 8, 20)).loc["e"]
    # term = spring 2024 (last school day Jul 10): one recorded day, present
    assert f["att_recorded_days_term"] == 1 and f["att_absence_rate_term"] == 0
    # the 2024-25 school year (from August) has no term begun yet
    assert math.isnan(f["att_return_late_autumn"]) and math.isnan(f["att_return_late_spring"])


def test_calendar_table_holiday_and_makeup_day():
    # Mid-Autumn 2024: Mon 16 and Tue 17 Sep off, Sat 14 Sep a make-up school day
    days = pd.date_range("2024-09-02", "2024-09-20")
    cal = pd.DataFrame(
        {
            "school_id": "s1",
            "date": days.strftime("%Y-%m-%d"),
            "is_school_day": [(d.day_of_week < 5 and d.day not in (16, 17)) or d.day == 14 for d in days],
            "term_id": "2024-2025-1",
        }
    )
    rows = [("a", d, "present") for d in ["2024-09-09", "2024-09-10", "2024-09-11", "2024-09-12"]]
    rows += [("a", d, "unexcused") for d in ["2024-09-13", "2024-09-14", "2024-09-18"]]
    t = tables(["a"], attendance=attendance(rows), calendar=cal)
    f = attendance_features(t, dt.date(2024, 9, 18)).loc["a"]
    # Fri 13, Sat 14 (make-up), Wed 18: consecutive school days on this calendar
    assert f["att_unexcused_streak_current"] == 3 and f["att_rule_48h"] == 1
    # without the calendar table, the default calendar knows Mid-Autumn 2024 too (chinesecalendar:
    # Sun 15 - Tue 17 Sep off, Sat 14 Sep a make-up workday): the same streak of 3
    t2 = tables(["a"], attendance=attendance(rows))
    f2 = attendance_features(t2, dt.date(2024, 9, 18)).loc["a"]
    assert f2["att_unexcused_streak_current"] == 3 and f2["att_rule_48h"] == 1


def test_future_rows_are_ignored_and_inputs_not_mutated():
    t = _county()
    before = t.attendance.copy()
    f1 = attendance_features(t, dt.date(2024, 9, 20))
    more = pd.concat([t.attendance, t.attendance.assign(date=pd.Timestamp("2024-09-23"))], ignore_index=True)
    f2 = attendance_features(t.replace(attendance=more), dt.date(2024, 9, 20))
    pd.testing.assert_frame_equal(f1, f2)
    pd.testing.assert_frame_equal(t.attendance, before)


@pytest.mark.parametrize("seed", [0, 1])
def test_chunks_and_row_order_do_not_change_the_result(monkeypatch, seed):
    """The builder scans students in chunks of rows; chunk size, row order and split
    sessions give the same matrix as one pass over student-ordered rows."""
    import numpy as np

    import features.attendance as att_mod
    from features.load import tables_from_frames
    from features.sim import simulate_county

    sim = simulate_county(students=150, years=2, seed=seed, start_year=2023)
    t = tables_from_frames(sim.frames, max_reject_share=1.0).tables
    rng = np.random.default_rng(seed)
    a = t.attendance
    sessions = a["session"].cat.categories
    am = a.assign(session=pd.Categorical(["am"] * len(a), categories=sessions))
    pm_status = a["status"].cat.codes.to_numpy().copy()
    flip = rng.random(len(a)) < 0.05
    pm_status[flip] = rng.integers(0, 6, flip.sum())
    pm = a.assign(
        session=pd.Categorical(rng.choice(["pm", "evening"], len(a), p=[0.9, 0.1]), categories=sessions),
        status=pd.Categorical.from_codes(pm_status, categories=a["status"].cat.categories),
    )
    split = pd.concat([am, pm], ignore_index=True)
    for frame in (a, split):
        ordered = frame.sort_values(["student_id", "date"], kind="stable").reset_index(drop=True)
        shuffled = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
        for as_of in (dt.date(2023, 9, 4), dt.date(2024, 3, 5), dt.date(2024, 11, 20)):
            monkeypatch.setattr(att_mod, "_CHUNK_ROWS", 1 << 20)
            expected = attendance_features(t.replace(attendance=ordered), as_of)
            for chunk in (1, 97, 5000):
                monkeypatch.setattr(att_mod, "_CHUNK_ROWS", chunk)
                for rows in (ordered, shuffled):
                    got = attendance_features(t.replace(attendance=rows), as_of)
                    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_features_of_change(feats):
    """Weeks of 5 school days back from Oct 9 (age 0): week 0 = Sep 26, 27, 30, Oct 8, 9;
    week 1 = Sep 19-25; week 2 = Sep 12-18; week 3 = Sep 5-11; week 4 = Sep 2-4 (+ Jul 10,
    the spring term's last day, age 23)."""
    cols = ["att_unexcused_days_8w", "att_unexcused_slope_8w", "att_unexcused_onset_8w"]
    # a: weeks 0..4 unexcused shares 4/5, 0, 0, 0, 0/3 at x = 0, -1, -2, -3, -4:
    #    n 5, sx -10, sy 0.8, sxx 30, sxy 0 -> slope (0 + 10 * 0.8) / (150 - 100) = 0.16;
    #    the first unexcused day, Fri Sep 27, is 3 school days before Oct 9
    assert feats.loc["a", cols].tolist() == pytest.approx([4, 0.16, 3])
    # b: only Sep 12 (age 14, week 2) stays unexcused (Sep 16-20 covered by approved leave):
    #    y = 0, 0, 0.2, 0, 0 -> sxy -0.4, sy 0.2 -> slope (5 * -0.4 + 10 * 0.2) / 50 = 0
    assert feats.loc["b", cols].tolist() == pytest.approx([1, 0, 14])
    # c: present Sep 2-6 only: weeks 3 and 4 recorded, no unexcused day -> slope 0, onset NaN
    c = feats.loc["c", cols]
    assert c.iloc[:2].tolist() == [0, 0] and math.isnan(c.iloc[2])
    # d: unexcused Sep 5, 6 (ages 19, 18, week 3: 2 of 5), present after; week 4 unrecorded:
    #    x 0, -1, -2, -3; y 0, 0, 0, 0.4: n 4, sx -6, sy 0.4, sxx 14, sxy -1.2
    #    -> (4 * -1.2 + 6 * 0.4) / (56 - 36) = -0.12 (absence falling); onset Sep 5 = 19
    assert feats.loc["d", cols].tolist() == pytest.approx([2, -0.12, 19])
    # e: unexcused every autumn day; week 4 = Sep 2-4 unexcused + Jul 10 present (3 of 4):
    #    y 1, 1, 1, 1, 0.75: sy 4.75, sxy -9 -> (5 * -9 + 10 * 4.75) / 50 = 0.05; onset Sep 2 = 22
    assert feats.loc["e", cols].tolist() == pytest.approx([23, 0.05, 22])
