"""The county's monthly report download, the researchers' page, and names on the pages of
the staff who may see them (synthetic names only)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from jobs.storage import AuditEntry, Case
from jobs.web import create_app
from tests.jobs.web.conftest import CFG, login

NAMES = pd.DataFrame({"student_id": ["a", "b", "d", "e"], "name": ["测试甲", "测试乙", "测试丁", "测试戊"]})


STUDENTS = pd.DataFrame({
    "student_id": list("abcdef"), "valid_from": pd.to_datetime(["2024-09-01"] * 6),
    "school_id": ["s1", "s1", "s1", "s1", "s2", "s1"], "class_id": ["c1", "c1", "c2", "c2", "c3", "c1"],
    "grade": [7, 7, 8, 8, 7, 7], "sex": list("FMFMFM"), "birth_ym": ["2012-03"] * 6,
})  # fmt: skip
SCHOOLS = pd.DataFrame({"school_id": ["s1", "s2", "s3"], "township": ["东乡", "东乡", "西乡"]})


def _tables():
    """Names, the roster and the schools (the other tables absent: the pages show the ledger)."""
    fields = ("calendar", "classes", "guardians", "left_behind", "hardship", "aid",
              "family_events", "leave_requests", "staff", "cases", "case_events", "interventions",
              "attendance", "exams", "exam_results", "registry_events")  # fmt: skip
    return SimpleNamespace(student_names=NAMES, students=STUDENTS, schools=SCHOOLS, **dict.fromkeys(fields))


@pytest.fixture
def named_app(ledger, db_url, clock, tmp_path):
    from dataclasses import replace

    report = tmp_path / "evidence.html"
    report.write_text("<html><body><h1>Evidence report</h1><p>lottery estimate -0.012</p></body></html>")
    cfg = replace(CFG, web=replace(CFG.web, evidence_report=str(report)))
    app = create_app(db_url, cfg, clock=clock, tables=_tables())
    app.config["TESTING"] = True
    return app


def _client(app, who):
    c = app.test_client()
    assert login(c, who).status_code == 302
    return c


def _stage(engine, student: str, stage: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.student_id == student)
                     .values(four_step_stage=stage))  # fmt: skip


def _form_rows(data: bytes) -> list[list]:
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(row) for row in ws.iter_rows(values_only=True)]


def test_the_county_downloads_the_monthly_report_with_children_masked_before_the_four_step(named_app, ledger):
    _stage(ledger, "d", 1)  # d's suspected-dropout case reached step 1: the county may see d by name
    c = _client(named_app, "x1")
    resp = c.get("/county/monthly.xlsx?month=2025-03")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in resp.headers["Content-Disposition"]
    text = "\n".join(" ".join(str(v) for v in row if v is not None) for row in _form_rows(resp.data))
    # three new suspected dropouts in March (a, d, e): d named, a and e masked
    assert "测试丁" in text
    assert "测试甲" not in text and "测试戊" not in text
    assert text.count("（未进入四步法）") == 2
    # prevention cases (b, c) are not suspected dropouts: not on the form
    assert "测试乙" not in text
    with ledger.connect() as conn:
        rows = conn.execute(sa.select(AuditEntry.action, AuditEntry.staff_id)).all()
    assert ("download_monthly", "x1") in rows


def test_the_monthly_report_of_a_month_without_cases_is_a_zero_report(named_app):
    resp = _client(named_app, "x1").get("/county/monthly.xlsx?month=2025-01")
    assert resp.status_code == 200
    text = " ".join(str(v) for row in _form_rows(resp.data) for v in row if v is not None)
    assert "未进入四步法" not in text and "测试" not in text
    wb = load_workbook(io.BytesIO(resp.data))
    assert any("本月无新增疑似辍学学生" in str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
               for v in row if v is not None)  # fmt: skip


@pytest.mark.parametrize("who", ["h1", "p1", "k1", "r1"])
def test_only_the_county_downloads_the_monthly_report(named_app, who):
    assert _client(named_app, who).get("/county/monthly.xlsx").status_code == 404


def test_a_bad_month_is_a_clear_400(named_app):
    resp = _client(named_app, "x1").get("/county/monthly.xlsx?month=2025-13")
    assert resp.status_code == 400 and "YYYY-MM" in resp.get_data(as_text=True)


@pytest.mark.parametrize("who", ["r1", "x1"])
def test_researchers_see_counts_and_the_evaluation_never_a_child(named_app, who):
    c = _client(named_app, who)
    page = c.get("/research").get_data(as_text=True)
    assert "Students per tier" in page or "各次运行的分级人数" in page
    assert "2025-03-10" in page  # the night, with its tier counts
    for sid in ("C20250310", "测试"):
        assert sid not in page
    ev = c.get("/research/evidence")
    assert ev.status_code == 200 and "lottery estimate" in ev.get_data(as_text=True)


@pytest.mark.parametrize("who", ["h1", "p1", "k1"])
def test_others_do_not_see_the_research_pages(named_app, who):
    c = _client(named_app, who)
    assert c.get("/research").status_code == 404
    assert c.get("/research/evidence").status_code == 404


def test_without_an_evaluation_report_the_page_says_how_to_make_one(app):
    c = _client(app, "r1")
    page = c.get("/research").get_data(as_text=True)
    assert "evaluate-interventions" in page
    assert c.get("/research/evidence").status_code == 404


def test_staff_see_the_names_of_their_own_students_and_researchers_see_none(named_app, ledger):
    with ledger.connect() as conn:
        case_a = conn.execute(sa.select(Case.case_id).where(Case.student_id == "a")).scalar_one()
    page = _client(named_app, "h1").get(f"/cases/{case_a}").get_data(as_text=True)
    assert "测试甲" in page
    page = _client(named_app, "h1").get("/class/c1").get_data(as_text=True)
    assert "测试甲" in page and "测试乙" in page and "测试丁" not in page  # d is in c2
    _stage(ledger, "e", 2)
    county = _client(named_app, "x1").get("/county").get_data(as_text=True)
    assert "测试戊" in county and "测试甲" not in county
    assert "测试" not in _client(named_app, "r1").get("/county").get_data(as_text=True)


def test_a_county_figure_can_never_single_out_a_child(ledger):
    """Every role may read county figures (the average a risk is a multiple of), but only
    aggregates over run, school and tier: a filter or a group by student is refused."""
    from jobs.storage import RiskSnapshot
    from jobs.web.scope import COUNTY_FIGURES, Principal, ScopeError, scoped_session, session_factory

    sessions = session_factory(ledger)
    h1 = Principal("h1", "head_teacher", "s1", ("c1",))
    with scoped_session(sessions, h1) as s:
        mean = s.execute(sa.select(sa.func.avg(RiskSnapshot.probability)), execution_options=COUNTY_FIGURES)
        assert mean.scalar_one() == pytest.approx((0.9 + 0.8 + 0.7 + 0.6 + 0.5 + 0.4) / 6)  # all six
        own = s.execute(sa.select(sa.func.count()).select_from(RiskSnapshot)).scalar_one()
        assert own == 3  # without the option: the class (a, b, f)
        for bad in (
            sa.select(sa.func.avg(RiskSnapshot.probability)).where(RiskSnapshot.student_id == "e"),
            sa.select(RiskSnapshot.student_id, sa.func.avg(RiskSnapshot.probability)).group_by(
                RiskSnapshot.student_id
            ),
            sa.select(sa.func.avg(RiskSnapshot.probability)).where(RiskSnapshot.class_id == "c3"),
            sa.select(RiskSnapshot.probability),
            sa.select(sa.func.count()).select_from(Case),
        ):
            with pytest.raises(ScopeError):
                s.execute(bad, execution_options=COUNTY_FIGURES)
