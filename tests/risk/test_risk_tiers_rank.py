"""Tier precedence, exact top shares, ties, capacity, and the borderline lottery."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.config import BaoxueConfig, RiskConfig
from features.load import tables_from_frames
from features.tiering import TRIGGERS
from risk.rank import rank_students, school_capacity, tie_keys
from risk.tiers import Thresholds, assign_tiers

DAY = dt.date(2025, 3, 10)


LIFTED = Thresholds(red_risk=0.25, yellow_risk=0.10,
                    trigger_lift={"unexcused_10d": 3.0, "academic_fall": 2.5, "family_event": 1.2})  # fmt: skip


def _tiers(p, rules=None, previous=None, config=None, thresholds=None, capacity=10, prior=None, **features):
    idx = pd.Index([f"s{i}" for i in range(len(p))], name="student_id")
    p = pd.Series(p, index=idx, dtype="float64")
    rules = pd.Series(rules or [""] * len(p), index=idx)
    feats = pd.DataFrame({k: np.asarray(v, dtype="float64") for k, v in features.items()}, index=idx)
    prev = None if previous is None else pd.Series(previous, index=idx, dtype="float64")
    return assign_tiers(
        p, rules, feats, previous=prev, school=pd.Series("A", index=idx), capacity=pd.Series({"A": capacity}),
        prior=prior, config=config or RiskConfig(blue_max_share=1.0),
        thresholds=thresholds or Thresholds(red_risk=0.25, yellow_risk=0.10),
    )  # fmt: skip


def test_red_is_a_rule_or_the_red_threshold_and_tags_never_colour():
    t = _tiers(
        [0.01, 0.30, 0.12, 0.01, 0.01, 0.01, 0.01],
        rules=["rule_48h;rule_3day", "", "", "", "", "", ""],
        att_unexcused_days_10d=[5, 5, 0, 2, 1, 0, 0],
        lb_status=[1, 1, 1, 1, 1, 1, 0],
    )
    # the unexcused-days trigger has no measured lift: a fact, not a colour; left-behind is a tag
    assert t["tier"].tolist() == ["red", "red", "yellow", "none", "none", "none", "none"]
    assert t["tier_condition"].tolist() == ["rule:rule_3day", "risk>=0.25", "risk>=0.1", "", "", "", ""]
    assert t["tags"].tolist() == ["left_behind"] * 6 + [""]
    assert t.loc["s0", "tier_reason_zh"].startswith("规则触发")
    assert t["tier"].dtype == "category"


def test_a_top_share_never_makes_red():
    t = _tiers([0.05] * 3 + [0.001] * 297)
    assert (t["tier"] == "red").sum() == 0


def test_an_official_registry_mark_outranks_a_mark_merely_due():
    """The one severity order (risk.rules.RULE_SEVERITY), the same as a case's trigger."""
    t = _tiers(
        [0.01] * 3,
        rules=["rule_48h;rule_3day;rule_5day;registry_mark", "rule_3day;registry_mark", "rule_5day"],
    )
    assert t["tier_condition"].tolist() == ["rule:registry_mark", "rule:registry_mark", "rule:rule_5day"]
    assert t.loc["s0", "tier_reason_en"] == "rule fired: registry carries a suspected-dropout mark"


def test_triggers_count_only_with_measured_lift():
    kw = {"acad_bottom20_new": [1, 0, 0, 0], "acad_composite_pct_change": [0, -30, -10, np.nan],
              "lb_parent_left_90d": [0, 0, 1, 0]}  # fmt: skip
    assert _tiers([0.01] * 4, **kw)["tier"].tolist() == ["none"] * 4  # no lifts: facts only
    t = _tiers([0.01] * 4, thresholds=LIFTED, **kw)
    # academic fall (lift 2.5) lists the students; the family event (lift 1.2 < 2) does not
    assert t["tier_condition"].tolist() == ["trigger:academic_fall", "trigger:academic_fall", "", ""]
    assert t["tier"].tolist() == ["yellow", "yellow", "none", "none"]
    # beyond capacity the lifted trigger is blue (watch), not yellow
    t = _tiers([0.01] * 4, thresholds=LIFTED, capacity=1, **kw)
    assert sorted(t["tier"].tolist()) == ["blue", "none", "none", "yellow"]


