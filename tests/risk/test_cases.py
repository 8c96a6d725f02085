"""The case policy on hand-made frames: what a night and a staff update change, worked out by hand.

Night of Mon 10 Mar 2025; [job] return_days 3, auto_close_days 7, escalation_days 14.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from features.config import JobConfig
from risk.cases import (
    Rejection,
    apply_staff_update,
    case_id_for,
    event_id_for,
    night_case_changes,
    staff_update_change,
    timed_case_changes,
)

DAY = dt.date(2025, 3, 10)
CFG = JobConfig(escalation_days=14, return_days=3, auto_close_days=7)
STAFF = pd.DataFrame(
    {
        "staff_id": ["h1", "p1", "k1"],
        "school_id": "s1",
        "role": ["head_teacher", "principal", "counsellor"],
        "class_id": ["c1", None, None],
        "max_open_cases": pd.array([5, 0, 3], dtype="Int64"),
    }
)
NO_CASES = pd.DataFrame(
    columns=["case_id", "student_id", "case_type", "owner_staff_id", "status", "returned_at",
             "close_proposed_at", "rules_last"]
)  # fmt: skip


def _snap(rows: list[dict]) -> pd.DataFrame:
    base = {"as_of": pd.Timestamp(DAY), "school_id": "s1", "class_id": "c1", "rules": "", "selected": False,
            "assignment_mechanism": "model_rank", "tier": "none", "measures": "", "rule_evidence": "[]",
            "probability": 0.01, "rank_school": 9}  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows])


def _case(case_id: str, student: str, case_type: str = "suspected_dropout", **cols) -> dict:
    row = {"case_id": case_id, "student_id": student, "case_type": case_type, "owner_staff_id": "h1",
           "status": "open", "four_step_stage": 0, "opened_at": pd.Timestamp("2025-03-03"),
           "escalated_at": pd.NaT, "last_seen": pd.Timestamp(DAY), "returned_at": pd.NaT,
           "close_proposed_at": pd.NaT, "rules_last": ""}  # fmt: skip
    row.update(
        {k: pd.Timestamp(v) if k.endswith(("_at", "_seen")) and v is not None else v for k, v in cols.items()}
    )
    return row


def _cases(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def _events(changes) -> list[tuple[str, str]]:
    return [(e["case_id"], e["event_type"]) for e in changes.events]


# --- a night: open and update ------------------------------------------------------------------


def test_a_rule_alert_opens_a_suspected_dropout_case_with_a_home_visit():
    snap = _snap([
        {"student_id": "a", "rules": "rule_48h;rule_3day", "tier": "red", "selected": True,
         "assignment_mechanism": "rule", "probability": 0.9, "rank_school": 1},
        {"student_id": "b", "selected": True, "probability": 0.5, "rank_school": 2, "measures": "tutoring;home_visit"},
        {"student_id": "c", "selected": True, "probability": 0.4, "rank_school": 3},
    ])  # fmt: skip
    ch = night_case_changes(snap, STAFF, NO_CASES, as_of=DAY, run_id="r1", config=CFG)
    cid = case_id_for("a", "suspected_dropout", DAY)
    new = {c["student_id"]: c for c in ch.new_cases}
    # a: the strongest case rule is rule_3day; its class's head teacher owns it
    assert (new["a"]["case_id"], new["a"]["trigger"], new["a"]["owner_staff_id"]) == (cid, "rule_3day", "h1")
    assert (new["a"]["status"], new["a"]["four_step_stage"], new["a"]["opened_at"]) == ("open", 0, DAY)
    # b, c: prevention cases of the counsellor; first intervention = the first measure, else a talk
    assert [new[s]["owner_staff_id"] for s in "bc"] == ["k1", "k1"]
    iv = {v["student_id"]: v for v in ch.interventions}
    assert [iv[s]["type"] for s in "abc"] == ["home_visit", "tutoring", "talk"]
    assert (iv["a"]["assignment_mechanism"], iv["a"]["score_at_assign"], iv["a"]["rank_at_assign"]) == (
        "rule",
        0.9,
        1,
    )
    assert iv["a"]["intervention_id"] == "V" + cid[1:] and iv["a"]["list_version"] == "r1"
    opened = ch.events[0]
    assert (opened["event_id"], opened["event_type"], opened["ts"]) == (
        event_id_for(cid, "r1", "opened"),
        "opened",
        DAY,
    )
    detail = json.loads(opened["detail"])
    assert (detail["trigger"], detail["over_capacity"], detail["rules"], detail["tier"]) == (
        "rule_3day", False, "rule_48h;rule_3day", "red")  # fmt: skip
    assert "caught_up" not in detail
    assert ch.updates == {}
    assert (ch.counts["opened"], ch.counts["updated"], ch.counts["unowned"], ch.counts["waiting"]) == (
        3,
        0,
        0,
        0,
    )


def test_a_missed_nights_alert_opens_a_case_dated_the_day_it_fired():
    snap = _snap([{"student_id": "f"}])
    alerts = pd.DataFrame({"student_id": ["f"], "day": [pd.Timestamp("2025-03-07")], "rules": ["rule_48h"],
                           "rule_evidence": ["[]"], "school_id": ["s1"], "class_id": ["c1"]})  # fmt: skip
    ch = night_case_changes(snap, STAFF, NO_CASES, as_of=DAY, run_id="r1", config=CFG, alerts=alerts)
    (case,) = ch.new_cases
    assert case["case_id"] == case_id_for("f", "suspected_dropout", dt.date(2025, 3, 7))
    assert (case["opened_at"], case["trigger"], case["owner_staff_id"]) == (
        dt.date(2025, 3, 7),
        "rule_48h",
        "h1",
    )
    detail = json.loads(ch.events[0]["detail"])
    assert (detail["caught_up"], detail["fired_on"]) == (True, "2025-03-07")
    assert ch.events[0]["ts"] == DAY  # written tonight


def test_a_returned_student_whose_rule_fires_again_is_reopened():
    open_ = _cases(
        _case("C-a", "a", status="returned", returned_at="2025-03-05", close_proposed_at="2025-03-05",
              rules_last="rule_3day"),
        _case("C-b", "b", rules_last="rule_48h"),  # open; a rule newly fired -> evidence
        _case("C-c", "c", "prevention", owner_staff_id="k1", close_proposed_at="2025-03-06"),  # back on the list
    )  # fmt: skip
    snap = _snap([
        {"student_id": "a", "rules": "rule_48h", "tier": "red", "selected": True, "assignment_mechanism": "rule"},
        {"student_id": "b", "rules": "rule_48h;rule_3day", "tier": "red", "selected": True,
         "assignment_mechanism": "rule"},
        {"student_id": "c", "selected": True, "rank_school": 3, "tier": "yellow"},
    ])  # fmt: skip
    ch = night_case_changes(snap, STAFF, open_, as_of=DAY, run_id="r2", config=CFG)
    assert ch.new_cases == [] and ch.counts["updated"] == 3
    a = ch.updates["C-a"]
    assert (a["status"], a["returned_at"], a["close_proposed_at"]) == ("open", None, None)
    b = ch.updates["C-b"]
    assert (b["status"], b["rules_last"], b["last_seen"], b["last_run_id"]) == (
        "open",
        "rule_48h;rule_3day",
        DAY,
        "r2",
    )
    c = ch.updates["C-c"]
    assert (c["status"], c["close_proposed_at"]) == ("open", None)  # the proposal is withdrawn
    assert _events(ch) == [("C-a", "reopened"), ("C-b", "evidence"), ("C-c", "evidence")]
    assert json.loads(ch.events[1]["detail"])["rules_new"] == "rule_3day"
    assert json.loads(ch.events[2]["detail"])["back_on_list"] is True


# --- a night: the timers -------------------------------------------------------------------------


def test_three_days_back_at_school_returns_the_student_and_proposes_closing():
    open_ = _cases(_case("C-a", "a"), _case("C-b", "b"))
    ch = timed_case_changes(open_, as_of=DAY, run_id="r2", config=CFG, streaks=pd.Series({"a": 3, "b": 2}))
    assert ch.updates == {"C-a": {"status": "returned", "returned_at": DAY, "close_proposed_at": DAY}}
    assert _events(ch) == [("C-a", "returned"), ("C-a", "close_proposed")]
    returned, proposed = ch.events
    assert (returned["outcome"], json.loads(returned["detail"])) == ("returned", {"days_at_school": 3})
    assert proposed["next_due"] == dt.date(2025, 3, 17)  # auto_close_days later
    assert (ch.counts["returned"], ch.counts["closed"], ch.counts["escalations"]) == (1, 0, 0)


def test_a_prevention_case_off_the_list_is_proposed_for_closing():
    open_ = _cases(
        _case("C-p", "p", "prevention", last_seen="2025-03-03"),  # 7 days off the list
        _case("C-q", "q", "prevention", last_seen="2025-03-04"),  # 6 days: not yet
    )
    ch = timed_case_changes(open_, as_of=DAY, run_id="r2", config=CFG)
    assert ch.updates == {"C-p": {"close_proposed_at": DAY}}
    (ev,) = ch.events
    assert (ev["event_type"], ev["next_due"], json.loads(ev["detail"])) == (
        "close_proposed", dt.date(2025, 3, 17), {"off_list_days": 7})  # fmt: skip


def test_unanswered_proposals_close_with_the_reason_of_their_kind():
    open_ = _cases(
        _case("C-a", "a", status="returned", returned_at="2025-03-03", close_proposed_at="2025-03-03"),
        _case("C-p", "p", "prevention", last_seen="2025-03-01", close_proposed_at="2025-03-03"),
        _case("C-q", "q", "prevention", last_seen="2025-03-01", close_proposed_at="2025-03-04"),  # 6 days
    )
    ch = timed_case_changes(open_, as_of=DAY, run_id="r3", config=CFG, streaks=pd.Series({"a": 5}))
    assert ch.updates == {
        "C-a": {"status": "closed", "closed_at": DAY, "closure_reason": "returned"},
        "C-p": {"status": "closed", "closed_at": DAY, "closure_reason": "off_list"},
    }
    assert _events(ch) == [("C-a", "closed"), ("C-p", "closed")]
    assert json.loads(ch.events[0]["detail"]) == {"closure_reason": "returned", "automatic": True}
    assert ch.counts["closed"] == 2


def test_an_escalation_suggests_the_next_step_and_never_takes_it():
    open_ = _cases(
        _case("C-a", "a", four_step_stage=1, opened_at="2025-02-01", escalated_at="2025-02-24"),  # 14 days
        _case("C-b", "b", opened_at="2025-02-25"),  # 13 days: not yet
        _case("C-c", "c", opened_at="2025-02-01"),  # back at school tonight: returned, not escalated
        _case("C-d", "d", four_step_stage=4, opened_at="2025-01-01"),  # step 4: the court's
    )
    streaks = pd.Series({"a": 0, "b": 0, "c": 3, "d": 0})
    ch = timed_case_changes(open_, as_of=DAY, run_id="r2", config=CFG, streaks=streaks)
    assert ch.updates["C-a"] == {"escalated_at": DAY}  # the stage itself is not changed
    assert set(ch.updates) == {"C-a", "C-c"} and ch.updates["C-c"]["status"] == "returned"
    esc = next(e for e in ch.events if e["event_type"] == "escalation")
    assert (esc["case_id"], esc["four_step_stage"], esc["next_due"]) == ("C-a", 2, dt.date(2025, 3, 24))
    assert json.loads(esc["detail"]) == {"suggested_step": 2, "decided_by": "a person"}
    assert ch.counts["escalations"] == 1


def test_streaks_must_cover_every_open_suspected_dropout():
    open_ = _cases(_case("C-a", "a"), _case("C-b", "b"))
    with pytest.raises(RuntimeError, match="return streaks missing for 1 students"):
        timed_case_changes(open_, as_of=DAY, run_id="r2", config=CFG, streaks=pd.Series({"a": 0}))


def test_without_streaks_or_attendance_nobody_returns():
    ch = timed_case_changes(_cases(_case("C-a", "a")), as_of=DAY, run_id="r2", config=CFG)
    assert ch.updates == {} and ch.events == []


# --- staff updates ------------------------------------------------------------------------------


def test_staff_updates_go_through_the_same_transitions():
    case = {"status": "open", "four_step_stage": 1}
    on = "2025-03-12"
    d = dt.date(2025, 3, 12)
    assert apply_staff_update(case, {"case_id": "C", "event_type": "step", "four_step_stage": 2, "ts": on}) == {
        "four_step_stage": 2, "escalated_at": d}  # fmt: skip
    assert apply_staff_update(case, {"case_id": "C", "event_type": "home_visit", "outcome": "returned", "ts": on}) == {
        "status": "returned", "returned_at": d, "close_proposed_at": d}  # fmt: skip
    assert apply_staff_update(case, {"case_id": "C", "event_type": "placement", "placement": "still_out", "ts": on}) == {
        "placement": "still_out"}  # fmt: skip
    placed = apply_staff_update(case, {"case_id": "C", "event_type": "placement", "placement": "vocational",
                                       "ts": on})  # fmt: skip
    assert (placed["status"], placed["closure_reason"], placed["closed_at"]) == ("placed", "placed", d)
    closed = apply_staff_update(case, {"case_id": "C", "event_type": "close", "closure_reason": "transferred",
                                       "ts": on, "reason_primary": "family"})  # fmt: skip
    assert closed == {
        "reason_primary": "family",
        "status": "closed",
        "closed_at": d,
        "closure_reason": "transferred",
    }


def test_staff_updates_are_refused_with_reasons():
    case = {"status": "open", "four_step_stage": 2}
    assert apply_staff_update(case, {"case_id": "C", "event_type": "step", "four_step_stage": 2}) == [
        Rejection("four_step_stage", "must be above the case's current step 2")
    ]
    assert apply_staff_update(case, {"case_id": "C", "event_type": "step", "four_step_stage": None}) == [
        Rejection("four_step_stage", "a step needs four_step_stage 1-4")
    ]
    assert [p.column for p in apply_staff_update(case, {"case_id": "C", "event_type": "close"})] == [
        "closure_reason"
    ]
    assert apply_staff_update(case, {"case_id": "C", "event_type": "reassigned", "owner_staff_id": "zz"},
                              staff_ids={"h1"}) == [Rejection("owner_staff_id", "owner_staff_id not in the staff table")]  # fmt: skip
    assert apply_staff_update(None, {"case_id": "C", "event_type": "phone"}) == [
        Rejection("case_id", "case_id not in the ledger (see `baoxue cases list`)")
    ]
    # a closed case takes nothing; a step on it is refused for both reasons, as the import reports
    closed = {"status": "closed", "four_step_stage": 3}
    assert [p.reason for p in apply_staff_update(closed, {"case_id": "C", "event_type": "step", "four_step_stage": 1})] == [
        "case is already closed", "must be above the case's current step 3"]  # fmt: skip
    assert staff_update_change(closed, {"event_type": "phone"}) == Rejection(
        "case_id", "case is already closed"
    )
