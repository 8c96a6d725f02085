"""Context features on a hand-made school, as of Tue 10 Sep 2024 (default calendar: term from Mon 2 Sep)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from _handmade import tables

from features.context import context_columns, context_features


def _county(extra_events: tuple = ()):
    cur = [
        # id, school, class, grade, birth, boarding, km, commute
        (
            "a",
            "s1",
            "k1",
            9,
            "2009-10",
            True,
            12.0,
            "school_bus",
        ),  # 14y10m on 1 Sep 2024; grade 9 expects 14 -> 0
        ("b", "s1", "k1", 9, "2008-06", False, 1.5, "walk"),  # 16y2m -> 2 years over
        ("c", "s1", "k2", 6, "2013-01", None, None, None),  # 11y7m, grade 6 expects 11 -> 0
        ("d", "s2", "k3", 7, "2013-05", False, 3.0, "bike"),  # 11y3m, grade 7 expects 12 -> -1
    ]
    rows = [(i, "2024-09-01", None, s, k, g, b, bo, km, cm) for i, s, k, g, b, bo, km, cm in cur]
    # past students of s1: x1 dropped out in 2022-23; x2-x4 there in 2022-23 and 2023-24
    rows += [("x1", "2022-09-01", "2023-03-01", "s1", "k9", 7, "2010-01", None, None, None)]
    rows += [
        (x, "2022-09-01", "2024-07-01", "s1", "k9", 7, "2010-01", None, None, None)
        for x in ("x2", "x3", "x4")
    ]
    cols = [
        "student_id",
        "valid_from",
        "valid_to",
        "school_id",
        "class_id",
        "grade",
        "birth_ym",
        "is_boarding",
    ]
    st = pd.DataFrame(rows, columns=[*cols, "distance_km", "commute_mode"]).assign(sex="F")
    reg = pd.DataFrame(
        [
            *[(i, "2024-09-01", "enrol") for i in "abcd"],
            ("x1", "2023-03-01", "dropout_mark"),
            ("x2", "2024-09-20", "dropout_mark"),  # after as_of: not known
            *extra_events,
        ],
        columns=["student_id", "event_date", "event_type"],
    )
    schools = pd.DataFrame(
        {"school_id": ["s1", "s2"], "school_type": ["nine_year", "junior"], "urban_rural": ["rural", "town"]}
    )
    ids = ["a", "b", "c", "d", "x1", "x2", "x3", "x4"]
    return tables(ids, students=st, registry_events=reg, schools=schools)


@pytest.fixture(scope="module")
def feats():
    return context_features(_county(), dt.date(2024, 9, 10))


def test_columns_and_values(feats):
    assert list(feats.columns) == context_columns()
    assert feats.index.tolist() == list("abcd")  # x1-x4 left
    assert feats["ctx_grade"].tolist() == [9, 9, 6, 7]
    assert feats["ctx_overage_years"].tolist() == [0, 2, 0, -1]
    assert feats["ctx_transition_grade"].tolist() == [1, 1, 1, 0]
    assert feats["ctx_is_boarding"].tolist()[:2] == [1, 0] and math.isnan(feats.loc["c", "ctx_is_boarding"])
    assert (
        feats["ctx_commute_mode"].dtype == "category" and feats.loc["a", "ctx_commute_mode"] == "school_bus"
    )
    assert feats["ctx_class_size"].tolist() == [2, 2, 1, 1]
    assert feats["ctx_school_type"].astype("str").tolist() == ["nine_year"] * 3 + ["junior"]


def test_phase(feats):
    # Mon 2 Sep -> Tue 10 Sep: 8 days = 1.14 weeks; inside the September window
    assert feats["ctx_weeks_into_term"].tolist() == pytest.approx([8 / 7] * 4)
    assert feats["ctx_september_window"].tolist() == [1] * 4
    assert feats["ctx_march_window"].tolist() == [0] * 4
    assert feats["ctx_before_zhongkao"].tolist() == [0] * 4
    t = _county()
    # default calendar: spring term 2025 starts Thu 13 Feb (14 days after 春节, 29 Jan); on 10 Mar
    # 25 days in, inside the spring-start window (28 days); on 13 Mar (28 days) outside it
    f = context_features(t, dt.date(2025, 3, 10))
    assert f["ctx_weeks_into_term"].tolist() == pytest.approx([25 / 7] * 4)
    assert f["ctx_march_window"].tolist() == [1] * 4
    assert context_features(t, dt.date(2025, 3, 13))["ctx_march_window"].tolist() == [0] * 4
    # 1 Jun 2025: 14 days before 15 June; grade 9 only
    assert context_features(t, dt.date(2025, 6, 1))["ctx_before_zhongkao"].tolist() == [1, 1, 0, 0]


def test_school_dropout_rate_uses_known_past_only(feats):
    # s1: 2022-23 had x1-x4 (4 students, 1 dropout); 2023-24 had x2-x4 (3, 0); x2's mark is after as_of
    assert feats.loc["a", "ctx_school_dropout_rate_prev"] == pytest.approx(1 / 7)
    assert math.isnan(feats.loc["d", "ctx_school_dropout_rate_prev"])  # s2: no past


def test_returned_dropout_needs_a_known_return_after_a_dropout_mark():
    t = _county(
        (
            ("b", "2024-03-01", "dropout_mark"),  # b: marked a dropout, back on 2 Sep -> 复学生
            ("b", "2024-09-02", "return_mark"),
            ("c", "2024-09-02", "return_mark"),  # c: back from a suspected episode, never a dropout
            ("d", "2024-06-01", "dropout_mark"),  # d: the return is on 11 Sep, after as_of
            ("d", "2024-09-11", "return_mark"),
        )
    )
    f = context_features(t, dt.date(2024, 9, 10))
    assert f.loc[list("abcd"), "ctx_returned_dropout"].tolist() == [0, 1, 0, 0]
    # on 11 Sep d's return is known
    assert context_features(t, dt.date(2024, 9, 11)).loc["d", "ctx_returned_dropout"] == 1