def test_capacity_is_a_ceiling_not_a_quota():
    t = _tiers([0.5, 0.2, 0.15, 0.12, 0.09, 0.05], capacity=3)
    assert t["tier"].tolist() == ["red", "yellow", "yellow", "none", "none", "none"]  # 1 red + 2 places
    t = _tiers([0.2, 0.05, 0.04], capacity=10)
    assert t["tier"].tolist() == ["yellow", "none", "none"]  # 9 places stay free


def test_blue_when_risk_doubled_in_four_weeks_but_not_from_noise():
    t = _tiers([0.06, 0.06, 0.015, 0.06], previous=[0.03, 0.031, 0.005, np.nan])
    assert t["tier_condition"].tolist() == ["risk_x2_4w", "", "", ""]


def test_blue_is_capped_at_its_share_of_the_cohort():
    p = np.linspace(0.09, 0.03, 100)
    t = _tiers(p, previous=p / 3, capacity=0, config=RiskConfig(blue_max_share=0.10))
    blue = t["tier"] == "blue"
    assert blue.sum() == 10 and blue.iloc[:10].all()  # the highest risks first


def test_missing_feature_columns_never_trigger():
    t = _tiers([0.01, 0.01], thresholds=LIFTED)
    assert t["tier"].tolist() == ["none", "none"]


def test_stable_list_exits_only_after_two_weeks_beyond_the_margin():
    # capacity 4, margin 1.25 -> within the margin up to school rank 5
    th = Thresholds(red_risk=0.5, yellow_risk=0.10)
    first = _tiers([0.30, 0.29, 0.28, 0.27, 0.26, 0.25, 0.24, 0.20], capacity=4, thresholds=th)
    assert first["tier"].tolist()[:5] == ["yellow"] * 4 + ["none"]
    # s3 slips to rank 5 (within the margin): stays; the newcomer s4 waits
    p2 = [0.30, 0.29, 0.28, 0.26, 0.27, 0.25, 0.24, 0.20]
    second = _tiers(p2, capacity=4, thresholds=th, prior=first)
    assert second.loc["s3", "tier_condition"] == "held:within_margin"
    assert second.loc["s4", "tier"] == "none"
    # s3 falls to rank 8 (beyond 5): one more week on the list, flagged
    p3 = [0.30, 0.29, 0.28, 0.11, 0.27, 0.26, 0.25, 0.20]
    third = _tiers(p3, capacity=4, thresholds=th, prior=second)
    assert third.loc["s3", "tier_condition"] == "held:beyond_margin"
    fourth = _tiers(p3, capacity=4, thresholds=th, prior=third)
    assert fourth.loc["s3", "tier"] == "none" and fourth.loc["s4", "tier"] == "yellow"
    for t in (first, second, third, fourth):
        assert (t["tier"] == "yellow").sum() <= 4  # never beyond capacity


# hysteresis on the threshold: yellow 0.10, exit risk 0.10 / 1.25 = 0.08, capacity 4 (margin rank 5)
HYST = Thresholds(red_risk=0.5, yellow_risk=0.10)


def test_a_student_enters_at_the_threshold_and_stays_above_the_exit_risk():
    first = _tiers([0.30, 0.12, 0.09, 0.05], capacity=4, thresholds=HYST)
    assert first["tier"].tolist() == ["yellow", "yellow", "none", "none"]
    assert first.loc["s1", "tier_condition"] == "risk>=0.1"
    # s1 drops to 0.09 (under the threshold, above the exit risk 0.08): stays, held within the
    # margins; s2 at the same 0.09 was not listed and does not enter
    second = _tiers([0.30, 0.09, 0.09, 0.05], capacity=4, thresholds=HYST, prior=first)
    assert second["tier"].tolist() == ["yellow", "yellow", "none", "none"]
    assert second.loc["s1", "tier_condition"] == "held:within_margin"
    assert "余量内" in second.loc["s1", "tier_reason_zh"]
    # exactly at the exit risk is still inside
    third = _tiers([0.30, 0.08, 0.09, 0.05], capacity=4, thresholds=HYST, prior=second)
    assert third.loc["s1", "tier_condition"] == "held:within_margin"


