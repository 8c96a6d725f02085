"""Schools, classes and staff by name where the contract has them (the optional schools.name,
classes.name and staff.name), readable labels where it does not (issue 19: 心理教师 SCH00007-CO3,
SCH00007-2024-g6-1 and 班主任 SCH00007-HT61 were shown as codes)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from jobs.reports.bundle import ReportInputs
from jobs.reports.html import monthly_html, school_html, weekly_html
from risk.reporting import monthly_report, school_summary, weekly_class_list
from risk.reporting._common import class_text, owner_text, school_text


def _weekly(inputs: ReportInputs, class_id: str, tables):
    return weekly_class_list(inputs.snapshot, class_id, previous=inputs.previous, cases=inputs.cases,
                             case_events=inputs.case_events, tables=tables)  # fmt: skip


def test_the_weekly_list_names_its_school_class_and_head_teacher(inputs, busiest_class):
    t = inputs.tables
    klass = t.classes.loc[t.classes["class_id"] == busiest_class].iloc[-1]
    head = t.staff.loc[t.staff["staff_id"] == klass["head_teacher_id"], "name"].iloc[0]
    school = t.schools.loc[t.schools["school_id"] == klass["school_id"], "name"].iloc[0]
    wl = _weekly(inputs, busiest_class, t)
    assert (wl.class_name, wl.school_name, wl.head_teacher) == (klass["name"], school, f"班主任 {head}")
    page = weekly_html(wl)
    assert f"班主任 {head}" in page and klass["name"] in page and school in page
    assert f"班主任 {klass['head_teacher_id']}" not in page  # the code is no longer the label


def test_without_the_optional_names_labels_fall_back(inputs, busiest_class):
    t = inputs.tables
    bare = replace(t, schools=t.schools.drop(columns="name"), classes=t.classes.drop(columns="name"),
                   staff=t.staff.drop(columns="name"))  # fmt: skip
    klass = t.classes.loc[t.classes["class_id"] == busiest_class].iloc[-1]
    wl = _weekly(inputs, busiest_class, bare)
    grade = "一二三四五六七八九"[int(klass["grade"]) - 1]
    number = busiest_class.rsplit("-", 1)[1]
    assert wl.class_name == f"{grade}年级{number}班"
    assert wl.school_name == klass["school_id"]
    assert wl.head_teacher == f"{grade}年级{number}班班主任"
    assert weekly_html(wl)  # renders
    s = school_summary(inputs.snapshot, klass["school_id"], cases=inputs.cases, case_events=inputs.case_events,
                       tables=bare)  # fmt: skip
    assert f"{grade}年级{number}班" in set(s.tiers_by_class["class_name"])
    assert school_html(s)
    # and with no staff table at all, the owner is its id
    assert owner_text(pd.Series(["X-CO1", None]), replace(bare, staff=None)).tolist() == ["X-CO1", ""]


def test_owner_text_reads_names_roles_and_classes():
    """Hand-made staff: a named counsellor, an unnamed head teacher of a known class, an unnamed
    counsellor, an unknown id."""
    from features.contract import Tables

    frames = {
        "schools": pd.DataFrame({"school_id": ["s1"], "school_type": ["primary"], "name": ["东坪村小学"]}),
        "classes": pd.DataFrame({"class_id": ["s1-2024-g6-1", "s1-x"], "school_id": ["s1", "s1"],
                                 "academic_year": [2024, 2024], "grade": [6, 3], "name": [None, "三(2)班"]}),
        "staff": pd.DataFrame({"staff_id": ["c1", "h1", "c2"], "school_id": ["s1"] * 3,
                               "role": ["counsellor", "head_teacher", "counsellor"],
                               "class_id": [None, "s1-2024-g6-1", None], "name": ["张敏", None, None]}),
        "students": pd.DataFrame({"student_id": ["a"], "valid_from": ["2024-09-01"], "school_id": ["s1"],
                                  "class_id": ["s1-2024-g6-1"], "grade": [6], "sex": ["F"], "birth_ym": ["2013-01"]}),
    }  # fmt: skip
    empty = pd.DataFrame()
    tables = Tables(attendance=empty, exams=empty, exam_results=empty, registry_events=empty, **frames)
    ids = pd.Series(["c1", "h1", "c2", "zz", None], dtype="object")
    assert owner_text(ids, tables).tolist() == ["心理教师 张敏", "六年级1班班主任", "心理教师 c2", "zz", ""]
    assert owner_text(ids, tables, "en").tolist()[:2] == ["counsellor 张敏", "grade 6, class 1 head teacher"]
    assert class_text(pd.Series(["s1-2024-g6-1", "s1-x"]), tables).tolist() == ["六年级1班", "三(2)班"]
    assert class_text(pd.Series(["s1-x"]), tables, "en").tolist() == ["s1-x"]  # a Chinese name is not en
    assert school_text(pd.Series(["s1", "s9"]), tables).tolist() == ["东坪村小学", "s9"]


@pytest.mark.parametrize("month", ["2024-03"])
def test_the_monthly_report_names_schools_and_classes(inputs, month):
    t = inputs.tables
    m = monthly_report(
        month, cases=inputs.cases, case_events=inputs.case_events, tables=t, snapshot=inputs.snapshot
    )
    names = dict(zip(t.schools["school_id"], t.schools["name"], strict=True))
    assert m.units["school_name"].tolist() == m.units["school_id"].map(names).tolist()
    page = monthly_html(m)
    assert all(n in page for n in m.units["school_name"])
    if len(m.still_out_cases):
        cls = dict(zip(t.classes["class_id"], t.classes["name"], strict=True))
        shown = m.still_out_cases.loc[m.still_out_cases["class_id"] != ""]
        assert shown["class_name"].tolist() == shown["class_id"].map(cls).tolist()
