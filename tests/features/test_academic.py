"""Academic features on a hand-made grade; every expected value is worked out in a comment.

School s1, grade 7: class k1 = {a, b}, class k2 = {c, d, e} until 1 Nov 2024, when c moves
to k1. Exam e1 (midterm, 20 Oct 2024) and e2 (final, 10 Jan 2025): chinese and math out of
100, english out of 120. School s2 (class k3 = {f, g, h}) reports levels only (e3, 10 Jan).
a repeated grade 7 (grade 7 rows in 2023-24 and 2024-25).

Composite = mean share of full marks, in %:
  e1: a (90+80+90)/3=86.67  b (70+50+50)/3=56.67  c (60+70+60)/3=63.33  d (80+90+80)/3=83.33
      e (40+30)/2=35 (absent from english)
  e2: a (95+85+95)/3=91.67  b (40+45+40)/3=41.67  c (80+75+70)/3=75  d (50+60+60)/3=56.67
      e (30+20+30)/3=26.67
Mid-rank percentile 100*(r-0.5)/n:
  e1 grade (n=5): e 10, b 30, c 50, d 70, a 90; class k1: b 25, a 75; k2: e 16.67, c 50, d 83.33
  e2 grade: e 10, b 30, d 50, c 70, a 90; class k1 (a, b, c): b 16.67, c 50, a 83.33; k2: e 25, d 75
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from _handmade import tables

from features.academic import academic_columns, academic_features

AS_OF = dt.date(2025, 1, 12)
E1 = {"a": (90, 80, 108), "b": (70, 50, 60), "c": (60, 70, 72), "d": (80, 90, 96), "e": (40, 30, None)}
E2 = {"a": (95, 85, 114), "b": (40, 45, 48), "c": (80, 75, 84), "d": (50, 60, 72), "e": (30, 20, 36)}
LEVELS = {"f": ("A", "B"), "g": ("D", "D"), "h": ("C", "B")}


def _county():
    ids = list("abcdefgh")
    st = [
        ("a", "2023-09-01", "2024-09-01", "s1", "k0", 7),
        ("a", "2024-09-01", None, "s1", "k1", 7),
        ("b", "2024-09-01", None, "s1", "k1", 7),
        ("c", "2024-09-01", "2024-11-01", "s1", "k2", 7),
        ("c", "2024-11-01", None, "s1", "k1", 7),
        ("d", "2024-09-01", None, "s1", "k2", 7),
        ("e", "2024-09-01", None, "s1", "k2", 7),
        ("f", "2024-09-01", None, "s2", "k3", 7),
        ("g", "2024-09-01", None, "s2", "k3", 7),
        ("h", "2024-09-01", None, "s2", "k3", 7),
        ("x", "2024-09-01", None, "s1", "k1", 7),  # x sat no exam
    ]
    students = pd.DataFrame(
        st, columns=["student_id", "valid_from", "valid_to", "school_id", "class_id", "grade"]
    )
    students = students.assign(sex="M", birth_ym="2011-03")
    exams = pd.DataFrame(
        {
            "exam_id": ["e1", "e2", "e3", "e9"],
            "school_id": ["s1", "s1", "s2", "s1"],
            "grade": 7,
            "exam_type": ["midterm", "final", "final", "monthly"],
            "exam_date": ["2024-10-20", "2025-01-10", "2025-01-10", "2025-01-13"],  # e9: after as_of
        }
    )
    res = []
    for exam, table in (("e1", E1), ("e2", E2)):
        for sid, marks in table.items():
            for subj, full, score in zip(("chinese", "math", "english"), (100, 100, 120), marks, strict=True):
                res.append((sid, exam, subj, score, full, None, score is None))
    for sid, lv in LEVELS.items():
        for subj, level in zip(("chinese", "math"), lv, strict=True):
            res.append((sid, "e3", subj, None, None, level, False))
    # e9 (future): would make everyone fail if it were read
    res += [(sid, "e9", "math", 0.0, 100, None, False) for sid in "abcde"]
    results = pd.DataFrame(
        res, columns=["student_id", "exam_id", "subject", "score", "full_marks", "level", "absent"]
    )
    reg = pd.DataFrame({"student_id": ids + ["x"], "event_date": "2024-09-01", "event_type": "enrol"})
    return tables(ids + ["x"], students=students, exams=exams, exam_results=results, registry_events=reg)


@pytest.fixture(scope="module")
def feats():
    return academic_features(_county(), AS_OF)


def test_columns(feats):
    assert list(feats.columns) == academic_columns()
    assert (feats.dtypes == "float64").all()


def test_composite_standing_in_class_and_grade(feats):
    assert feats["acad_composite_score_last"].loc[list("abcde")].tolist() == pytest.approx(
        [91.667, 41.667, 75.0, 56.667, 26.667], abs=1e-3
    )
    # c is ranked in k1, the class it was in on 10 Jan
    assert feats["acad_composite_pct_class_last"].loc[list("abcde")].tolist() == pytest.approx(
        [83.333, 16.667, 50.0, 75.0, 25.0], abs=1e-3
    )
    assert feats["acad_composite_pct_grade_last"].loc[list("abcde")].tolist() == [90, 30, 70, 50, 10]


def test_bottom20_and_change(feats):
    # bottom 20% of the class: standing <= 20; e is lowest of a class of two (25): not bottom 20%
    assert feats["acad_bottom20_class"].loc[list("abcde")].tolist() == [0, 1, 0, 0, 0]
    # b stood at 25 in k1 on e1: newly in the bottom 20%
    assert feats["acad_bottom20_new"].loc[list("abcde")].tolist() == [0, 1, 0, 0, 0]
    # grade standing e2 - e1
    assert feats["acad_composite_pct_change"].loc[list("abcde")].tolist() == [0, 0, 20, -20, 0]
    # two exams 82 days apart: slope = change / (82 / 182.5) points per term
    assert feats.loc["c", "acad_composite_pct_slope_2terms"] == pytest.approx(20 * 182.5 / 82)
    assert feats.loc["d", "acad_composite_pct_slope_2terms"] == pytest.approx(-20 * 182.5 / 82)


def test_subjects_failed_and_missed(feats):
    # e2 math 85, 45, 75, 60, 20 -> grade: e 10, b 30, d 50, c 70, a 90; class k1 (a, b, c): b 16.67, c 50, a 83.33
    assert feats["acad_math_pct_grade_last"].loc[list("abcde")].tolist() == [90, 30, 70, 50, 10]
    assert feats["acad_math_pct_class_last"].loc[list("abc")].tolist() == pytest.approx(
        [83.333, 16.667, 50], abs=1e-3
    )
    # failed (< 60% of full marks): b 40, 45, 48/120 -> 3; d 50 -> 1 (60 and 72/120 = 60% pass); e 3
    assert feats["acad_failed_subjects_last"].loc[list("abcde")].tolist() == [0, 3, 0, 1, 3]
    # e missed english in e1
    assert feats["acad_exams_missed_year"].loc[list("abcde")].tolist() == [0, 0, 0, 0, 1]
    assert feats["acad_days_since_exam"].loc["a"] == 2


def test_levels_only_school(feats):
    # f A,B -> (92.5+67.5)/2 = 80; g D,D -> 10; h C,B -> 51.25; ranked in k3: g 16.67, h 50, f 83.33
    assert feats["acad_composite_pct_class_last"].loc[list("fgh")].tolist() == pytest.approx(
        [83.333, 16.667, 50], abs=1e-3
    )
    assert feats["acad_bottom20_class"].loc[list("fgh")].tolist() == [0, 1, 0]
    # a subject's standing is its level's band midpoint
    assert feats["acad_math_pct_class_last"].loc[list("fgh")].tolist() == [67.5, 10, 67.5]
    assert feats["acad_chinese_pct_grade_last"].loc[list("fgh")].tolist() == [92.5, 10, 35]
    assert feats["acad_failed_subjects_last"].loc[list("fgh")].tolist() == [0, 2, 0]  # level D fails
    assert feats.loc[list("fgh"), "acad_composite_score_last"].isna().all()  # no scores
    assert feats.loc[list("fgh"), ["acad_composite_pct_change", "acad_bottom20_new"]].isna().all().all()


def test_repetition_and_no_exam(feats):
    assert feats["acad_repeated_grade"].loc[list("abcx")].tolist() == [1, 0, 0, 0]
    x = feats.loc["x"].drop("acad_repeated_grade")
    assert x.isna().all()  # sat no exam: NaN, never 0


def test_before_first_exam_everything_missing():
    f = academic_features(_county(), dt.date(2024, 10, 19))
    assert f.drop(columns="acad_repeated_grade").isna().all().all()
    # on the exam day the result is known; c stood in k2 then: 50
    f = academic_features(_county(), dt.date(2024, 10, 20))
    assert f.loc["c", "acad_composite_pct_class_last"] == 50
    assert math.isnan(f.loc["c", "acad_composite_pct_change"])


def _midrank_pct_pandas(values, keys):
    """The former formula: pandas' grouped average rank and count."""
    frame = pd.DataFrame({"v": np.asarray(values)})
    for i, k in enumerate(keys):
        frame[f"k{i}"] = np.asarray(k)
    g = frame.groupby([f"k{i}" for i in range(len(keys))], sort=False, dropna=False)["v"]
    rank = g.rank(method="average").to_numpy()
    n = g.transform("count").to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (rank - 0.5) / n


