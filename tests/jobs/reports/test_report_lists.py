"""Issue 15's lists a head teacher can act on: the class list's order, the collapsed 关注 section,
the school's list against its places, risk in multiples of the county average, and the 一生一案
sheet's exams (hand-made inputs; expected values computed by hand in the comments)."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import openpyxl
import pandas as pd

from features._examples import example_tables
from features.academic import academic_features
from features.catalog import phrase
from jobs.reports.html import student_html, weekly_html
from jobs.reports.xlsx import FIRST_DATA_ROW, WEEKLY_SHEETS, weekly_xlsx
from risk.reporting import student_plan, weekly_class_list
from risk.reporting._examples import snapshot_row

# school s1, 8 places. Class c1: two red, two yellow, one selected by the model, one blue (watch),
# two tagged students with no card, one untagged; class c2: one red, one tagged.
# Probabilities add to 1.10 over 11 students: the county average is 0.10.
_C1 = [
    ("r1", "red", True, 0.25, ""),
    ("r2", "red", True, 0.30, ""),
    ("y1", "yellow", True, 0.10, ""),
    ("y2", "yellow", True, 0.12, "poor"),
    ("s1", "none", True, 0.08, ""),
    ("b1", "blue", False, 0.06, ""),
    ("t1", "none", False, 0.02, "left_behind"),
    ("t2", "none", False, 0.04, "migrant;poor"),
    ("n1", "none", False, 0.01, ""),
]
_C2 = [("r3", "red", True, 0.10, ""), ("t3", "none", False, 0.02, "left_behind")]


def _snapshot() -> pd.DataFrame:
    rows = [
        snapshot_row(
            sid,
            cls,
            "s1",
            7,
            tier=tier,
            listed=listed,
            probability=p,
            tags=tags,
            capacity=8,
            selected=listed,
            tier_reason_zh=f"{tier}的原因",
        )  # fmt: skip
        for cls, students in (("c1", _C1), ("c2", _C2))
        for sid, tier, listed, p, tags in students
    ]
    frame = pd.DataFrame(rows)
    frame["tier"] = pd.Categorical(frame["tier"], categories=["red", "yellow", "blue", "none"])
    return frame


class _Cards(HTMLParser):
    """Names on the cards, in page order; names in the <details> section and whether it is open."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[str] = []
        self.watch: list[str] = []
        self.details_open: list[bool] = []
        self.places = ""
        self._in_name = self._in_details = self._in_places = False
        self._cell = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and a.get("class") == "name":
            self._in_name = True
        if tag == "details":
            self._in_details = True
            self.details_open.append("open" in a)
        if tag == "tr" and self._in_details:
            self._cell = 0
        if tag == "td" and self._in_details:
            self._cell += 1
        if tag == "p" and a.get("id") == "places":
            self._in_places = True

    def handle_endtag(self, tag):
        if tag == "span":
            self._in_name = False
        if tag == "details":
            self._in_details = False
        if tag == "p":
            self._in_places = False

    def handle_data(self, data):
        if self._in_name:
            self.cards.append(data.strip())
        elif self._in_details and self._cell == 1 and data.strip():
            self.watch.append(data.strip())
        if self._in_places:
            self.places += data


def test_class_list_orders_cards_by_tier_then_risk_and_collapses_the_watched():
    wl = weekly_class_list(_snapshot(), "c1")
    assert wl.county_mean == pytest_approx(0.10)
    # the list (red, yellow, selected), then the watch tier; risk descending within each
    assert wl.students["student_id"].tolist() == ["r2", "r1", "y2", "y1", "s1", "b1"]
    # tagged students with no card, by risk: t2 (0.04) then t1 (0.02); y2 is tagged but has a card;
    # n1 has no tag; t3 is in another class
    assert wl.watch["student_id"].tolist() == ["t2", "t1"] and wl.watched == 2
    assert wl.watch["tags_label"].tolist() == ["随迁子女、家庭经济困难", "留守儿童"]
    # red r1, r2, r3 and yellow y1, y2 in the school: 5 of 8 places
    assert (wl.school_on_list, wl.school_places) == (5, 8)
    # 0.30 / 0.10 = 3; 0.25 / 0.10 = 2.5; 0.12 / 0.10 = 1.2 (under 1.5)
    words = dict(zip(wl.students["student_id"], wl.students["risk_text"], strict=True))
    assert words["r2"] == "约为全县平均的3倍" and words["r1"] == "约为全县平均的2.5倍"
    assert words["y2"] == "与全县平均相近"

    page = _Cards()
    page.feed(weekly_html(wl))
    assert page.cards == ["(r2)", "(r1)", "(y2)", "(y1)", "(s1)", "(b1)"]
    assert page.watch == ["(t2)", "(t1)"] and page.details_open == [False]  # collapsed
    assert "本校本周名单 5 人 / 名额 8" in page.places
    html = weekly_html(wl)
    assert "<5%" not in html and "&lt;5%" not in html and "约为全县平均的3倍" in html


def test_class_list_in_words_against_last_week():
    prev = _snapshot().assign(as_of=pd.Timestamp("2025-03-03"))
    prev.loc[prev["student_id"] == "r2", "probability"] = 0.16  # last week's average: (1.10 - 0.14) / 11
    wl = weekly_class_list(_snapshot(), "c1", previous=prev)
    r2 = wl.students.set_index("student_id").loc["r2"]
    # last week 0.16 / (0.96 / 11) = 1.83 -> 1.8; 0.30 / 0.16 = 1.9 >= 1.25: up
    assert r2["risk_text"] == "约为全县平均的3倍（上周约为1.8倍）" and r2["change_arrow"] == "↑"


