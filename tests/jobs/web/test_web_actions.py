"""Case actions from the web app: through risk.cases, appended as events, kept across nights."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from jobs.storage import Case, CaseEvent, read_case_events
from tests.jobs.web.conftest import DAY, csrf, write_night


def _case(engine, student: str):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(Case).where(Case.student_id == student).order_by(Case.case_type.desc())
        ).first()


def test_head_teacher_records_a_home_visit_and_it_shows_in_the_history(as_role, ledger):
    h1 = as_role("h1")
    page = h1.get("/student/a").get_data(as_text=True)
    resp = h1.post(
        "/student/a/contact", data={"event_type": "home_visit", "outcome": "agreed", "csrf_token": csrf(page)}
    )
    assert resp.status_code == 302
    ev = read_case_events(ledger, class_id="c1")
    web = ev[ev["source"] == "web"]
    assert web[["event_type", "outcome", "actor_role"]].values.tolist() == [
        ["home_visit", "agreed", "head_teacher"]
    ]
    history = h1.get("/student/a").get_data(as_text=True).split('id="history"')[1].split('id="plan"')[0]
    assert "家访" in history and "同意" in history and ">web<" in history


def test_principal_assigns_escalates_and_closes_and_a_later_night_keeps_it(as_role, ledger):
    p1 = as_role("p1")
    cid = _case(ledger, "a").case_id
    token = csrf(p1.get(f"/cases/{cid}").get_data(as_text=True))
    assert (
        p1.post(f"/cases/{cid}/assign", data={"owner_staff_id": "k2", "csrf_token": token}).status_code == 302
    )
    assert p1.post(f"/cases/{cid}/step", data={"four_step_stage": "1", "ts": "2025-03-11", "next_due": "2025-03-25",
                                               "documents": "劝返通知书 #12", "csrf_token": token}).status_code == 302  # fmt: skip
    assert (
        p1.post(f"/cases/{cid}/step", data={"four_step_stage": "1", "csrf_token": token}).status_code == 302
    )
    case = _case(ledger, "a")
    assert (case.owner_staff_id, case.four_step_stage) == ("k2", 1)  # the repeated step was refused
    assert as_role("x1").get(f"/cases/{cid}").status_code == 200  # the county sees it now: 四步法 reached
    cid_b = _case(ledger, "b").case_id
    assert (
        p1.post(f"/cases/{cid_b}/close", data={"closure_reason": "returned", "csrf_token": token}).status_code
        == 302
    )
    write_night(ledger, run_id="r2", as_of=DAY + dt.timedelta(days=7))  # the next night, same snapshot
    case, b = _case(ledger, "a"), _case(ledger, "b")
    assert (case.owner_staff_id, case.four_step_stage, b.status, b.closure_reason) == (
        "k2",
        1,
        "closed",
        "returned",
    )
    with ledger.connect() as conn:
        kinds = conn.execute(sa.select(CaseEvent.event_type).where(CaseEvent.source == "web")).scalars().all()
    assert sorted(kinds) == ["close", "reassigned", "step"]


def test_head_teacher_reports_a_suspected_dropout_once(as_role, ledger):
    h1 = as_role("h1")
    token = csrf(h1.get("/student/f").get_data(as_text=True))
    assert h1.post("/student/f/report", data={"csrf_token": token}).status_code == 302
    f = _case(ledger, "f")
    assert (f.case_type, f.trigger, f.status) == ("suspected_dropout", "staff_report", "open")
    resp = h1.post("/student/f/report", data={"csrf_token": token})
    assert "already_open" in resp.headers["Location"]
    write_night(ledger, run_id="r2", as_of=DAY + dt.timedelta(days=7))
    assert _case(ledger, "f").status == "open"


def test_english_toggle(as_role):
    h1 = as_role("h1")
    assert "Class" in h1.get("/class/c1?lang=en").get_data(as_text=True)
    assert "Confidential" in h1.get("/student/a").get_data(as_text=True)
    assert "保密" in h1.get("/student/a?lang=zh").get_data(as_text=True)


def test_an_htmx_contact_returns_just_the_case_history_with_the_new_event(as_role, ledger):
    h1 = as_role("h1")
    token = csrf(h1.get("/student/a").get_data(as_text=True))
    resp = h1.post("/student/a/contact", headers={"HX-Request": "true"},
                   data={"event_type": "phone", "outcome": "refused", "csrf_token": token})  # fmt: skip
    assert resp.status_code == 200
    card = resp.get_data(as_text=True)
    assert card.lstrip().startswith('<div class="card scroll" id="history">') and "<html" not in card
    assert "电话" in card and 'id="saved"' in card
    assert 'id="contact" hx-swap-oob="true"' in card  # the form comes back empty
    # refused (f has no open case): the card says why, and nothing is written
    before = len(read_case_events(ledger, class_id="c1"))
    resp = h1.post("/student/f/contact", headers={"HX-Request": "true"},
                   data={"event_type": "talk", "outcome": "agreed", "csrf_token": token})  # fmt: skip
    card = resp.get_data(as_text=True)
    assert 'id="history-error"' in card and "没有未结案例" in card and 'id="saved"' not in card
    assert len(read_case_events(ledger, class_id="c1")) == before
