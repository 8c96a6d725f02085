"""Academic features (成绩): standing in class and grade, the 学困生 flag, trends, failures.

How results are read:

- Only exams whose ``exam_date`` is on or before ``as_of`` count (the exam date is when
  a result becomes known), and only the last :data:`LOOKBACK_DAYS` of them.
- *Standing* is a mid-rank percentile, 0–100: a student ranked ``r`` of ``n`` (ties
  averaged) stands at ``100 * (r - 0.5) / n``; in a class of five, the lowest stands at 10
  and the highest at 90. Within-grade standing ranks everyone who sat the exam (an exam
  belongs to one school and grade); within-class standing ranks those in the same class
  *on the exam date* (the ``students`` row in force then), so a student who changed
  class is ranked with the class they were in.
- The *composite* of an exam is the mean share of full marks over the subjects sat
  (``full_marks`` missing = 100). When a school reports levels only (no scores), each
  level is mapped to the middle of its percentile band (SIMULATOR.md: A ≥ 85th
  percentile → 92.5, B 50–85 → 67.5, C 20–50 → 35, D < 20 → 10); a subject's standing is
  that midpoint and the composite is the mean midpoint, ranked within class and grade.
- 学困生 (DOMAIN.md): the bottom ``bottom_share`` (20%) of the class on the composite,
  i.e. a within-class standing at or below 20.
- A subject is failed below ``fail_share`` (60%) of full marks, or at level D.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.cohort import spine_of
from features.config import BaoxueConfig, FeaturesConfig, feature_settings
from features.contract import CORE_SUBJECTS, SUBJECTS, Tables
from features.names import FeatureNames, feature_names
from features.time import day_numbers, known_rows, school_year_start, school_years

__all__ = ["academic_features", "academic_columns", "LEVEL_PERCENTILE", "LOOKBACK_DAYS"]

#: percentile band midpoints of the reported levels (SIMULATOR.md "Exam grades")
LEVEL_PERCENTILE = {"A": 92.5, "B": 67.5, "C": 35.0, "D": 10.0}
#: exams older than this (calendar days before ``as_of``) are not read
LOOKBACK_DAYS = 400
#: the trend (slope) is fitted on the exams of the last two terms
SLOPE_DAYS = 365
#: the trajectory is fitted on the exams of the last four terms (read this far back)
TRAJECTORY_DAYS = 730
_TERM_DAYS = 182.5
_LEVELS = ("A", "B", "C", "D")


def academic_columns(config: BaoxueConfig | None = None) -> list[str]:
    """The columns :func:`academic_features` returns, in order.

    >>> len(academic_columns())
    19
    """
    names = feature_names(config)
    cols = ["acad_composite_score_last", "acad_composite_pct_class_last", "acad_composite_pct_grade_last"]
    for subj in CORE_SUBJECTS:
        cols += [f"acad_{subj}_pct_class_last", f"acad_{subj}_pct_grade_last"]
    cols += [
        names.bottom_class,
        names.bottom_new,
        "acad_composite_pct_change",
        "acad_composite_pct_slope_2terms",
        "acad_composite_pct_slope_4terms",
        "acad_composite_pct_class_mean_2terms",
        "acad_failed_subjects_last",
        "acad_exams_missed_year",
        "acad_repeated_grade",
        "acad_days_since_exam",
    ]
    return cols


def _midrank_pct(values: pd.Series | np.ndarray, keys: list[pd.Series] | list[np.ndarray]) -> np.ndarray:
    """Mid-rank percentile of ``values`` within the groups of equal ``keys`` (NaN stays NaN).

    The same numbers as pandas' ``groupby(keys).rank(method="average")`` and ``count``
    (``100 * (rank - 0.5) / n``), from one sort of int64 keys packing (group, value rank,
    row) instead of pandas' lexsort: a row's rank is the number of rows of its group with a
    smaller value plus the mean position among its ties.
    """
    v = np.asarray(values, dtype="float64")
    n = len(v)
    out = np.full(n, np.nan)
    valid = ~np.isnan(v)
    rows = np.flatnonzero(valid)
    if not len(rows):
        return out
    # group ids from the integer keys (hashed only when not already small codes)
    group, n_groups = np.zeros(len(rows), dtype="int64"), 1
    for k in keys:
        kk = np.asarray(k)[rows].astype("int64")
        if kk.min() >= 0 and kk.max() < 4 * len(rows) + 1024:
            code, size = kk, int(kk.max()) + 1
        else:
            code, uniq_k = pd.factorize(kk, sort=False)
            size = len(uniq_k)
        if n_groups * size >= 1 << 62:
            group = pd.factorize(group, sort=False)[0].astype("int64")
            n_groups = int(group.max()) + 1
        group = group * size + code
        n_groups *= size
    # dense value ranks: hash the values, then sort only the distinct ones
    v_code, v_uniq = pd.factorize(v[rows], sort=False)
    n_v = len(v_uniq)
    v_rank = np.empty(n_v, dtype="int64")
    v_rank[np.argsort(v_uniq)] = np.arange(n_v)
    row_bits = max(int(len(rows) - 1).bit_length(), 1)
    if (n_groups * n_v - 1).bit_length() + row_bits > 63:
        group = pd.factorize(group, sort=False)[0].astype("int64")
        n_groups = int(group.max()) + 1
    key = group * n_v + v_rank[v_code]  # sorts by group, then value
    del group, v_code
    if (n_groups * n_v - 1).bit_length() + row_bits <= 63:
        packed = np.sort((key << row_bits) | np.arange(len(rows), dtype="int64"))
        order = packed & ((1 << row_bits) - 1)
        ks = packed >> row_bits
        del packed
    else:  # too many bits to pack the row: an indirect sort (slower, same result)
        order = np.argsort(key, kind="stable")
        ks = key[order]
    del key
    m = len(ks)
    # runs of equal keys (ties) and of equal groups in the sorted keys: first and end positions
    key_start = np.flatnonzero(np.append(True, ks[1:] != ks[:-1]))
    gs = ks // n_v
    group_start = np.flatnonzero(np.append(True, gs[1:] != gs[:-1]))
    key_len = np.diff(np.append(key_start, m))
    group_len = np.diff(np.append(group_start, m))
    key_first = np.repeat(key_start, key_len)
    ties = np.repeat(key_len, key_len)
    group_first = np.repeat(group_start, group_len)
    count = np.repeat(group_len, group_len)
    rank = (key_first - group_first) + (ties + 1) / 2
    pct = np.empty(m)
    pct[order] = 100.0 * (rank - 0.5) / count
    out[rows] = pct
    return out


def academic_features(
    tables: Tables,
    as_of: dt.date,
    *,
    config: BaoxueConfig | None = None,
    cohort: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Academic features of the cohort on ``as_of``.

    Parameters
    ----------
    tables : Tables
        Reads ``exams``, ``exam_results`` and ``students`` (class on the exam date, grade
        history).
    as_of : date
        Only exams dated on or before this day count.
    config : BaoxueConfig, optional
        ``bottom_share`` (学困生) and ``fail_share``.
    cohort : DataFrame, optional
        The output of :func:`features.cohort.cohort` for ``as_of``.

    Returns
    -------
    DataFrame
        Indexed by ``student_id``; columns :func:`academic_columns`, all ``float64``
        (NaN when the student sat no exam in the window).

    Examples
    --------
    >>> from features._examples import example_tables
    >>> tables = example_tables(exams={"exam_type": ["midterm"], "exam_date": ["2024-11-08"]},
    ...                         exam_results={"student_id": ["a", "b"], "score": [50.0, 90.0]})
    >>> f = academic_features(tables, dt.date(2024, 11, 10))
    >>> f[["acad_composite_pct_class_last", "acad_bottom20_class", "acad_failed_subjects_last"]].values.tolist()
    [[25.0, 0.0, 1.0], [75.0, 0.0, 0.0]]
    """
    fc, _ = feature_settings(config)
    spine = spine_of(tables, as_of, cohort)
    cols = academic_columns(config)
    n_all = len(tables.student_ids)
    out = {c: np.full(n_all, np.nan) for c in cols}
    spine_codes = spine["code"].to_numpy()
    asof_day = int(day_numbers(np.array([np.datetime64(as_of, "s")]))[0])

    known_students = known_rows(tables, "students", as_of)
    out["acad_repeated_grade"] = _repeated_grade(known_students, n_all)

    # the trajectory reads further back; every other feature reads the last LOOKBACK_DAYS
    ex = known_rows(
        tables, "exams", as_of, since=as_of - dt.timedelta(days=max(LOOKBACK_DAYS, TRAJECTORY_DAYS))
    )
    ex = ex.drop_duplicates("exam_id")
    res = tables.exam_results
    exam_idx = pd.Index(ex["exam_id"].astype("str"))
    if len(ex):  # through the distinct ids: no per-row string hashing
        e_code, e_uniq = pd.factorize(res["exam_id"], use_na_sentinel=True)
        e = np.append(exam_idx.get_indexer(e_uniq), -1)[e_code]
    else:
        e = np.full(len(res), -1)
    sel = np.flatnonzero(e >= 0)
    if len(sel):
        r = pd.DataFrame(
            {
                "code": res["student_id"].cat.codes.to_numpy()[sel].astype("int64"),
                "exam": e[sel],
                "subject": res["subject"].cat.codes.to_numpy()[sel],
                "score": res["score"].to_numpy(dtype="float64", na_value=np.nan)[sel],
                "full": res["full_marks"].to_numpy(dtype="float64", na_value=np.nan)[sel],
                "level": res["level"].cat.codes.to_numpy()[sel],
                "absent": res["absent"].fillna(False).to_numpy(dtype=bool)[sel],
            }
        )
        _fill_academic(out, r, ex, known_students, as_of, asof_day, fc, feature_names(config))

    frame = pd.DataFrame({c: out[c][spine_codes] for c in cols}, index=spine.index)
    return frame


