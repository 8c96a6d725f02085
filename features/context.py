"""Context features (背景): grade and age, boarding and the way to school, school-year phase,
class size and the school's past dropout rate.

- Over-age: the age on 1 September of the school year against the usual age for the
  grade (a child starts grade 1 at 6, so grade ``g`` is usually ``g + 5`` on
  1 September); whole years, negative when young for the grade.
- Phase: weeks since the first school day of the current term; the September and
  March windows are the first ``phase_window_days`` (28) days of the autumn and spring
  terms of this school year (DOMAIN.md "Periods"); "before 中考" is grade 9 within the
  ``zhongkao_window_days`` (30) before ``zhongkao_date`` (15 June).
- Class size counts the cohort students in the same class on ``as_of``.
- The school's dropout rate in previous years: students with a ``dropout_mark`` in each
  of the previous three school years (attributed to the school they were in then) over
  the students the school had in those years; only events known on ``as_of``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.cohort import spine_of
from features.config import BaoxueConfig, feature_settings
from features.contract import TABLES, Tables
from features.time import SCHOOL_YEAR_MONTH, day_numbers, known_rows, school_days, school_year_of

__all__ = ["context_features", "context_columns", "PREVIOUS_YEARS"]

#: school years before the current one used for the school's dropout rate
PREVIOUS_YEARS = 3
_COMMUTE = TABLES["students"].column("commute_mode").values or ()
_SCHOOL_TYPES = TABLES["schools"].column("school_type").values or ()
_URBAN_RURAL = TABLES["schools"].column("urban_rural").values or ()
_CATEGORICAL = (
    "ctx_commute_mode",
    "ctx_school_type",
    "ctx_urban_rural",
    "ctx_ethnicity",
    "ctx_disability_type",
)


def context_columns(config: BaoxueConfig | None = None) -> list[str]:
    """The columns :func:`context_features` returns, in order.

    >>> context_columns()[:2]
    ['ctx_grade', 'ctx_overage_years']
    """
    fc, _ = feature_settings(config)
    cols = [
        "ctx_grade",
        "ctx_overage_years",
        "ctx_transition_grade",
        "ctx_is_boarding",
        "ctx_distance_km",
        "ctx_commute_mode",
        "ctx_weeks_into_term",
        "ctx_september_window",
        "ctx_march_window",
        "ctx_before_zhongkao",
        "ctx_class_size",
        "ctx_school_dropout_rate_prev",
        "ctx_returned_dropout",
        "ctx_school_type",
        "ctx_urban_rural",
    ]
    if "ethnicity_code" in fc.use_restricted:
        cols.append("ctx_ethnicity")
    if "disability_type" in fc.use_restricted:
        cols.append("ctx_disability_type")
    if "health_status" in fc.use_restricted:
        cols.append("ctx_health_status")
    return cols


def _num(spine: pd.DataFrame, col: str) -> np.ndarray:
    if col not in spine:
        return np.full(len(spine), np.nan)
    s = spine[col]
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("Float64")
    return s.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def context_features(
    tables: Tables,
    as_of: dt.date,
    *,
    config: BaoxueConfig | None = None,
    cohort: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Context features of the cohort on ``as_of``.

    Parameters
    ----------
    tables : Tables
        Reads ``students`` (the row in force on ``as_of`` and its history), ``calendar``,
        ``schools`` (optional) and ``registry_events``.
    as_of : date
        Only rows known on or before this day count.
    config : BaoxueConfig, optional
        Phase windows, 中考 date and ``use_restricted``.
    cohort : DataFrame, optional
        The output of :func:`features.cohort.cohort` for ``as_of``.

    Returns
    -------
    DataFrame
        Indexed by ``student_id``; ``ctx_commute_mode``, ``ctx_school_type``,
        ``ctx_urban_rural`` are ``category``, the rest ``float64``.

    Examples
    --------
    >>> from features._examples import example_tables
    >>> tables = example_tables(students={"grade": [9, 9], "birth_ym": ["2009-10", "2008-06"]}, exams={"grade": [9]})
    >>> f = context_features(tables, dt.date(2024, 9, 10))
    >>> f[["ctx_overage_years", "ctx_september_window", "ctx_class_size"]].values.tolist()
    [[0.0, 1.0, 2.0], [2.0, 1.0, 2.0]]
    """
    fc, _ = feature_settings(config)
    spine = spine_of(tables, as_of, cohort)
    cols = context_columns(config)
    n = len(spine)
    frame = pd.DataFrame(index=spine.index)
    grade = spine["grade"].to_numpy(dtype="float64")
    frame["ctx_grade"] = grade

    sy = school_year_of(as_of)
    birth = pd.DatetimeIndex(spine["birth_ym"])
    age_months = (sy * 12 + 8) - (birth.year * 12 + birth.month - 1)
    frame["ctx_overage_years"] = np.floor((np.asarray(age_months, dtype="float64") - 12 * (grade + 5)) / 12)
    frame["ctx_transition_grade"] = np.isin(grade, [6, 9]).astype("float64")
    frame["ctx_is_boarding"] = _num(spine, "is_boarding")
    frame["ctx_distance_km"] = _num(spine, "distance_km")
    frame["ctx_commute_mode"] = _cat(spine, "commute_mode", _COMMUTE)

    # school-year phase, from the school's calendar
    schools = spine["school_id"].astype("str").to_numpy()
    asof_day = int(day_numbers(np.array([np.datetime64(as_of, "s")]))[0])
    if n:
        sd = school_days(tables.calendar, schools, as_of)
        sc = sd.code_of(schools)
        ts = sd.term_start_date[sc]
        frame["ctx_weeks_into_term"] = np.where(ts >= 0, (asof_day - ts) / 7.0, np.nan)
        for name, start in (
            ("ctx_september_window", sd.autumn_start_date),
            ("ctx_march_window", sd.spring_start_date),
        ):
            d = start[sc]
            frame[name] = ((d >= 0) & (asof_day - d >= 0) & (asof_day - d < fc.phase_window_days)).astype(
                "float64"
            )
    else:
        for name in ("ctx_weeks_into_term", "ctx_september_window", "ctx_march_window"):
            frame[name] = np.zeros(0)
    month, day = (int(x) for x in fc.zhongkao_date.split("-"))
    to_exam = (dt.date(as_of.year, month, day) - as_of).days
    frame["ctx_before_zhongkao"] = ((grade == 9) & (0 < to_exam <= fc.zhongkao_window_days)).astype("float64")

    cls = spine["class_id"].astype("str") if "class_id" in spine else pd.Series(pd.NA, index=spine.index)
    size = cls.map(cls.value_counts()).to_numpy(dtype="float64", na_value=np.nan)
    frame["ctx_class_size"] = np.where(cls.isna().to_numpy(), np.nan, size)
    rate = _school_dropout_rate(tables, as_of, sy)
    frame["ctx_school_dropout_rate_prev"] = rate.reindex(schools).to_numpy(dtype="float64", na_value=np.nan)

    frame["ctx_returned_dropout"] = _returned_dropout(tables, as_of)[spine["code"].to_numpy()]

    sch = tables.schools
    if sch is not None:
        info = sch.drop_duplicates("school_id").set_index("school_id").reindex(schools)
        frame["ctx_school_type"] = pd.Categorical(
            info["school_type"].astype("str"), categories=list(_SCHOOL_TYPES)
        )
        frame["ctx_urban_rural"] = pd.Categorical(
            info["urban_rural"].astype("str"), categories=list(_URBAN_RURAL)
        )
    else:
        frame["ctx_school_type"] = pd.Categorical([None] * n, categories=list(_SCHOOL_TYPES))
        frame["ctx_urban_rural"] = pd.Categorical([None] * n, categories=list(_URBAN_RURAL))

    if "ctx_ethnicity" in cols:
        frame["ctx_ethnicity"] = spine["ethnicity_code"].astype("category")
    if "ctx_disability_type" in cols:
        frame["ctx_disability_type"] = spine["disability_type"].astype("category")
    if "ctx_health_status" in cols:
        frame["ctx_health_status"] = _num(spine, "health_status")
    return frame[cols]


