"""Column names built from the config: another window or threshold gives another name, and
the builders, the catalogue and every consumer agree on it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from _handmade import students, tables

from features.build import build_features, feature_columns
from features.catalog import catalog, feature_info, phrase
from features.config import BaoxueConfig, FeaturesConfig, RulesConfig
from features.names import config_for_name, feature_names

DEFAULTS = {
    "status_change": "hard_status_change_90d",
    "family_event": "hard_family_event_90d",
    "parent_left": "lb_parent_left_90d",
    "long_leave": "att_leave_over5_term",
    "bottom_class": "acad_bottom20_class",
    "bottom_new": "acad_bottom20_new",
}
OTHER = BaoxueConfig(
    features=FeaturesConfig(recent_change_days=60, bottom_share=0.25),
    rules=RulesConfig(principal_leave_days=3, head_teacher_leave_days=1),
)
RENAMED = {
    "status_change": "hard_status_change_60d",
    "family_event": "hard_family_event_60d",
    "parent_left": "lb_parent_left_60d",
    "long_leave": "att_leave_over3_term",
    "bottom_class": "acad_bottom25_class",
    "bottom_new": "acad_bottom25_new",
}


def test_default_names_are_unchanged():
    n = feature_names()
    assert {k: getattr(n, k) for k in DEFAULTS} == DEFAULTS
    assert set(DEFAULTS.values()) <= set(feature_columns())


def test_another_config_gives_the_matching_names_everywhere():
    n = feature_names(OTHER)
    assert {k: getattr(n, k) for k in RENAMED} == RENAMED
    cols = feature_columns(OTHER)
    assert set(RENAMED.values()) <= set(cols) and not set(DEFAULTS.values()) & set(cols)
    assert list(catalog(OTHER)) == cols
    assert "60" in catalog(OTHER)["hard_family_event_60d"].zh
    assert phrase("att_leave_over3_term", 1.0, "en") == "a leave of more than 3 school days this term"
    # the catalogue finds a variant without being told the config (reasons read it so)
    assert feature_info("acad_bottom25_class").en.endswith("bottom 25% of the class")
    for name in RENAMED.values():
        assert config_for_name(name) is not None and name in catalog(config_for_name(name))


def test_built_columns_follow_the_config_with_the_same_values():
    ids = ["a", "b"]
    t = tables(
        ids,
        students=students(ids),
        family_events=pd.DataFrame(
            {"student_id": ["a"], "event_date": ["2024-09-05"], "event_type": ["parent_migration_start"]}
        ),
    )
    day = dt.date(2024, 9, 20)
    plain = build_features(t, day)
    other = build_features(
        t, day, BaoxueConfig(features=FeaturesConfig(recent_change_days=90, bottom_share=0.25))
    )
    assert list(other.columns) == feature_columns(
        BaoxueConfig(features=FeaturesConfig(recent_change_days=90, bottom_share=0.25))
    )
    pd.testing.assert_series_equal(plain["lb_parent_left_90d"], other["lb_parent_left_90d"])
    assert "acad_bottom25_class" in other and "acad_bottom20_class" not in other
    sixty = build_features(t, day, OTHER)
    assert sixty["lb_parent_left_60d"].tolist() == plain["lb_parent_left_90d"].tolist() == [1.0, 0.0]
