"""Tier precedence, exact top shares, ties, capacity, and the borderline lottery."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.config import BaoxueConfig, RiskConfig
from features.load import tables_from_frames
from risk.rank import county_rank, rank_students, school_capacity, tie_keys
from risk.tiers import assign_tiers

DAY = dt.date(2025, 3, 10)


def _tiers(p, rules=None, previous=None, config=None, **features):
    idx = pd.Index([f"s{i}" for i in range(len(p))], name="student_id")
    p = pd.Series(p, index=idx, dtype="float64")
    rules = pd.Series(rules or [""] * len(p), index=idx)
    feats = pd.DataFrame({k: np.asarray(v, dtype="float64") for k, v in features.items()}, index=idx)
    prev = None if previous is None else pd.Series(previous, index=idx, dtype="float64")
    return assign_tiers(p, rules, feats, previous=prev, config=config or RiskConfig(red_top_share=0.0))


def test_precedence_rule_then_risk_then_yellow_then_blue():
    t = _tiers(
        [0.01, 0.30, 0.12, 0.01, 0.01, 0.01, 0.01],
        rules=["rule_48h;rule_3day", "", "", "", "", "", ""],
        att_unexcused_days_10d=[5, 5, 0, 2, 1, 0, 0],
        lb_status=[1, 1, 1, 1, 1, 1, 0],
    )
    assert t["tier"].tolist() == ["red", "red", "yellow", "yellow", "blue", "blue", "none"]
    # the most serious rule names the red tier; the first condition that holds is recorded
    assert t["tier_condition"].tolist() == [
        "rule:rule_3day",
        "risk>=0.25",
        "risk>=0.1",
        "unexcused_days_10d>=2",
        "watched:left_behind",
        "watched:left_behind",
        "",
    ]
    assert t.loc["s0", "tier_reason_zh"].startswith("规则触发")
    assert t["tier"].dtype == "category"


def test_an_official_registry_mark_outranks_a_mark_merely_due():
    """The one severity order (risk.rules.RULE_SEVERITY), the same as a case's trigger."""
    t = _tiers(
        [0.01] * 3,
        rules=["rule_48h;rule_3day;rule_5day;registry_mark", "rule_3day;registry_mark", "rule_5day"],
    )
    assert t["tier_condition"].tolist() == ["rule:registry_mark", "rule:registry_mark", "rule:rule_5day"]
    assert t.loc["s0", "tier_reason_en"] == "rule fired: registry carries a suspected-dropout mark"


def test_yellow_academic_fall_and_family_event():
    t = _tiers(
        [0.01] * 4,
        acad_bottom20_new=[1, 0, 0, 0],
        acad_composite_pct_change=[0, -30, -10, np.nan],
        lb_parent_left_90d=[0, 0, 1, 0],
    )
    assert t["tier_condition"].tolist() == ["academic_fall", "academic_fall", "family_event_90d", ""]


def test_blue_when_risk_doubled_in_four_weeks_but_not_from_noise():
    t = _tiers([0.06, 0.06, 0.015, 0.06], previous=[0.03, 0.031, 0.005, np.nan])
    assert t["tier_condition"].tolist() == ["risk_x2_4w", "", "", ""]


def test_missing_feature_columns_never_trigger():
    t = _tiers([0.01, 0.01])
    assert t["tier"].tolist() == ["none", "none"]


def test_top_share_is_exact_even_when_calibrated_risks_tie():
    p = pd.Series([0.2] * 50 + [0.01] * 150, index=[f"s{i:03d}" for i in range(200)])
    rank = county_rank(p, DAY)
    t = assign_tiers(p, pd.Series("", index=p.index), pd.DataFrame(index=p.index), rank=rank,
                     config=RiskConfig(red_top_share=0.01))  # fmt: skip
    assert (t["tier"] == "red").sum() == 2  # ceil(1% of 200), ties broken by the tie key
    assert set(t.index[t["tier"] == "red"]) == set(rank.nsmallest(2).index)


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
    r = rank_students(f, DAY, capacity=pd.Series({"A": 6}))
    assert r["selected"].sum() == 6 and r.loc[["s04", "s05"], "selected"].all()


def _band(seed, band=2, capacity=6):
    f = _ranking_frame(n=20, tiers=["red"] * 2 + ["none"] * 18)
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
    f = _ranking_frame(n=20, tiers=["red"] * 2 + ["none"] * 18)
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

    cfg = BaoxueConfig(features=FeaturesConfig(recent_change_days=60, bottom_share=0.25),
                       risk=RiskConfig(red_top_share=0.0))  # fmt: skip
    n = feature_names(cfg)
    p = pd.Series([0.01] * 3, index=["a", "b", "c"])
    f = pd.DataFrame({n.bottom_new: [1, 0, 0], n.parent_left: [0, 1, 0], "acad_bottom20_new": [0, 0, 1]},
                     index=p.index)  # fmt: skip
    t = assign_tiers(p, pd.Series("", index=p.index), f, config=cfg)
    assert t["tier_condition"].tolist() == ["academic_fall", "family_event_60d", ""]
    assert "近60天" in t.loc["b", "tier_reason_zh"] and "25%" in t.loc["a", "tier_reason_zh"]
