"""Left-behind features (留守儿童, 随迁子女): who is away, who cares for the child, since when.

The status is the latest ``left_behind`` row known on ``as_of`` (an event table: a row
holds from its ``effective_date`` until the next one). "Months in status" counts from
the first row of the current run of rows with the same status. A parent *newly left*
in the last ``recent_change_days`` (90) days means the status went up in that window
(0 → 1, 0 → 2, 1 → 2), or a ``parent_migration_start`` family event was recorded in it.
A student's first-ever survey row is not a change. Mother away (including both parents)
is reported apart from father-only away: SIMULATOR.md gives them opposite directions.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.cohort import spine_of
from features.config import BaoxueConfig, feature_settings
from features.contract import TABLES, Tables
from features.names import feature_names
from features.time import day_numbers, known_rows

__all__ = ["left_behind_features", "left_behind_columns", "CAREGIVERS"]

CAREGIVERS: tuple[str, ...] = TABLES["left_behind"].column("caregiver").values or ()
_MONTH_DAYS = 30.4375


def left_behind_columns(config: BaoxueConfig | None = None) -> list[str]:
    """The columns :func:`left_behind_features` returns, in order.

    >>> left_behind_columns()[-1]
    'lb_migrant_child'
    """
    return [
        "lb_status",
        "lb_one_parent_away",
        "lb_both_parents_away",
        "lb_mother_away",
        "lb_father_only_away",
        "lb_caregiver",
        "lb_months_in_status",
        feature_names(config).parent_left,
        "lb_migrant_child",
    ]


def left_behind_features(
    tables: Tables,
    as_of: dt.date,
    *,
    config: BaoxueConfig | None = None,
    cohort: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Left-behind features of the cohort on ``as_of``.

    Parameters
    ----------
    tables : Tables
        Reads ``left_behind`` and ``family_events`` (optional) and ``students``
        (``is_migrant_child``).
    as_of : date
        Only rows known on or before this day count.
    config : BaoxueConfig, optional
        ``recent_change_days``.
    cohort : DataFrame, optional
        The output of :func:`features.cohort.cohort` for ``as_of``.

    Returns
    -------
    DataFrame
        Indexed by ``student_id``; ``lb_caregiver`` is a ``category`` (the contract's
        codes), the others ``float64`` (NaN: never surveyed, or table missing).

    Examples
    --------
    >>> from features._examples import example_tables
    >>> tables = example_tables(left_behind={"student_id": ["a"], "effective_date": ["2024-03-01"], "status": [2],
    ...                                      "absent_parent": ["both"], "caregiver": ["grandparent"]})
    >>> f = left_behind_features(tables, dt.date(2024, 10, 1))
    >>> f.loc["a", ["lb_both_parents_away", "lb_mother_away"]].tolist(), f.loc["a", "lb_caregiver"]
    ([1.0, 1.0], 'grandparent')
    """
    fc, _ = feature_settings(config)
    spine = spine_of(tables, as_of, cohort)
    cols = left_behind_columns(config)
    n_all = len(tables.student_ids)
    out = {c: np.full(n_all, np.nan) for c in cols if c != "lb_caregiver"}
    caregiver = np.full(n_all, -1, dtype="int64")
    asof_day = int(day_numbers(np.array([np.datetime64(as_of, "s")]))[0])
    recent_day = asof_day - fc.recent_change_days + 1

    lb = tables.left_behind
    newly = np.full(n_all, np.nan)
    if lb is not None:
        known = known_rows(tables, "left_behind", as_of)
        f = pd.DataFrame(
            {
                "code": known["student_id"].cat.codes.to_numpy().astype("int64"),
                "day": day_numbers(known["effective_date"].to_numpy()),
                "status": known["status"].to_numpy(dtype="float64", na_value=np.nan),
                "parent": known["absent_parent"].astype("str").to_numpy(dtype=object, na_value=None),
                "care": known["caregiver"].cat.codes.to_numpy(),
            }
        ).sort_values(["code", "day"], kind="stable")
        code = f["code"].to_numpy()
        status = f["status"].to_numpy()
        new_student = np.ones(len(f), dtype=bool)
        new_student[1:] = code[1:] != code[:-1]
        prev_status = np.where(new_student, np.nan, np.roll(status, 1))
        changed = new_student | (status != prev_status)
        run_start = pd.Series(np.where(changed, f["day"].to_numpy(), np.nan)).ffill().to_numpy()
        went_up = ~new_student & (status > prev_status) & (f["day"].to_numpy() >= recent_day)
        last = np.ones(len(f), dtype=bool)
        last[:-1] = code[1:] != code[:-1]
        c = code[last]
        st = status[last]
        parent = f["parent"].to_numpy()[last]
        out["lb_status"][c] = st
        out["lb_one_parent_away"][c] = (st == 1).astype("float64")
        out["lb_both_parents_away"][c] = (st == 2).astype("float64")
        mother = (st == 2) | ((st == 1) & np.isin(parent, ["mother", "both"]))
        father_only = (st == 1) & (parent == "father")
        unknown_parent = (st == 1) & ~np.isin(parent, ["mother", "both", "father"])
        out["lb_mother_away"][c] = np.where(unknown_parent, np.nan, mother.astype("float64"))
        out["lb_father_only_away"][c] = np.where(unknown_parent, np.nan, father_only.astype("float64"))
        caregiver[c] = f["care"].to_numpy()[last]
        out["lb_months_in_status"][c] = (asof_day - run_start[last]) / _MONTH_DAYS
        surveyed = np.bincount(code, minlength=n_all) > 0
        newly = np.where(surveyed, 0.0, np.nan)
        newly[code[went_up]] = 1.0

    ev = tables.family_events
    if ev is not None:
        since = as_of - dt.timedelta(days=fc.recent_change_days - 1)
        known = known_rows(tables, "family_events", as_of, since=since)
        hit = known.loc[known["event_type"].astype("str").eq("parent_migration_start").to_numpy()]
        newly = np.where(np.isnan(newly), 0.0, newly) if lb is None else newly
        newly[hit["student_id"].cat.codes.to_numpy()] = 1.0
    out[feature_names(config).parent_left] = newly

    codes = spine["code"].to_numpy()
    frame = pd.DataFrame({c: out[c][codes] for c in cols if c != "lb_caregiver"}, index=spine.index)
    frame.insert(
        cols.index("lb_caregiver"),
        "lb_caregiver",
        pd.Categorical.from_codes(caregiver[codes], categories=list(CAREGIVERS)),
    )
    if "is_migrant_child" in spine:
        frame["lb_migrant_child"] = (
            spine["is_migrant_child"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        )
    return frame
