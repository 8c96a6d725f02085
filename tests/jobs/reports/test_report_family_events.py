"""A family event as a reason says what happened and when (issue 19: "近90天家庭发生变故" said
neither). Hand-made: student a had a house move on 2025-02-20 and a parent's illness on
2024-10-01 (outside the 90 days before 2025-03-10); b had nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from risk.reporting import weekly_class_list
from risk.reporting._common import recent_family_events, with_family_events
from risk.reporting._examples import snapshot_row

EVENTS = pd.DataFrame({"student_id": ["a", "a", "b"], "event_date": pd.to_datetime(["2025-02-20", "2024-10-01", "2025-03-11"]),
                       "event_type": ["house_move", "parent_illness", "divorce"]})  # fmt: skip
TABLES = SimpleNamespace(family_events=EVENTS, student_names=None, students=None, classes=None, schools=None,
                         staff=None)  # fmt: skip


def _snapshot() -> pd.DataFrame:
    return pd.DataFrame([
        snapshot_row("a", "c1", "s1", 7, tier="yellow", listed=True, probability=0.3,
                     reasons_zh="近90天家庭发生1次变故；近10个上课日无故缺勤2天",
                     reasons_en="1 family event in the last 90 days; 2 unexcused days in the last 10 school days",
                     reason_codes="hard_family_event_90d;att_unexcused_days_10d",
                     tier_condition="trigger:family_event",
                     tier_reason_zh="近90天家庭发生变故（经验证的预警信号）",
                     tier_reason_en="a family event in the last 90 days (a trigger with measured lift)"),
        snapshot_row("b", "c1", "s1", 7, tier="red", listed=True, probability=0.6,
                     reasons_zh="近10个上课日无故缺勤5天", reason_codes="att_unexcused_days_10d",
                     tier_condition="risk>=0.2", tier_reason_zh="风险≥20.0%（立即处理）"),
    ])  # fmt: skip


def test_recent_family_events_are_the_features_window_latest_first():
    ids = pd.Series(["a", "b", "z"])
    got = recent_family_events(TABLES, ids, pd.Timestamp("2025-03-10"))
    assert got.tolist() == ["2025-02-20 搬家", "", ""]  # b's event is after the day; a's illness too old
    wide = recent_family_events(TABLES, ids, pd.Timestamp("2025-03-11"), days=200, language="en")
    assert wide.tolist()[:2] == [
        "2025-02-20 moved house, 2024-10-01 a parent seriously ill",
        "2025-03-11 parents divorced",
    ]


def test_the_reason_and_the_tier_reason_say_what_and_when():
    out = with_family_events(_snapshot(), TABLES).set_index("student_id")
    assert out.loc["a", "reasons_zh"] == "近90天家庭发生1次变故（2025-02-20 搬家）；近10个上课日无故缺勤2天"
    assert out.loc["a", "reasons_en"].startswith(
        "1 family event in the last 90 days (2025-02-20 moved house); "
    )
    assert out.loc["a", "tier_reason_zh"] == "近90天家庭发生变故（2025-02-20 搬家）（经验证的预警信号）"
    assert out.loc["b", "reasons_zh"] == "近10个上课日无故缺勤5天"  # nothing to add
    wl = weekly_class_list(_snapshot(), "c1", tables=TABLES)
    card = wl.students.set_index("student_id")
    assert "（2025-02-20 搬家）" in card.loc["a", "reasons"] and "搬家" in card.loc["a", "tier_reason"]
