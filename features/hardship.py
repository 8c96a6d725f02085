"""Family hardship features (家庭经济困难, 家庭变故): poverty status, aid, parents' health, recent changes.

Hardship status is the set of ``hardship`` intervals in force on ``as_of``; aid is what
was paid this school year (from 1 September) up to ``as_of``; "recent" means the last
``recent_change_days`` (90) calendar days. A missing optional table (``hardship``,
``aid``, ``guardians``, ``family_events``) gives NaN columns, never zeros; when the
table is present a student with no rows gets 0 (not registered, no aid, no event).
Restricted rows (``prisoner_child``, ``incarceration``) are used only when listed in
``features.use_restricted``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.cohort import spine_of
from features.config import BaoxueConfig, feature_settings
from features.contract import Tables, spec
from features.names import feature_names
from features.time import known_date, known_mask, known_rows, school_year_start, valid_at

__all__ = ["hardship_features", "hardship_columns", "HARDSHIP_TYPES", "POOR_TYPES"]

#: hardship types that are features: the contract's codes less the restricted ``prisoner_child``
HARDSHIP_TYPES = tuple(t for t in spec("hardship").column("hardship_type").values if t != "prisoner_child")
#: the types that count as a poor household (建档立卡/监测 + 低保 + 特困, SIMULATOR.md "Poverty")
POOR_TYPES = ("registered_poor", "monitored", "dibao", "tekun")
_LEVEL = {"general": 1.0, "moderate": 2.0, "special": 3.0}


def hardship_columns(config: BaoxueConfig | None = None) -> list[str]:
    """The columns :func:`hardship_features` returns, in order.

    >>> hardship_columns()[:2]
    ['hard_is_registered_poor', 'hard_is_monitored']
    """
    fc, _ = feature_settings(config)
    names = feature_names(config)
    cols = [f"hard_is_{t}" for t in HARDSHIP_TYPES]
    if "prisoner_child" in fc.use_restricted:
        cols.append("hard_is_prisoner_child")
    cols += [
        "hard_is_poor_any",
        "hard_level",
        names.status_change,
        "hard_parent_ill",
        "hard_parent_died",
        "hard_orphan",
        "hard_has_siblings",
        "hard_aid_cny_year",
        "hard_aid_count_year",
        names.family_event,
    ]
    return cols


def _per_student(frame: pd.DataFrame, n_all: int, weights: np.ndarray | None = None) -> np.ndarray:
    code = frame["student_id"].cat.codes.to_numpy()
    return np.bincount(code, weights=weights, minlength=n_all).astype("float64")


def hardship_features(
    tables: Tables,
    as_of: dt.date,
    *,
    config: BaoxueConfig | None = None,
    cohort: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Family hardship features of the cohort on ``as_of``.

    Parameters
    ----------
    tables : Tables
        Reads ``hardship``, ``aid``, ``guardians``, ``family_events`` (all optional) and
        ``students`` (``orphan``, ``only_child``).
    as_of : date
        Only rows known on or before this day count.
    config : BaoxueConfig, optional
        ``recent_change_days`` and ``use_restricted``.
    cohort : DataFrame, optional
        The output of :func:`features.cohort.cohort` for ``as_of``.

    Returns
    -------
    DataFrame
        Indexed by ``student_id``; columns :func:`hardship_columns`, all ``float64``
        (flags 0/1, NaN when the source table is missing).

    Examples
    --------
    >>> from features._examples import example_tables
    >>> tables = example_tables(hardship={"student_id": ["a"], "hardship_type": ["dibao"], "level": ["special"],
    ...                                   "valid_from": ["2023-05-01"]})
    >>> f = hardship_features(tables, dt.date(2024, 10, 1))
    >>> f[["hard_is_dibao", "hard_level", "hard_aid_cny_year"]].values.tolist()
    [[1.0, 3.0, nan], [0.0, 0.0, nan]]
    """
    fc, _ = feature_settings(config)
    names = feature_names(config)
    spine = spine_of(tables, as_of, cohort)
    cols = hardship_columns(config)
    n_all = len(tables.student_ids)
    out = {c: np.full(n_all, np.nan) for c in cols}
    recent = as_of - dt.timedelta(days=fc.recent_change_days - 1)  # (as_of - 90d, as_of]

    hs = tables.hardship
    if hs is not None:
        types = [*HARDSHIP_TYPES, *(["prisoner_child"] if "prisoner_child" in fc.use_restricted else [])]
        known = known_rows(tables, "hardship", as_of)
        known = known.loc[known["hardship_type"].isin(types).to_numpy()]
        now = valid_at(known, as_of)
        htype = now["hardship_type"].astype("str")
        for t in types:
            out[f"hard_is_{t}"] = (_per_student(now.loc[(htype == t).to_numpy()], n_all) > 0).astype(
                "float64"
            )
        out["hard_is_poor_any"] = (
            _per_student(now.loc[htype.isin(POOR_TYPES).to_numpy()], n_all) > 0
        ).astype("float64")
        level = now["level"].astype("str").map(_LEVEL).fillna(1.0).to_numpy(dtype="float64")
        lv = np.zeros(n_all)
        np.maximum.at(lv, now["student_id"].cat.codes.to_numpy(), level)
        out["hard_level"] = lv
        start_recent = known_mask(known, as_of, date_col=known_date("hardship"), since=recent)
        # an interval that ended in the window (valid_to is the end, not the known date)
        end_recent = known_mask(known, as_of, date_col="valid_to", since=recent)
        out[names.status_change] = (_per_student(known.loc[start_recent | end_recent], n_all) > 0).astype(
            "float64"
        )

    ev = tables.family_events
    if ev is not None:
        known = known_rows(tables, "family_events", as_of)
        if "incarceration" not in fc.use_restricted:
            known = known.loc[~known["event_type"].astype("str").eq("incarceration").to_numpy()]
        etype = known["event_type"].astype("str").to_numpy()
        rec = known_mask(known, as_of, date_col=known_date("family_events"), since=recent)
        out[names.family_event] = _per_student(known.loc[rec], n_all)
        out["hard_parent_died"] = (_per_student(known.loc[etype == "parent_death"], n_all) > 0).astype(
            "float64"
        )

    g = tables.guardians
    ill = np.full(n_all, np.nan)
    if g is not None:
        now = valid_at(known_rows(tables, "guardians", as_of), as_of)
        has_row = _per_student(now, n_all) > 0
        parent = now["relation"].astype("str").isin(["father", "mother"]).to_numpy()
        sick = now["health_issue"].astype("str").isin(["chronic", "disabled"]).to_numpy()
        ill = np.where(has_row, (_per_student(now.loc[parent & sick], n_all) > 0).astype("float64"), np.nan)
    if ev is not None:
        year_ago = as_of - dt.timedelta(days=364)
        known = known_rows(tables, "family_events", as_of, since=year_ago)
        hit = (
            _per_student(known.loc[known["event_type"].astype("str").eq("parent_illness").to_numpy()], n_all)
            > 0
        )
        ill = np.where(hit, 1.0, ill)
    out["hard_parent_ill"] = ill

    aid = tables.aid
    if aid is not None:
        paid = known_rows(tables, "aid", as_of, since=school_year_start(as_of))
        amount = paid["amount_cny"].to_numpy(dtype="float64", na_value=0.0)
        out["hard_aid_cny_year"] = _per_student(paid, n_all, weights=amount)
        out["hard_aid_count_year"] = _per_student(paid, n_all)

    codes = spine["code"].to_numpy()
    frame = pd.DataFrame({c: out[c][codes] for c in cols}, index=spine.index)
    frame["hard_orphan"] = _flag(spine, "orphan")
    only = _flag(spine, "only_child")
    frame["hard_has_siblings"] = 1.0 - only
    return frame


def _flag(spine: pd.DataFrame, col: str) -> np.ndarray:
    if col not in spine:
        return np.full(len(spine), np.nan)
    return spine[col].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
