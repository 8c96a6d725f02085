"""decisions_frame: snapshot + interventions + outcomes -> one row per student."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import DataContractError
from risk.evidence import DECISION_COLUMNS, decisions_frame

AS_OF = pd.Timestamp("2024-03-04")


def _snapshot() -> pd.DataFrame:
    # school s1, capacity 2: a and b inside, c outside; d is a rule alert; e in the band
    return pd.DataFrame(
        {
            "student_id": ["a", "b", "c", "d", "e"],
            "as_of": AS_OF,
            "school_id": "s1",
            "class_id": "c1",
            "grade": [3, 7, 8, 9, 6],
            "probability": [0.5, 0.4, 0.3, 0.1, 0.35],
            "rank_school": [1, 2, 4, 5, 3],
            "capacity": 2,
            "selected": [True, True, False, True, False],
            "borderline": [False, False, False, False, True],
            "assignment_mechanism": ["model_rank", "model_rank", "", "rule", ""],
            "tier": ["yellow", "yellow", "none", "red", "none"],
        }
    )


def _interventions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "student_id": ["a", "a", "b", "c", "d"],
            "type": ["tutoring", "home_visit", "tutoring", "tutoring", "home_visit"],
            # a: tutoring 2 days after; b: 20 days after (outside a 14-day window); c: before as_of
            "start_date": pd.to_datetime(
                ["2024-03-06", "2024-03-05", "2024-03-24", "2024-03-01", "2024-03-04"]
            ),
            "assignment_mechanism": ["model_rank", "model_rank", "model_rank", "manual", "rule"],
        }
    )


def _outcomes() -> pd.DataFrame:
    # e has no outcome (censored: transferred out) and is left out
    return pd.DataFrame(
        {"outcome_dropout": [0, 0, 1, 0], "outcome_attendance": [0.9, 1.0, 0.5, 0.8]},
        index=pd.Index(["a", "b", "c", "d"], name="student_id"),
    )


def test_one_row_per_student_with_assignment_window():
    d = decisions_frame(_snapshot(), _interventions(), _outcomes(), intervention_type="tutoring")
    assert d["student_id"].tolist() == ["a", "b", "c", "d"]
    assert d["assigned"].tolist() == [True, False, False, False]
    assert d["running_rank"].tolist() == [1.5, 0.5, -1.5, -2.5]
    assert d["rule"].tolist() == [False, False, False, True]
    assert d["grade_band"].tolist() == ["primary", "junior", "junior", "junior"]
    assert d.loc[0, "intervention_mechanism"] == "model_rank"
    assert {
        c for c in DECISION_COLUMNS if not c.endswith("*") and c not in ("left_behind", "hardship")
    } <= set(d.columns)


def test_any_type_and_subgroups_from_features():
    feats = pd.DataFrame(
        {
            "lb_status": [0, 2, 1, 0],
            "hard_is_poor_any": [True, False, False, True],
            "x1": [0.1, 0.2, 0.3, 0.4],
        },
        index=pd.Index(["a", "b", "c", "d"], name="student_id"),
    )
    d = decisions_frame(_snapshot(), _interventions(), _outcomes(), features=feats)
    assert d["assigned"].tolist() == [True, False, False, True]
    assert d["left_behind"].tolist() == [False, True, True, False]
    assert d["hardship"].tolist() == [True, False, False, True]


def test_errors_name_table_and_column():
    snap = _snapshot()
    with pytest.raises(DataContractError, match=r"snapshot: missing column\(s\) \['borderline'\]"):
        decisions_frame(snap.drop(columns="borderline"), _interventions(), _outcomes())
    two_runs = snap.assign(as_of=[AS_OF] * 4 + [AS_OF + pd.Timedelta(days=7)])
    with pytest.raises(DataContractError, match=r"snapshot\.as_of: expected one run"):
        decisions_frame(two_runs, _interventions(), _outcomes())
    with pytest.raises(DataContractError, match=r"outcomes: no outcome_\* column"):
        decisions_frame(snap, _interventions(), _outcomes().rename(columns=lambda c: c[8:]))
