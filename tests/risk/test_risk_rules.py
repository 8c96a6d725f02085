"""The county rules on hand-made tables: at, below and above each threshold, across a weekend,
with approved leave, registry marks and long leave; thresholds from config."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pandas as pd
import pytest

from features.build import build_features
from features.cohort import cohort
from features.config import BaoxueConfig
from features.load import tables_from_frames
from risk.rules import RULEBOOK, evaluate_rules, rule_labels, rules_by_student

AS_OF = dt.date(
    2025, 3, 10
)  # a Monday; Mar 8-9 are a weekend (default calendar: Mon-Fri, spring term from Mar 1)

# student -> unexcused school days in March 2025 (every other school day of Mar 3-10 present)
UNEXCUSED = {
    "a": [6, 7, 10],  # Thu, Fri, Mon: 3 days across the weekend
    "b": [4, 5, 6, 7, 10],  # 5 days
    "c": [6, 7],  # back on Monday
    "d": [5, 6, 7, 10],  # but Thursday the 6th is covered by approved leave
    "e": [10],  # one day
    "f": [],
    "g": [],
    "h": [],
    "i": [],
    "j": [],
    "k": [3, 4, 5, 6, 7, 10],  # 6 days: the registry update at 5, not at 7
}
SCHOOL_DAYS = [3, 4, 5, 6, 7, 10]


def _tables():
    ids = sorted(UNEXCUSED)
    att = []
    for s, days in UNEXCUSED.items():
        for d in SCHOOL_DAYS:
            att.append((s, f"2025-03-{d:02d}", "unexcused" if d in days else "present"))
    frames = {
        "students": pd.DataFrame(
            {
                "student_id": ids,
                "valid_from": "2024-09-01",
                "school_id": "s1",
                "class_id": "k1",
                "grade": 8,
                "sex": "F",
                "birth_ym": "2011-05",
            }
        ),
        "attendance": pd.DataFrame(att, columns=["student_id", "date", "status"]),
        "exams": pd.DataFrame(
            {
                "exam_id": ["e1"],
                "school_id": ["s1"],
                "grade": [8],
                "exam_type": ["final"],
                "exam_date": ["2025-01-10"],
            }
        ),
        "exam_results": pd.DataFrame(
            {"student_id": ids, "exam_id": "e1", "subject": "math", "score": 70.0, "full_marks": 100.0}
        ),
        "registry_events": pd.DataFrame(
            {
                "student_id": [*ids, "f", "g", "g"],
                "event_date": ["2024-09-01"] * len(ids) + ["2025-02-20", "2025-02-20", "2025-03-03"],
                "event_type": ["enrol"] * len(ids) + ["suspected_mark", "suspected_mark", "return_mark"],
            }
        ),
        "leave_requests": pd.DataFrame(
            {
                "leave_id": ["L1", "L2", "L3", "L4"],
                "student_id": ["d", "h", "i", "j"],
                "start_date": ["2025-03-06", "2025-03-03", "2025-03-03", "2025-03-10"],
                "end_date": ["2025-03-06", "2025-03-12", "2025-03-12", "2025-03-12"],
                "reason": ["family", "family", "sick", "personal"],
                "approver_role": ["head_teacher", "academic_office", "principal", "head_teacher"],
                "approved": [True, True, True, True],
            }
        ),
    }
    return tables_from_frames(frames).tables


@pytest.fixture(scope="module")
def tables():
    return _tables()


def _alerts(tables, config=None):
    cfg = config or BaoxueConfig()
    feats = build_features(tables, AS_OF, cfg)
    return evaluate_rules(tables, AS_OF, feats, cohort=cohort(tables, AS_OF), config=cfg)


def _fired(alerts) -> dict[str, list[str]]:
    return {s: g["rule"].tolist() for s, g in alerts.groupby("student_id")}


def test_each_rule_at_below_and_above_its_threshold(tables):
    fired = _fired(_alerts(tables))
    assert fired["a"] == ["rule_48h"]  # 3 days: 48 h yes, "more than 3" no
    assert fired["b"] == ["rule_48h", "rule_3day", "rule_5day"]  # 5 days
    assert "c" not in fired and "e" not in fired  # back at school / one day
    assert fired["d"] == ["rule_48h"]  # leave on Thursday breaks the run: Fri + Mon = 2


def test_streak_evidence_counts_school_days_across_the_weekend(tables):
    alerts = _alerts(tables).set_index(["student_id", "rule"])
    a = alerts.loc[("a", "rule_48h")]
    assert (a["first_day"], a["last_day"], a["days"]) == ("2025-03-06", "2025-03-10", 3)
    assert a["evidence"]["threshold"] == 2
    d = alerts.loc[("d", "rule_48h")]
    assert (d["first_day"], d["days"]) == ("2025-03-07", 2)
    b = alerts.loc[("b", "rule_5day")]
    assert (b["first_day"], b["days"], b["evidence"]["threshold"]) == ("2025-03-04", 5, 5)


def test_thresholds_come_from_config(tables):
    cfg = BaoxueConfig()
    cfg = replace(cfg, rules=replace(cfg.rules, registry_update_days=7, suspected_dropout_days=2))
    fired = _fired(_alerts(tables, cfg))
    assert fired["b"] == ["rule_48h", "rule_3day"]  # 5 < 7: no registry update yet
    assert fired["a"] == ["rule_48h", "rule_3day"]  # 3 > 2


def test_a_county_at_seven_days_neither_fires_nor_flags_six_and_names_its_seven(tables):
    cfg = BaoxueConfig()
    seven = replace(cfg, rules=replace(cfg.rules, registry_update_days=7))
    assert _fired(_alerts(tables))["k"] == ["rule_48h", "rule_3day", "rule_5day"]
    alerts = _alerts(tables, seven)
    assert _fired(alerts)["k"] == ["rule_48h", "rule_3day"]
    # the attendance flags use the registry's comparisons: the same verdicts as the alerts
    for config in (cfg, seven):
        feats = build_features(tables, AS_OF, config)
        fired = _fired(_alerts(tables, config))
        for rule in (r for r in RULEBOOK.values() if r.flag):
            flagged = set(feats.index[feats[rule.flag] == 1])
            assert flagged == {s for s, codes in fired.items() if rule.code in codes}, rule.code
    # the alerts read in the county's words
    words = rule_labels(seven.rules)
    assert [words[r] for r in _fired(_alerts(tables, seven))["b"]] == [
        "48小时无故缺勤",
        "连续3天以上无故缺勤 (疑似辍学)",
    ]
    assert words["rule_5day"] == "连续7天无故缺勤 (须更新学籍)"
    assert rule_labels(seven.rules, "en")["rule_5day"].startswith("7 consecutive")


def test_open_registry_mark_fires_until_a_return(tables):
    alerts = _alerts(tables).set_index(["student_id", "rule"])
    f = alerts.loc[("f", "registry_mark")]
    assert f["evidence"]["suspected_mark_date"] == "2025-02-20"
    assert f["evidence"]["calendar_days_open"] == 18
    assert f["evidence"]["dropout_mark_due"] is False
    assert ("g", "registry_mark") not in alerts.index


def test_long_leave_needs_the_principal(tables):
    fired = _fired(_alerts(tables))
    assert fired["h"] == ["leave_unapproved"]  # 8 weekdays, academic office
    assert "i" not in fired  # 8 weekdays, principal
    assert "j" not in fired  # 3 weekdays, head teacher


def test_rules_by_student_joins_codes_and_evidence(tables):
    alerts = _alerts(tables)
    per = rules_by_student(alerts, pd.Index(sorted(UNEXCUSED), name="student_id"))
    assert per.loc["b", "rules"] == "rule_48h;rule_3day;rule_5day"
    assert per.loc["c", "rules"] == "" and per.loc["c", "rule_evidence"] == "[]"
    evidence = json.loads(per.loc["a", "rule_evidence"])
    assert evidence == [
        {
            "rule": "rule_48h",
            "consecutive_unexcused_school_days": 3,
            "threshold": 2,
            "first_day": "2025-03-06",
            "last_day": "2025-03-10",
        }
    ]
