"""The judged nights' labels and watched groups in one pass over the nights.

:func:`training.labels.label_panel` and :func:`training.fairness.audit_groups` each build the
cohort of every night (:func:`features.cohort.cohort`), the costliest step of both; over a year
of nightly lists the monitor judges a hundred nights or more, so :func:`judged_panel` builds
each night's cohort once and derives both from it, and reads the label events
(:func:`training.labels._events`) and each watched table's sort once for all nights. The
result is the same frames, row for row (``tests/risk/monitoring/test_panel.py`` holds it to
the two functions on a simulated county).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from features.cohort import cohort
from features.config import TrainConfig
from features.contract import Tables
from features.time import known_date, known_mask, valid_at
from training.labels import _check_observed, _events, _labels_from_events, observed_until

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


class _Watched:
    """The watched tables, sorted once: each night reads its rows from them by student code
    (the ``student_id`` categories every table shares)."""

    def __init__(self, tables: Tables):
        self.n = len(tables.student_ids)
        self.lb = None
        lb = tables.left_behind
        if lb is not None and len(lb):
            col = known_date("left_behind")
            # features.time.latest_known sorts the known rows by date (stable) and keeps the
            # last per student: sorting all rows once first leaves the known ones in that order
            order = np.argsort(lb[col].to_numpy(), kind="stable")
            self.lb = lb.iloc[order]
            self.lb_col = col
            codes = _student_codes(self.lb, tables.student_ids)
            if codes is None:  # not the shared categories: by student id string
                codes = tables.student_ids.get_indexer(self.lb["student_id"].astype("str"))
            self.lb_codes = codes
            # the name of each row's status ("unknown" where training.fairness maps none)
            names = self.lb["status"].map(_LEFT_BEHIND).astype("object").fillna("unknown")
            self.lb_names = names.to_numpy(dtype=object)
        self.hardship = tables.hardship
        self.cats = tables.student_ids

    def on(self, c: pd.DataFrame, day: pd.Timestamp, wanted: Sequence[str]) -> dict[str, np.ndarray]:
        """The watched groups of the cohort ``c`` on ``day`` (``training.fairness._groups_on``),
        one array per group in the cohort's order."""
        d = day.date()
        codes = c["code"].to_numpy()
        out: dict[str, np.ndarray] = {}
        if "left_behind" in wanted:
            per = np.full(self.n, "unknown", dtype=object)
            if self.lb is not None:
                known = known_mask(self.lb, d, date_col=self.lb_col)
                k_codes, k_names = self.lb_codes[known], self.lb_names[known]
                # the last known row per student (rows in date order): reversed, first wins
                rev = np.arange(len(k_codes))[::-1]
                _, first = np.unique(k_codes[rev], return_index=True)
                last = rev[first]
                ok = k_codes[last] >= 0
                per[k_codes[last][ok]] = k_names[last][ok]
            out["left_behind"] = per[codes]
        if "migrant" in wanted:
            out["migrant"] = (
                c["is_migrant_child"]
                .map({True: "migrant", False: "local"})
                .astype("object")
                .fillna("unknown")
                .to_numpy(dtype=object)
            )
        if "hardship" in wanted:
            if self.hardship is not None:
                rows = valid_at(self.hardship, d)
                hard = np.zeros(self.n, dtype=bool)
                h = _student_codes(rows, self.cats)
                if h is None:
                    h = self.cats.get_indexer(rows["student_id"].astype("str").unique())
                hard[h[h >= 0]] = True
                out["hardship"] = np.where(hard[codes], "hardship", "no_hardship").astype(object)
            else:
                out["hardship"] = np.full(len(codes), "unknown", dtype=object)
        return {w: out[w] for w in WATCHED if w in wanted}


def judged_panel(
    tables: Tables,
    nights: Iterable[pd.Timestamp],
    config: TrainConfig,
    *,
    until=None,
    watched: Sequence[str] | None = WATCHED,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Labels and watched groups of every cohort student on every night, one cohort a night.

    Returns
    -------
    (labels, groups)
        ``labels`` as :func:`training.labels.label_panel` (``student_id`` category, ``as_of``,
        ``label``, ``event_date``); ``groups`` as ``training.fairness.audit_groups(tables,
        nights)[["student_id", "as_of", *watched]]`` (None when ``watched`` is None or empty).
    """
    unknown = [w for w in (watched or ()) if w not in WATCHED]
    if unknown:
        raise ValueError(f"judged_panel: watched group {unknown[0]!r} is not one of {WATCHED}")
    stop = pd.Timestamp(until).normalize() if until is not None else observed_until(tables)
    days = sorted({pd.Timestamp(d).normalize() for d in nights})
    for day in days:
        _check_observed(day, config, stop)
    positives, censors, streaks = _events(tables, config)
    w = _Watched(tables) if watched else None
    cats = tables.student_ids
    labs, grps = [], []
    for day in days:
        c = cohort(tables, day.date())
        lab = _labels_from_events(c["code"].to_numpy(), day, positives, censors, streaks, config)
        frame = pd.DataFrame(
            {
                "student_id": pd.Categorical.from_codes(lab.index.to_numpy(), categories=cats),
                "as_of": np.datetime64(day.date(), "s"),
                "label": lab["label"].to_numpy(),
                "event_date": lab["event_date"].to_numpy(),
            }
        )
        labs.append(frame)
        if w is not None:
            g = pd.DataFrame(
                {
                    "student_id": pd.Categorical.from_codes(c["code"].to_numpy(), categories=cats),
                    "as_of": np.datetime64(day.date(), "s"),
                    **w.on(c, day, watched),
                }
            )
            grps.append(g)
    if labs:
        labels = pd.concat(labs, ignore_index=True)
    else:
        labels = pd.DataFrame(
            {
                "student_id": pd.Categorical([], categories=cats),
                "as_of": pd.Series(dtype="datetime64[s]"),
                "label": pd.Series(dtype="int8"),
                "event_date": pd.Series(dtype="datetime64[s]"),
            }
        )
    labels["as_of"] = labels["as_of"].astype("datetime64[s]")
    groups = None
    if grps:
        groups = pd.concat(grps, ignore_index=True)
        groups["as_of"] = groups["as_of"].astype("datetime64[s]")
    return labels, groups