def _cat(spine: pd.DataFrame, col: str, values: tuple[str, ...]) -> pd.Categorical:
    if col not in spine:
        return pd.Categorical([None] * len(spine), categories=list(values))
    return pd.Categorical(spine[col].astype("str"), categories=list(values))


def _returned_dropout(tables: Tables, as_of: dt.date) -> np.ndarray:
    """Per student code: 1.0 for a returned dropout (复学生), a ``return_mark`` after a
    ``dropout_mark``, both known on ``as_of``; else 0.0."""
    n_all = len(tables.student_ids)
    ev = known_rows(tables, "registry_events", as_of)
    kind = ev["event_type"].astype("str").to_numpy()
    code = ev["student_id"].cat.codes.to_numpy().astype("int64")
    day = day_numbers(ev["event_date"].to_numpy())
    big = np.iinfo("int64").max
    first_drop = np.full(n_all, big)
    np.minimum.at(first_drop, code[kind == "dropout_mark"], day[kind == "dropout_mark"])
    last_return = np.full(n_all, -big)
    np.maximum.at(last_return, code[kind == "return_mark"], day[kind == "return_mark"])
    return ((first_drop < big) & (last_return > first_drop)).astype("float64")


def _school_dropout_rate(tables: Tables, as_of: dt.date, sy: int) -> pd.Series:
    """Per school: dropout marks over student-years in the previous school years (NaN: no data)."""
    st = known_rows(tables, "students", as_of)
    parts = []
    ev = known_rows(tables, "registry_events", as_of)
    drops = ev.loc[ev["event_type"].astype("str").eq("dropout_mark").to_numpy()]
    st_code = st["student_id"].cat.codes.to_numpy().astype("int64")
    st_from = day_numbers(st["valid_from"].to_numpy())
    to_raw = st["valid_to"].to_numpy(dtype="datetime64[s]")
    st_to = np.where(np.isnat(to_raw), np.iinfo("int64").max // 2, day_numbers(to_raw))
    st_school = st["school_id"].astype("str").to_numpy()
    big = np.int64(1 << 22)
    key = st_code * big + st_from
    order = np.argsort(key, kind="stable")
    for year in range(sy - PREVIOUS_YEARS, sy):
        lo = int(day_numbers(np.array([np.datetime64(dt.date(year, SCHOOL_YEAR_MONTH, 1), "s")]))[0])
        hi = int(day_numbers(np.array([np.datetime64(dt.date(year + 1, SCHOOL_YEAR_MONTH, 1), "s")]))[0])
        inside = (st_from < hi) & (st_to > lo)
        enrolled = pd.DataFrame({"school": st_school[inside], "code": st_code[inside]}).drop_duplicates()
        d_day = day_numbers(drops["event_date"].to_numpy())
        in_year = (d_day >= lo) & (d_day < hi)
        d_code = drops["student_id"].cat.codes.to_numpy().astype("int64")[in_year]
        d_day = d_day[in_year]
        pos = np.searchsorted(key[order], d_code * big + d_day, side="right") - 1
        ok = (pos >= 0) & (st_code[order][np.maximum(pos, 0)] == d_code)
        dropped = pd.DataFrame({"school": st_school[order][np.maximum(pos, 0)][ok], "code": d_code[ok]})
        dropped = dropped.drop_duplicates()
        parts.append(
            pd.DataFrame(
                {
                    "enrolled": enrolled.groupby("school").size(),
                    "dropped": dropped.groupby("school").size(),
                }
            )
        )
    if not parts:
        return pd.Series(dtype="float64")
    tot = pd.concat(parts).groupby(level=0).sum(min_count=1).fillna(0.0)
    tot = tot.loc[tot["enrolled"] > 0]
    return (tot["dropped"] / tot["enrolled"]).astype("float64")
