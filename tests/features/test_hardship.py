"""Hardship features on hand-made households, as of 1 Oct 2024.

"Recent" = the last 90 days: 4 Jul .. 1 Oct 2024. School year 2024-25 from 1 Sep 2024.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from _handmade import students, tables

from features.config import BaoxueConfig, FeaturesConfig
from features.hardship import hardship_columns, hardship_features

AS_OF = dt.date(2024, 10, 1)
IDS = list("abcde")


def _county(**over):
    hs = pd.DataFrame(
        [
            ("a", "dibao", "special", "2023-05-01", None),  # a: dibao in force, level 3
            (
                "b",
                "registered_poor",
                "general",
                "2020-01-01",
                "2024-08-15",
            ),  # b: ended 15 Aug -> a recent change
            ("c", "monitored", "moderate", "2024-09-15", None),  # c: new in the window, level 2
            ("d", "tekun", "special", "2024-12-01", None),  # d: future -> unknown on as_of
            ("d", "prisoner_child", None, "2022-01-01", None),  # restricted
        ],
        columns=["student_id", "hardship_type", "level", "valid_from", "valid_to"],
    )
    guardians = pd.DataFrame(
        [
            ("a", 1, "father", "chronic", "2020-01-01", None),  # a: parent ill
            ("b", 1, "mother", "none", "2020-01-01", None),  # b: no
            (
                "d",
                1,
                "father",
                "disabled",
                "2020-01-01",
                "2024-05-01",
            ),  # d: row ended -> d has no row in force
        ],
        columns=["student_id", "member_no", "relation", "health_issue", "valid_from", "valid_to"],
    )
    events = pd.DataFrame(
        [
            ("c", "2024-06-01", "parent_illness"),  # c: within a year -> parent ill; not within 90 days
            ("d", "2024-09-20", "parent_death"),
            ("e", "2024-09-25", "incarceration"),  # restricted
            ("b", "2024-11-01", "divorce"),  # future
        ],
        columns=["student_id", "event_date", "event_type"],
    )
    aid = pd.DataFrame(
        [
            ("a", "2024-09-10", "boarding_subsidy", 500.0),
            ("a", "2024-06-01", "nutrition", 300.0),  # previous school year
            ("b", "2024-10-02", "living_subsidy", 800.0),  # future
        ],
        columns=["student_id", "paid_date", "aid_type", "amount_cny"],
    )
    st = students(IDS, orphan=[False, False, None, False, True], only_child=[True, False, None, True, False])
    frames = {"hardship": hs, "guardians": guardians, "family_events": events, "aid": aid, "students": st}
    frames.update(over)
    return tables(IDS, **frames)


@pytest.fixture(scope="module")
def feats():
    return hardship_features(_county(), AS_OF)


def test_status_in_force_and_level(feats):
    assert list(feats.columns) == hardship_columns()
    assert "hard_is_prisoner_child" not in feats  # restricted by default
    assert feats["hard_is_dibao"].tolist() == [1, 0, 0, 0, 0]
    assert feats["hard_is_registered_poor"].tolist() == [0, 0, 0, 0, 0]  # b's ended
    assert feats["hard_is_monitored"].tolist() == [0, 0, 1, 0, 0]
    assert feats["hard_is_tekun"].tolist() == [0, 0, 0, 0, 0]  # d's starts in December
    assert feats["hard_is_poor_any"].tolist() == [1, 0, 1, 0, 0]
    assert feats["hard_level"].tolist() == [3, 0, 2, 0, 0]
    # b ended on 15 Aug, c started 15 Sep: both inside the 90 days
    assert feats["hard_status_change_90d"].tolist() == [0, 1, 1, 0, 0]


def test_parents_events_aid(feats):
    # a: father chronic; b: no; c: no guardian row but a parent_illness event in the year;
    # d: the only row ended in May and e has none: unknown (NaN), not "healthy"
    ill = feats["hard_parent_ill"].tolist()
    assert ill[:3] == [1, 0, 1] and math.isnan(ill[3]) and math.isnan(ill[4])
    # d's father died on 20 Sep; e's incarceration is restricted; b's divorce is in the future
    assert feats["hard_family_event_90d"].tolist() == [0, 0, 0, 1, 0]
    assert feats["hard_parent_died"].tolist() == [0, 0, 0, 1, 0]
    assert feats["hard_aid_cny_year"].tolist() == [500, 0, 0, 0, 0]
    assert feats["hard_aid_count_year"].tolist() == [1, 0, 0, 0, 0]
    assert feats["hard_orphan"].tolist()[:2] == [0, 0] and feats.loc["e", "hard_orphan"] == 1
    assert math.isnan(feats.loc["c", "hard_orphan"])
    sib = feats["hard_has_siblings"]
    assert sib.loc[["a", "b", "d", "e"]].tolist() == [0, 1, 0, 1] and math.isnan(sib.loc["c"])


def test_restricted_only_when_configured():
    cfg = BaoxueConfig(features=FeaturesConfig(use_restricted=("prisoner_child", "incarceration")))
    f = hardship_features(_county(), AS_OF, config=cfg)
    assert f["hard_is_prisoner_child"].tolist() == [0, 0, 0, 1, 0]
    assert f["hard_family_event_90d"].tolist() == [0, 0, 0, 1, 1]


def test_missing_tables_give_nan_not_zero():
    t = _county(hardship=None, guardians=None, family_events=None, aid=None)
    f = hardship_features(t, AS_OF)
    from_students = ["hard_orphan", "hard_has_siblings"]
    assert f.drop(columns=from_students).isna().all().all()
    assert f["hard_orphan"].notna().sum() == 4
