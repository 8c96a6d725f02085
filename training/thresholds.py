"""The tiers' thresholds chosen from evidence, and the tiers measured, on the evaluation year.

:func:`choose_thresholds` picks, on the test rows of the evaluation (a later year than the
fit), the lowest red threshold whose list reaches ``[risk] red_min_lift`` times the base rate,
the lowest yellow threshold at which the yellow tier reaches ``[risk] yellow_min_lift``, and
measures each deterministic trigger's lift (:data:`features.tiering.TRIGGERS`).

Which lift the yellow threshold promises is ``[risk] yellow_choice``:

- ``"tier"`` (default): the yellow tier *as a whole* (the rows below red at or above the
  threshold that fit in their school's places on their as-of date, when the places are given)
  reaches ``yellow_min_lift``; no student is listed by risk below ``yellow_floor_lift`` times
  the base rate. This is what the acceptance criterion "yellow >= 3x" measures.
- ``"student"``: every yellow student's *own* risk is at least ``yellow_min_lift`` times the
  base rate (a marginal floor): the tier's lift is then far above it, and the list short. The deployed
bundle carries them (``ModelBundle.thresholds``, logged to MLflow); scoring applies them
(:func:`risk.assess.model_thresholds`). Calibrated probabilities are on one scale from model
to model, so a threshold chosen on the evaluation model's scores transfers to the deployed one.

:func:`tier_table` applies the whole list policy (:func:`features.tiering.list_tiers`) to the
test rows, as-of date by as-of date, and reports per tier the share of the cohort, precision,
recall, lift and lead time (days from the as-of date to the dropout), per month and overall.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import BaoxueConfig, RiskConfig
from features.tiering import TRIGGERS, Thresholds, list_tiers, rule_flag_mask, trigger_masks

__all__ = [
    "choose_thresholds",
    "within_places",
    "row_capacity",
    "cells",
    "tier_labels",
    "tier_table",
    "tier_summary",
]


def _lowest_with_lift(
    y: np.ndarray,
    p: np.ndarray,
    target: float,
    min_positives: int,
    *,
    floor: float = 0.0,
    pos0: float = 0.0,
    n0: int = 0,
) -> float | None:
    """The lowest threshold t >= ``floor`` such that the rows with p >= t, together with ``n0``
    rows holding ``pos0`` positives listed anyway (the rules), reach precision ``target`` and
    hold at least ``min_positives`` positives (None when none does)."""
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    cum_pos = pos0 + np.cumsum(ys)
    prec = cum_pos / (n0 + np.arange(1, len(ys) + 1))
    last_of_value = np.r_[ps[1:] != ps[:-1], True]  # a threshold takes every row of equal score
    ok = last_of_value & (prec >= target) & (cum_pos >= min_positives) & (ps >= floor)
    if not ok.any():
        return None
    return float(ps[np.flatnonzero(ok)[-1]])


def choose_thresholds(
    y,
    probability,
    triggers: dict[str, np.ndarray],
    config: RiskConfig | None = None,
    *,
    red_rule=None,
    groups=None,
    capacity=None,
    min_positives: int = 5,
    min_trigger_rows: int = 30,
) -> Thresholds:
    """Red and yellow thresholds and trigger lifts from labelled rows (see the module notes).

    A calibrated probability is a student's own risk, so the red threshold starts at
    ``red_min_lift`` times the base rate (a student ten times as likely to leave as the average)
    and the yellow one at ``yellow_min_lift`` times; each is raised, if need be, to the lowest
    value at which its list reaches that lift on these rows (calibration may be off).
    ``red_rule`` marks rows a red rule lists anyway: the red threshold is the lowest whose
    list *with* those rows reaches ``red_min_lift``. The yellow band and the trigger lifts are
    measured on the rows that are not red, the students a yellow condition would add. With
    ``yellow_choice = "tier"`` the yellow threshold is the lowest t >= ``yellow_floor_lift`` x
    the base rate at which the non-red rows with risk in [t, red) reach ``yellow_min_lift``
    together; given ``groups`` (one key per (as-of date, school) cell) and ``capacity`` (each
    row's school capacity), only the rows that fit in their cell's places (capacity minus the
    cell's red rows, highest risk first) count, as in the list itself, so the promise holds for
    the capacity-bounded tier. With ``"student"`` the floor is ``yellow_min_lift`` x the base
    rate. A threshold that no list reaches falls back to the ``[risk]`` default (yellow: no
    higher than red); a trigger held by fewer than ``min_trigger_rows`` of those rows has no
    measured lift (NaN: it stays a fact).

    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0, 0.2, 20_000)
    >>> y = (rng.uniform(size=p.size) < p).astype(int)
    >>> trig = {"unexcused_10d": p > 0.15, "academic_fall": rng.uniform(size=p.size) < 0.1}
    >>> t = choose_thresholds(y, p, trig, RiskConfig(red_min_lift=1.7, yellow_min_lift=1.0))
    >>> 0.1 < t.red_risk < 0.2, t.yellow_risk < t.red_risk, t.trigger_lift["academic_fall"] < 2  # noise
    (True, True, True)
    """
    rc = config or RiskConfig()
    y = np.asarray(y, dtype="float64")
    p = np.asarray(probability, dtype="float64")
    rule = np.zeros(len(y), bool) if red_rule is None else np.asarray(red_rule, dtype=bool)
    base = float(y.mean()) if len(y) else float("nan")
    if not len(y) or base <= 0:
        return Thresholds(rc.red_risk, rc.yellow_risk, {}, base, "config")
    red = _lowest_with_lift(
        y[~rule],
        p[~rule],
        rc.red_min_lift * base,
        min_positives,
        floor=rc.red_min_lift * base,
        pos0=float(y[rule].sum()),
        n0=int(rule.sum()),
    )
    red = rc.red_risk if red is None else red
    rest = ~rule & (p < red)
    if rc.yellow_choice == "student":
        yellow = _lowest_with_lift(
            y[rest], p[rest], rc.yellow_min_lift * base, min_positives, floor=rc.yellow_min_lift * base
        )
    else:
        fits = rest if groups is None else rest & within_places(p, ~rest, groups, capacity)
        yellow = _lowest_with_lift(
            y[fits], p[fits], rc.yellow_min_lift * base, min_positives, floor=rc.yellow_floor_lift * base
        )
    yellow = min(rc.yellow_risk, red) if yellow is None else yellow
    lifts = {}
    for name in TRIGGERS:
        m = np.asarray(triggers.get(name, np.zeros(len(y), bool)), dtype=bool) & rest
        lifts[name] = float(y[m].mean() / base) if m.sum() >= min_trigger_rows else float("nan")
    return Thresholds(red_risk=red, yellow_risk=yellow, trigger_lift=lifts, base_rate=base, source="model")


def within_places(p, red, groups, capacity) -> np.ndarray:
    """True for the non-red rows whose rank by risk within their group (an (as-of date, school)
    cell) is within the group's places: ``capacity`` minus the group's red rows. Whatever the
    yellow threshold t, the capacity-bounded yellow tier by risk is exactly these rows with p >= t
    (the places go down the same ranking), so a threshold's tier lift is read off them.

    >>> within_places([.5, .3, .2, .1, .4, .3], [True, False, False, False, False, False],
    ...               ["a", "a", "a", "a", "b", "b"], [2, 2, 2, 2, 1, 1]).tolist()
    [False, True, False, False, True, False]
    """
    p = np.asarray(p, dtype="float64")
    red = np.asarray(red, dtype=bool)
    codes = pd.factorize(pd.Series(np.asarray(groups)), sort=False)[0]
    cap = np.asarray(capacity, dtype="float64")
    n_red = np.bincount(codes, weights=red.astype("float64"), minlength=codes.max() + 1 if len(codes) else 0)
    places = cap - n_red[codes]
    order = np.lexsort((-p, codes))
    order = order[~red[order]]
    out = np.zeros(len(p), dtype=bool)
    if len(order):
        c = codes[order]
        start = np.r_[True, c[1:] != c[:-1]]
        first = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
        rank = np.arange(len(order)) - first + 1
        out[order] = rank <= places[order]
    return out


def _previous_by_student(rows: pd.DataFrame, p: np.ndarray) -> np.ndarray:
    """Each row's score at the same student's previous as-of date in ``rows`` (NaN: none)."""
    f = pd.DataFrame(
        {"s": rows["student_id"].astype("str").to_numpy(), "d": rows["as_of"].to_numpy(), "p": p}
    )
    f = f.sort_values(["s", "d"], kind="stable")
    prev = f.groupby("s", sort=False)["p"].shift(1)
    return prev.reindex(range(len(rows))).to_numpy(dtype="float64")


def row_capacity(
    rows: pd.DataFrame, config: RiskConfig | None = None, capacity: int | None = None
) -> np.ndarray:
    """Each (student, as-of date) row's school capacity: ``capacity`` (default ``[risk]
    capacity_per_school``), at most ``capacity_per_100`` per 100 students of the school on that
    date (at least 1) when that is set."""
    rc = config or RiskConfig()
    cap_school = rc.capacity_per_school if capacity is None else capacity
    cap = np.full(len(rows), cap_school, dtype="float64")
    if rc.capacity_per_100 > 0 and len(rows):
        keys = [pd.to_datetime(rows["as_of"]).to_numpy(), rows["school_id"].astype("str").to_numpy()]
        size = pd.Series(1, index=rows.index).groupby(keys).transform("sum").to_numpy()
        cap = np.minimum(cap, np.maximum(np.ceil(rc.capacity_per_100 * size / 100.0), 1))
    return cap


def cells(rows: pd.DataFrame) -> np.ndarray:
    """One key per (as-of date, school) of each row: the cells a list is made in."""
    return (rows["as_of"].astype("str") + "|" + rows["school_id"].astype("str")).to_numpy()


def tier_labels(
    rows: pd.DataFrame,
    probability,
    thresholds: Thresholds,
    config: BaoxueConfig | None = None,
    *,
    capacity: int | None = None,
) -> np.ndarray:
    """The tier of every (student, as-of date) row of a labelled panel under the list policy:
    red from the attendance rule flags and the red threshold, yellow per school and date within
    ``capacity`` (default ``[risk] capacity_per_school``, bounded by ``capacity_per_100``), blue
    against the student's score one as-of date (a month) earlier."""
    cfg = config or BaoxueConfig()
    rc = cfg.risk
    p = np.asarray(probability, dtype="float64")
    rows = rows.reset_index(drop=True)
    school = rows["school_id"].astype("str").to_numpy()
    as_of = pd.to_datetime(rows["as_of"]).to_numpy()
    cap = row_capacity(rows, rc, capacity)
    previous = _previous_by_student(rows, p)
    red_rule = rule_flag_mask(rows)
    triggers = trigger_masks(rows, cfg)
    tier = np.full(len(rows), "none", dtype=object)
    for d in np.unique(as_of):
        m = np.flatnonzero(as_of == d)
        t, _ = list_tiers(
            p[m], red_rule[m], school[m], cap[m], {k: v[m] for k, v in triggers.items()}, thresholds, rc,
            previous=previous[m],
        )  # fmt: skip
        tier[m] = t
    return tier


