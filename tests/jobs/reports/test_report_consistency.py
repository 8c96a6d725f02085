"""Every report of a run says the same thing, as of its data date (issue 19).

:func:`jobs.reports.consistency.report_set_problems` on the simulated county, with a ledger in
which things happen after the data date (the staff sheet of a later day), and the single
rules it checks on hand-made ledgers. The demo's own report set is checked in
tests/jobs/test_demo.py.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from jobs.reports.consistency import report_set_problems
from risk.reporting import monthly_report, school_summary, weekly_class_list
from risk.reporting._common import ledger_on
from risk.reporting._examples import example_snapshot, snapshot_row


def _later(inputs):
    """The run's ledger plus what staff record three days after the data date: every open case
    closed as returned, a step taken, a new case opened."""
    day = inputs.as_of + pd.Timedelta(days=3)
    cases = inputs.cases.copy()
    cases["closed_at"] = pd.to_datetime(cases["closed_at"])
    open_ = cases["status"] == "open"
    assert open_.sum() >= 2
    cases.loc[open_, ["status", "closure_reason"]] = ["closed", "returned"]
    cases.loc[open_, "closed_at"] = day
    first = cases.loc[open_, "case_id"].iloc[0]
    new = cases.iloc[[0]].assign(case_id="C-later", opened_at=day, status="open", closed_at=pd.NaT)
    cases = pd.concat([cases, new], ignore_index=True)
    events = pd.concat(
        [inputs.case_events, pd.DataFrame({"event_id": ["e-later"], "case_id": [first], "ts": [day],
                                           "event_type": ["penalty"]})], ignore_index=True)  # fmt: skip
    return replace(inputs, cases=cases, case_events=events)


@pytest.mark.slow
def test_the_simulated_run_is_consistent_even_with_a_ledger_that_moved_on(inputs):
    assert report_set_problems(inputs, students=8) == []
    later = _later(inputs)
    assert report_set_problems(later, students=8) == []
    # and the reports show the ledger of the data date, not of today
    open_then = set(inputs.cases.loc[inputs.cases["status"] == "open", "student_id"].astype("str"))
    snap = inputs.snapshot
    class_id = str(snap.loc[snap["student_id"].astype("str").isin(open_then), "class_id"].iloc[0])
    for run in (inputs, later):
        wl = weekly_class_list(
            snap, class_id, cases=run.cases, case_events=run.case_events, tables=run.tables
        )
        shown = wl.students.loc[wl.students["student_id"].isin(open_then)]
        assert len(shown) and (shown["case_id"] != "").all() and (shown["case_status"] == "跟进中").all()


def test_ledger_on_undoes_what_happened_after_the_day():
    cases = pd.DataFrame({"case_id": ["k1", "k2", "k3"], "student_id": ["a", "b", "c"],
                          "opened_at": ["2025-03-17", "2025-04-07", "2025-04-22"],
                          "status": ["open", "closed", "open"], "closed_at": [None, "2025-04-24", None],
                          "closure_reason": [None, "returned", None], "four_step_stage": [1, 0, 0]})  # fmt: skip
    events = pd.DataFrame({"event_id": ["e1", "e2", "e3"], "case_id": ["k1", "k2", "k2"],
                           "ts": ["2025-04-23", "2025-04-14", "2025-04-24"],
                           "event_type": ["step", "returned", "close"], "four_step_stage": [1, None, None]})  # fmt: skip
    c, ev = ledger_on(cases, events, pd.Timestamp("2025-04-21"))
    assert c["case_id"].tolist() == ["k1", "k2"]  # k3 opened after the day
    assert c["status"].tolist() == ["open", "returned"]  # k2 closed on 24 April: back at school then
    assert c["four_step_stage"].tolist() == [0, 0]  # k1's step was taken on 23 April
    assert c["returned_at"].iloc[1] == pd.Timestamp("2025-04-14") and pd.isna(c["closed_at"]).all()
    assert ev["event_id"].tolist() == ["e2"]


def test_class_list_head_counts_are_its_cards_and_labels_say_where_each_stands():
    rows = [
        snapshot_row("a", "c1", "s1", 7, tier="red", listed=True, probability=0.6),
        snapshot_row("b", "c1", "s1", 7, tier="none", listed=True, selected=True, probability=0.3),
        snapshot_row("c", "c1", "s1", 7, tier="blue", listed=False, probability=0.05),
        snapshot_row("d", "c1", "s1", 7, tier="none", listed=False, probability=0.02, tags="left_behind"),
        snapshot_row("e", "c1", "s1", 7, tier="blue", listed=True, probability=0.2),
        snapshot_row("f", "c1", "s1", 7, tier="none", listed=False, probability=0.03, tags="migrant"),
        snapshot_row("g", "c1", "s1", 7, tier="yellow", listed=False, probability=0.04),
    ]
    snap = pd.DataFrame(rows)
    prev = pd.DataFrame([{**r, "as_of": pd.Timestamp("2025-03-03")} for r in rows])
    prev.loc[prev["student_id"] == "c", "listed"] = True  # c was listed last week, is blue (watch) now
    prev.loc[prev["student_id"] == "g", "listed"] = True  # g was listed last week, off now
    prev.loc[prev["student_id"] == "b", "listed"] = False
    cases = pd.DataFrame({"case_id": ["k1"], "student_id": ["d"], "opened_at": ["2025-03-01"],
                          "case_type": ["prevention"], "status": ["open"]})  # fmt: skip
    wl = weekly_class_list(snap, "c1", previous=prev, cases=cases)
    assert sum(wl.tier_counts.values()) == len(wl.students) == 5
    assert wl.tier_counts == {"red": 1, "yellow": 0, "selected": 1, "blue": 2, "case": 1}
    labels = dict(zip(wl.students["student_id"], wl.students["group_label"], strict=True))
    assert labels == {
        "a": "红色预警",
        "b": "模型选入",
        "c": "蓝色关注",
        "d": "在办个案",
        "e": "蓝色关注",
    }  # never "未列入" on a card
    # the list, then blue, then the case
    assert wl.students["student_id"].tolist() == ["a", "b", "e", "c", "d"]
    new = dict(zip(wl.students["student_id"], wl.students["new_on_list"], strict=True))
    # d is kept by its case, not listed
    assert new == {"a": False, "b": True, "c": False, "d": False, "e": False}
    assert wl.watched == 1 and wl.watch["student_id"].tolist() == ["f"]  # d is tagged but has a card
    left = wl.left_list.set_index("student_id")
    assert left.index.tolist() == ["g"] and left.loc["g", "tier_label"] == "未列入"
    s = school_summary(snap, "s1", cases=cases)
    row = s.tiers_by_class.set_index("class_id").loc["c1"]
    assert {g: int(row[g]) for g in wl.tier_counts} == wl.tier_counts and row["shown"] == 5
    assert row["watched"] == 1 and row["students"] == 7


def test_overdue_counts_a_suspected_dropout_whose_next_step_was_not_taken():
    snap = example_snapshot("2025-04-21")
    cases = pd.DataFrame({"case_id": ["k1"], "student_id": ["a"], "opened_at": ["2025-03-17"],
                          "case_type": ["suspected_dropout"], "status": ["open"], "four_step_stage": [0]})  # fmt: skip
    events = pd.DataFrame({"event_id": ["e1", "e2", "e3"], "case_id": ["k1"] * 3,
                           "ts": ["2025-03-17", "2025-03-18", "2025-04-07"],
                           "event_type": ["opened", "home_visit", "escalation"],
                           "four_step_stage": [None, None, 1]})  # fmt: skip
    s = school_summary(snap, "s1", cases=cases, case_events=events)
    assert s.counts["overdue"] == 1 and s.overdue["late"].tolist() == ["四步法下一步未采取"]
    assert s.overdue["days_overdue"].tolist() == [14]


def test_monthly_report_counts_only_up_to_the_data_date():
    cases = pd.DataFrame({"case_id": ["k1", "k2"], "student_id": ["a", "b"],
                          "opened_at": ["2025-03-17", "2025-04-07"], "case_type": ["suspected_dropout"] * 2,
                          "status": ["open", "closed"], "closed_at": [None, "2025-04-24"],
                          "closure_reason": [None, "returned"]})  # fmt: skip
    m = monthly_report("2025-04", cases=cases, snapshot=example_snapshot("2025-04-21"), as_of="2025-04-21")
    assert m.as_of == pd.Timestamp("2025-04-21")
    assert m.still_out_cases["days_out"].tolist() == [35, 14]  # not 44 (to 30 April)
    assert m.units["returned"].sum() == 0 and m.form["closed_at"].isna().all()  # the 24 April closing


def test_zh_case_log_and_family_events_are_in_chinese():
    from risk.cases import IMPORT_EVENT_TYPES, SYSTEM_EVENT_TYPES
    from risk.reporting.labels import EVENT_LABELS, FAMILY_EVENT_LABELS, ROLE_LABELS, label

    for code in (*SYSTEM_EVENT_TYPES, *IMPORT_EVENT_TYPES):
        assert label(EVENT_LABELS, code) != code, code
    assert label(ROLE_LABELS, "system") == "系统"
    for code in ("house_move", "parent_death", "divorce"):
        assert label(FAMILY_EVENT_LABELS, code) != code


def test_a_levels_only_pupil_has_exams_on_the_sheet(inputs):
    from jobs.reports.html import student_html
    from risk.reporting import student_plan

    r = inputs.tables.exam_results
    levels = set(r.loc[r["score"].isna() & r["level"].notna(), "student_id"].astype("str"))
    sid = next(s for s in inputs.snapshot["student_id"].astype("str") if s in levels)
    p = student_plan(inputs.snapshot, sid, tables=inputs.tables)
    assert len(p.exam_levels) and set(p.exam_levels.columns) - {"exam_date", "term_id", "exam_type"}
    page = student_html(p)
    assert "本校只报等级" in page and "monthly" not in page and "midterm" not in page


def test_tutoring_is_suggested_only_for_an_academic_reason(inputs):
    """Issue 19: 学困帮扶 was suggested to pupils with no academic reason. The stand-in run's
    measures follow its reasons (as the scorer's); a forged row is flagged."""
    snap = inputs.snapshot
    tutored = snap["measures"].str.contains("tutoring")
    assert tutored.any() and snap.loc[tutored, "reason_families"].str.contains("academic").all()
    one = snap.loc[snap["listed"] & ~snap["reason_families"].str.contains("academic")].iloc[0]
    forged = snap.copy()
    forged.loc[forged["student_id"] == one["student_id"], ["measures", "measures_zh"]] = [
        "tutoring",
        "学困帮扶",
    ]
    small = replace(inputs, snapshot=forged.loc[forged["class_id"] == one["class_id"]])
    problems = report_set_problems(small, students=0)
    assert (
        f"class {one['class_id']}: student {one['student_id']} is suggested 学困帮扶 with no academic reason"
        in problems
    )
