"""The web app's main pages at phone (375 px) and A4 (794 px) width: nothing wider than the page
except inside an element marked scrollable (``.scroll``, overflow-x: auto), and classes, schools
and staff by name when the county tables carry the contract's optional names (issue 19).

pytest-playwright on the Debian chromium (nothing downloaded), as test_web_browser.py."""

from __future__ import annotations

import shutil
import threading
from types import SimpleNamespace

import pandas as pd
import pytest
from werkzeug.serving import make_server

from features.contract import spec
from jobs.web import create_app
from tests.jobs.web.conftest import CFG, PASSWORD

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs the Debian chromium on PATH (apt-get install chromium fonts-noto-cjk)"
)
WIDTHS = (375, 794)  # a phone; an A4 page at 96 dpi

#: elements that stick out of the viewport and are not inside a scrollable box (none expected),
#: and the document's own overflow
OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth;
  const scrollable = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 1 && !scrollable(el)) {
      out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '')
               + ' right=' + Math.round(r.right));
    }
  }
  return {scroll: document.documentElement.scrollWidth, client: w, out: out.slice(0, 8)};
}"""


def assert_no_overflow(page, where: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        got = page.evaluate(OVERFLOW_JS)
        assert got["scroll"] <= got["client"] + 1 and not got["out"], f"{where} at {width}px: {got}"


def _tables():
    """The web tests' roster with the optional names of schools, classes and staff."""
    from tests.jobs.web.test_web_county_research import NAMES, STUDENTS

    schools = pd.DataFrame(
        {"school_id": ["s1", "s2"], "township": ["东乡", "东乡"], "name": ["东坪村小学", "南岗中学"]}
    )
    classes = pd.DataFrame({"class_id": ["c1", "c2", "c3"], "school_id": ["s1", "s1", "s2"], "academic_year": 2024,
                            "grade": [7, 8, 7], "head_teacher_id": ["h1", "h2", None],
                            "name": ["七年级(1)班", "八年级(1)班", "七年级(2)班"]})  # fmt: skip
    staff = pd.DataFrame({"staff_id": ["h1", "h2", "k1", "k2", "p1"], "school_id": ["s1", "s1", "s1", "s2", "s1"],
                          "role": ["head_teacher", "head_teacher", "counsellor", "counsellor", "principal"],
                          "class_id": ["c1", "c2", None, None, None], "name": ["王丽", "李芳", "张敏", "赵军", "陈平"]})  # fmt: skip
    family = pd.DataFrame(
        {"student_id": ["a"], "event_date": pd.to_datetime(["2025-02-20"]), "event_type": ["house_move"]}
    )
    fields = ("calendar", "guardians", "left_behind", "hardship", "aid", "leave_requests",
              "cases", "case_events", "interventions")  # fmt: skip
    required = {t: pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in spec(t).columns})
                for t in ("attendance", "exams", "exam_results", "registry_events")}  # fmt: skip
    return SimpleNamespace(student_names=NAMES, students=STUDENTS, schools=schools, classes=classes, staff=staff,
                           family_events=family, **dict.fromkeys(fields), **required)  # fmt: skip


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture
def ledger(ledger, monkeypatch):
    """The web tests' ledger and a second night on which a's reasons cite a family event (in the
    words the scorer stores)."""
    import datetime as dt

    import tests.jobs.web.conftest as base

    first = base.night_snapshot

    def night(as_of=base.DAY):
        snap = first(as_of)
        a = snap["student_id"] == "a"
        snap.loc[a, ["reasons_zh", "reason_codes"]] = [
            "近90天家庭发生1次变故；缺勤增加",
            "hard_family_event_90d;att_x",
        ]
        return snap

    monkeypatch.setattr(base, "night_snapshot", night)
    base.write_night(ledger, run_id="r2", as_of=base.DAY + dt.timedelta(days=1))
    return ledger


@pytest.fixture
def server(ledger, db_url, clock):
    app = create_app(db_url, CFG, clock=clock, tables=_tables())
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _as(browser, base: str, staff_id: str):
    """A fresh browser context logged in as ``staff_id`` (one session per role)."""
    page = browser.new_context().new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=staff_id]", staff_id)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    return page


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_main_pages_fit_a_phone_and_an_a4_page_and_name_classes_schools_and_staff(server, browser):
    page = _as(browser, server, "h1")
    page.wait_for_url("**/class/c1")
    assert "东坪村小学 七年级(1)班" in page.locator("h1").inner_text()
    assert page.locator("#me").inner_text() == "班主任 王丽"  # who is logged in, by name
    assert "近90天家庭发生1次变故（2025-02-20 搬家）" in page.locator("#class-list").inner_text()
    assert_no_overflow(page, "class page")
    page.goto(f"{server}/student/a")
    text = page.locator("body").inner_text()
    assert "东坪村小学 · 七年级(1)班" in text, text[:300]
    assert "近90天家庭发生1次变故（2025-02-20 搬家）" in text  # what happened and when (issue 19)
    assert_no_overflow(page, "student page")
    page = _as(browser, server, "p1")
    page.wait_for_url("**/school/s1")
    text = page.locator("body").inner_text()
    assert (
        "东坪村小学" in text and "七年级(1)班" in text and "心理教师 张敏" in text
    )  # k1 owns a's and b's cases
    assert "k1" not in text.split()
    assert_no_overflow(page, "school page")
    page = _as(browser, server, "x1")
    page.wait_for_url("**/county")
    assert page.locator("#me").inner_text() == "x1 · 县教育局"  # no staff row: id and role in words
    assert "南岗中学" in page.locator("#schools").inner_text()
    assert_no_overflow(page, "county page")


def test_the_overflow_check_flags_a_wide_table_unless_it_is_in_a_scrollable_box(page):
    wide = '<table style="width:1200px"><tr><td>x</td></tr></table>'
    page.set_content(f"<html><body>{wide}</body></html>")
    with pytest.raises(AssertionError, match="375px"):
        assert_no_overflow(page, "control")
    page.set_content(f'<html><body><div class="scroll" style="overflow-x:auto">{wide}</div></body></html>')
    assert_no_overflow(page, "control")
