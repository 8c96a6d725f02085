"""Ranking within county, school and class, and who gets a case under each school's capacity.

**Order.** Students are ordered by calibrated risk, highest first; equal risks are
ordered by a tie key, a hash of ``(student_id, as_of)`` (:func:`tie_keys`), so ties are
broken the same way on every machine and rerun, without favouring low ids, and the order
among tied students changes from one as-of date to the next. The key is recorded in the
snapshot (``tie_key``). Ranks are 1-based and dense in that order: county (the whole
run), school and class.

**Capacity.** A school's capacity is the number of prevention cases its staff can hold:
the sum of ``staff.max_open_cases`` of its case owners (``[risk] owner_roles``: counsellor,
德育, 包保 subject teacher), or ``[risk] capacity_per_school`` when the staff table, the
column or such staff is missing; with ``[risk] capacity_per_100`` > 0, at most that many per
100 students of the school (at least 1). Capacity is a ceiling, never a quota.

**Selection.** The tiers decide (:func:`risk.tiers.assign_tiers`): red students always get a
case, beyond capacity if need be (``assignment_mechanism`` = ``rule`` when a rule fired, else
``model_rank``); yellow students, the school's list within capacity, get one too
(``model_rank``). A free place stays free: no student under the yellow threshold fills it.

**Borderline band** (off unless ``[risk] borderline_band`` > 0; documented in the README's
ethics notes). Among the school's non-red students *eligible* for its list (the frame's
``eligible`` column: at or above the yellow threshold or with a lifted trigger; by default the
yellow students), those whose rank among them lies within ``band`` places either side of the
cut-off (the number of yellow students) are drawn by lottery instead of by rank
(``random_borderline``): the band members with the smallest lottery numbers, a hash of
``(borderline_seed, student_id)`` (:func:`lottery_numbers`), so the draw is reproducible and a
student who stays in the band keeps the same draw from one night to the next. The same number
of students get a case as without the band; only who, among students the model can barely
tell apart, changes. Red students are never in the band.

Examples
--------
>>> f = pd.DataFrame({"probability": [0.5, 0.2, 0.2, 0.1], "school_id": ["s"] * 4, "class_id": ["k"] * 4,
...                   "tier": ["red", "yellow", "none", "none"], "rules": ["", "", "", ""]},
...                  index=pd.Index(["a", "b", "c", "d"], name="student_id"))
>>> r = rank_students(f, dt.date(2025, 3, 3), capacity=pd.Series({"s": 3}))
>>> r[["rank_school", "selected", "assignment_mechanism"]].values.tolist()
[[1, True, 'model_rank'], [2, True, 'model_rank'], [3, False, ''], [4, False, '']]

The third place stays free: c is not on the list.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.config import BaoxueConfig, RiskConfig
from features.contract import Tables

__all__ = ["RANK_COLUMNS", "tie_keys", "lottery_numbers", "county_rank", "school_capacity", "rank_students"]

#: columns of :func:`rank_students`
RANK_COLUMNS = (
    "rank_county",
    "rank_school",
    "rank_class",
    "tie_key",
    "capacity",
    "selected",
    "borderline",
    "assignment_mechanism",
)


def _config(config: BaoxueConfig | RiskConfig | None) -> RiskConfig:
    if config is None:
        return RiskConfig()
    return config if isinstance(config, RiskConfig) else config.risk


def tie_keys(student_ids: pd.Index | np.ndarray, as_of: dt.date) -> np.ndarray:
    """A uint64 per student: the hash of ``(student_id, as_of)`` that orders equal risks.

    >>> a = tie_keys(pd.Index(["s1", "s2"]), dt.date(2025, 3, 3))
    >>> bool((a == tie_keys(pd.Index(["s1", "s2"]), dt.date(2025, 3, 3))).all()), a.dtype.name
    (True, 'uint64')
    """
    ids = np.asarray(pd.Index(student_ids).astype("str"), dtype=object)
    return pd.util.hash_array(ids, hash_key=f"{as_of.isoformat():<16}"[:16], categorize=False)


def lottery_numbers(student_ids: pd.Index | np.ndarray, seed: int) -> np.ndarray:
    """Each student's fixed lottery number for the borderline band: a hash of (seed, student_id).

    It does not depend on the date, so a student who stays in the band from one night to the
    next keeps the same draw (the list does not flip nightly), and anyone can recompute it.

    >>> a = lottery_numbers(pd.Index(["s1", "s2"]), 7)
    >>> bool((a == lottery_numbers(pd.Index(["s1", "s2"]), 7)).all()), bool((a != lottery_numbers(pd.Index(["s1", "s2"]), 8)).any())
    (True, True)
    """
    ids = np.asarray(pd.Index(student_ids).astype("str"), dtype=object)
    return pd.util.hash_array(ids, hash_key=f"lottery{seed:09d}"[:16], categorize=False)


def county_rank(probability: pd.Series, as_of: dt.date) -> pd.Series:
    """1-based rank of every student in the run: risk high first, ties by :func:`tie_keys`.

    >>> county_rank(pd.Series([0.1, 0.3, 0.2], index=["a", "b", "c"]), dt.date(2025, 3, 3)).tolist()
    [3, 1, 2]
    """
    order = np.lexsort((tie_keys(probability.index, as_of), -probability.to_numpy(dtype="float64")))
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(1, len(order) + 1)
    return pd.Series(rank, index=probability.index, name="rank_county")


def school_capacity(
    tables: Tables | None,
    schools: pd.Index | list[str],
    config: BaoxueConfig | RiskConfig | None = None,
    *,
    sizes: pd.Series | None = None,
) -> pd.Series:
    """Prevention-case capacity per school (see the module notes), indexed by ``school_id``;
    ``sizes`` (students per school) bounds it by ``[risk] capacity_per_100``.

    >>> school_capacity(None, ["A", "B"], RiskConfig(capacity_per_100=3.0), sizes=pd.Series({"A": 54, "B": 963})).to_dict()
    {'A': 2, 'B': 10}
    """
    rc = _config(config)
    schools = pd.Index(pd.unique(pd.Index(schools).astype("str")), name="school_id")
    out = pd.Series(rc.capacity_per_school, index=schools, dtype="int64", name="capacity")
    staff = None if tables is None else tables.staff
    if staff is None or not len(staff) or "max_open_cases" not in staff:
        return _per_100(out, sizes, rc)
    owners = staff.loc[staff["role"].astype("str").isin(rc.owner_roles).to_numpy()]
    total = (
        pd.to_numeric(owners["max_open_cases"], errors="coerce")
        .groupby(owners["school_id"].astype("str"))
        .sum(min_count=1)
        .dropna()
    )
    total = total.loc[total.index.intersection(schools)]
    total = total.loc[total > 0]
    out.loc[total.index] = total.astype("int64").to_numpy()
    return _per_100(out, sizes, rc)


def _per_100(out: pd.Series, sizes: pd.Series | None, rc: RiskConfig) -> pd.Series:
    if sizes is None or rc.capacity_per_100 <= 0:
        return out
    n = sizes.reindex(out.index).fillna(0).to_numpy(dtype="float64")
    bound = np.maximum(np.ceil(rc.capacity_per_100 * n / 100.0), 1).astype("int64")
    return pd.Series(np.minimum(out.to_numpy(), bound), index=out.index, name="capacity")


def _dense_rank_in(groups: np.ndarray, order: np.ndarray) -> np.ndarray:
    """1-based position of each row within its group, following ``order``.

    >>> _dense_rank_in(np.array(["a", "b", "a", "b"]), np.array([3, 2, 1, 0])).tolist()
    [2, 2, 1, 1]
    """
    codes = pd.factorize(groups)[0][order]
    by_group = np.argsort(codes, kind="stable")  # keeps ``order`` within a group
    sorted_codes = codes[by_group]
    n = len(codes)
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_codes[1:] != sorted_codes[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    pos = np.empty(n, dtype="int64")
    pos[by_group] = np.arange(n) - start
    ranks = np.empty(n, dtype="int64")
    ranks[order] = pos + 1
    return ranks


def rank_students(
    frame: pd.DataFrame,
    as_of: dt.date,
    *,
    capacity: pd.Series,
    config: BaoxueConfig | RiskConfig | None = None,
) -> pd.DataFrame:
    """Ranks, capacity and selection of every student.

    Parameters
    ----------
    frame : DataFrame
        Indexed by ``student_id``; columns ``probability``, ``school_id``, ``class_id``,
        ``tier`` and ``rules`` (';'-joined codes), optionally ``eligible`` (bool: could be on
        the school's list, for the borderline band).
    as_of : date
        Seeds the tie keys and the borderline lottery.
    capacity : Series
        Per ``school_id`` (:func:`school_capacity`); a school missing from it gets
        ``[risk] capacity_per_school``.
    config : BaoxueConfig or RiskConfig, optional

    Returns
    -------
    DataFrame
        Same index; columns :data:`RANK_COLUMNS`.
    """
    rc = _config(config)
    n = len(frame)
    p = frame["probability"].to_numpy(dtype="float64")
    tie = tie_keys(frame.index, as_of)
    order = np.lexsort((tie, -p))  # risk high first, then the tie key
    school = frame["school_id"].astype("str").to_numpy()
    klass = frame["class_id"].astype("str").fillna("").to_numpy() if "class_id" in frame else school
    rank_county = np.empty(n, dtype="int64")
    rank_county[order] = np.arange(1, n + 1)
    rank_school = _dense_rank_in(school, order)
    class_key = (
        pd.factorize(school)[0].astype("int64") * n + pd.factorize(klass)[0]
    )  # (school, class) as one int
    rank_class = _dense_rank_in(class_key, order)

    tiers = frame["tier"].astype("str").to_numpy()
    red = tiers == "red"
    yellow = tiers == "yellow"
    by_rule = frame["rules"].astype("str").to_numpy() != ""
    cap = capacity.reindex(pd.Index(school)).fillna(rc.capacity_per_school).to_numpy(dtype="int64")
    selected = red | yellow
    mechanism = np.full(n, "", dtype=object)
    mechanism[red] = np.where(by_rule[red], "rule", "model_rank")
    mechanism[yellow] = "model_rank"

    borderline = np.zeros(n, dtype=bool)
    band = rc.borderline_band
    if band > 0:
        eligible = (frame["eligible"].to_numpy(dtype=bool) | yellow) if "eligible" in frame else yellow
        eligible &= ~red
        places = pd.Series(yellow).groupby(school).transform("sum").to_numpy()
        el_order = order[eligible[order]]
        el_rank = np.zeros(n, dtype="int64")
        if len(el_order):
            el_rank[el_order] = _dense_rank_in(school[el_order], np.arange(len(el_order)))
        borderline = eligible & (el_rank > places - band) & (el_rank <= places + band) & (places > 0)
        lottery = lottery_numbers(frame.index, rc.borderline_seed)
        for s in np.unique(school[borderline]):
            members = np.flatnonzero(borderline & (school == s))
            n_places = int((el_rank[members] <= places[members]).sum())
            winners = members[np.argsort(lottery[members], kind="stable")[:n_places]]
            selected[members] = False
            mechanism[members] = ""
            selected[winners] = True
            mechanism[winners] = "random_borderline"

    return pd.DataFrame(
        {
            "rank_county": rank_county,
            "rank_school": rank_school,
            "rank_class": rank_class,
            "tie_key": pd.array([f"{t:016x}" for t in tie], dtype="str"),
            "capacity": cap,
            "selected": selected,
            "borderline": borderline,
            "assignment_mechanism": pd.array(mechanism, dtype="str"),
        },
        index=frame.index,
    )
