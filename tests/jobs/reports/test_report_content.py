"""What goes into each report: right students, counts, zero-report rows, class and school scoping."""

from __future__ import annotations

import pandas as pd
import pytest

from risk.reporting import monthly_report, school_summary, student_plan, waterfall_frame, weekly_class_list
from risk.reporting._examples import example_snapshot

# ---- hand-made: school s1 (T1) classes c1 {a red, b yellow, c none} and c2 {d red}; s2 (T2) c3 {e blue}


def test_weekly_list_has_only_the_listed_students_of_its_class():
    wl = weekly_class_list(example_snapshot(), "c1")
    assert wl.students["student_id"].tolist() == ["a", "b"]  # red first; c not listed; d is in c2
    assert wl.tier_counts == {"red": 1, "yellow": 1, "blue": 0, "selected": 0, "case": 0}
    assert wl.class_size == 3
    a = wl.students.iloc[0]
    # county average (0.41 + 0.12 + 0.02 + 0.30 + 0.06) / 5 = 0.182; a: 0.41 / 0.182 = 2.25 -> 2.3
    assert a["tier_label"] == "红色预警" and a["risk_text"] == "约为全县平均的2.3倍"
    assert "48小时无故缺勤" in a["rules"] and "连续3天以上" in a["rules"]
    assert a["reasons"].count("；") == 2  # top three of four reasons


def test_weekly_list_change_left_list_and_moved_out():
    prev = example_snapshot("2025-03-03")
    prev.loc[prev["student_id"] == "a", "probability"] = 0.30  # a: 30% -> 41% = +11 points
    prev.loc[prev["student_id"] == "c", ["tier", "listed"]] = ["yellow", True]  # c was listed, now not
    prev.loc[prev["student_id"] == "d", ["class_id", "listed"]] = ["c1", True]  # d was in c1, now c2
    wl = weekly_class_list(example_snapshot(), "c1", previous=prev)
    a = wl.students.set_index("student_id").loc["a"]
    # last week's average (0.30 + 0.12 + 0.02 + 0.30 + 0.06) / 5 = 0.16: a 0.30 / 0.16 = 1.875 -> 1.9;
    # 0.41 / 0.30 = 1.37, at least the steady factor 1.25: up
    assert a["change_arrow"] == "↑" and a["risk_text"] == "约为全县平均的2.3倍（上周约为1.9倍）"
    assert a["previous_multiple"] == pytest.approx(1.875)
    assert wl.left_list["student_id"].tolist() == ["c"]
    assert wl.left_list["previous_tier"].tolist() == ["yellow"]
    assert wl.moved_out == 1  # d is counted, never named
    assert "d" not in set(wl.students["student_id"]) | set(wl.left_list["student_id"])


def test_weekly_list_shows_the_open_case_with_owner_and_stage():
    cases = pd.DataFrame({"case_id": ["k1"], "student_id": ["a"], "opened_at": ["2025-03-05"],
                          "trigger": ["rule_3day"], "case_type": ["suspected_dropout"], "status": ["open"],
                          "owner_staff_id": ["t9"], "four_step_stage": [2]})  # fmt: skip
    wl = weekly_class_list(example_snapshot(), "c1", cases=cases)
    a = wl.students.set_index("student_id").loc["a"]
    assert (a["case_id"], a["case_type"], a["case_owner"], a["case_stage_label"]) == (
        "k1",
        "疑似辍学",
        "t9",
        "第二步 责令改正",
    )


def test_weekly_list_of_an_unknown_class_names_it():
    with pytest.raises(ValueError, match="class_id 'c9' is not in the snapshot"):
        weekly_class_list(example_snapshot(), "c9")


