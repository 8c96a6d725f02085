"""Realised list quality: how the lists of past nights turned out, once their outcome is known.

A night's list is judged only when its outcome window has closed (the label's horizon plus
the resolution window, :func:`training.labels.label_lag_days`), with the training label
(:func:`training.labels.label_panel`): a listed child who dropped out in ``(D, D + H]`` is a
hit. Beside each realised precision stands the **expected** one, the mean calibrated
probability of the listed children (NannyML's CBPE idea) with the interval the model itself
expects; a realised figure below it is what successful interventions look like, one above it
means the model under-rates risk.

Per (night, tier) and for the whole list (``tier = "list"``): ``n`` listed, ``dropouts``,
realised ``precision`` with its Wilson interval, ``expected`` with its interval, ``recall``
(dropouts on this tier / all dropouts in the night's cohort) and ``lift`` (precision / the
cohort's dropout rate).

Examples
--------
Two nights; on 09-02 four children are listed (red a, b; yellow c, d), one of them (a) and
one unlisted child (e) drop out:

>>> snap = pd.DataFrame({"student_id": list("abcdef"), "as_of": pd.Timestamp("2024-09-02"),
...     "school_id": "s1", "class_id": "c1", "grade": [1, 2, 3, 4, 5, 6],
...     "probability": [.4, .3, .2, .1, .05, .01], "tier": ["red", "red", "yellow", "yellow", "none", "none"],
...     "listed": [True] * 4 + [False] * 2, "rank_county": [1, 2, 3, 4, 5, 6]})
>>> lab = pd.DataFrame({"student_id": list("abcdef"), "as_of": pd.Timestamp("2024-09-02"),
...     "label": [1, 0, 0, 0, 1, 0], "event_date": pd.to_datetime(["2024-10-02", None, None, None,
...     "2024-11-01", None])})
>>> q = list_quality(snap, lab, min_cell=1)
>>> q.lists.loc[:1, ["tier", "n", "dropouts", "precision", "expected", "recall"]]
   tier  n  dropouts  precision  expected  recall
0  list  4         1       0.25      0.25     0.5
1   red  2         1       0.50      0.35     0.5
>>> q.missed[["student_id", "event_date", "last_rank", "last_tier"]].to_dict("records")
[{'student_id': 'e', 'event_date': Timestamp('2024-11-01 00:00:00'), 'last_rank': 5, 'last_tier': 'none'}]
>>> q.lead[["student_id", "lead_days"]].to_dict("records")
[{'student_id': 'a', 'lead_days': 30}]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from risk.monitoring.intervals import expected_interval, wilson

__all__ = ["TIER_LISTS", "GRADE_BANDS", "ListQuality", "grade_band", "list_quality", "INTERVENTION_NOTE"]

#: the lists judged: the whole list, each tier, and ``capacity`` (the children ``selected``
#: for a prevention case: the list at capacity that the evaluation's precision describes)
TIER_LISTS: tuple[str, ...] = ("list", "red", "yellow", "blue", "capacity")

#: grade bands of the per-band tables (primary lower, primary upper, junior secondary)
GRADE_BANDS: dict[str, tuple[int, int]] = {"1-3": (1, 3), "4-6": (4, 6), "7-9": (7, 9)}

INTERVENTION_NOTE = (
    "被列入名单的学生会得到帮扶(家访、劝返、资助),帮扶有效时实际辍学率会低于模型的预期值;"
    "实际值低于预期区间不一定说明模型变差。 Listed children get supports; where the supports work, the "
    "realised dropout rate falls below the expected one, so a realised figure under the expected interval "
    "is not by itself a sign the model got worse."
)

_SNAP_COLS = ["student_id", "as_of", "school_id", "class_id", "grade", "probability", "tier", "listed"]


def grade_band(grade) -> np.ndarray:
    """``"1-3"``, ``"4-6"`` or ``"7-9"`` per grade (``""`` outside 1-9).

    >>> grade_band([1, 4, 9, 0]).tolist()
    ['1-3', '4-6', '7-9', '']
    """
    g = np.asarray(grade, dtype="float64")
    out = np.full(len(g), "", dtype=object)
    for name, (lo, hi) in GRADE_BANDS.items():
        out[(g >= lo) & (g <= hi)] = name
    return out


def _grade_band_codes(grade) -> pd.Categorical:
    """:func:`grade_band` as a category (``""``, ``"1-3"``, ``"4-6"``, ``"7-9"``: string order)."""
    g = np.asarray(grade, dtype="float64")
    code = np.zeros(len(g), dtype="int64")
    for k, (lo, hi) in enumerate(GRADE_BANDS.values(), start=1):
        code[(g >= lo) & (g <= hi)] = k
    return pd.Categorical.from_codes(code, categories=pd.Index(["", *GRADE_BANDS], dtype="str"))


@dataclass(frozen=True)
class ListQuality:
    """What :func:`list_quality` found.

    Attributes
    ----------
    lists : DataFrame
        One row per (``as_of``, ``tier``): the night's figures (module docstring).
    summary : DataFrame
        One row per tier, pooled over the judged nights. A child listed on many nights
        counts on each: the expected interval takes a child's nights as one (perfectly
        correlated, :func:`~risk.monitoring.intervals.expected_interval`), the realised
        Wilson interval does not, so it is narrower than it should be.
    by_group : DataFrame
        The whole list pooled over nights per ``dimension`` (``school_id``,
        ``grade_band`` and each watched group) and ``value``; a figure whose denominator is
        below ``min_cell`` is suppressed (NaN, with its count), and ``suppressed`` says which.
    missed : DataFrame
        One row per dropout never listed on any judged night whose window held it:
        ``student_id, school_id, class_id, grade, event_date``, the last night before the
        event (``last_as_of, last_rank, last_tier, last_probability``), ``best_rank`` and
        ``nights`` scored, and any data-gap columns passed in.
    lead : DataFrame
        One row per caught dropout: ``student_id, event_date, first_listed, lead_days``.
    lead_summary : dict
        ``events``, ``caught``, ``caught_share``, ``median_lead_days``, ``caught_30d_share``.
    nights : list of Timestamp
        The nights judged.
    """

    lists: pd.DataFrame
    summary: pd.DataFrame
    by_group: pd.DataFrame
    missed: pd.DataFrame
    lead: pd.DataFrame
    lead_summary: dict[str, float]
    nights: list[pd.Timestamp] = field(default_factory=list)
    note: str = INTERVENTION_NOTE


def _figures(listed: pd.DataFrame, positives: int, cohort: int) -> dict[str, float]:
    """Counts, realised and expected precision, recall and lift of one list."""
    n = len(listed)
    tp = int(listed["label"].sum())
    precision = tp / n if n else math.nan
    lo, hi = wilson(tp, n)
    key = "_child" if "_child" in listed.columns else "student_id"
    exp, elo, ehi = expected_interval(listed["probability"].to_numpy(), groups=listed[key].to_numpy())
    rlo, rhi = wilson(tp, positives)
    base = positives / cohort if cohort else math.nan
    return {
        "n": n,
        "dropouts": tp,
        "cohort": cohort,
        "positives": positives,
        "precision": precision,
        "precision_low": lo,
        "precision_high": hi,
        "expected": exp,
        "expected_low": elo,
        "expected_high": ehi,
        "recall": tp / positives if positives else math.nan,
        "recall_low": rlo,
        "recall_high": rhi,
        "lift": precision / base if base else math.nan,
        "within_expected": bool(elo <= precision <= ehi) if n else False,
    }


def _members(frame: pd.DataFrame, tier: str) -> pd.Series:
    if tier == "list":
        return frame["listed"].astype(bool)
    if tier == "capacity":
        return frame["selected"].astype(bool) if "selected" in frame else frame["listed"].astype(bool)
    # a category compared with a string (no per-row string): NaN and other tiers are False
    return (frame["tier"] == tier).fillna(False).astype(bool)


def _ids(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``col`` as (codes, distinct ids as strings): a category's own codes, else factorized."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy().astype("int64"), col.cat.categories.astype("str").to_numpy(
            dtype=object
        )
    codes, uniques = pd.factorize(col.astype("str"))
    return codes.astype("int64"), np.asarray(uniques, dtype=object)


class _Keys:
    """One integer key per (child, night) for the frames the monitor joins: the child's place
    in the sorted union of their ids (so the keys sort as (night, id string) do) and the
    night's day number. Joins on it give the rows ``merge`` on the strings would, without a
    string comparison per row."""

    def __init__(self, *cols: pd.Series):
        parts = [_ids(c) for c in cols]
        self.ids = (
            np.unique(np.concatenate([u for _, u in parts]).astype(str)) if parts else np.array([], str)
        )
        index = pd.Index(self.ids, dtype="str")
        self.codes = [np.where(c >= 0, index.get_indexer(pd.Index(u, dtype="str"))[c], -1) for c, u in parts]

    def of(self, i: int, as_of: pd.Series) -> np.ndarray:
        """The keys of the ``i``-th column's rows on their nights (-1: no child)."""
        day = np.asarray(pd.to_datetime(as_of).dt.normalize().to_numpy(), dtype="datetime64[D]").astype(
            "int64"
        )
        code = self.codes[i]
        return np.where(code >= 0, day * max(len(self.ids), 1) + code, -1)


