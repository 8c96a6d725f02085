"""The case ledger on hand-made snapshots: open, update, return, close, escalate, import."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from features.config import JobConfig
from jobs.ledger import import_updates, sync_staff, update_ledger
from jobs.storage import dump, read_case_events, read_cases, read_interventions, read_staff, write_transaction
from tests.jobs._ledger import attendance, snapshot, staff

DAY = dt.date(2025, 3, 10)
CFG = JobConfig(escalation_days=14, return_days=3, auto_close_days=7)


def _night(engine, snap, as_of, *, att=None, run="r1", alerts=None):
    with write_transaction(engine) as conn:
        sync_staff(conn, staff(), run)
        return update_ledger(
            conn, snap, staff(), as_of=as_of, run_id=run, config=CFG, attendance=att, alerts=alerts
        )


def _snap(as_of=DAY, **over):
    # a: rule (red); b, c, d: selected by rank in school s1; e: school s2 (principal only); f: not selected
    rows = [
        {"student_id": "a", "school_id": "s1", "class_id": "c1", "rules": "rule_48h;rule_3day", "tier": "red",
             "selected": True, "assignment_mechanism": "rule", "probability": 0.6, "rank_school": 1},
        {"student_id": "b", "school_id": "s1", "class_id": "c1", "selected": True, "assignment_mechanism": "model_rank",
             "probability": 0.3, "rank_school": 2, "tier": "yellow", "measures": "tutoring;home_visit"},
        {"student_id": "c", "school_id": "s1", "class_id": "c2", "selected": True, "assignment_mechanism": "model_rank",
             "probability": 0.2, "rank_school": 3, "tier": "yellow"},
        {"student_id": "d", "school_id": "s1", "class_id": "c2", "selected": True, "assignment_mechanism": "random_borderline",
             "probability": 0.1, "rank_school": 4, "tier": "blue", "borderline": True},
        {"student_id": "e", "school_id": "s2", "class_id": "c9", "selected": True, "assignment_mechanism": "model_rank",
             "probability": 0.1, "rank_school": 1, "tier": "blue"},
        {"student_id": "f", "school_id": "s1", "class_id": "c2", "probability": 0.01, "rank_school": 5},
    ]  # fmt: skip
    for r in rows:
        r.update(over.get(r["student_id"], {}))
    return snapshot(rows, as_of)


def test_first_night_opens_one_case_per_rule_and_selected_student(engine):
    counts = _night(engine, _snap(), DAY)
    cases = read_cases(engine).set_index("student_id")
    # a: suspected dropout by its head teacher; b, c, d: prevention, balanced k1 (cap 2) / k2 (cap 3):
    # b -> k1 (0/2 vs 0/3, tie on share -> fewer cases -> k1), c -> k2 (1/2 > 0/3), d -> k2 (1/2 = ... 1/3 < 1/2)
    # e: school without counsellors -> its principal
    assert cases.loc["a", ["case_type", "trigger", "owner_staff_id"]].tolist() == [
        "suspected_dropout",
        "rule_3day",
        "h1",
    ]
    assert cases.loc[["b", "c", "d", "e"], "case_type"].eq("prevention").all()
    assert cases.loc[["b", "c", "d", "e"], "owner_staff_id"].tolist() == ["k1", "k2", "k2", "p2"]
    assert "f" not in cases.index
    assert (counts.opened, counts.updated, counts.open_after) == (5, 0, 5)
    iv = read_interventions(engine).set_index("student_id")
    assert iv.loc["a", ["type", "assignment_mechanism"]].tolist() == ["home_visit", "rule"]
    assert iv.loc["b", ["type", "assignment_mechanism", "rank_at_assign"]].tolist() == [
        "tutoring",
        "model_rank",
        2,
    ]
    assert iv.loc["d", "assignment_mechanism"] == "random_borderline"
    assert iv["list_version"].eq("r1").all() and iv.loc["b", "score_at_assign"] == pytest.approx(0.3)
    opened = read_case_events(engine)
    assert opened["event_type"].eq("opened").all() and len(opened) == 5
    detail = json.loads(opened.set_index("case_id").loc[cases.loc["a", "case_id"], "detail"])
    assert detail["rules"] == "rule_48h;rule_3day" and detail["trigger"] == "rule_3day"
    assert read_staff(engine).set_index("staff_id").loc["k2", "open_cases"] == 2


def test_a_later_night_updates_instead_of_opening_again(engine):
    _night(engine, _snap(), DAY)
    day2 = DAY + dt.timedelta(days=1)
    snap2 = _snap(day2, a={"rules": "rule_48h;rule_3day;rule_5day"})
    counts = _night(engine, snap2, day2, run="r2")
    assert (counts.opened, counts.updated) == (0, 5)
    cases = read_cases(engine)
    assert len(cases) == 5
    a = cases.set_index("student_id").loc["a"]
    assert a["rules_last"] == "rule_48h;rule_3day;rule_5day" and a["last_run_id"] == "r2"
    ev = read_case_events(engine, case_id=a["case_id"])
    assert ev["event_type"].tolist() == ["opened", "evidence"]
    assert json.loads(ev["detail"].iloc[1])["rules_new"] == "rule_5day"


def test_same_night_twice_leaves_the_ledger_as_once(engine):
    _night(engine, _snap(), DAY)
    before = dump(engine)
    counts = _night(engine, _snap(), DAY)
    assert (counts.opened, counts.events) == (0, 0)
    after = dump(engine)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_a_student_back_for_n_days_returns_then_the_case_closes(engine):
    _night(engine, _snap(), DAY)
    case_id = read_cases(engine).set_index("student_id").loc["a", "case_id"]
    back = attendance("a", ["2025-03-11", "2025-03-12", "2025-03-13"])
    day = dt.date(2025, 3, 13)
    counts = _night(
        engine, _snap(day, a={"rules": "", "tier": "yellow", "selected": False}), day, att=back, run="r2"
    )
    assert counts.returned == 1
    case = read_cases(engine).set_index("case_id").loc[case_id]
    assert case["status"] == "returned" and case["close_proposed_at"] == pd.Timestamp(day)
    assert read_case_events(engine, case_id=case_id)["event_type"].tolist()[-2:] == [
        "returned",
        "close_proposed",
    ]
    # nobody answers: closed after auto_close_days
    later = day + dt.timedelta(days=CFG.auto_close_days)
    counts = _night(engine, _snap(later, a={"rules": "", "selected": False}), later, att=back, run="r3")
    case = read_cases(engine).set_index("case_id").loc[case_id]
    assert (case["status"], case["closure_reason"], case["closed_at"]) == (
        "closed",
        "returned",
        pd.Timestamp(later),
    )
    assert counts.closed >= 1


def test_an_open_suspected_case_gets_an_escalation_suggestion_not_a_step(engine):
    _night(engine, _snap(), DAY)
    later = DAY + dt.timedelta(days=CFG.escalation_days)
    counts = _night(engine, _snap(later), later, run="r2")
    assert counts.escalations == 1
    case = read_cases(engine).set_index("student_id").loc["a"]
    assert case["four_step_stage"] == 0  # a person decides the step
    esc = read_case_events(engine, case_id=case["case_id"]).set_index("event_type").loc["escalation"]
    assert esc["four_step_stage"] == 1 and esc["next_due"] == pd.Timestamp(later + dt.timedelta(days=14))
    # the next night does not repeat it
    nxt = later + dt.timedelta(days=1)
    assert _night(engine, _snap(nxt), nxt, run="r3").escalations == 0


def test_missed_night_alerts_open_cases_dated_the_day_they_fired(engine):
    alerts = pd.DataFrame(
        {"student_id": ["f"], "day": [pd.Timestamp("2025-03-07")], "rules": ["rule_48h"],
         "rule_evidence": ["[]"], "school_id": ["s1"], "class_id": ["c2"]}
    )  # fmt: skip
    _night(engine, _snap(), DAY, alerts=alerts)
    f = read_cases(engine).set_index("student_id").loc["f"]
    assert (f["case_type"], f["trigger"], f["owner_staff_id"]) == ("suspected_dropout", "rule_48h", "h2")
    assert f["opened_at"] == pd.Timestamp("2025-03-07")
    ev = read_case_events(engine, case_id=f["case_id"]).iloc[0]
    assert json.loads(ev["detail"])["caught_up"] is True


def test_staff_updates_import_good_rows_and_reject_bad_ones_with_reasons(engine, tmp_path):
    _night(engine, _snap(), DAY)
    ids = read_cases(engine).set_index("student_id")["case_id"]
    rows = [
        {"case_id": ids["a"], "ts": "2025-03-11", "event_type": "home_visit", "actor_role": "head_teacher",
         "outcome": "contacted"},
        {"case_id": ids["a"], "ts": "2025-03-12", "event_type": "step", "four_step_stage": "1"},
        {"case_id": ids["b"], "ts": "2025-03-12", "event_type": "close", "closure_reason": "not_a_dropout"},
        {"case_id": "C00000000-nope", "ts": "2025-03-12", "event_type": "phone"},  # row 5
        {"case_id": ids["c"], "ts": "2025-13-45", "event_type": "phone"},  # row 6
        {"case_id": ids["c"], "ts": "2025-03-12", "event_type": "visit"},  # row 7
        {"case_id": ids["c"], "ts": "2025-03-12", "event_type": "reassigned", "owner_staff_id": "zz"},  # row 8
        {"case_id": ids["c"], "ts": "2025-04-30", "event_type": "phone"},  # row 9: after the import date
    ]  # fmt: skip
    path = tmp_path / "updates.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    res = import_updates(engine, path, as_of=dt.date(2025, 3, 12))
    assert (res.rows, res.imported, res.already) == (8, 3, 0)
    rej = pd.read_csv(res.rejects_file)
    assert list(rej.columns) == ["table", "file_row", "column", "value", "reason"]
    assert sorted(rej["file_row"].unique()) == [5, 6, 7, 8, 9]
    by_row = rej.set_index("file_row")["reason"]
    assert "not in the ledger" in by_row[5] and "not a date" in by_row[6] and "unknown code" in by_row[7]
    assert "not in the staff table" in by_row[8] and "after the import date" in by_row[9]
    cases = read_cases(engine).set_index("student_id")
    assert cases.loc["a", "four_step_stage"] == 1
    assert (cases.loc["b", "status"], cases.loc["b", "closure_reason"]) == ("closed", "not_a_dropout")
    ev = read_case_events(engine)
    assert ev["source"].value_counts()["import"] == 3
    # the same file again: nothing new, the already-imported rows are recognised
    before = dump(engine)
    again = import_updates(engine, path, as_of=dt.date(2025, 3, 12))
    assert (again.imported, again.already) == (0, 3)
    pd.testing.assert_frame_equal(before["case_events"], dump(engine)["case_events"])


def test_import_needs_its_key_columns(engine, tmp_path):
    from features.errors import DataContractError

    path = tmp_path / "u.csv"
    pd.DataFrame({"case_id": ["x"], "event_type": ["phone"]}).to_csv(path, index=False)
    with pytest.raises(DataContractError, match=r"case_updates: required column\(s\) \['ts'\]"):
        import_updates(engine, path, as_of=DAY)