def _ledger():
    cases = pd.DataFrame(
        {
            "case_id": ["k1", "k2", "k3", "k4"],
            "student_id": ["a", "b", "d", "c"],
            "opened_at": ["2025-03-05", "2025-02-10", "2025-01-06", "2025-03-01"],
            "trigger": ["rule_3day", "rule_3day", "registry_mark", "model_red"],
            "case_type": ["suspected_dropout", "suspected_dropout", "dropout", "prevention"],
            "reason_primary": ["work", "economic", "learning_difficulty", None],
            "owner_staff_id": ["t1", "t1", "t2", "t1"],
            "four_step_stage": [1, 1, 3, 0],
            "status": ["open", "returned", "open", "open"],
            "placement": [None, "same_grade_class", None, None],
            "closed_at": [None, "2025-03-12", None, None],
        }
    )
    events = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "case_id": ["k3", "k3", "k1"],
            "ts": ["2025-02-10", "2025-04-02", "2025-03-06"],
            "event_type": ["deadline_notice", "penalty", "home_visit"],
            "next_due": [None, None, "2025-03-08"],
        }
    )
    return cases, events


def test_monthly_report_counts_zero_reports_and_stage_at_month_end():
    cases, events = _ledger()
    m = monthly_report("2025-03", cases=cases, case_events=events, snapshot=example_snapshot())
    units = m.units.set_index("school_id")
    # s1: k1 new in March; k2 returned 12 March; k1 and k3 still out on 31 March (k4 is prevention)
    assert units.loc["s1", ["new_suspected", "returned", "still_out"]].tolist() == [1, 1, 2]
    # k3: deadline notice in February (step 2); the penalty of April is after the month
    assert units.loc["s1", ["still_out_stage_1", "still_out_stage_2", "still_out_stage_3"]].tolist() == [
        1,
        1,
        0,
    ]
    assert units.loc["s2", "zero_report"] and not units.loc["s1", "zero_report"]
    assert m.townships["township"].tolist()[-1] == "全县"
    assert m.form["name"].tolist() == ["(a)"] and m.form["reason"].tolist() == ["外出打工"]
    assert m.placements.columns.tolist() == ["township", "随班就读/插班"]


def test_monthly_report_of_a_quiet_month_is_all_zero_reports():
    cases, events = _ledger()
    m = monthly_report("2024-11", cases=cases, case_events=events, snapshot=example_snapshot())
    assert m.units["zero_report"].all() and m.form.empty
    assert m.townships["zero_report"].all()


def test_school_summary_counts_overdue_and_returns_of_its_own_school():
    cases, events = _ledger()
    s = school_summary(example_snapshot(), "s1", cases=cases, case_events=events, month="2025-03")
    assert s.tiers_by_grade["grade"].tolist() == ["7", "8", "合计"]
    assert s.tiers_by_grade.iloc[-1][["red", "yellow", "students"]].tolist() == [2, 1, 4]
    # open on 10 March (the data date): k1 (next due 8 March -> 2 days late), k2 (closed only on
    # 12 March, after the data date: still open then, and no staff event since 10 Feb), k3 (a staff
    # event on 10 Feb, no next_due -> not overdue), k4 (no event, opened 1 March + 7 days -> 2 days late)
    assert sorted(s.overdue["case_id"]) == ["k1", "k2", "k4"]
    assert set(s.overdue["late"]) == {"约定日期已过", "建档后未联系"}
    assert s.returns.empty  # k2's closing of 12 March is after the data date: not known on 10 March
    assert s.counts["open_cases"] == 4 and s.counts["out_of_school"] == 3
    later = school_summary(example_snapshot("2025-03-31"), "s1", cases=cases, case_events=events)
    assert later.returns["case_id"].tolist() == ["k2"] and later.counts["open_cases"] == 3
    other = school_summary(example_snapshot(), "s2", cases=cases, case_events=events)
    assert other.counts["open_cases"] == 0 and other.overdue.empty


