"""The deterministic rules of the county plans, evaluated on the as-of date with their evidence.

Rules fire whatever the model says. This module is the public home of the rule registry
for ``risk`` and ``jobs`` code: :data:`RULEBOOK` (each rule's code, ``[rules]`` threshold,
comparison, severity, whether it opens a case, and its words built from the configured
threshold), :data:`RULE_SEVERITY` (the one order of tiers and cases), :data:`CASE_RULES`,
:func:`rule_labels` and :func:`rule_names`. They are defined in :mod:`features.rulebook`
(the data contract and the attendance flags read them too, and ``features`` may not import
``risk``) and re-exported here.

Each alert names the rule (the ``cases.trigger`` codes of the data contract, the codes of
:data:`RULEBOOK`) and carries its evidence:

- ``rule_48h``: the current run of consecutive unexcused school days has reached
  ``[rules] report_48h_days`` (2 school days = 48 hours) → report to the township and the
  county education bureau;
- ``rule_3day``: the run is longer than ``suspected_dropout_days`` (3) → suspected
  dropout (疑似辍学), into the ledger;
- ``rule_5day``: the run has reached ``registry_update_days`` (5; some counties use 7) →
  the registry's 疑似辍学 mark is due;
- ``registry_mark``: the registry carries a suspected-dropout mark not followed by a
  return (``return_mark``/``resume``/``enrol``/``transfer_in``); the evidence says how
  many calendar days it has been open and whether the automatic 辍学 mark
  (``registry_dropout_days``, 30) is due;
- ``leave_unapproved``: a leave in force on ``as_of`` longer than ``principal_leave_days``
  (5) weekdays whose approver is not the principal, or which is not approved.

A run of unexcused days counts school days of the student's school (calendar table or
the default calendar), so weekends and holidays neither count nor break it, and approved
leave known on ``as_of`` is not unexcused: the run is the ``att_unexcused_streak_current``
feature (:mod:`features.attendance`), and its first and last dates come from the same
school calendar. "Whereabouts unknown" is not in the data contract, so it is not a rule
here; staff record it on the case.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from features.cohort import IN_EVENTS
from features.config import BaoxueConfig, RulesConfig
from features.contract import Tables
from features.rulebook import CASE_RULES, RULE_SEVERITY, RULEBOOK, STREAK_RULES, Rule, rule_labels, rule_names
from features.time import day_numbers, known_rows, school_days

__all__ = [
    "ALERT_COLUMNS",
    "CASE_RULES",
    "RULEBOOK",
    "RULE_SEVERITY",
    "Rule",
    "evaluate_rules",
    "rule_labels",
    "rule_names",
    "rules_by_student",
]

#: columns of :func:`evaluate_rules`
ALERT_COLUMNS = ("student_id", "rule", "first_day", "last_day", "days", "evidence")

_EPOCH = dt.date(1970, 1, 1)


def _date(day_number: int) -> str:
    return (_EPOCH + dt.timedelta(days=int(day_number))).isoformat()


def _rules_config(config: BaoxueConfig | RulesConfig | None) -> RulesConfig:
    if config is None:
        return RulesConfig()
    return config if isinstance(config, RulesConfig) else config.rules


def _streak_alerts(
    tables: Tables, as_of: dt.date, spine: pd.DataFrame, streak: pd.Series, rc: RulesConfig
) -> list[dict]:
    streak = streak.reindex(spine.index).fillna(0.0)
    hit = np.logical_or.reduce([rule.fires(streak.to_numpy(), rc) for rule in STREAK_RULES])
    if not hit.any():
        return []
    students = spine.loc[hit]
    runs = streak.loc[hit].astype("int64").to_numpy()
    school_ids = students["school_id"].astype("str").to_numpy()
    sd = school_days(tables.calendar, school_ids, as_of)
    codes = sd.code_of(school_ids)
    # ordinal -> day number, per school (a school's school days in the window, in order)
    day_of: dict[int, np.ndarray] = {}
    for code in np.unique(codes):
        row = sd.table[code]
        day_of[int(code)] = sd.d0 + np.flatnonzero(row >= 0)
    out: list[dict] = []
    thresholds = [(rule.code, rule.threshold(rc), rule) for rule in STREAK_RULES]
    for sid, code, k in zip(students.index, codes, runs, strict=True):
        days = day_of[int(code)]
        last_ord = int(sd.last[code])
        first_ord = max(last_ord - int(k) + 1, 0)
        first, last = _date(days[first_ord]), _date(days[last_ord])
        for rule, threshold, r in thresholds:
            if r.fires(int(k), rc):
                out.append(
                    {
                        "student_id": sid,
                        "rule": rule,
                        "first_day": first,
                        "last_day": last,
                        "days": int(k),
                        "evidence": {
                            "consecutive_unexcused_school_days": int(k),
                            "threshold": int(threshold),
                            "first_day": first,
                            "last_day": last,
                        },
                    }
                )
    return out


def _registry_alerts(tables: Tables, as_of: dt.date, spine: pd.DataFrame, rc: RulesConfig) -> list[dict]:
    ev = known_rows(tables, "registry_events", as_of)
    types = ev["event_type"].astype("str")
    relevant = types.isin(("suspected_mark", *IN_EVENTS)).to_numpy()
    ev = ev.loc[relevant]
    if not len(ev):
        return []
    frame = pd.DataFrame(
        {
            "student_id": ev["student_id"].astype("str").to_numpy(),
            "date": ev["event_date"].to_numpy(),
            "mark": types.loc[relevant].eq("suspected_mark").to_numpy(),
        }
    )
    # same day: a return wins over a mark
    last = frame.sort_values(["student_id", "date", "mark"], ascending=[True, True, False], kind="stable")
    last = last.drop_duplicates("student_id", keep="last")
    last = last.loc[last["mark"] & last["student_id"].isin(spine.index)]
    out: list[dict] = []
    today = day_numbers(np.array([np.datetime64(as_of, "s")]))[0]
    for sid, day in zip(last["student_id"], day_numbers(last["date"].to_numpy()), strict=True):
        open_days = int(today - day)
        out.append(
            {
                "student_id": sid,
                "rule": "registry_mark",
                "first_day": _date(day),
                "last_day": as_of.isoformat(),
                "days": open_days,
                "evidence": {
                    "suspected_mark_date": _date(day),
                    "calendar_days_open": open_days,
                    "dropout_mark_due": open_days >= rc.registry_dropout_days,
                    "dropout_mark_after_days": int(rc.registry_dropout_days),
                },
            }
        )
    return out


def _leave_alerts(tables: Tables, as_of: dt.date, spine: pd.DataFrame, rc: RulesConfig) -> list[dict]:
    lv = tables.leave_requests
    if lv is None or not len(lv):
        return []
    lv = known_rows(tables, "leave_requests", as_of)
    ts = np.datetime64(as_of, "s")
    end = lv["end_date"].to_numpy()
    lv = lv.loc[(np.isnat(end) | (end >= ts)) & lv["student_id"].astype("str").isin(spine.index).to_numpy()]
    if not len(lv):
        return []
    start = lv["start_date"].to_numpy().astype("datetime64[D]")
    stop = lv["end_date"].to_numpy().astype("datetime64[D]")
    stop = np.where(np.isnat(stop), np.datetime64(as_of, "D"), stop)
    weekdays = np.busday_count(start, stop + np.timedelta64(1, "D"))
    role = lv["approver_role"].astype("str").to_numpy() if "approver_role" in lv else np.full(len(lv), "")
    approved = (
        lv["approved"].fillna(False).to_numpy(dtype=bool)
        if "approved" in lv
        else np.zeros(len(lv), dtype=bool)
    )
    bad = RULEBOOK["leave_unapproved"].fires(weekdays, rc) & ((role != "principal") | ~approved)
    out: list[dict] = []
    for i in np.flatnonzero(bad):
        out.append(
            {
                "student_id": str(lv["student_id"].iloc[i]),
                "rule": "leave_unapproved",
                "first_day": str(start[i]),
                "last_day": str(stop[i]),
                "days": int(weekdays[i]),
                "evidence": {
                    "leave_id": str(lv["leave_id"].iloc[i]),
                    "weekdays": int(weekdays[i]),
                    "approver_role": None if role[i] in ("", "nan", "<NA>") else str(role[i]),
                    "approved": bool(approved[i]),
                    "principal_needed_over_days": int(rc.principal_leave_days),
                },
            }
        )
    return out


def evaluate_rules(
    tables: Tables,
    as_of: dt.date,
    features: pd.DataFrame,
    *,
    cohort: pd.DataFrame,
    config: BaoxueConfig | RulesConfig | None = None,
) -> pd.DataFrame:
    """Every rule alert on ``as_of``: one row per (student, rule) that fires.

    Parameters
    ----------
    tables : Tables
        Validated tables (reads ``calendar``, ``registry_events``, ``leave_requests``).
    as_of : date
    features : DataFrame
        The feature matrix of ``as_of`` (reads ``att_unexcused_streak_current``).
    cohort : DataFrame
        :func:`features.cohort.cohort` of ``as_of`` (school of each student).
    config : BaoxueConfig or RulesConfig, optional
        Thresholds (``[rules]``).

    Returns
    -------
    DataFrame
        Columns :data:`ALERT_COLUMNS`; ``evidence`` is a dict per row. Sorted by student
        and the display order of :data:`RULEBOOK`.
    """
    rc = _rules_config(config)
    rows = [
        *_streak_alerts(tables, as_of, cohort, features["att_unexcused_streak_current"], rc),
        *_registry_alerts(tables, as_of, cohort, rc),
        *_leave_alerts(tables, as_of, cohort, rc),
    ]
    frame = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    if not len(frame):
        return frame.astype({"student_id": "str", "rule": "str", "days": "int64"})
    order = {r: i for i, r in enumerate(RULEBOOK)}
    frame["_o"] = frame["rule"].map(order)
    frame = frame.sort_values(["student_id", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return frame.astype({"student_id": "str", "rule": "str", "days": "int64"})


def rules_by_student(alerts: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """One row per student of ``index``: ``rules`` (';'-joined codes, '' when none) and
    ``rule_evidence`` (JSON list of the alerts' evidence, '[]' when none).

    >>> a = pd.DataFrame({"student_id": ["s1", "s1"], "rule": ["rule_48h", "rule_3day"],
    ...                   "first_day": ["2025-03-03"] * 2, "last_day": ["2025-03-06"] * 2,
    ...                   "days": [4, 4], "evidence": [{"threshold": 2}, {"threshold": 3}]})
    >>> rules_by_student(a, pd.Index(["s1", "s2"])).values.tolist()
    [['rule_48h;rule_3day', '[{"rule": "rule_48h", "threshold": 2}, {"rule": "rule_3day", "threshold": 3}]'], ['', '[]']]
    """
    out = pd.DataFrame({"rules": "", "rule_evidence": "[]"}, index=index, dtype="str")
    if not len(alerts):
        return out
    codes = alerts.groupby("student_id", sort=False)["rule"].agg(";".join)
    evidence = alerts.groupby("student_id", sort=False).apply(
        lambda g: json.dumps(
            [{"rule": r, **e} for r, e in zip(g["rule"], g["evidence"], strict=True)], ensure_ascii=False
        ),
        include_groups=False,
    )
    known = codes.index.intersection(index)
    out.loc[known, "rules"] = codes.loc[known].to_numpy()
    out.loc[known, "rule_evidence"] = evidence.loc[known].to_numpy()
    return out
