"""The web app's case actions obey the same state machine as the import (issue 20): illegal
transitions are a form error in Chinese or English, and nothing is written.

The ledger (conftest): a is a suspected dropout opened 2025-03-10 at step 0; b a prevention case;
the clock says 2025-03-11.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from jobs.storage import Case, CaseEvent
from tests.jobs.web.conftest import csrf


def _case(engine, student: str) -> Case:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(Case).where(Case.student_id == student).order_by(Case.case_type.desc())
        ).first()


def _web_events(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(CaseEvent.event_type, CaseEvent.note).where(CaseEvent.source == "web")
        ).all()


def _error(resp) -> str:
    assert resp.status_code == 302
    return parse_qs(urlsplit(resp.headers["Location"]).query).get("error", [""])[0]


def test_the_principal_cannot_close_a_suspected_dropout_who_is_still_out(as_role, ledger):
    p1 = as_role("p1")
    cid = _case(ledger, "a").case_id
    token = csrf(p1.get(f"/cases/{cid}").get_data(as_text=True))
    zh = _error(p1.post(f"/cases/{cid}/close", data={"closure_reason": "returned", "csrf_token": token}))
    assert "须先有返校记录" in zh and "劝返一个销号一个" in zh
    p1.get(f"/cases/{cid}?lang=en")
    en = _error(p1.post(f"/cases/{cid}/close", data={"closure_reason": "other", "csrf_token": token}))
    assert "closed only when the child is back" in en
    page = p1.get(f"/cases/{cid}?error={en}").get_data(as_text=True)
    assert "closed only when the child is back" in page
    assert _case(ledger, "a").status == "open" and _web_events(ledger) == []
    # a lawful exit closes it
    assert (
        _error(p1.post(f"/cases/{cid}/close", data={"closure_reason": "transferred", "csrf_token": token}))
        == ""
    )
    assert (_case(ledger, "a").status, _case(ledger, "a").closure_reason) == ("closed", "transferred")


def test_four_step_steps_in_order_on_suspected_dropouts_only(as_role, ledger):
    p1 = as_role("p1")
    cid = _case(ledger, "a").case_id
    page = p1.get(f"/cases/{cid}").get_data(as_text=True)
    token = csrf(page)
    assert (
        page.count('name="four_step_stage"') == 1 and '<option value="2">' not in page
    )  # only the next step
    err = _error(p1.post(f"/cases/{cid}/step", data={"four_step_stage": "4", "csrf_token": token}))
    assert "不能跳步" in err
    assert _case(ledger, "a").four_step_stage == 0
    cid_b = _case(ledger, "b").case_id
    assert 'name="four_step_stage"' not in p1.get(f"/cases/{cid_b}").get_data(as_text=True)
    err = _error(p1.post(f"/cases/{cid_b}/step", data={"four_step_stage": "1", "csrf_token": token}))
    assert "四步法只用于疑似辍学案例" in err
    assert _case(ledger, "b").four_step_stage == 0
    # too many documents: refused, not cut
    err = _error(p1.post(f"/cases/{cid}/step", data={"four_step_stage": "1", "documents": "文" * 2001,
                                                     "csrf_token": token}))  # fmt: skip
    assert "超过该列上限 2000" in err and _case(ledger, "a").four_step_stage == 0
    assert _web_events(ledger) == []
    assert _error(p1.post(f"/cases/{cid}/step", data={"four_step_stage": "1", "csrf_token": token})) == ""
    assert _case(ledger, "a").four_step_stage == 1


def test_a_contact_is_dated_within_the_case_and_keeps_its_note(as_role, ledger):
    h1 = as_role("h1")
    token = csrf(h1.get("/student/a").get_data(as_text=True))
    old = _error(h1.post("/student/a/contact", data={"event_type": "phone", "ts": "1900-01-01",
                                                     "csrf_token": token}))  # fmt: skip
    assert "日期早于案例建档日期" in old
    future = _error(h1.post("/student/a/contact", data={"event_type": "phone", "ts": "2025-03-20",
                                                        "csrf_token": token}))  # fmt: skip
    assert "日期晚于今天 2025-03-11" in future
    assert _web_events(ledger) == []
    ok = h1.post("/student/a/contact", data={"event_type": "phone", "ts": "2025-03-11", "outcome": "contacted",
                                            "note": "妈妈说周三送回学校", "csrf_token": token})  # fmt: skip
    assert _error(ok) == ""
    assert _web_events(ledger) == [("phone", "妈妈说周三送回学校")]
