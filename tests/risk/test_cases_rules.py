"""The case state machine (issue 20): what no staff update and no night may do to a case."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.config import JobConfig
from risk.cases import (
    LAWFUL_EXITS,
    NOTE_MAX_CHARS,
    Rejection,
    apply_staff_update,
    closing_problems,
    timed_case_changes,
)

ON = dt.date(2025, 3, 12)
SUSPECTED = {"case_id": "C1", "case_type": "suspected_dropout", "status": "open", "four_step_stage": 0,
             "opened_at": pd.Timestamp("2025-03-10"), "placement": None}  # fmt: skip
PREVENTION = {**SUSPECTED, "case_id": "C2", "case_type": "prevention"}


def _update(**cols):
    return {"case_id": "C1", "ts": ON, **cols}


def _columns(result) -> list[str]:
    assert isinstance(result, list), result
    return [p.column for p in result]


@pytest.mark.parametrize("reason", ["returned", "placed", "off_list", "other"])
def test_a_suspected_dropout_still_out_is_not_closed(reason):
    res = apply_staff_update(SUSPECTED, _update(event_type="close", closure_reason=reason), as_of=ON)
    assert _columns(res) == ["closure_reason"]
    assert "劝返一个销号一个" in res[0].reason or "placement" in res[0].reason
    assert res[0].reason_zh  # the web app shows it in Chinese


@pytest.mark.parametrize("reason", LAWFUL_EXITS)
def test_a_lawful_exit_closes_a_suspected_dropout(reason):
    res = apply_staff_update(SUSPECTED, _update(event_type="close", closure_reason=reason), as_of=ON)
    assert res == {"status": "closed", "closed_at": ON, "closure_reason": reason}


def test_the_return_or_a_placement_lets_a_suspected_dropout_close():
    back = {**SUSPECTED, "status": "returned"}
    assert (
        apply_staff_update(back, _update(event_type="close", closure_reason="returned"))["status"] == "closed"
    )
    # a return event in the same row records the return, then closes
    res = apply_staff_update(
        SUSPECTED, _update(event_type="close", closure_reason="returned", outcome="returned")
    )
    assert (res["status"], res["returned_at"], res["closure_reason"]) == ("closed", ON, "returned")
    placed = apply_staff_update(
        SUSPECTED, _update(event_type="close", closure_reason="placed", placement="separate_class")
    )
    assert (placed["status"], placed["placement"]) == ("closed", "separate_class")
    still_out = {**SUSPECTED, "placement": "still_out"}
    assert closing_problems(still_out, "placed") != []
    # a prevention case closes for any reason
    assert closing_problems(PREVENTION, "off_list") == []


def test_four_step_steps_are_taken_in_order_and_only_on_suspected_dropouts():
    res = apply_staff_update(SUSPECTED, _update(event_type="step", four_step_stage=4))
    assert res == [Rejection("four_step_stage", "skips a step: the case is at step 0, the next step is 1 "
                                                "(四步法 steps are taken in order)")]  # fmt: skip
    assert (
        apply_staff_update(SUSPECTED, _update(event_type="step", four_step_stage=1))["four_step_stage"] == 1
    )
    at2 = {**SUSPECTED, "four_step_stage": 2}
    assert _columns(apply_staff_update(at2, _update(event_type="step", four_step_stage=4))) == [
        "four_step_stage"
    ]
    assert apply_staff_update(at2, _update(event_type="step", four_step_stage=3))["four_step_stage"] == 3
    # a phone row cannot claim step 4 either
    assert _columns(apply_staff_update(at2, _update(event_type="phone", four_step_stage=4))) == [
        "four_step_stage"
    ]
    assert apply_staff_update(at2, _update(event_type="penalty", four_step_stage=2)) == {}
    for row in (_update(event_type="step", four_step_stage=1), _update(event_type="court")):
        res = apply_staff_update(PREVENTION, row)
        assert any("not a prevention case" in p.reason for p in res), res


def test_an_event_is_dated_between_the_case_opening_and_the_day_of_the_update():
    before = apply_staff_update(SUSPECTED, _update(event_type="phone", ts=dt.date(1900, 1, 1)), as_of=ON)
    assert before == [Rejection("ts", "date before the case opened (2025-03-10)")]
    assert before[0].text("zh") == "日期早于案例建档日期（2025-03-10）"
    future = apply_staff_update(
        SUSPECTED, _update(event_type="phone", ts=ON + dt.timedelta(days=1)), as_of=ON
    )
    assert _columns(future) == ["ts"] and "after the import date" in future[0].reason
    assert apply_staff_update(SUSPECTED, _update(event_type="phone", ts=dt.date(2025, 3, 10)), as_of=ON) == {}


def test_values_longer_than_their_column_are_refused_not_cut():
    res = apply_staff_update(SUSPECTED, _update(event_type="phone", owner_staff_id="x" * 65),
                             lengths={"owner_staff_id": 64})  # fmt: skip
    assert res == [Rejection("owner_staff_id", "65 characters, over the 64 this column holds")]
    long_note = apply_staff_update(SUSPECTED, _update(event_type="phone", note="字" * (NOTE_MAX_CHARS + 1)))
    assert _columns(long_note) == ["note"]
    assert apply_staff_update(SUSPECTED, _update(event_type="phone", note="字" * NOTE_MAX_CHARS)) == {}


def test_the_night_never_closes_a_suspected_dropout_that_is_not_back():
    cases = pd.DataFrame([
        {**SUSPECTED, "student_id": "a", "close_proposed_at": pd.Timestamp("2025-03-01"),
         "escalated_at": pd.NaT, "last_seen": pd.Timestamp("2025-03-12")},
        {**PREVENTION, "student_id": "b", "close_proposed_at": pd.Timestamp("2025-03-01"),
         "escalated_at": pd.NaT, "last_seen": pd.Timestamp("2025-03-01")},
    ])  # fmt: skip
    ch = timed_case_changes(cases, as_of=ON, run_id="r9", config=JobConfig(auto_close_days=7))
    closed = {e["case_id"] for e in ch.events if e["event_type"] == "closed"}
    assert closed == {"C2"}  # the prevention case off the list closes; the suspected dropout stays open
    assert ch.updates.get("C1", {}).get("status") != "closed"