def test_under_the_exit_risk_a_student_leaves_only_after_two_weeks():
    first = _tiers([0.30, 0.12, 0.01], capacity=4, thresholds=HYST)
    # week 1 under the exit risk (0.05 < 0.08): one more week on the list, flagged
    second = _tiers([0.30, 0.05, 0.01], capacity=4, thresholds=HYST, prior=first)
    assert second.loc["s1", "tier"] == "yellow" and second.loc["s1", "tier_condition"] == "held:beyond_margin"
    assert "下周仍超出则移出名单" in second.loc["s1", "tier_reason_zh"]
    # week 2 still under: off the list
    third = _tiers([0.30, 0.05, 0.01], capacity=4, thresholds=HYST, prior=second)
    assert third.loc["s1", "tier"] == "none" and third.loc["s1", "tier_condition"] == ""
    # back inside after one week out: stays, and the count of weeks out starts again
    back = _tiers([0.30, 0.085, 0.01], capacity=4, thresholds=HYST, prior=second)
    assert back.loc["s1", "tier_condition"] == "held:within_margin"
    again = _tiers([0.30, 0.05, 0.01], capacity=4, thresholds=HYST, prior=back)
    assert again.loc["s1", "tier_condition"] == "held:beyond_margin"  # a first week out again


def test_the_exit_risk_can_be_set_on_its_own():
    cfg = RiskConfig(blue_max_share=1.0, yellow_exit_risk=0.04)
    first = _tiers([0.30, 0.12, 0.01], capacity=4, thresholds=HYST, config=cfg)
    second = _tiers([0.30, 0.05, 0.01], capacity=4, thresholds=HYST, config=cfg, prior=first)
    assert second.loc["s1", "tier_condition"] == "held:within_margin"  # 0.05 >= 0.04
    third = _tiers([0.30, 0.03, 0.01], capacity=4, thresholds=HYST, config=cfg, prior=second)
    assert third.loc["s1", "tier_condition"] == "held:beyond_margin"
    with pytest.raises(Exception, match="yellow_exit_risk"):
        RiskConfig(yellow_exit_risk=1.5)


def test_held_students_count_against_capacity_and_red_is_always_in():
    # capacity 2: two students listed; next week both are under the threshold but inside the
    # margins, and a newcomer at 0.20 waits: the held students keep their places
    first = _tiers([0.15, 0.12, 0.05, 0.01], capacity=2, thresholds=HYST)
    assert first["tier"].tolist() == ["yellow", "yellow", "none", "none"]
    second = _tiers([0.09, 0.09, 0.20, 0.01], capacity=2, thresholds=HYST, prior=first)
    assert second["tier"].tolist() == ["yellow", "yellow", "none", "none"]
    assert (second["tier"] == "yellow").sum() <= 2
    # a rule fires for a held student: red at once, beyond capacity if need be; s2 takes the place
    third = _tiers([0.09, 0.09, 0.20, 0.01], rules=["rule_48h", "", "", ""], capacity=2, thresholds=HYST,
                   prior=second)  # fmt: skip
    assert third["tier"].tolist() == ["red", "yellow", "none", "none"]
    fourth = _tiers([0.09, 0.09, 0.20, 0.01], rules=["rule_48h", "rule_3day", "", ""], capacity=2,
                    thresholds=HYST, prior=third)  # fmt: skip
    assert fourth["tier"].tolist() == ["red", "red", "none", "none"]  # 2 red fill the 2 places
    fifth = _tiers([0.09, 0.09, 0.20, 0.01], rules=["rule_48h", "", "", ""], capacity=2, thresholds=HYST,
                   prior=fourth)  # fmt: skip
    # s1 was red, is held (0.09 inside the margins) and keeps the one place left before s2
    assert fifth["tier"].tolist() == ["red", "yellow", "none", "none"]
    assert fifth.loc["s1", "tier_condition"] == "held:within_margin"


