"""Labels on a hand-made county; every expected label is worked out in a comment."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import TrainConfig
from features.errors import PointInTimeError
from features.load import tables_from_frames
from training.labels import cohort_members, label_lag_days, label_panel, make_labels, observable_as_of_dates

D = pd.Timestamp("2024-10-01")  # window (2024-10-01, 2024-12-30] with the default 90-day horizon
CFG = TrainConfig()  # horizon 90, resolution 30, streak 20


def _weekdays(start: str, n: int) -> list[pd.Timestamp]:
    return list(pd.bdate_range(start, periods=n))


def _tables():
    ids = list("abcdefghijklm")
    students = pd.DataFrame(
        {
            "student_id": ids,
            "valid_from": "2024-09-01",
            "school_id": "s1",
            "grade": 7,
            "sex": "M",
            "birth_ym": "2011-03",
        }
    )
    ev = [
        ("a", "2024-11-05", "dropout_mark", None, None),  # a: dropout mark in window -> 1
        ("b", "2024-10-10", "suspected_mark", None, None),  # b: suspected, back after 15 days -> 0
        ("b", "2024-10-25", "return_mark", None, None),
        ("c", "2024-12-20", "suspected_mark", None, None),  # c: suspected, never back -> 1
        ("e", "2024-10-15", "transfer_out", None, True),  # e: verified transfer -> censored
        ("f", "2024-09-20", "dropout_mark", None, None),  # f: out before D -> not in cohort
        ("h", "2024-10-10", "suspected_mark", None, None),  # h: back after 41 days (> 30) -> 1
        ("h", "2024-11-20", "return_mark", None, None),
        ("i", "2025-01-10", "dropout_mark", None, None),  # i: mark after the window -> 0
        ("j", "2024-11-01", "transfer_out", None, False),  # j: unverified transfer -> 0, not censored
        ("l", "2024-10-20", "suspend", None, None),  # l: 休学 before the dropout mark -> censored
        ("l", "2024-11-10", "dropout_mark", None, None),
        ("m", "2024-11-01", "dropout_mark", "enrolled_elsewhere", None),  # m: not a dropout -> censored
    ]
    registry = pd.DataFrame(ev, columns=["student_id", "event_date", "event_type", "reason", "verified"])
    att = []
    # d: 20 unexcused weekdays from 2024-10-08 -> 1; the 20th is 2024-11-04
    att += [("d", day, "unexcused") for day in _weekdays("2024-10-08", 20)]
    # k: 19 unexcused weekdays then present -> 0
    days_k = _weekdays("2024-10-08", 20)
    att += [("k", day, "unexcused") for day in days_k[:19]] + [("k", days_k[19], "present")]
    # g: present; the last row makes the tables observed until 2025-02-03
    att += [("g", "2024-10-02", "present"), ("g", "2025-02-03", "present")]
    attendance = pd.DataFrame(att, columns=["student_id", "date", "status"])
    exams = pd.DataFrame(
        {
            "exam_id": ["e1"],
            "school_id": ["s1"],
            "grade": [7],
            "exam_type": ["final"],
            "exam_date": ["2025-01-10"],
        }
    )
    results = pd.DataFrame({"student_id": ["a"], "exam_id": ["e1"], "subject": ["math"], "score": [50.0]})
    frames = {
        "students": students,
        "attendance": attendance,
        "exams": exams,
        "exam_results": results,
        "registry_events": registry,
    }
    return tables_from_frames(frames, max_reject_share=1.0).tables


@pytest.fixture(scope="module")
def tables():
    return _tables()


def test_make_labels_hand_made(tables):
    lab = make_labels(tables, D, CFG)
    got = {str(k): int(v) for k, v in lab["label"].items()}
    # e, l, m censored (not in the frame); f not in the cohort
    assert got == {
        "a": 1,
        "b": 0,
        "c": 1,
        "d": 1,
        "g": 0,
        "h": 1,
        "i": 0,
        "j": 0,
        "k": 0,
    }
    assert lab.loc["a", "event_date"] == pd.Timestamp("2024-11-05")
    assert lab.loc["d", "event_date"] == pd.Timestamp("2024-11-04")  # the 20th unexcused weekday
    assert lab.loc["c", "event_date"] == pd.Timestamp("2024-12-20")
    assert pd.isna(lab.loc["g", "event_date"])
    assert lab.index.name == "student_id"
    assert list(lab.index.categories) == list(tables.student_ids)


def test_cohort_leaves_out_students_already_out(tables):
    on_d = [str(s) for s in cohort_members(tables, D)]
    assert "f" not in on_d and "a" in on_d
    # on 2024-11-06 a (dropout mark 11-05) and j (transfer out 11-01) are out; b is back
    later = [str(s) for s in cohort_members(tables, "2024-11-06")]
    assert "a" not in later and "j" not in later and "b" in later
    # h has an open suspected mark on 2024-11-01 (no return until 11-20): still enrolled,
    # and exactly who the list is for (features.cohort)
    assert "h" in [str(s) for s in cohort_members(tables, "2024-11-01")]


def test_streak_counts_only_days_inside_the_window(tables):
    # as of 2024-10-15 the window holds d's unexcused days from 10-16 to 11-04: 14 < 20 -> 0
    lab = make_labels(tables, "2024-10-15", CFG, until="2025-03-01")
    assert lab.loc["d", "label"] == 0
    # a shorter streak rule (10 days) makes it positive; the 10th day inside is 2024-10-29
    lab10 = make_labels(tables, "2024-10-15", TrainConfig(streak_days=10), until="2025-03-01")
    assert lab10.loc["d", "label"] == 1
    assert lab10.loc["d", "event_date"] == pd.Timestamp("2024-10-29")


def test_label_needs_an_observed_window(tables):
    assert label_lag_days(CFG) == 120
    with pytest.raises(PointInTimeError, match=r"as_of=2024-11-01 needs data up to 2025-03-01"):
        make_labels(tables, "2024-11-01", CFG)
    assert observable_as_of_dates([D, "2024-11-01"], CFG, until="2025-02-03") == [D]


def test_label_panel_matches_make_labels(tables):
    panel = label_panel(tables, [D, "2024-09-15"], CFG)
    assert list(panel.columns) == ["student_id", "as_of", "label", "event_date"]
    assert panel["as_of"].dtype == "datetime64[s]"
    one = panel.loc[panel["as_of"] == D].set_index("student_id")
    pd.testing.assert_series_equal(one["label"], make_labels(tables, D, CFG)["label"])
    # on 2024-09-15 f is still in school and its dropout mark (09-20) is in the window -> 1
    early = panel.loc[panel["as_of"] == "2024-09-15"].set_index("student_id")
    assert early.loc["f", "label"] == 1


def test_labels_do_not_mutate_tables(tables):
    before = tables.registry_events.copy()
    make_labels(tables, D, CFG)
    pd.testing.assert_frame_equal(tables.registry_events, before)