def _class_at(st: pd.DataFrame, code: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Class code (factorised ``class_id``, -1 unknown) of each (student code, day): the
    ``students`` row of ``st`` (those known on ``as_of``) with the latest ``valid_from``
    on or before ``day``."""
    cls, _ = pd.factorize(st["class_id"].astype("str"), use_na_sentinel=True)
    cls = np.where(st["class_id"].isna().to_numpy(), -1, cls)
    big = np.int64(1 << 22)
    key = st["student_id"].cat.codes.to_numpy().astype("int64") * big + day_numbers(
        st["valid_from"].to_numpy()
    )
    order = np.argsort(key, kind="stable")
    key, cls = key[order], cls[order]
    q = code * big + day
    pos = np.searchsorted(key, q, side="right") - 1
    ok = (pos >= 0) & ((key[np.maximum(pos, 0)] // big) == code)
    return np.where(ok, cls[np.maximum(pos, 0)], -1)


def _fill_academic(
    out: dict[str, np.ndarray],
    r: pd.DataFrame,
    ex: pd.DataFrame,
    students: pd.DataFrame,
    as_of: dt.date,
    asof_day: int,
    fc: FeaturesConfig,
    names: FeatureNames,
) -> None:
    exam_day = day_numbers(ex["exam_date"].to_numpy())
    r["day"] = exam_day[r["exam"].to_numpy()]
    n_all = len(out["acad_repeated_grade"])

    # exams missed this school year: distinct exams with an absent subject
    sy_day = int(day_numbers(np.array([np.datetime64(school_year_start(as_of), "s")]))[0])
    this_year = r["day"].to_numpy() >= sy_day
    seen = np.bincount(r["code"].to_numpy()[this_year], minlength=n_all) > 0
    miss = r.loc[this_year & r["absent"].to_numpy(), ["code", "exam"]].drop_duplicates()
    missed = np.bincount(miss["code"].to_numpy(), minlength=n_all).astype("float64")
    out["acad_exams_missed_year"] = np.where(seen, missed, np.nan)

    sat = ~r["absent"].to_numpy() & (r["score"].notna().to_numpy() | (r["level"].to_numpy() >= 0))
    r = r.loc[sat].reset_index(drop=True)
    if not len(r):
        return
    full = r["full"].fillna(100.0).to_numpy()
    share = r["score"].to_numpy() / full
    mid = np.array([LEVEL_PERCENTILE[lv] for lv in _LEVELS] + [np.nan])[r["level"].to_numpy()]
    has_score = ~np.isnan(share)
    level = r["level"].to_numpy()
    fail = np.where(has_score, share < fc.fail_share, level == _LEVELS.index("D"))

    # one row per (student, exam): composite, and the class on the exam date
    pair_key = r["code"].to_numpy() * np.int64(len(ex)) + r["exam"].to_numpy()
    pk, inv = np.unique(pair_key, return_inverse=True)
    n_sc = np.bincount(inv, weights=has_score)
    sum_sc = np.bincount(inv, weights=np.where(has_score, share * 100, 0.0))
    n_lv = np.bincount(inv, weights=~has_score & ~np.isnan(mid))
    sum_lv = np.bincount(inv, weights=np.where(~has_score & ~np.isnan(mid), mid, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        score_comp = np.where(n_sc > 0, sum_sc / n_sc, np.nan)
        comp = np.where(n_sc > 0, score_comp, np.where(n_lv > 0, sum_lv / n_lv, np.nan))
    pairs = pd.DataFrame({"code": pk // len(ex), "exam": pk % len(ex)})
    pairs["day"] = exam_day[pairs["exam"].to_numpy()]
    pairs["cls"] = _class_at(students, pairs["code"].to_numpy(), pairs["day"].to_numpy())
    cls_key = np.where(pairs["cls"].to_numpy() >= 0, pairs["cls"].to_numpy(), -1 - np.arange(len(pairs)))
    pairs["comp"] = comp
    pairs["score_comp"] = score_comp
    pairs["pct_grade"] = _midrank_pct(pairs["comp"], [pairs["exam"]])
    pct_class = _midrank_pct(pairs["comp"], [pairs["exam"], cls_key])
    pairs["pct_class"] = np.where(pairs["cls"].to_numpy() >= 0, pct_class, np.nan)
    pairs["fails"] = np.bincount(inv, weights=fail)

    # subject standings (core subjects only are reported)
    core = np.isin(r["subject"].to_numpy(), [SUBJECTS.index(s) for s in CORE_SUBJECTS])
    rc = r.loc[core, ["exam", "subject"]].copy()
    rc["share"] = share[core]
    rc["pair"] = inv[core]
    cls_row = pairs["cls"].to_numpy()[rc["pair"].to_numpy()]
    rc_cls = np.where(cls_row >= 0, cls_row, -1 - np.arange(len(rc)))
    g_pct = _midrank_pct(rc["share"], [rc["exam"], rc["subject"]])
    c_pct = _midrank_pct(rc["share"], [rc["exam"], rc["subject"], rc_cls])
    c_pct = np.where(cls_row >= 0, c_pct, np.nan)
    rc["pct_grade"] = np.where(has_score[core], g_pct, mid[core])
    rc["pct_class"] = np.where(has_score[core], c_pct, np.where(cls_row >= 0, mid[core], np.nan))

    # latest and previous exam of each student
    pairs = pairs.loc[pairs["comp"].notna()].sort_values(["code", "day", "exam"], kind="stable")
    # the trajectory over four terms and the mean standing over two (exam noise averaged out)
    _trend(out, "acad_composite_pct_slope_4terms", pairs, asof_day, TRAJECTORY_DAYS, n_all)
    two = pairs.loc[(pairs["day"].to_numpy() > asof_day - SLOPE_DAYS) & pairs["pct_class"].notna().to_numpy()]
    n_two = np.bincount(two["code"].to_numpy(), minlength=n_all)
    sum_two = np.bincount(two["code"].to_numpy(), weights=two["pct_class"].to_numpy(), minlength=n_all)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["acad_composite_pct_class_mean_2terms"] = np.where(n_two > 0, sum_two / n_two, np.nan)
    pairs = pairs.loc[pairs["day"].to_numpy() >= asof_day - LOOKBACK_DAYS]
    if not len(pairs):
        return
    last = pairs.drop_duplicates("code", keep="last")
    prev = pairs.loc[~pairs.index.isin(last.index)].drop_duplicates("code", keep="last")
    c = last["code"].to_numpy()
    out["acad_composite_score_last"][c] = last["score_comp"].to_numpy()
    out["acad_composite_pct_class_last"][c] = last["pct_class"].to_numpy()
    out["acad_composite_pct_grade_last"][c] = last["pct_grade"].to_numpy()
    out["acad_failed_subjects_last"][c] = last["fails"].to_numpy()
    out["acad_days_since_exam"][c] = asof_day - last["day"].to_numpy()
    bottom = 100.0 * fc.bottom_share
    with np.errstate(invalid="ignore"):
        is_bottom = np.where(
            np.isnan(last["pct_class"].to_numpy()), np.nan, last["pct_class"].to_numpy() <= bottom
        )
    out[names.bottom_class][c] = is_bottom
    prev_class = np.full(n_all, np.nan)
    prev_class[prev["code"].to_numpy()] = prev["pct_class"].to_numpy()
    prev_grade = np.full(n_all, np.nan)
    prev_grade[prev["code"].to_numpy()] = prev["pct_grade"].to_numpy()
    with np.errstate(invalid="ignore"):
        was_bottom = prev_class[c] <= bottom
    out[names.bottom_new][c] = np.where(
        np.isnan(prev_class[c]) | np.isnan(is_bottom), np.nan, (is_bottom == 1) & ~was_bottom
    )
    out["acad_composite_pct_change"][c] = last["pct_grade"].to_numpy() - prev_grade[c]

    # subject standings at the latest exam
    last_pair = np.full(len(pk), False)
    pair_pos = np.searchsorted(pk, c * np.int64(len(ex)) + last["exam"].to_numpy())
    last_pair[pair_pos] = True
    rl = rc.loc[last_pair[rc["pair"].to_numpy()]]
    rl_code = pk[rl["pair"].to_numpy()] // len(ex)
    for subj in CORE_SUBJECTS:
        m = (rl["subject"].to_numpy() == SUBJECTS.index(subj)).astype(bool)
        out[f"acad_{subj}_pct_class_last"][rl_code[m]] = rl["pct_class"].to_numpy()[m]
        out[f"acad_{subj}_pct_grade_last"][rl_code[m]] = rl["pct_grade"].to_numpy()[m]

    # slope of the grade standing over the last two terms, in percentile points per term
    _trend(out, "acad_composite_pct_slope_2terms", pairs, asof_day, SLOPE_DAYS, n_all)


def _trend(
    out: dict[str, np.ndarray], name: str, pairs: pd.DataFrame, asof_day: int, days: int, n_all: int
) -> None:
    """``out[name]``: least-squares slope of each student's grade percentile over the exams of
    the last ``days`` days, in percentile points per term (NaN below two exams on two dates)."""
    recent = pairs.loc[pairs["day"].to_numpy() > asof_day - days]
    code = recent["code"].to_numpy()
    x = (recent["day"].to_numpy() - asof_day) / _TERM_DAYS
    y = recent["pct_grade"].to_numpy()
    n = np.bincount(code, minlength=n_all).astype("float64")
    sx = np.bincount(code, weights=x, minlength=n_all)
    sy = np.bincount(code, weights=y, minlength=n_all)
    sxx = np.bincount(code, weights=x * x, minlength=n_all)
    sxy = np.bincount(code, weights=x * y, minlength=n_all)
    den = n * sxx - sx * sx
    span_ok = den > 1e-9 * np.maximum(n, 1) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        out[name] = np.where((n >= 2) & span_ok, (n * sxy - sx * sy) / den, np.nan)


def _repeated_grade(st: pd.DataFrame, n_all: int) -> np.ndarray:
    """1.0 when the known ``students`` history shows the same grade in two school years or a
    grade going down (留级), else 0.0."""
    code = st["student_id"].cat.codes.to_numpy().astype("int64")
    grade = st["grade"].to_numpy(dtype="int64")
    days = st["valid_from"]
    sy = school_years(days)
    frame = pd.DataFrame({"code": code, "grade": grade, "sy": sy, "day": day_numbers(days.to_numpy())})
    frame = frame.sort_values(["code", "day"], kind="stable")
    same = frame.groupby(["code", "grade"], sort=False)["sy"].nunique()
    rep = np.zeros(n_all)
    rep[same.index.get_level_values("code")[same.to_numpy() > 1]] = 1.0
    c = frame["code"].to_numpy()
    g = frame["grade"].to_numpy()
    down = (c[1:] == c[:-1]) & (g[1:] < g[:-1])
    rep[c[1:][down]] = 1.0
    return rep
