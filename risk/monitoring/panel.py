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


class _Watched:
    """The watched tables, sorted once: each night reads its rows from them."""

    def __init__(self, tables: Tables):
        self.lb = None
        lb = tables.left_behind
        if lb is not None and len(lb):
            col = known_date("left_behind")
            # features.time.latest_known sorts the known rows by date (stable) and keeps
            # the last per student: sorting all rows first keeps the same order among them
            order = np.argsort(lb[col].to_numpy(), kind="stable")
            self.lb = lb.iloc[order]
            self.lb_col = col
        self.hardship = tables.hardship

    def on(self, c: pd.DataFrame, day: pd.Timestamp, wanted: Sequence[str]) -> pd.DataFrame:
        """The watched groups of the cohort ``c`` on ``day`` (``training.fairness._groups_on``)."""
        out = pd.DataFrame(index=c.index)
        d = day.date()
        if "left_behind" in wanted:
            if self.lb is not None:
                known = self.lb.loc[known_mask(self.lb, d, date_col=self.lb_col)]
                last = known.drop_duplicates("student_id", keep="last")
                status = last.set_index("student_id")["status"]
                status.index = pd.Index(status.index.astype("str"), name="student_id")
                out["left_behind"] = (
                    status.reindex(out.index).map(_LEFT_BEHIND).astype("object").fillna("unknown")
                )
            else:
                out["left_behind"] = "unknown"
        if "migrant" in wanted:
            out["migrant"] = (
                c["is_migrant_child"]
                .map({True: "migrant", False: "local"})
                .astype("object")
                .fillna("unknown")
            )
        if "hardship" in wanted:
            if self.hardship is not None:
                hard = valid_at(self.hardship, d)["student_id"].astype("str").unique()
                out["hardship"] = np.where(out.index.isin(hard), "hardship", "no_hardship")
            else:
                out["hardship"] = "unknown"
        return out[[w for w in WATCHED if w in wanted]]


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
            g = w.on(c, day, watched).reset_index()
            g.insert(1, "as_of", day)
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
        groups["student_id"] = pd.Categorical(groups["student_id"], categories=cats)
        groups["as_of"] = groups["as_of"].astype("datetime64[s]")
    return labels, groups