def test_waterfall_labels_are_sentences_never_feature_names():
    c = pd.Series({"att_unexcused_days_30d": 0.9, "lb_both_parents_away": 0.4, "ctx_class_size": -0.2,
                   "acad_bottom20_class": 0.1, "not_a_feature": 0.05})  # fmt: skip
    w = waterfall_frame(c, pd.Series({"att_unexcused_days_30d": 5}), top=3)
    assert len(w) == 4 and w["label"].iloc[-1] == "其他2项因素"
    assert not any("_" in label for label in w["label"])
    assert w["end"].iloc[-1] == pytest.approx(c.sum())


# ---- on the simulated county


def test_every_weekly_list_keeps_to_its_class_and_names_come_from_student_names(inputs):
    snap = inputs.snapshot
    names = inputs.tables.student_names.assign(student_id=lambda f: f["student_id"].astype("str"))
    name_of = dict(zip(names["student_id"], names["name"].astype("str"), strict=True))
    for class_id in snap["class_id"].unique()[:15]:
        wl = weekly_class_list(
            snap, class_id, previous=inputs.previous, cases=inputs.cases, tables=inputs.tables
        )
        mine = set(snap.loc[snap["class_id"] == class_id, "student_id"])
        assert set(wl.students["student_id"]) <= mine
        assert set(wl.left_list["student_id"]) <= mine
        assert wl.students["name"].tolist() == [name_of[s] for s in wl.students["student_id"]]
        listed = snap.loc[(snap["class_id"] == class_id) & snap["listed"], "student_id"]
        assert set(listed) <= set(wl.students["student_id"])


def test_monthly_report_on_the_simulator_adds_up(inputs):
    m = monthly_report("2024-03", cases=inputs.cases, case_events=inputs.case_events, tables=inputs.tables)
    units, county = m.units, m.townships.iloc[-1]
    assert set(units["school_id"]) == set(inputs.tables.schools["school_id"].astype("str"))
    assert county["new_suspected"] == len(m.form) == units["new_suspected"].sum()
    stages = [c for c in units.columns if c.startswith("still_out_stage_")]
    assert (units[stages].sum(axis=1) == units["still_out"]).all()
    assert county["still_out"] == len(m.still_out_cases)


def test_student_plan_hides_restricted_fields_unless_allowed(inputs):
    snap = inputs.snapshot
    sid = str(snap.loc[snap["tier"] == "red", "student_id"].iloc[0])
    p = student_plan(snap, sid, tables=inputs.tables, history=inputs.history, cases=inputs.cases,
                     case_events=inputs.case_events, contributions=inputs.contributions.loc[sid])  # fmt: skip
    assert not p.profile["field"].str.contains("受限").any()
    assert len(p.attendance) == 90 and set(p.attendance["level"]) <= {
        "unexcused", "leave", "late", "present", "unknown"
    }  # fmt: skip
    assert len(p.risk_history) == 9 and p.risk_history["as_of"].is_monotonic_increasing
    assert len(p.plan) >= 1 and p.plan["owner"].iloc[0] != ""
    full = student_plan(snap, sid, tables=inputs.tables, show_restricted=True)
    assert full.restricted_shown


def test_monthly_report_reads_the_ledgers_returned_and_closed_cases():
    # the ledger: 'returned' = back at school, 销号 proposed (still open); then 'closed' with reason returned
    cases = pd.DataFrame({"case_id": ["k1", "k2"], "student_id": ["a", "b"],
                          "opened_at": ["2025-02-03", "2025-02-03"], "trigger": "rule_3day",
                          "case_type": "suspected_dropout", "status": ["returned", "closed"],
                          "returned_at": ["2025-03-04", "2025-03-02"], "closed_at": [None, "2025-03-16"],
                          "closure_reason": [None, "returned"]})  # fmt: skip
    m = monthly_report("2025-03", cases=cases, snapshot=example_snapshot())
    s1 = m.units.set_index("school_id").loc["s1"]
    assert (s1["returned"], s1["other_closed"], s1["still_out"]) == (1, 0, 0)
    feb = monthly_report("2025-02", cases=cases, snapshot=example_snapshot()).units.set_index("school_id")
    assert feb.loc["s1", ["new_suspected", "still_out"]].tolist() == [2, 2]