def _ranking_frame(n=12, tiers=None, schools=None):
    idx = pd.Index([f"s{i:02d}" for i in range(n)], name="student_id")
    return pd.DataFrame(
        {
            "probability": np.linspace(0.5, 0.01, n),
            "school_id": schools or ["A"] * n,
            "class_id": ["k1", "k2"] * (n // 2),
            "tier": tiers or ["none"] * n,
            "rules": [""] * n,
        },
        index=idx,
    )


def test_ranks_within_county_school_and_class():
    f = _ranking_frame(schools=["A", "B"] * 3 + ["A"] * 6)
    r = rank_students(f, DAY, capacity=pd.Series({"A": 1, "B": 1}))
    assert r["rank_county"].tolist() == list(range(1, 13))
    assert r["rank_school"].tolist() == [1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9]
    # class k1 of school A holds s00, s02, s04, s06, s08, s10
    assert r.loc[["s00", "s02", "s04", "s06", "s08", "s10"], "rank_class"].tolist() == [1, 2, 3, 4, 5, 6]


def test_ties_are_broken_by_the_recorded_hash_not_by_id():
    idx = pd.Index([f"s{i:02d}" for i in range(40)], name="student_id")
    f = pd.DataFrame(
        {"probability": 0.1, "school_id": "A", "class_id": "k", "tier": "none", "rules": ""}, index=idx
    )
    r1 = rank_students(f, DAY, capacity=pd.Series({"A": 5}))
    r2 = rank_students(f.iloc[::-1], DAY, capacity=pd.Series({"A": 5})).loc[idx]
    pd.testing.assert_frame_equal(r1, r2)  # the row order of the input does not matter
    keys = tie_keys(idx, DAY)
    assert r1["tie_key"].tolist() == [f"{k:016x}" for k in keys]
    assert r1["rank_county"].to_numpy().tolist() == (np.argsort(np.argsort(keys)) + 1).tolist()
    assert r1["rank_county"].tolist() != list(range(1, 41))  # not the id order
    other = rank_students(f, DAY + dt.timedelta(days=7), capacity=pd.Series({"A": 5}))
    assert other["rank_county"].tolist() != r1["rank_county"].tolist()  # a new date, a new draw


def test_red_students_always_get_a_case_beyond_capacity():
    f = _ranking_frame(tiers=["red"] * 4 + ["none"] * 8)
    f.loc["s03", "rules"] = "rule_3day"
    r = rank_students(f, DAY, capacity=pd.Series({"A": 2}))
    assert r["selected"].tolist() == [True] * 4 + [False] * 8
    assert r.loc["s03", "assignment_mechanism"] == "rule"
    assert r.loc["s00", "assignment_mechanism"] == "model_rank"
    f.loc[["s04", "s05"], "tier"] = "yellow"  # the school's list within capacity
    r = rank_students(f, DAY, capacity=pd.Series({"A": 6}))
    assert r["selected"].sum() == 6 and r.loc[["s04", "s05"], "selected"].all()
    f.loc["s05", "tier"] = "none"  # a free place stays free
    assert rank_students(f, DAY, capacity=pd.Series({"A": 6}))["selected"].sum() == 5


def _band(seed, band=2, capacity=6):
    # 2 red, 4 yellow (the places left), 14 more eligible for the list
    f = _ranking_frame(n=20, tiers=["red"] * 2 + ["yellow"] * 4 + ["none"] * 14).assign(eligible=True)
    cfg = replace(BaoxueConfig().risk, borderline_band=band, borderline_seed=seed)
    return rank_students(f, DAY, capacity=pd.Series({"A": capacity}), config=cfg)


def test_borderline_band_never_touches_red_and_keeps_the_number_of_cases():
    for seed in range(20):
        r = _band(seed)
        assert not r.loc[["s00", "s01"], "borderline"].any()
        assert r.loc[["s00", "s01"], "selected"].all()
        # 4 places left after 2 red; band = non-red ranks 3..6 (2 each side of the cut-off)
        assert r.index[r["borderline"]].tolist() == ["s04", "s05", "s06", "s07"]
        assert r["selected"].sum() == 6
        assert r.loc[["s02", "s03"], "selected"].all()  # above the band: by rank
        assert (r.loc[r["borderline"] & r["selected"], "assignment_mechanism"] == "random_borderline").all()
        assert r.loc[r["borderline"], "selected"].sum() == 2


def test_borderline_draw_does_not_change_from_night_to_night():
    f = _ranking_frame(n=20, tiers=["red"] * 2 + ["yellow"] * 4 + ["none"] * 14).assign(eligible=True)
    cfg = replace(BaoxueConfig().risk, borderline_band=2, borderline_seed=3)
    nights = [
        rank_students(f, DAY + dt.timedelta(days=d), capacity=pd.Series({"A": 6}), config=cfg)
        for d in range(5)
    ]
    for r in nights[1:]:
        pd.testing.assert_series_equal(r["selected"], nights[0]["selected"])


def test_borderline_lottery_is_reproducible_from_its_seed():
    draws = {tuple(_band(seed)["selected"]) for seed in range(30)}
    assert len(draws) > 1  # the seed matters
    pd.testing.assert_frame_equal(_band(7), _band(7))
    off = _band(7, band=0)
    assert not off["borderline"].any() and off["selected"].tolist() == [True] * 6 + [False] * 14


def test_capacity_from_staff_owners_or_config():
    frames = {
        "students": pd.DataFrame({"student_id": ["a"], "valid_from": ["2024-09-01"], "school_id": ["A"],
                                  "grade": [7], "sex": ["F"], "birth_ym": ["2011-05"]}),
        "attendance": pd.DataFrame({"student_id": ["a"], "date": ["2024-09-02"], "status": ["present"]}),
        "exams": pd.DataFrame({"exam_id": ["e1"], "school_id": ["A"], "grade": [7], "exam_type": ["final"],
                               "exam_date": ["2025-01-10"]}),
        "exam_results": pd.DataFrame({"student_id": ["a"], "exam_id": ["e1"], "subject": ["math"],
                                      "score": [70.0], "full_marks": [100.0]}),
        "registry_events": pd.DataFrame({"student_id": ["a"], "event_date": ["2024-09-01"], "event_type": ["enrol"]}),
        "staff": pd.DataFrame({"staff_id": ["t1", "t2", "t3", "t4"], "school_id": ["A", "A", "A", "B"],
                               "role": ["counsellor", "moral_ed", "head_teacher", "principal"],
                               "max_open_cases": [12, 8, 5, 30]}),
    }  # fmt: skip
    tables = tables_from_frames(frames).tables
    cap = school_capacity(tables, ["A", "B", "C"], RiskConfig(capacity_per_school=7))
    assert cap.to_dict() == {"A": 20, "B": 7, "C": 7}  # head teachers and principals own no prevention cases
    assert school_capacity(None, ["A"], RiskConfig(capacity_per_school=3)).to_dict() == {"A": 3}


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_runs(n):
    f = _ranking_frame(n=2).iloc[:n]
    r = rank_students(f, DAY, capacity=pd.Series({"A": 1}))
    assert len(r) == n


def test_yellow_conditions_find_the_configured_columns():
    from features.config import BaoxueConfig, FeaturesConfig
    from features.names import feature_names

    cfg = BaoxueConfig(features=FeaturesConfig(recent_change_days=60, bottom_share=0.25))
    n = feature_names(cfg)
    p = pd.Series([0.01] * 3, index=["a", "b", "c"])
    f = pd.DataFrame({n.bottom_new: [1, 0, 0], n.parent_left: [0, 1, 0], "acad_bottom20_new": [0, 0, 1]},
                     index=p.index)  # fmt: skip
    t = assign_tiers(p, pd.Series("", index=p.index), f, config=cfg, thresholds=LIFTED_ALL)
    assert t["tier_condition"].tolist() == ["trigger:academic_fall", "trigger:family_event", ""]
    assert "近60天" in t.loc["b", "tier_reason_zh"] and "25%" in t.loc["a", "tier_reason_zh"]


LIFTED_ALL = Thresholds(red_risk=0.25, yellow_risk=0.10, trigger_lift=dict.fromkeys(TRIGGERS, 5.0))
