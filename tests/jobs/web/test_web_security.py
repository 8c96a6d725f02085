"""The security rules of the staff web app, one test (at least) for each, over HTTP."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import sqlalchemy as sa

from jobs.storage import AuditEntry, Case, PlanVersion
from tests.jobs.web.conftest import csrf, login

PAGES = ["/class/c1", "/class/c2", "/class/c3", "/student/a", "/student/b", "/student/c", "/student/e",
         "/school/s1", "/school/s2", "/county", "/audit"]  # fmt: skip


def _case_of(engine, student: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.select(Case.case_id).where(Case.student_id == student)).scalar_one()


def test_unauthenticated_requests_go_to_login(app, ledger):
    client = app.test_client()
    for url in [*PAGES, f"/cases/{_case_of(ledger, 'a')}", "/"]:
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url


# who may open what (everything else: 404, the same as an id that does not exist)
ALLOWED = {
    "h1": {"/class/c1", "/student/a", "/student/b"},
    "h2": {"/class/c2", "/student/c"},
    "p1": {"/class/c1", "/class/c2", "/student/a", "/student/b", "/student/c", "/school/s1", "/audit"},
    "p2": {"/class/c3", "/student/e", "/school/s2", "/audit"},
    "k1": {"/student/a", "/student/b"},
    "k2": {"/student/e"},
    "x1": {"/county", "/audit"},
    "r1": {"/county"},
}


@pytest.mark.parametrize("who", sorted(ALLOWED))
def test_every_role_against_every_page(as_role, who):
    client = as_role(who)
    for url in PAGES:
        code = client.get(url).status_code
        assert code == (200 if url in ALLOWED[who] else 404), (who, url, code)


@pytest.mark.parametrize("who", ["h1", "h2", "k1", "k2", "p2", "x1", "r1"])
def test_ids_guessed_in_sequence_are_not_found(as_role, ledger, who):
    client = as_role(who)
    with ledger.connect() as conn:
        cases = conn.execute(sa.select(Case.case_id, Case.student_id, Case.class_id, Case.owner_staff_id,
                                       Case.school_id)).all()  # fmt: skip
    for cid, _student, cls, owner, school in cases:
        mine = (who == "h1" and cls == "c1") or (who == "h2" and cls == "c2") or owner == who \
            or (who == "p2" and school == "s2")  # fmt: skip
        assert client.get(f"/cases/{cid}").status_code == (200 if mine else 404), (who, cid)
    for guess in ("g", "z", "a1", "s1", "1", "../a", "a%00"):
        assert client.get(f"/student/{guess}").status_code == 404
        assert client.get(f"/class/{guess}").status_code == 404


def test_actions_outside_the_scope_are_not_found(as_role, ledger):
    h2 = as_role("h2")
    page = h2.get("/class/c2").get_data(as_text=True)
    token = csrf(page)
    for url, data in [("/student/a/contact", {"event_type": "home_visit", "outcome": "contacted"}),
                      ("/student/a/note", {"text": "x"}), ("/student/a/report", {})]:  # fmt: skip
        assert h2.post(url, data={**data, "csrf_token": token}).status_code == 404, url
    cid = _case_of(ledger, "a")
    p2 = as_role("p2")
    token = csrf(p2.get("/school/s2").get_data(as_text=True))
    assert (
        p2.post(f"/cases/{cid}/close", data={"closure_reason": "returned", "csrf_token": token}).status_code
        == 404
    )
    with ledger.connect() as conn:
        assert conn.execute(sa.select(Case.status).where(Case.case_id == cid)).scalar_one() == "open"


def test_a_post_without_a_valid_csrf_token_gets_400(as_role, ledger):
    client = as_role("h1")
    assert client.post("/student/a/note", data={"text": "hello"}).status_code == 400
    assert client.post("/student/a/note", data={"text": "hello", "csrf_token": "forged"}).status_code == 400


def test_login_without_csrf_gets_400(app):
    assert app.test_client().post("/login", data={"staff_id": "h1", "password": "x"}).status_code == 400


def test_cookies_are_httponly_and_samesite_lax(app):
    client = app.test_client()
    resp = login(client, "h1")
    cookies = [v for k, v in resp.headers.items() if k.lower() == "set-cookie"]
    assert cookies
    for c in cookies:
        assert "HttpOnly" in c and "SameSite=Lax" in c, c


def test_every_page_sets_a_content_security_policy(as_role, app):
    anon = app.test_client()
    for resp in (anon.get("/login"), anon.get("/class/c1"), as_role("h1").get("/class/c1"),
                 as_role("h1").get("/student/x"), anon.get("/static/app.css")):  # fmt: skip
        csp = resp.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_sessions_expire_after_inactivity(as_role, clock):
    client = as_role("h1")
    assert client.get("/class/c1").status_code == 200
    clock.now += dt.timedelta(minutes=29)
    assert client.get("/class/c1").status_code == 200  # activity keeps it alive
    clock.now += dt.timedelta(minutes=31)
    resp = client.get("/class/c1")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get("/class/c1").status_code == 302  # logged out for good


def test_five_failed_logins_lock_the_account_for_15_minutes(app, clock):
    client = app.test_client()
    for _ in range(4):
        assert login(client, "h1", "wrong password").status_code == 401
    assert login(client, "h1").status_code == 302  # 4 failures: not locked; success resets
    for _ in range(5):
        assert login(client, "h1", "wrong password").status_code == 401
    resp = login(client, "h1")  # right password, locked
    assert resp.status_code == 401 and "锁定" in resp.get_data(as_text=True)
    clock.now += dt.timedelta(minutes=14)
    assert login(client, "h1").status_code == 401
    clock.now += dt.timedelta(minutes=2)
    assert login(client, "h1").status_code == 302


def test_views_and_changes_are_audited_append_only_and_scoped(as_role, ledger):
    h1 = as_role("h1")
    page = h1.get("/student/a").get_data(as_text=True)
    assert h1.post("/student/a/note", data={"text": "家长同意", "csrf_token": csrf(page)}).status_code == 302
    with ledger.connect() as conn:
        rows = conn.execute(sa.select(AuditEntry.staff_id, AuditEntry.action, AuditEntry.student_id,
                                      AuditEntry.school_id).where(AuditEntry.staff_id == "h1")).all()  # fmt: skip
    assert ("h1", "view_student", "a", "s1") in rows and ("h1", "add_note", "a", "s1") in rows
    for stmt in (sa.update(AuditEntry).values(action="x"), sa.delete(AuditEntry)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), ledger.begin() as conn:
            conn.execute(stmt)
    assert ">view_student<" in as_role("p1").get("/audit").get_data(as_text=True)
    assert ">view_student<" not in as_role("p2").get("/audit").get_data(as_text=True)  # another school
    assert ">view_student<" in as_role("x1").get("/audit").get_data(as_text=True)


def test_no_name_or_note_reaches_the_log(as_role, caplog):
    caplog.set_level(logging.DEBUG)
    h1 = as_role("h1")
    page = h1.get("/student/a").get_data(as_text=True)
    h1.post("/student/a/note", data={"text": "王小明 家访", "csrf_token": csrf(page)})
    assert "王小明" not in caplog.text


def test_two_people_editing_one_plan_cannot_overwrite_each_other(as_role, ledger):
    k1a, k1b = as_role("k1"), as_role("k1")
    ta, tb = (
        csrf(k1a.get("/student/b").get_data(as_text=True)),
        csrf(k1b.get("/student/b").get_data(as_text=True)),
    )
    form = {"base_version": "0", "goal": "按时到校", "measures": "每周家访", "review_date": "2025-04-01"}
    assert k1a.post("/student/b/plan", data={**form, "csrf_token": ta}).status_code == 302
    resp = k1b.post("/student/b/plan", data={**form, "goal": "别的目标", "csrf_token": tb})
    assert resp.status_code == 409 and 'id="conflict"' in resp.get_data(as_text=True)
    with ledger.connect() as conn:
        plans = conn.execute(sa.select(PlanVersion.version, PlanVersion.goal)).all()
    assert plans == [(1, "按时到校")]
    assert (
        k1b.post(
            "/student/b/plan", data={**form, "base_version": "1", "goal": "v2", "csrf_token": tb}
        ).status_code
        == 302
    )
    with ledger.connect() as conn:
        assert sorted(conn.execute(sa.select(PlanVersion.version)).scalars()) == [1, 2]