def test_class_workbook_has_the_watched_on_their_own_sheet(tmp_path):
    wl = weekly_class_list(_snapshot(), "c1")
    wb = openpyxl.load_workbook(weekly_xlsx(wl, tmp_path / "c1.xlsx"))
    assert tuple(wb.sheetnames) == WEEKLY_SHEETS["zh"]
    ws = wb[WEEKLY_SHEETS["zh"][0]]
    names = [ws.cell(r, 1).value for r in range(FIRST_DATA_ROW, ws.max_row + 1)]
    assert names == ["(r2)", "(r1)", "(y2)", "(y1)", "(s1)", "(b1)"]
    assert "本校本周名单 5 人 / 名额 8" in ws.cell(1, 1).value
    assert ws.cell(FIRST_DATA_ROW, 3).value == "约为全县平均的3倍"
    watch = wb[WEEKLY_SHEETS["zh"][1]]
    assert "关注" in watch.cell(1, 1).value
    assert [watch.cell(r, 1).value for r in range(FIRST_DATA_ROW, watch.max_row + 1)] == ["(t2)", "(t1)"]


def pytest_approx(x):
    import pytest

    return pytest.approx(x)


def _exam_tables():
    """Two exams of school s1 grade 7 with no term and results with no full marks (both optional
    in the contract): student a scored math 70 on 8 Nov, then math 45 and chinese 80 on 10 Jan."""
    return example_tables(
        exams={"exam_id": ["e1", "e2"], "exam_type": ["midterm", "final"], "exam_date": ["2024-11-08", "2025-01-10"]},
        exam_results={"student_id": ["a", "b", "a", "a", "b", "b"], "exam_id": ["e1", "e1", "e2", "e2", "e2", "e2"],
                      "subject": ["math", "math", "math", "chinese", "math", "chinese"],
                      "score": [70.0, 90.0, 45.0, 80.0, 85.0, 88.0], "full_marks": [None] * 6},
    )  # fmt: skip


def test_the_plan_lists_the_exams_its_reasons_cite():
    tables = _exam_tables()
    assert tables.exam_results["full_marks"].isna().all() and tables.exams["term_id"].isna().all()
    as_of = dt.date(2025, 1, 13)
    feats = academic_features(tables, as_of).loc["a"]
    assert feats["acad_failed_subjects_last"] == 1.0  # math 45 < 60% of 100
    reason = phrase("acad_failed_subjects_last", feats["acad_failed_subjects_last"], "zh")
    snap = pd.DataFrame([
        snapshot_row("a", "k1", "s1", 7, as_of=pd.Timestamp(as_of), tier="red", listed=True, probability=0.3,
                     reasons_zh=reason, explained=True),
        snapshot_row("b", "k1", "s1", 7, as_of=pd.Timestamp(as_of), probability=0.1),
    ])  # fmt: skip
    p = student_plan(snap, "a", tables=tables)
    h = p.exam_history
    assert h["exam_date"].tolist() == [pd.Timestamp("2025-01-10"), pd.Timestamp("2024-11-08")]  # latest first
    assert h["results"].tolist() == ["数学 45%、语文 80%", "数学 70%"]
    assert h["failed_n"].iloc[0] == feats["acad_failed_subjects_last"] and h["failed"].iloc[0] == "数学"
    assert p.risk_text == "约为全县平均的1.5倍"  # 0.3 / ((0.3 + 0.1) / 2)
    assert p.risk_history["multiple"].tolist() == [pytest_approx(1.5)]  # the chart's unit
    page = student_html(p)
    exams = page.split("<h2>历次考试</h2>")[1].split("<h2>")[0]
    assert reason in page and "数学 45%" in exams and '<p class="note">无</p>' not in exams
    assert not p.exams.empty  # the chart's shares too (a missing full_marks is 100)


def test_the_consistency_check_flags_a_sheet_without_the_exam_its_reasons_cite():
    from jobs.reports.bundle import ReportInputs
    from jobs.reports.consistency import report_set_problems

    tables = _exam_tables()

    def inputs(day: str) -> ReportInputs:
        snap = pd.DataFrame([
            snapshot_row("a", "k1", "s1", 7, as_of=pd.Timestamp(day), tier="red", listed=True, probability=0.3,
                         reason_codes="acad_failed_subjects_last;att_unexcused_days_30d"),
            snapshot_row("b", "k1", "s1", 7, as_of=pd.Timestamp(day), probability=0.1),
        ])  # fmt: skip
        cases = pd.DataFrame({"case_id": ["c1"], "student_id": ["a"], "opened_at": [day],
                              "case_type": ["prevention"], "status": ["open"]})  # fmt: skip
        return ReportInputs(snapshot=snap, tables=tables, cases=cases)

    assert report_set_problems(inputs("2025-01-13")) == []
    # on 1 November neither exam had been sat: a reason citing one must show up as a problem
    assert report_set_problems(inputs("2024-11-01")) == [
        "student a: the reasons cite an exam, the sheet lists none"
    ]