@pytest.mark.parametrize("seed", range(20))
def test_sort_based_standing_equals_pandas_rank(seed):
    """Ties, NaN, negative and one-row-per-group keys (students with no class), -0.0."""
    from features.academic import _midrank_pct

    rng = np.random.default_rng(seed)
    for _ in range(10):
        n = int(rng.integers(1, 300))
        v = rng.integers(-2, int(rng.integers(1, 30)), n).astype(float) / rng.choice([1, 3, 7])
        v[rng.random(n) < 0.1] = np.nan
        v[rng.random(n) < 0.05] = -0.0
        keys = [rng.integers(-3, int(rng.integers(1, 8)), n) for _ in range(int(rng.integers(1, 4)))]
        keys.append(np.where(rng.random(n) < 0.3, -1 - np.arange(n), rng.integers(0, 3, n)))
        got = _midrank_pct(v, keys)
        np.testing.assert_array_equal(got, _midrank_pct_pandas(v, keys))


def test_trajectory_over_four_terms_and_mean_standing():
    """p and q share class k1; exams o1 (1 Mar 2023: 683 days before 12 Jan 2025, past the
    400-day look-back of the latest-exam features and the 365 days of the two-term slope),
    o2 (20 Oct 2024, 84 days before) and o3 (10 Jan 2025, 2 days before). p is first on o1
    and second on o2 and o3, so p's grade (= class) percentile is 75, 25, 25 and q's 25, 75, 75.

    Four-term slope of p, x = days / 182.5: t = -683, -84, -2 days, y = 75, 25, 25; mean t
    -256.33, mean y 41.67; Sxy = -426.67 * 33.33 + 172.33 * -16.67 + 254.33 * -16.67 = -21,333;
    Stt = 426.67² + 172.33² + 254.33² = 276,429 -> -0.07718 points a day = -14.084 a term.
    The two-term slope sees o2 and o3 only: 0. Mean class percentile of o2, o3: p 25, q 75.
    """
    st = pd.DataFrame(
        [("p", "2022-09-01", None, "s1", "k1", 7), ("q", "2022-09-01", None, "s1", "k1", 7)],
        columns=["student_id", "valid_from", "valid_to", "school_id", "class_id", "grade"],
    ).assign(sex="M", birth_ym="2011-03")
    exams = pd.DataFrame(
        {
            "exam_id": ["o1", "o2", "o3"],
            "school_id": "s1",
            "grade": 7,
            "exam_type": "final",
            "exam_date": ["2023-03-01", "2024-10-20", "2025-01-10"],
        }
    )
    marks = {"o1": (90, 60), "o2": (50, 80), "o3": (40, 70)}
    res = pd.DataFrame(
        [
            (sid, e, "math", m, 100, None, False)
            for e, ms in marks.items()
            for sid, m in zip("pq", ms, strict=True)
        ],
        columns=["student_id", "exam_id", "subject", "score", "full_marks", "level", "absent"],
    )
    reg = pd.DataFrame({"student_id": ["p", "q"], "event_date": "2022-09-01", "event_type": "enrol"})
    f = academic_features(
        tables(["p", "q"], students=st, exams=exams, exam_results=res, registry_events=reg), AS_OF
    )
    assert f["acad_composite_pct_slope_4terms"].tolist() == pytest.approx([-14.0844, 14.0844], abs=1e-4)
    assert f["acad_composite_pct_slope_2terms"].tolist() == pytest.approx([0, 0], abs=1e-9)
    assert f["acad_composite_pct_class_mean_2terms"].tolist() == [25, 75]
    # the latest-exam features still read the last 400 days only: o2 -> o3, no change
    assert f["acad_composite_pct_change"].tolist() == [0, 0]
