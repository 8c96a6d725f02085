"""The assignment policy on hand-made frames: owners, balance, capacity, one case per kind, timers."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from risk.assign import auto_closes, case_trigger, escalations, off_list, plan_cases, present_streaks, returns

DAY = pd.Timestamp("2025-03-10")
NONE = pd.DataFrame(columns=["case_id", "student_id", "case_type", "owner_staff_id"])


def _snap(n: int, *, school="s1", red=(), rules=None) -> pd.DataFrame:
    ids = [f"x{i}" for i in range(n)]
    return pd.DataFrame(
        {
            "student_id": ids,
            "as_of": DAY,
            "school_id": school,
            "class_id": "c1",
            "probability": [0.9 - 0.01 * i for i in range(n)],
            "rank_school": range(1, n + 1),
            "rules": [(rules or {}).get(s, "") for s in ids],
            "selected": True,
            "assignment_mechanism": ["rule" if (rules or {}).get(s) else "model_rank" for s in ids],
            "tier": ["red" if s in red else "yellow" for s in ids],
        }
    )


def _staff(caps=(2, 4)) -> pd.DataFrame:
    k = [f"k{i}" for i in range(len(caps))]
    return pd.DataFrame(
        {
            "staff_id": ["h1", "p1", *k],
            "school_id": "s1",
            "role": ["head_teacher", "principal", *["counsellor"] * len(caps)],
            "class_id": ["c1", None, *[None] * len(caps)],
            "max_open_cases": pd.array([5, 0, *caps], dtype="Int64"),
        }
    )


def test_trigger_is_the_strongest_case_rule():
    assert case_trigger("rule_48h;rule_3day;rule_5day") == "rule_5day"
    assert case_trigger("rule_48h;registry_mark") == "registry_mark"
    assert case_trigger("rule_3day;rule_5day;registry_mark") == "registry_mark"  # as the tier names it
    assert case_trigger("leave_unapproved") is None


def test_owners_are_balanced_by_load_share_and_never_over_capacity_for_non_red():
    # capacities 2 and 4 -> shares fill evenly: k0 gets 2, k1 gets 4, the 7th and 8th wait
    plan = plan_cases(_snap(8), _staff(), NONE)
    opened = plan[plan["action"] == "open"]
    assert opened["owner_staff_id"].value_counts().to_dict() == {"k1": 4, "k0": 2}
    assert plan.loc[plan["action"] == "wait", "student_id"].tolist() == ["x6", "x7"]
    assert not opened["over_capacity"].any()


def test_existing_load_counts_and_red_students_always_get_an_owner():
    have = pd.DataFrame(
        {"case_id": ["o1", "o2", "o3", "o4", "o5", "o6"], "student_id": [f"y{i}" for i in range(6)],
         "case_type": "prevention", "owner_staff_id": ["k0", "k0", "k1", "k1", "k1", "k1"]}
    )  # fmt: skip
    plan = plan_cases(_snap(2, red=("x0",)), _staff(), have)
    assert plan[["student_id", "action", "over_capacity"]].values.tolist() == [
        ["x0", "open", True],
        ["x1", "wait", False],
    ]


def test_one_open_case_per_student_and_kind():
    have = pd.DataFrame(
        {"case_id": ["o1", "o2"], "student_id": ["x0", "x1"], "case_type": ["suspected_dropout", "prevention"],
         "owner_staff_id": ["h1", "k0"]}
    )  # fmt: skip
    plan = plan_cases(_snap(3, rules={"x0": "rule_3day"}), _staff(), have)
    plan["case_id"] = plan["case_id"].fillna("")
    assert plan[["student_id", "case_type", "action", "case_id"]].values.tolist() == [
        ["x0", "suspected_dropout", "update", "o1"],  # and no prevention case beside it
        ["x1", "prevention", "update", "o2"],
        ["x2", "prevention", "open", ""],
    ]


def test_suspected_dropout_goes_to_the_head_teacher_else_the_principal():
    snap = _snap(2, rules={"x0": "rule_48h", "x1": "rule_48h"})
    snap.loc[1, "class_id"] = "c-without-head"
    plan = plan_cases(snap, _staff(), NONE)
    assert plan.set_index("student_id")["owner_staff_id"].to_dict() == {"x0": "h1", "x1": "p1"}


def test_timers_suggest_return_and_close():
    cases = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "student_id": ["x0", "x1", "x2"],
            "case_type": ["suspected_dropout", "suspected_dropout", "prevention"],
            "status": ["open", "returned", "open"],
            "four_step_stage": [3, 0, 0],
            "opened_at": pd.to_datetime(["2025-01-01"] * 3),
            "escalated_at": pd.to_datetime(["2025-02-20", None, None]),
            "last_seen": pd.to_datetime(["2025-03-10", "2025-03-10", "2025-02-01"]),
            "close_proposed_at": pd.to_datetime([None, "2025-02-20", None]),
        }
    )
    day = dt.date(2025, 3, 10)
    assert escalations(cases, day, escalation_days=14).values.tolist() == [["a", 4]]
    assert list(returns(cases, pd.Series({"x0": 5}), return_days=5)) == ["a"]
    assert list(off_list(cases, day, days=14)) == ["c"]
    assert list(auto_closes(cases, day, auto_close_days=14)) == ["b"]


def test_present_streak_ignores_evening_sessions_and_stops_at_an_absence():
    att = pd.DataFrame(
        {
            "student_id": ["a"] * 5,
            "date": pd.to_datetime(["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-05", "2025-03-06"]),
            "session": ["day", "day", "day", "evening", "day"],
            "status": ["unexcused", "present", "present", "unexcused", "late"],
        }
    )
    assert present_streaks(att, ["a"], dt.date(2025, 3, 6)).tolist() == [3]
    assert present_streaks(att, ["a"], dt.date(2025, 3, 3)).tolist() == [0]
