"""What changed since the last run: the snapshot against the previous one, and the rule alerts of
the school days the job did not run.

Pure functions of frames (no database): the nightly job (``jobs/nightly.py``) reads the
previous run's snapshot and the date of the last run, and stores what these return.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.config import BaoxueConfig
from features.contract import Tables
from features.time import day_numbers, default_calendar, school_days

__all__ = ["compare_snapshots", "missed_school_days", "missed_rule_alerts"]


def compare_snapshots(
    current: pd.DataFrame, previous: pd.DataFrame | None, *, change_min: float
) -> pd.DataFrame:
    """Tonight's snapshot against the previous run's: the :data:`jobs.storage.DIFF_COLUMNS`.

    ``change`` is ``new`` (listed tonight, not in the previous run's list), ``rising`` /
    ``falling`` (listed both times, probability up / down by at least ``change_min``),
    ``steady``, ``left`` (listed before, not tonight) or ``''``. ``rules_new`` lists the
    rules firing tonight that did not fire in the previous run.

    >>> cur = pd.DataFrame({"student_id": ["a", "b", "c"], "probability": [0.5, 0.2, 0.1],
    ...     "tier": ["red", "yellow", "none"], "listed": [True, True, False],
    ...     "rules": ["rule_48h;rule_3day", "", ""]})
    >>> prev = pd.DataFrame({"student_id": ["a", "c"], "probability": [0.3, 0.4],
    ...     "tier": ["yellow", "red"], "listed": [True, True], "rules": ["rule_48h", ""]})
    >>> compare_snapshots(cur, prev, change_min=0.05)[["change", "rules_new"]].values.tolist()
    [['rising', 'rule_3day'], ['new', ''], ['left', '']]
    """
    ids = current["student_id"].astype("str")
    if previous is None or previous.empty:
        prev = pd.DataFrame(
            index=pd.Index([], dtype="str"), columns=["probability", "tier", "listed", "rules"]
        )
    else:
        prev = previous.assign(student_id=previous["student_id"].astype("str")).set_index("student_id")
    p = prev.reindex(ids.to_numpy())
    prev_prob = p["probability"].astype("float64").to_numpy()
    was_listed = p["listed"].fillna(False).astype(bool).to_numpy()
    listed = current["listed"].astype(bool).to_numpy()
    delta = current["probability"].to_numpy(dtype="float64") - prev_prob
    change = np.select(
        [
            listed & ~was_listed,
            listed & (delta >= change_min),
            listed & (delta <= -change_min),
            listed,
            was_listed,
        ],
        ["new", "rising", "falling", "steady", "left"],
        default="",
    )
    prev_rules = p["rules"].fillna("").astype("str").to_numpy()
    now_rules = current["rules"].fillna("").astype("str").to_numpy()
    new_rules = [
        ";".join(r for r in now.split(";") if r and r not in set(before.split(";"))) if now else ""
        for now, before in zip(now_rules, prev_rules, strict=True)
    ]
    return pd.DataFrame(
        {
            "prev_probability": prev_prob,
            "prev_tier": p["tier"].astype("object").fillna("").astype("str").to_numpy(),
            "change": change,
            "rules_new": new_rules,
        },
        index=current.index,
    )


def missed_school_days(
    calendar: pd.DataFrame | None,
    school_ids,
    last_run: dt.date,
    as_of: dt.date,
    *,
    catch_up_days: int,
) -> list[dt.date]:
    """The school days strictly between the last run and ``as_of``: the last ``catch_up_days`` of them.

    A day counts when it is a school day of any of ``school_ids`` by the school calendar
    (:func:`features.time.school_days`: the ``calendar`` table, the contract's default
    calendar where it has no rows); with no school, the default calendar decides.

    Friday 7 March to Monday 17 March 2025 (default calendar): the week of the 10th was missed.

    >>> days = missed_school_days(None, ["s1"], dt.date(2025, 3, 7), dt.date(2025, 3, 17), catch_up_days=31)
    >>> [d.day for d in days]
    [10, 11, 12, 13, 14]
    >>> missed_school_days(None, ["s1"], dt.date(2025, 3, 7), dt.date(2025, 3, 17), catch_up_days=2)
    [datetime.date(2025, 3, 13), datetime.date(2025, 3, 14)]
    >>> missed_school_days(None, [], dt.date(2025, 4, 30), dt.date(2025, 5, 7), catch_up_days=31)
    [datetime.date(2025, 5, 6)]
    """
    first, last = last_run + dt.timedelta(days=1), as_of - dt.timedelta(days=1)
    if not catch_up_days or last < first:
        return []
    schools = pd.unique(np.asarray(school_ids, dtype=object))
    if len(schools):
        sd = school_days(calendar, schools, last, history_days=(last - first).days)
        numbers = sd.d0 + np.flatnonzero((sd.table >= 0).any(axis=0))
    else:
        numbers = day_numbers(default_calendar(first, last)["date"].to_numpy())
    days = [dt.date(1970, 1, 1) + dt.timedelta(days=int(n)) for n in numbers]
    return days[-catch_up_days:]


def missed_rule_alerts(tables: Tables, days: list[dt.date], cfg: BaoxueConfig) -> pd.DataFrame:
    """The rule alerts of nights the job did not run: ``student_id, day, rules, rule_evidence,
    school_id, class_id``.

    Runs the rules (:func:`risk.rules.evaluate_rules`) on each missed day with the attendance
    features of that day only, so that a 48 h alert whose student came back before the
    next run is still recorded.
    """
    from features.attendance import attendance_features
    from features.cohort import cohort
    from risk.rules import evaluate_rules, rules_by_student

    parts = []
    for day in days:
        co = cohort(tables, day)
        feats = attendance_features(tables, day, config=cfg, cohort=co)
        alerts = evaluate_rules(tables, day, feats, cohort=co, config=cfg)
        if not len(alerts):
            continue
        by = rules_by_student(alerts, pd.Index(alerts["student_id"].unique(), dtype="str"))
        parts.append(
            pd.DataFrame(
                {
                    "student_id": by.index.to_numpy(),
                    "day": pd.Timestamp(day),
                    "rules": by["rules"].to_numpy(),
                    "rule_evidence": by["rule_evidence"].to_numpy(),
                    "school_id": co["school_id"].reindex(by.index).astype("str").to_numpy(),
                    "class_id": co["class_id"].reindex(by.index).astype("object").to_numpy(),
                }
            )
        )
    cols = ["student_id", "day", "rules", "rule_evidence", "school_id", "class_id"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
