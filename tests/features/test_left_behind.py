"""Left-behind features on hand-made survey rows, as of 1 Oct 2024 (recent = 4 Jul .. 1 Oct)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from _handmade import students, tables

from features.left_behind import left_behind_columns, left_behind_features

AS_OF = dt.date(2024, 10, 1)
IDS = list("abcde")


def _county(**over):
    lb = pd.DataFrame(
        [
            (
                "a",
                "2023-03-01",
                2,
                "both",
                "grandparent",
            ),  # a: both away since 1 Mar 2023 (two rows, same status)
            ("a", "2024-03-01", 2, "both", "grandparent"),
            ("b", "2024-02-01", 0, None, "parent"),  # b: father left on 15 Aug -> newly left
            ("b", "2024-08-15", 1, "father", "parent"),
            ("c", "2024-09-01", 1, "mother", "relative"),  # c: first survey row: not a change by itself
            ("d", "2024-11-01", 2, "both", "alone"),  # d: future
            ("e", "2024-01-01", 1, None, "parent"),  # e: which parent unknown
        ],
        columns=["student_id", "effective_date", "status", "absent_parent", "caregiver"],
    )
    ev = pd.DataFrame(
        {"student_id": ["c"], "event_date": ["2024-09-10"], "event_type": ["parent_migration_start"]}
    )
    st = students(IDS, is_migrant_child=[False, False, False, True, None])
    frames = {"left_behind": lb, "family_events": ev, "students": st}
    frames.update(over)
    return tables(IDS, **frames)


@pytest.fixture(scope="module")
def feats():
    return left_behind_features(_county(), AS_OF)


def test_status_and_parent(feats):
    assert list(feats.columns) == left_behind_columns()
    assert feats["lb_status"].tolist()[:3] == [2, 1, 1] and math.isnan(feats.loc["d", "lb_status"])
    assert feats["lb_both_parents_away"].tolist()[:3] == [1, 0, 0]
    assert feats["lb_one_parent_away"].tolist()[:3] == [0, 1, 1]
    # mother away counts both-away; b's father only; e's parent unknown -> NaN
    assert feats["lb_mother_away"].tolist()[:3] == [1, 0, 1]
    assert feats["lb_father_only_away"].tolist()[:3] == [0, 1, 0]
    assert math.isnan(feats.loc["e", "lb_mother_away"]) and math.isnan(feats.loc["e", "lb_father_only_away"])
    assert feats["lb_caregiver"].dtype == "category"
    assert feats["lb_caregiver"].astype("str").tolist()[:3] == ["grandparent", "parent", "relative"]
    assert pd.isna(feats.loc["d", "lb_caregiver"])


def test_duration_and_newly_left(feats):
    # a: 1 Mar 2023 -> 1 Oct 2024 = 580 days; b: 15 Aug -> 1 Oct = 47 days
    assert feats.loc["a", "lb_months_in_status"] == pytest.approx(580 / 30.4375)
    assert feats.loc["b", "lb_months_in_status"] == pytest.approx(47 / 30.4375)
    # b: 0 -> 1 on 15 Aug; c: a parent_migration_start event on 10 Sep; a, e: no change
    assert feats["lb_parent_left_90d"].tolist()[:3] == [0, 1, 1] and feats.loc["e", "lb_parent_left_90d"] == 0
    assert feats["lb_migrant_child"].tolist()[:4] == [0, 0, 0, 1] and math.isnan(
        feats.loc["e", "lb_migrant_child"]
    )


def test_missing_table_gives_nan():
    f = left_behind_features(_county(left_behind=None, family_events=None), AS_OF)
    assert f.drop(columns="lb_migrant_child").isna().all().all()
