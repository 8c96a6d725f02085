"""The judged nights' labels and watched groups in one pass for all nights.

:func:`training.fairness.audit_groups` builds the cohort of every night
(:func:`features.cohort.cohort`) one night at a time; over a year of nightly lists the monitor
judges a hundred nights or more, so :func:`judged_panel` takes every night's cohort from one
:func:`features.cohort.cohort_panel` (the ``students`` intervals and the registry state of all
nights in one search), labels it as :func:`training.labels.label_panel` does (one search over
the label events for every (student, night) pair), and finds each pair's watched groups the
same way: the last left-behind row known that night by one search, the hardship rows in force
by the nights each interval covers. The result is the same frames, row for row
(``tests/risk/monitoring/test_panel.py`` holds it to ``label_panel`` and ``audit_groups``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from features.cohort import cohort_panel, nights_in_force
from features.config import TrainConfig
from features.contract import Tables
from features.time import day_numbers, known_date
from training.labels import _check_observed, _label_members, observed_until

__all__ = ["WATCHED", "judged_panel"]

#: the watched groups :func:`judged_panel` derives (the names of ``training.fairness.audit_groups``)
WATCHED = ("left_behind", "migrant", "hardship")

_LEFT_BEHIND = {0: "not_left_behind", 1: "one_parent_away", 2: "both_parents_away"}


def _student_codes(frame: pd.DataFrame, cats: pd.Index) -> np.ndarray | None:
    """``frame.student_id`` as codes of ``cats`` (None when its categories are others)."""
    col = frame["student_id"]
    if isinstance(col.dtype, pd.CategoricalDtype) and col.cat.categories.equals(cats):
        return col.cat.codes.to_numpy().astype("int64")
    return None


def _codes_of(frame: pd.DataFrame, cats: pd.Index) -> np.ndarray:
    """``frame.student_id`` as codes of ``cats`` (-1 where the id is not one of them)."""
    codes = _student_codes(frame, cats)
    if codes is None:  # not the shared categories: by student id string
        codes = cats.get_indexer(frame["student_id"].astype("str"))
    return np.asarray(codes, dtype="int64")


def _category(codes: np.ndarray, names: Sequence[str]) -> pd.Categorical:
    """A group column: ``names[codes[i]]`` as a category (its names in string order)."""
    order = np.argsort(np.asarray(names, dtype=object).astype(str), kind="stable")
    rank = np.empty(len(names), dtype="int64")
    rank[order] = np.arange(len(names))
    return pd.Categorical.from_codes(rank[codes], categories=pd.Index(np.asarray(names)[order], dtype="str"))


_LB_NAMES = ("unknown", *dict.fromkeys(_LEFT_BEHIND.values()))


def _left_behind(tables: Tables, codes: np.ndarray, days: np.ndarray) -> pd.Categorical:
    """``training.fairness``'s left-behind name of each (student code, night) pair: the
    status of the student's last ``left_behind`` row known that night (``latest_known``:
    rows in date order, the later row of a date), "unknown" without one. One search over the
    rows sorted by (student, date, frame order) for every pair."""
    out = np.zeros(len(codes), dtype="int64")  # _LB_NAMES: 0 is "unknown"
    lb = tables.left_behind
    if lb is None or not len(lb) or not len(codes):
        return _category(out, _LB_NAMES)
    col = known_date("left_behind")
    sec = np.asarray(lb[col].to_numpy(), dtype="datetime64[s]").view("int64")
    day = day_numbers(lb[col].to_numpy())
    code = _codes_of(lb, tables.student_ids)
    names = lb["status"].map(_LEFT_BEHIND).astype("object").fillna("unknown").to_numpy(dtype=object)
    names = pd.Index(_LB_NAMES).get_indexer(names)
    keep = np.flatnonzero((sec != np.iinfo("int64").min) & (code >= 0))  # an undated row is never known
    if not len(keep):
        return _category(out, _LB_NAMES)
    order = keep[np.lexsort((keep, sec[keep], code[keep]))]
    code, day, names = code[order], day[order], names[order]
    q_day = day_numbers(days)
    lo = min(int(day.min()), int(q_day.min()))
    span = max(int(day.max()), int(q_day.max())) - lo + 2
    last = np.searchsorted(code * span + (day - lo), codes * span + (q_day - lo), side="right") - 1
    hit = last >= 0
    hit[hit] = code[last[hit]] == codes[hit]
    out[hit] = names[last[hit]]
    return _category(out, _LB_NAMES)


def _hardship(tables: Tables, codes: np.ndarray, night: np.ndarray, days: np.ndarray) -> pd.Categorical:
    """``training.fairness``'s hardship name of each pair (``codes[i]`` on ``days[night[i]]``):
    "hardship" when a ``hardship`` row of the student is in force that night
    (``features.time.valid_at``), "unknown" without the table."""
    if tables.hardship is None:
        return _category(np.zeros(len(codes), dtype="int64"), ["unknown"])
    h = tables.hardship
    nights = np.asarray(days, dtype="datetime64[s]").view("int64")
    row, at = nights_in_force(
        np.asarray(h["valid_from"].to_numpy(), dtype="datetime64[s]").view("int64"),
        np.asarray(h["valid_to"].to_numpy(), dtype="datetime64[s]").view("int64"),
        nights,
    )
    hcode = _codes_of(h, tables.student_ids)[row]
    n = len(tables.student_ids)
    hard = np.zeros(len(nights) * n, dtype=bool)
    ok = hcode >= 0
    hard[at[ok] * n + hcode[ok]] = True
    return _category(np.where(hard[night * n + codes], 0, 1), ["hardship", "no_hardship"])


def judged_panel(
    tables: Tables,
    nights: Iterable[pd.Timestamp],
    config: TrainConfig,
    *,
    until=None,
    watched: Sequence[str] | None = WATCHED,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Labels and watched groups of every cohort student on every night, in one pass.

    Returns
    -------
    (labels, groups)
        ``labels`` as :func:`training.labels.label_panel` (``student_id`` category, ``as_of``,
        ``label``, ``event_date``); ``groups`` as ``training.fairness.audit_groups(tables,
        nights)[["student_id", "as_of", *watched]]``, the groups as categories of the same
        names (None when ``watched`` is None or empty).
    """
    unknown = [w for w in (watched or ()) if w not in WATCHED]
    if unknown:
        raise ValueError(f"judged_panel: watched group {unknown[0]!r} is not one of {WATCHED}")
    stop = pd.Timestamp(until).normalize() if until is not None else observed_until(tables)
    days = sorted({pd.Timestamp(d).normalize() for d in nights})
    for day in days:
        _check_observed(day, config, stop)
    members = cohort_panel(tables, days)
    labels = _label_members(tables, members, config)
    if not watched:
        return labels, None
    codes = members["code"].to_numpy()
    when = members["as_of"].to_numpy().astype("datetime64[s]")
    day_arr = np.array(days, dtype="datetime64[s]")
    night = np.searchsorted(day_arr, when)
    cols: dict[str, np.ndarray] = {}
    if "left_behind" in watched:
        cols["left_behind"] = _left_behind(tables, codes, when)
    if "migrant" in watched:
        mig = tables.students["is_migrant_child"].iloc[members["row"].to_numpy()]
        known = mig.notna().to_numpy()
        yes = np.zeros(len(mig), dtype=bool)
        yes[known] = mig.to_numpy()[known].astype(bool)
        cols["migrant"] = _category(np.where(known, np.where(yes, 1, 0), 2), ["local", "migrant", "unknown"])
    if "hardship" in watched:
        cols["hardship"] = _hardship(tables, codes, night, day_arr)
    groups = pd.DataFrame(
        {
            "student_id": pd.Categorical.from_codes(codes, categories=tables.student_ids),
            "as_of": when,
            **{w: cols[w] for w in WATCHED if w in watched},
        }
    )
    return labels, groups
