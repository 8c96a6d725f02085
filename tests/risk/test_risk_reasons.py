"""Reasons in words: every catalogue entry phrases without leaking a column name; merging;
protective factors; the measures drafted from them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from features.catalog import catalog, feature_info
from features.config import BaoxueConfig, FeaturesConfig
from risk.plans import suggest_measures
from risk.reasons import SILENT, explain_reasons, reason_problems, reason_sentence

ALL = catalog(
    BaoxueConfig(
        features=FeaturesConfig(
            use_restricted=("ethnicity_code", "disability_type", "health_status", "prisoner_child")
        )
    )
)
RAW_NAME = re.compile(r"\b(att|acad|hard|lb|ctx)_[a-z0-9_]+\b")
CATEGORY_VALUES = {
    "lb_caregiver": ["parent", "grandparent", "relative", "alone", "institution"],
    "ctx_commute_mode": ["walk", "bike", "school_bus", "public_bus", "private", "boat", "other"],
    "ctx_school_type": ["primary", "junior", "nine_year", "teaching_point"],
    "ctx_urban_rural": ["urban", "town", "rural"],
    "ctx_ethnicity": ["01", "02"],
    "ctx_disability_type": ["visual", "hearing"],
}


def _values(name: str):
    if name in CATEGORY_VALUES:
        return CATEGORY_VALUES[name]
    return [0.0, 1.0, 2.0, 3.0, 0.35, 12.5, -15.0, np.nan]


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_catalogue_entry_phrases_without_a_raw_name(name, language):
    said = [reason_sentence(name, v, language) for v in _values(name)]
    if name in SILENT:
        assert all(s is None for s in said)
        return
    texts = [s for s in said if s is not None]
    assert texts, f"{name} never says anything"
    for s in texts:
        assert not RAW_NAME.search(s), s
        assert "{" not in s and "nan" not in s.lower() and "None" not in s
        if language == "zh":
            assert re.search(r"[\u4e00-\u9fff]", s), s


def test_flags_are_stated_only_when_true_and_missing_values_never():
    assert reason_sentence("lb_mother_away", 1.0) == "母亲外出务工"
    assert reason_sentence("lb_mother_away", 0.0) is None
    assert reason_sentence("att_unexcused_days_10d", np.nan) is None
    assert reason_sentence("lb_status", 0.0) is None
    assert reason_sentence("lb_caregiver", "alone", "en") == "lives alone without a caregiver"


def test_directions_follow_the_value():
    assert reason_sentence("acad_composite_pct_change", 12.0) == "年级排名较上次考试上升12个百分位"
    assert reason_sentence("att_absence_trend_20d", -0.1).endswith("下降10%")
    assert reason_sentence("att_absence_trend_20d", 0.1).endswith("上升10%")


def _frames(values: dict, contrib: dict):
    idx = pd.Index(["s1"], name="student_id")
    f = pd.DataFrame({k: [v] for k, v in values.items()}, index=idx)
    c = pd.DataFrame({k: [contrib.get(k, 0.0)] for k in values}, index=idx).assign(expected_value=-3.0)
    return f, c


def test_top_reasons_in_contribution_order_with_merges_and_no_repeats():
    f, c = _frames(
        {
            "att_unexcused_days_10d": 4.0,
            "att_unexcused_rate_20d": 0.3,
            "att_unexcused_streak_current": 3.0,
            "acad_composite_pct_class_last": 12.0,
            "acad_bottom20_class": 1.0,
            "acad_failed_subjects_last": 2.0,
            "lb_mother_away": 1.0,
            "lb_caregiver": "grandparent",
            "lb_status": 2.0,
            "lb_months_in_status": 8.0,
            "hard_aid_cny_year": 0.0,
            "att_recorded_days_term": 40.0,
            "ctx_distance_km": 0.5,
        },
        {
            "att_recorded_days_term": 2.0,  # silent: never a reason
            "att_unexcused_days_10d": 1.2,
            "att_unexcused_rate_20d": 1.0,  # same concept as the 10-day count: not repeated
            "acad_composite_pct_class_last": 0.8,
            "lb_status": 0.5,
            "lb_mother_away": 0.4,
            "hard_aid_cny_year": 0.3,  # a zero amount is never a risk reason
            "ctx_distance_km": -0.4,
        },
    )
    r = explain_reasons(f, c, top=3).loc["s1"]
    assert r["reasons_zh"].split("；") == [
        "近10个上课日无故缺勤4天（当前连续3天）",
        "最近一次考试总成绩位于班级第12百分位（处于班级后20%，2科不及格）",
        "父母均外出务工（已8个月），由祖父母照料",
    ]
    assert r["reason_codes"] == "att_unexcused_days_10d;acad_composite_pct_class_last;lb_status"
    assert r["reason_families"] == "attendance;academic;left_behind"
    assert r["protective_zh"] == ""  # distance is context: never a reason nor a protective factor
    assert not RAW_NAME.search(r["reasons_en"] + r["protective_en"])


def test_protective_factors_skip_flags_and_bad_directions():
    f, c = _frames(
        {"lb_father_only_away": 1.0, "acad_composite_pct_change": -20.0, "att_unexcused_days_10d": 0.0},
        {"lb_father_only_away": -0.5, "acad_composite_pct_change": -0.4, "att_unexcused_days_10d": -0.3},
    )
    r = explain_reasons(f, c).loc["s1"]
    assert r["protective_zh"] == ""  # "0 days" is no factor
    assert r["reasons_zh"] == ""


def test_one_fact_is_never_both_a_risk_and_a_protective_factor():
    """Issue 19 (袁华怡): the 20-day unexcused rate pushed risk up and the 20-day unexcused count
    down; both said the same fact, once as a risk and once as protective."""
    f, c = _frames(
        {"att_unexcused_rate_20d": 0.25, "att_unexcused_days_20d": 5.0, "att_unexcused_streak_current": 2.0,
         "acad_composite_pct_change": 15.0},
        {"att_unexcused_rate_20d": 0.8, "att_unexcused_days_20d": -0.5, "att_unexcused_streak_current": -0.2,
         "acad_composite_pct_change": -0.3},
    )  # fmt: skip
    r = explain_reasons(f, c).loc["s1"]
    assert r["reasons_zh"] == "近20个上课日无故缺勤率25%（当前连续2天）"  # the streak said with it
    assert "缺勤" not in r["protective_zh"] and "absen" not in r["protective_en"]
    assert r["protective_zh"] != ""  # an unrelated protective fact is still said
    # the demo's 邓阳: "（当前连续1天）" with the risk, "已1个上课日未到校" as protective
    f, c = _frames(
        {"att_unexcused_days_10d": 2.0, "att_unexcused_streak_current": 1.0, "att_days_since_present": 1.0},
        {"att_unexcused_days_10d": 0.9, "att_unexcused_streak_current": 0.1, "att_days_since_present": -0.2},
    )  # fmt: skip
    r = explain_reasons(f, c).loc["s1"]
    assert r["reasons_zh"] == "近10个上课日无故缺勤2天（当前连续1天）" and r["protective_zh"] == ""


def test_context_and_zero_rates_are_never_reasons():
    f, c = _frames(
        {"ctx_school_dropout_rate_prev": 0.0, "ctx_grade": 6.0, "att_absence_rate_term": 0.0,
         "acad_failed_subjects_last": 2.0},
        {"ctx_school_dropout_rate_prev": 0.9, "ctx_grade": 0.8, "att_absence_rate_term": 0.7,
         "acad_failed_subjects_last": 0.3},
    )  # fmt: skip
    r = explain_reasons(f, c)
    assert r.loc["s1", "reason_codes"] == "acad_failed_subjects_last"
    assert reason_problems(f, c, r) == []
    forged = r.assign(reason_codes="ctx_grade;att_absence_rate_term")
    assert len(reason_problems(f, c, forged)) == 2


def test_measures_follow_the_reasons_and_rules():
    fam = pd.Series(["attendance;hardship", "left_behind", "", "academic"], index=list("abcd"))
    rules = pd.Series(["", "", "rule_48h", ""], index=fam.index)
    disabled = pd.Series([True, False, False, False], index=fam.index)
    m = suggest_measures(fam, rules, disabled=disabled)
    assert m["measures"].tolist() == [
        "home_visit;home_teaching;aid_referral",
        "care_counselling",
        "home_visit",
        "tutoring",
    ]
    assert m.loc["a", "measures_zh"] == "家访劝返、送教上门、资助转介"


def test_every_family_is_a_known_catalogue_family():
    assert {feature_info(n).family for n in ALL} == {
        "attendance",
        "academic",
        "hardship",
        "left_behind",
        "context",
    }


def test_the_bottom_of_class_companion_follows_the_config():
    from features.config import BaoxueConfig, FeaturesConfig

    cfg = BaoxueConfig(features=FeaturesConfig(bottom_share=0.25))
    f, c = _frames({"acad_composite_pct_class_last": 12.0, "acad_bottom25_class": 1.0},
                   {"acad_composite_pct_class_last": 0.8})  # fmt: skip
    r = explain_reasons(f, c, config=cfg).loc["s1"]
    assert r["reasons_zh"] == "最近一次考试总成绩位于班级第12百分位（处于班级后25%）"
    assert reason_sentence("acad_bottom25_class", 1.0, "en") == "in the bottom 25% of the class"