def tier_table(rows: pd.DataFrame, tier: np.ndarray) -> pd.DataFrame:
    """Per tier (red, yellow, blue, none, and red+yellow = the lists) and per as-of month plus
    ``all``: rows, share of the cohort, precision, recall, lift over the base rate and the mean
    lead time in days (as-of date to dropout, over the tier's positives)."""
    rows = rows.reset_index(drop=True)
    y = rows["label"].to_numpy(dtype="float64")
    as_of = pd.to_datetime(rows["as_of"])
    lead = (pd.to_datetime(rows["event_date"]) - as_of).dt.days.to_numpy(dtype="float64") if "event_date" in rows else np.full(len(rows), np.nan)  # fmt: skip
    month = as_of.dt.strftime("%Y-%m").to_numpy()
    out = []
    for when in ["all", *sorted(pd.unique(month))]:
        w = np.ones(len(rows), bool) if when == "all" else month == when
        base = y[w].mean() if w.any() else np.nan
        positives = y[w].sum()
        for name, members in (
            ("red", ("red",)),
            ("yellow", ("yellow",)),
            ("blue", ("blue",)),
            ("none", ("none",)),
            ("red+yellow", ("red", "yellow")),
        ):
            m = w & np.isin(tier, members)
            prec = y[m].mean() if m.any() else np.nan
            pos = m & (y == 1)
            out.append(
                {
                    "month": when,
                    "tier": name,
                    "rows": int(m.sum()),
                    "share": float(m.sum() / w.sum()) if w.any() else np.nan,
                    "precision": float(prec),
                    "recall": float(y[m].sum() / positives) if positives else np.nan,
                    "lift": float(prec / base) if base and not np.isnan(prec) else np.nan,
                    "lead_days": float(np.nanmean(lead[pos]))
                    if pos.any() and not np.isnan(lead[pos]).all()
                    else np.nan,  # fmt: skip
                }
            )
    return pd.DataFrame(out)


def tier_summary(table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """``{red, yellow, blue, none: {share, precision, recall, lift}}`` of the ``all`` rows of a
    :func:`tier_table`, JSON-ready (NaN as None)."""
    allrows = table.loc[table["month"] == "all"].set_index("tier")
    out: dict[str, dict[str, float | None]] = {}
    for t in ("red", "yellow", "blue", "none"):
        row = allrows.loc[t]
        out[t] = {
            k: (None if pd.isna(row[k]) else float(row[k])) for k in ("share", "precision", "recall", "lift")
        }
    return out
