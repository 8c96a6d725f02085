"""The staff web app in a real browser (pytest-playwright on the Debian chromium: nothing is
downloaded). Screenshots at phone and desktop width are saved under the test's tmp_path."""

from __future__ import annotations

import shutil
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from jobs.web import create_app
from tests.jobs.web.conftest import CFG, PASSWORD

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs the Debian chromium on PATH (apt-get install chromium fonts-noto-cjk)"
)
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture
def server(ledger, db_url, clock):
    app = create_app(db_url, CFG, clock=clock)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _login(page, base: str, staff_id: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=staff_id]", staff_id)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")


def _shots(page, tmp_path, name: str) -> None:
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(tmp_path / f"{name}-{label}.png"), full_page=True)
        assert (tmp_path / f"{name}-{label}.png").stat().st_size > 1000


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_head_teacher_sees_only_their_class_and_records_a_home_visit(server, page, tmp_path):
    _login(page, server, "h1")
    page.wait_for_url("**/class/c1")
    rows = page.locator("#class-list a").all_inner_texts()
    assert rows and set(rows) <= {"a", "b", "f"}
    _shots(page, tmp_path, "class")
    page.click("#class-list a >> text=a")
    page.wait_for_url("**/student/a")
    page.select_option("select[name=event_type]", "home_visit")
    page.select_option("select[name=outcome]", "agreed")
    page.fill("textarea[name=note]", "家长同意下周一送孩子返校")
    page.evaluate("window.__not_reloaded = true")
    page.click("#record")
    expect(page.locator("#events")).to_contain_text("家访")  # HTMX swaps the case history in place
    history = page.locator("#events").inner_text()
    assert "家访" in history and "同意返校" in history
    assert page.evaluate("window.__not_reloaded === true"), "the page reloaded: HTMX did not swap the card"
    assert page.locator("#saved").is_visible()
    assert page.input_value("textarea[name=note]") == ""  # the form came back empty (out of band)
    _shots(page, tmp_path, "student")
    assert page.goto(f"{server}/student/c").status == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_second_head_teacher_gets_404_on_the_first_ones_child(server, page):
    _login(page, server, "h2")
    page.wait_for_url("**/class/c2")
    assert page.goto(f"{server}/student/a").status == 404
    assert page.goto(f"{server}/class/c1").status == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_counsellor_edits_the_plan_and_a_second_version_appears(server, page, tmp_path):
    _login(page, server, "k1")
    page.goto(f"{server}/student/b")
    for goal in ("按时到校", "按时到校，成绩回升"):
        page.fill("textarea[name=goal]", goal)
        page.fill("textarea[name=measures]", "每周家访一次")
        page.click("#plan-form button")
        page.wait_for_url("**/student/b*")
    assert page.locator(".plan-version").count() == 2
    assert page.locator(".plan-version[data-version='2']").inner_text().count("成绩回升") == 1
    _shots(page, tmp_path, "plan")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_principal_approves_a_closing(server, page, ledger, tmp_path):
    import sqlalchemy as sa

    from jobs.storage import Case

    with ledger.connect() as conn:
        cid = conn.execute(sa.select(Case.case_id).where(Case.student_id == "b")).scalar_one()
    _login(page, server, "p1")
    page.wait_for_url("**/school/s1")
    _shots(page, tmp_path, "school")
    page.goto(f"{server}/cases/{cid}")
    page.select_option("select[name=closure_reason]", "returned")
    page.click("#close")
    page.wait_for_url(f"**/cases/{cid}*")
    assert page.locator("#status").inner_text() in ("已销号", "closed")
    with ledger.connect() as conn:
        assert conn.execute(sa.select(Case.status).where(Case.case_id == cid)).scalar_one() == "closed"