def _join(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` with ``left[i] == right[j]`` for keys unique on the right, in
    ``left`` order (pandas' inner merge order); keys -1 never match."""
    order = np.argsort(right, kind="stable")
    r = right[order]
    at = np.searchsorted(r, left)
    ok = (at < len(r)) & (left >= 0)
    ok[ok] = r[at[ok]] == left[ok]
    return np.flatnonzero(ok), order[at[ok]]


def _join_in_key_order(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_join` for keys unique on both sides, its pairs in key order: the left keys
    sorted once, so the search walks the right keys in order (what ``_join`` then
    ``argsort(left[i])`` gave, in one sort and without random access)."""
    lo = np.argsort(left, kind="stable")
    ls = left[lo]
    ro = np.argsort(right, kind="stable")
    r = right[ro]
    at = np.searchsorted(r, ls)
    ok = (at < len(r)) & (ls >= 0)
    ok[ok] = r[at[ok]] == ls[ok]
    return lo[ok], ro[at[ok]]


def _judged(snapshots: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, _Keys, np.ndarray]:
    """The snapshot rows with their labels (an inner join on child and night), sorted by
    night and id; with the keys of the join and each row's key (to join the groups on)."""
    missing = [c for c in _SNAP_COLS if c not in snapshots.columns]
    if missing:
        raise ValueError(f"snapshots: column {missing[0]!r} is missing (risk.snapshot.SNAPSHOT_COLUMNS)")
    keep = _SNAP_COLS + [c for c in ("rank_county", "selected") if c in snapshots.columns]
    keys = _Keys(snapshots["student_id"], labels["student_id"])
    left, right = keys.of(0, snapshots["as_of"]), keys.of(1, labels["as_of"])
    for name, k in (("snapshots", left), ("labels", right)):
        if not pd.Index(k[k >= 0]).is_unique:
            raise ValueError(f"{name}: more than one row for one (student_id, as_of)")
    i, j = _join_in_key_order(left, right)  # by night, then the id string
    rest = [c for c in keep if c not in ("student_id", "as_of")]
    data = snapshots[rest].iloc[i].reset_index(drop=True)
    # ids, bands and groups as categories in string order: grouped as the strings would be
    ids = pd.Index(keys.ids, dtype="str")
    data.insert(0, "student_id", pd.Categorical.from_codes(keys.codes[0][i], categories=ids))
    when = pd.to_datetime(snapshots["as_of"].iloc[i]).dt.normalize().astype("datetime64[s]")
    data.insert(1, "as_of", when.to_numpy())
    lab = labels.iloc[j]
    data["label"] = lab["label"].to_numpy()
    data["event_date"] = pd.to_datetime(lab["event_date"]).astype("datetime64[s]").to_numpy()
    data["grade_band"] = _grade_band_codes(data["grade"])
    # the child as an integer in the students' sorted order: the expected intervals group a
    # child's rows by it (the same groups, in the same order, as by the id string)
    code = keys.codes[0][i]
    seen = np.zeros(len(keys.ids) + 1, dtype=bool)
    seen[code] = True
    data["_child"] = (np.cumsum(seen) - 1)[code].astype("int64")
    return data, keys, left[i]


def _night_members(data: pd.DataFrame) -> pd.DataFrame:
    """The rows on any judged list (listed, selected or of a tier): every list's members."""
    on = data["listed"].astype(bool).to_numpy().copy()
    if "selected" in data:
        on |= data["selected"].astype(bool).to_numpy()
    on |= data["tier"].isin(TIER_LISTS).to_numpy()
    return data.loc[on]


def _per_night(data: pd.DataFrame) -> pd.DataFrame:
    rows = []
    counts = data.groupby("as_of", sort=True)["label"].agg(["sum", "size"])
    members = dict(tuple(_night_members(data).groupby("as_of", sort=True)))
    empty = data.iloc[:0]
    for day, (positives, cohort) in zip(counts.index, counts.to_numpy(), strict=True):
        night = members.get(day, empty)
        for tier in TIER_LISTS:
            rows.append(
                {"as_of": day, "tier": tier,
                 **_figures(night.loc[_members(night, tier)], int(positives), int(cohort))}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=["as_of", "tier", *_figures(data.iloc[:0], 0, 0)])


def _pooled(data: pd.DataFrame) -> pd.DataFrame:
    positives, cohort = int(data["label"].sum()), len(data)
    rows = [{"tier": t, **_figures(data.loc[_members(data, t)], positives, cohort)} for t in TIER_LISTS]
    return pd.DataFrame(rows)


def _by_group(data: pd.DataFrame, dimensions: list[str], min_cell: int) -> pd.DataFrame:
    rows = []
    listed_rows = data.loc[data["listed"].astype(bool).to_numpy()]
    for dim in dimensions:
        counts = data.groupby(dim, sort=True, observed=True)["label"].agg(["sum", "size"])
        cells = dict(tuple(listed_rows.groupby(dim, sort=True, observed=True)))
        for value, (positives, cohort) in zip(counts.index, counts.to_numpy(), strict=True):
            if str(value) == "":
                continue
            positives, cohort = int(positives), int(cohort)
            f = _figures(cells.get(value, listed_rows.iloc[:0]), positives, cohort)
            hidden = []
            if f["n"] < min_cell:
                hidden.append("precision")
                for k in ("dropouts", "precision", "precision_low", "precision_high", "lift"):
                    f[k] = math.nan
            if positives < min_cell:
                hidden.append("recall")
                for k in ("dropouts", "positives", "recall", "recall_low", "recall_high", "lift"):
                    f[k] = math.nan
            f.pop("within_expected")
            rows.append({"dimension": dim, "value": str(value), **f, "suppressed": ";".join(hidden)})
    cols = ["dimension", "value", *[k for k in _figures(data.iloc[:0], 0, 0) if k != "within_expected"]]
    return pd.DataFrame(rows, columns=[*cols, "suppressed"])


def _events(data: pd.DataFrame, gaps: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    pos = data.loc[data["label"] == 1]
    pos = pos.assign(student_id=pos["student_id"].astype("str"))
    key = ["student_id", "event_date"]
    if not len(pos):
        empty_lead = pd.DataFrame(columns=["student_id", "event_date", "first_listed", "lead_days"])
        missed = pd.DataFrame(
            columns=[*key, "school_id", "class_id", "grade", "last_as_of", "last_rank", "last_tier",
                     "last_probability", "best_rank", "nights"]
        )  # fmt: skip
        return missed, empty_lead, {"events": 0.0, "caught": 0.0, "caught_share": math.nan,
                                    "median_lead_days": math.nan, "caught_30d_share": math.nan}  # fmt: skip
    listed = pos.loc[pos["listed"].astype(bool)]
    first = listed.groupby(key)["as_of"].min().rename("first_listed").reset_index()
    first["lead_days"] = (first["event_date"] - first["first_listed"]).dt.days.astype("int64")
    n_events = pos[key].drop_duplicates().shape[0]
    caught = set(map(tuple, first[key].astype("str").to_numpy()))
    is_missed = ~pd.Series(map(tuple, pos[key].astype("str").to_numpy()), index=pos.index).isin(caught)
    miss = pos.loc[is_missed].sort_values([*key, "as_of"])
    rank = "rank_county" if "rank_county" in miss.columns else None
    last = miss.groupby(key, sort=True).tail(1).set_index(key)
    out = pd.DataFrame(index=last.index)
    for c in ("school_id", "class_id", "grade"):
        out[c] = last[c]
    out["last_as_of"] = last["as_of"]
    out["last_rank"] = last[rank] if rank else pd.NA
    out["last_tier"] = last["tier"].astype("str")
    out["last_probability"] = last["probability"]
    out["best_rank"] = miss.groupby(key)[rank].min() if rank else pd.NA
    out["nights"] = miss.groupby(key).size()
    out = out.reset_index()
    if gaps is not None and len(gaps):
        g = gaps.assign(
            student_id=gaps["student_id"].astype("str"),
            event_date=pd.to_datetime(gaps["event_date"]).astype("datetime64[s]"),
        )
        out = out.merge(g, on=key, how="left")
    lead = first.sort_values(key).reset_index(drop=True)
    d = lead["lead_days"].to_numpy()
    summary = {
        "events": float(n_events),
        "caught": float(len(lead)),
        "caught_share": len(lead) / n_events,
        "median_lead_days": float(np.median(d)) if len(d) else math.nan,
        "caught_30d_share": float((d >= 30).sum()) / n_events,
    }
    return out.sort_values(["event_date", "student_id"]).reset_index(drop=True), lead, summary


def list_quality(
    snapshots: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    groups: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    min_cell: int = 10,
) -> ListQuality:
    """Judge the lists of past nights against what happened.

    Parameters
    ----------
    snapshots : DataFrame
        The risk snapshots of the nights to judge, stacked (``risk.snapshot.SNAPSHOT_COLUMNS``;
        ``student_id, as_of, school_id, class_id, grade, probability, tier, listed`` and
        ``rank_county`` are read). Only nights with labels are judged: pass labels for the
        nights whose window has closed.
    labels : DataFrame
        :func:`training.labels.label_panel` for those nights: ``student_id, as_of, label,
        event_date`` (censored children are absent and so not judged).
    groups : DataFrame, optional
        ``student_id, as_of`` and one string column per watched group (e.g.
        :func:`training.fairness.audit_groups`'s ``left_behind``, ``migrant``,
        ``hardship``): extra dimensions of :attr:`ListQuality.by_group`.
    gaps : DataFrame, optional
        ``student_id, event_date`` and data-gap columns joined onto the missed list
        (:func:`risk.monitoring.coverage.gaps_before`).
    min_cell : int
        Group cells with fewer listed children (precision) or dropouts (recall) are suppressed.
    """
    data, keys, key = _judged(snapshots, labels)
    dims = ["school_id", "grade_band"]
    if groups is not None and len(groups):
        extra = [c for c in groups.columns if c not in ("student_id", "as_of") and c not in data.columns]
        # a left join on (child, night) by the keys of the judged rows (a child a night)
        gk = _Keys(pd.Series(keys.ids, dtype="str"), groups["student_id"])
        gkey = gk.of(1, groups["as_of"])
        if not pd.Index(gkey[gkey >= 0]).is_unique:
            raise ValueError("groups: more than one row for one (student_id, as_of)")
        day, code = np.divmod(key, max(len(keys.ids), 1))
        i, j = _join(day * max(len(gk.ids), 1) + gk.codes[0][code], gkey)
        for c in extra:  # a category of the group's names in string order; "unknown" if none
            col = groups[c]
            codes, uniques = pd.factorize(
                col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("object")
            )
            names = np.unique(np.append(np.asarray(uniques, dtype=object).astype(str), "unknown"))
            remap = np.append(np.searchsorted(names, np.asarray(uniques, dtype=object).astype(str)),
                              np.searchsorted(names, "unknown"))  # fmt: skip
            col = np.full(len(data), np.searchsorted(names, "unknown"), dtype="int64")
            col[i] = remap[codes[j]]  # code -1 (a missing name) takes the last slot: "unknown"
            data[c] = pd.Categorical.from_codes(col, categories=pd.Index(names, dtype="str"))
        dims += extra
    missed, lead, lead_summary = _events(data, gaps)
    return ListQuality(
        lists=_per_night(data),
        summary=_pooled(data),
        by_group=_by_group(data, dims, min_cell),
        missed=missed,
        lead=lead,
        lead_summary=lead_summary,
        nights=sorted(pd.Timestamp(d) for d in data["as_of"].unique()),
    )
