"""The assignment policy: from tonight's risk snapshot to cases and named owners.

Pure functions of frames (no database, no clock). ``jobs/ledger.py`` applies what they
return to the ledger. The policy (DOMAIN.md "Responsibility is personal"):

- every rule alert that opens a case (:data:`CASE_RULES`, the registry's rules with
  ``opens_case``, in its one severity order: registry mark, 5-day, more than 3 days, 48 h) opens or
  updates a ``suspected_dropout`` case owned by the head teacher of the student's class
  (班主任包班级; the principal when the class has none);
- students ``selected`` in the snapshot (within their school's capacity, red always) who have
  no suspected-dropout case get a ``prevention`` case owned by a counsellor, moral-education
  or subject teacher of their school (包保), balanced by open-case load over
  ``max_open_cases``: the owner with the lowest load share that still has room; when everyone
  is full, a red student still gets the lowest share anyway (flagged ``over_capacity``) and
  any other student waits (``action = wait``) until a case closes;
- one open case per student and kind: an open case is updated, never duplicated;
- time-based steps only *suggest*: :func:`escalations` proposes the next four-step step
  (never takes it), :func:`returns` marks a student back for ``return_days`` school days
  and proposes closing (销号), :func:`auto_closes` closes what staff left unanswered.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from risk.rules import CASE_RULES

__all__ = [
    "CASE_RULES",
    "OWNER_ROLES",
    "PRESENT_STATUSES",
    "case_trigger",
    "plan_cases",
    "escalations",
    "present_streaks",
    "returns",
    "off_list",
    "auto_closes",
]

#: staff roles that own prevention cases by default (``[risk] owner_roles``), preferred in this order on ties
OWNER_ROLES: tuple[str, ...] = ("counsellor", "moral_ed", "subject_teacher")

#: attendance statuses that count as "at school" for a return
PRESENT_STATUSES: tuple[str, ...] = ("present", "late", "left_early")

_PLAN_COLUMNS = [
    "student_id",
    "case_type",
    "action",
    "case_id",
    "trigger",
    "owner_staff_id",
    "assignment_mechanism",
    "over_capacity",
    "school_id",
    "class_id",
    "probability",
    "rank_school",
    "rules",
    "opened_at",
]


def _row(**values: object) -> dict[str, object]:
    return values


def case_trigger(rules: str) -> str | None:
    """The strongest case rule among ``rules`` (``';'``-joined codes); ``None`` if none opens a case.

    >>> case_trigger("rule_48h;rule_3day"), case_trigger("leave_unapproved"), case_trigger("")
    ('rule_3day', None, None)
    """
    fired = set(filter(None, str(rules).split(";")))
    return next((r for r in CASE_RULES if r in fired), None)


def _head_teachers(staff: pd.DataFrame) -> pd.Series:
    ht = staff[(staff["role"].astype("str") == "head_teacher") & staff["class_id"].notna()]
    return ht.sort_values("staff_id").drop_duplicates("class_id").set_index("class_id")["staff_id"]


def _principals(staff: pd.DataFrame) -> pd.Series:
    p = staff[staff["role"].astype("str") == "principal"]
    return p.sort_values("staff_id").drop_duplicates("school_id").set_index("school_id")["staff_id"]


def plan_cases(
    snapshot: pd.DataFrame,
    staff: pd.DataFrame,
    open_cases: pd.DataFrame,
    *,
    owner_max_open_cases: int = 15,
    owner_roles: tuple[str, ...] = OWNER_ROLES,
    alerts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Which cases to open or update tonight, and who owns each new one.

    Parameters
    ----------
    snapshot : DataFrame
        Tonight's risk snapshot (``risk.snapshot.SNAPSHOT_COLUMNS``; this uses
        ``student_id, as_of, school_id, class_id, probability, rank_school, rules, selected,
        assignment_mechanism``).
    staff : DataFrame
        The contract's ``staff`` table: ``staff_id, school_id, role, class_id, max_open_cases``.
    open_cases : DataFrame
        Open cases of the ledger: ``case_id, student_id, case_type, owner_staff_id``.
    owner_max_open_cases : int
        An owner's capacity when ``max_open_cases`` is missing.
    owner_roles : tuple of str
        Staff roles that own prevention cases (``[risk] owner_roles``), preferred in this order
        on ties.
    alerts : DataFrame, optional
        Rule alerts of missed nights (``student_id, day, rules, school_id, class_id``): they open
        or update suspected-dropout cases like tonight's rules, with ``opened_at`` = ``day``.

    Returns
    -------
    DataFrame
        One row per case action: ``student_id, case_type, action`` (open / update / wait:
        selected, not red, and every owner of the school is full, so no case tonight),
        ``case_id`` (of the open case, ``None`` for new ones), ``trigger``, ``owner_staff_id``
        (new cases; existing ones keep theirs), ``assignment_mechanism`` (rule / model_rank /
        random_borderline), ``over_capacity``, ``school_id, class_id, probability,
        rank_school, rules, opened_at``. Suspected-dropout rows first, then prevention rows in
        the order owners were chosen.

    Examples
    --------
    >>> snap = pd.DataFrame({"student_id": ["a", "b", "c"], "as_of": pd.Timestamp("2025-03-10"),
    ...     "school_id": "s1", "class_id": ["c1", "c1", "c2"], "probability": [0.9, 0.5, 0.4],
    ...     "rank_school": [1, 2, 3], "rules": ["rule_3day", "", ""], "selected": [True, True, True],
    ...     "assignment_mechanism": ["rule", "model_rank", "model_rank"], "tier": ["red", "yellow", "blue"]})
    >>> staff = pd.DataFrame({"staff_id": ["h1", "k1", "k2"], "school_id": "s1",
    ...     "role": ["head_teacher", "counsellor", "counsellor"], "class_id": ["c1", None, None],
    ...     "max_open_cases": [5, 2, 2]})
    >>> none = pd.DataFrame(columns=["case_id", "student_id", "case_type", "owner_staff_id"])
    >>> plan_cases(snap, staff, none)[["student_id", "case_type", "owner_staff_id"]].values.tolist()
    [['a', 'suspected_dropout', 'h1'], ['b', 'prevention', 'k1'], ['c', 'prevention', 'k2']]
    """
    as_of = pd.Timestamp(snapshot["as_of"].iloc[0]) if len(snapshot) else pd.NaT
    open_key = {(str(s), str(t)): c for c, s, t in open_cases[["case_id", "student_id", "case_type"]].values}
    # a plain dict: the counts Series of value_counts may be read-only (pandas copy-on-write)
    load: dict[str, int] = open_cases["owner_staff_id"].dropna().astype("str").value_counts().to_dict()
    heads, principals = _head_teachers(staff), _principals(staff)

    # --- suspected dropout: tonight's rules, then missed nights' alerts ------------------------
    snap = snapshot.assign(trigger=snapshot["rules"].map(case_trigger))
    fired = snap.loc[snap["trigger"].notna(), ["student_id", "school_id", "class_id", "probability",
                                              "rank_school", "rules", "trigger"]]  # fmt: skip
    fired = fired.assign(opened_at=as_of)
    if alerts is not None and len(alerts):
        a = alerts.assign(trigger=alerts["rules"].map(case_trigger))
        a = a[a["trigger"].notna() & ~a["student_id"].astype("str").isin(fired["student_id"].astype("str"))]
        a = a.sort_values("day").drop_duplicates("student_id", keep="first")
        a = a.assign(probability=np.nan, rank_school=pd.NA, opened_at=pd.to_datetime(a["day"]))
        fired = pd.concat([fired, a[fired.columns]], ignore_index=True) if len(fired) else a[fired.columns]
    rows: list[dict] = []
    for r in fired.itertuples(index=False):
        sid = str(r.student_id)
        case_id = open_key.get((sid, "suspected_dropout"))
        owner = None
        if case_id is None:
            owner = heads.get(r.class_id, principals.get(r.school_id))
            if owner is not None:
                load[owner] = load.get(owner, 0) + 1
        rows.append(
            _row(student_id=sid, case_type="suspected_dropout", action="update" if case_id else "open",
                 case_id=case_id, trigger=r.trigger, owner_staff_id=owner, assignment_mechanism="rule",
                 over_capacity=False, school_id=r.school_id, class_id=r.class_id, probability=r.probability,
                 rank_school=r.rank_school, rules=r.rules, opened_at=r.opened_at)
        )  # fmt: skip
    suspected = {row["student_id"] for row in rows} | {s for (s, t) in open_key if t == "suspected_dropout"}

    # --- prevention: selected students without a suspected-dropout case ------------------------
    sel = snap[snap["selected"].astype(bool) & ~snap["student_id"].astype("str").isin(suspected)]
    red_first = (sel["assignment_mechanism"] != "rule").astype(int)
    sel = sel.assign(_o=red_first).sort_values(["school_id", "_o", "rank_school", "student_id"])
    owners = staff[staff["role"].astype("str").isin(owner_roles)].copy()
    owners["cap"] = owners["max_open_cases"].astype("Float64").fillna(owner_max_open_cases).astype(float)
    owners = owners[owners["cap"] > 0]
    pref = {r: i for i, r in enumerate(owner_roles)}
    by_school: dict[str, list[tuple[str, float, int]]] = {}
    for s in owners.itertuples(index=False):
        by_school.setdefault(s.school_id, []).append((s.staff_id, s.cap, pref[str(s.role)]))
    for r in sel.itertuples(index=False):
        sid = str(r.student_id)
        case_id = open_key.get((sid, "prevention"))
        owner, over, action = None, False, "update" if case_id else "open"
        if case_id is None:
            cands = by_school.get(r.school_id, [])
            if cands:
                share = [(load.get(st, 0) / cap, load.get(st, 0), p, st, load.get(st, 0) < cap)
                         for st, cap, p in cands]  # fmt: skip
                room = [c for c in share if c[4]]
                best = min(room or share)
                owner, over = best[3], not room
            else:
                owner = principals.get(r.school_id)
            if over and str(r.tier) != "red":
                owner, over, action = None, False, "wait"  # everyone is full: waits for room
            if owner is not None:
                load[owner] = load.get(owner, 0) + 1
        mech = r.assignment_mechanism if r.assignment_mechanism else "model_rank"
        rows.append(
            _row(student_id=sid, case_type="prevention", action=action,
                 case_id=case_id, trigger="model_red" if mech == "rule" else "model_rank",
                 owner_staff_id=owner, assignment_mechanism=mech, over_capacity=over,
                 school_id=r.school_id, class_id=r.class_id, probability=r.probability,
                 rank_school=r.rank_school, rules=r.rules, opened_at=as_of)
        )  # fmt: skip
    return pd.DataFrame(rows, columns=_PLAN_COLUMNS)


def _days(later: pd.Series | pd.Timestamp, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days


def escalations(cases: pd.DataFrame, as_of: dt.date, *, escalation_days: int) -> pd.DataFrame:
    """Suspected-dropout cases still out ``escalation_days`` after opening, the last suggestion or
    the last step taken: suggest the next step of the four-step method (四步法), never take it.

    ``cases`` has ``case_id, case_type, status, four_step_stage, opened_at, escalated_at``.
    Returns ``case_id, four_step_stage`` (the step suggested, 1-4); cases at step 4 are left
    to the court.

    >>> c = pd.DataFrame({"case_id": ["x", "y"], "case_type": "suspected_dropout", "status": "open",
    ...     "four_step_stage": [0, 1], "opened_at": pd.to_datetime(["2025-03-01", "2025-03-20"]),
    ...     "escalated_at": pd.NaT})
    >>> escalations(c, dt.date(2025, 3, 21), escalation_days=14).values.tolist()
    [['x', 1]]
    """
    day = pd.Timestamp(as_of)
    c = cases[cases["case_type"].isin(["suspected_dropout", "dropout"]) & (cases["status"] == "open")]
    since = pd.to_datetime(c["escalated_at"]).fillna(pd.to_datetime(c["opened_at"]))
    due = c[(_days(day, since) >= escalation_days) & (c["four_step_stage"] < 4)]
    return pd.DataFrame(
        {"case_id": due["case_id"], "four_step_stage": due["four_step_stage"] + 1}
    ).reset_index(drop=True)


def present_streaks(attendance: pd.DataFrame, students: pd.Index | list, as_of: dt.date) -> pd.Series:
    """Consecutive recorded school days at school (present / late / left early), ending on the
    student's last recorded day on or before ``as_of``; 0 when that day was an absence.

    A day counts as at school when none of its ``day/am/pm`` sessions is an absence or leave
    (``evening`` sessions are ignored). Days without a row are skipped, not counted.

    >>> att = pd.DataFrame({"student_id": ["a"] * 4 + ["b"], "status": ["unexcused", "present",
    ...     "late", "present", "unexcused"], "date": pd.to_datetime(["2025-03-03", "2025-03-04",
    ...     "2025-03-05", "2025-03-06", "2025-03-06"]), "session": "day"})
    >>> present_streaks(att, ["a", "b", "c"], dt.date(2025, 3, 6)).tolist()
    [3, 0, 0]
    """
    ids = pd.Index([str(s) for s in students], dtype="str")
    if len(ids) == 0:
        return pd.Series(dtype="int64", index=ids)
    s = attendance["student_id"]
    if isinstance(s.dtype, pd.CategoricalDtype):  # the loader's dtype: filter on the integer codes
        wanted = s.cat.categories.get_indexer(ids)
        keep = np.isin(s.cat.codes.to_numpy(), wanted[wanted >= 0])
    else:
        keep = s.astype("str").isin(ids).to_numpy().copy()
    keep &= (attendance["date"] <= pd.Timestamp(as_of)).to_numpy()
    if "session" in attendance.columns:
        keep &= (attendance["session"].astype("str") != "evening").to_numpy()
    a = pd.DataFrame(
        {
            "student_id": s[keep].astype("str").to_numpy(),
            "date": attendance.loc[keep, "date"].to_numpy(),
            "away": ~attendance.loc[keep, "status"].astype("str").isin(PRESENT_STATUSES).to_numpy(),
        }
    )
    day = a.groupby(["student_id", "date"], sort=True)["away"].any().reset_index()
    # per student, from the last day backwards: count days until the first absence
    day = day.iloc[::-1]
    seen_away = day.groupby("student_id")["away"].cummax()
    streak = (~seen_away).groupby(day["student_id"]).sum()
    return streak.reindex(ids, fill_value=0).astype("int64")


def returns(cases: pd.DataFrame, streaks: pd.Series, *, return_days: int) -> pd.Index:
    """Open suspected-dropout cases whose student has been at school ``return_days`` days in a row.

    >>> c = pd.DataFrame({"case_id": ["x", "y"], "student_id": ["a", "b"],
    ...     "case_type": "suspected_dropout", "status": "open"})
    >>> list(returns(c, pd.Series({"a": 5, "b": 2}), return_days=5))
    ['x']
    """
    c = cases[cases["case_type"].isin(["suspected_dropout", "dropout"]) & (cases["status"] == "open")]
    n = c["student_id"].astype("str").map(streaks).fillna(0)
    return pd.Index(c.loc[n >= return_days, "case_id"], dtype="str")


def off_list(cases: pd.DataFrame, as_of: dt.date, *, days: int) -> pd.Index:
    """Open prevention cases whose student has not been selected for ``days`` days (``last_seen``)
    and that are not yet proposed for closing.

    >>> c = pd.DataFrame({"case_id": ["x"], "case_type": "prevention", "status": "open",
    ...     "last_seen": pd.to_datetime(["2025-03-01"]), "close_proposed_at": pd.NaT})
    >>> list(off_list(c, dt.date(2025, 3, 20), days=14))
    ['x']
    """
    c = cases[(cases["case_type"] == "prevention") & (cases["status"] == "open")]
    c = c[c["close_proposed_at"].isna()]
    return pd.Index(c.loc[_days(pd.Timestamp(as_of), c["last_seen"]) >= days, "case_id"], dtype="str")


def auto_closes(cases: pd.DataFrame, as_of: dt.date, *, auto_close_days: int) -> pd.Index:
    """Cases proposed for closing ``auto_close_days`` ago that staff have neither closed nor kept.

    >>> c = pd.DataFrame({"case_id": ["x", "y"], "status": ["returned", "open"],
    ...     "close_proposed_at": pd.to_datetime(["2025-03-01", None])})
    >>> list(auto_closes(c, dt.date(2025, 3, 15), auto_close_days=14))
    ['x']
    """
    c = cases[cases["status"].isin(["open", "returned"]) & cases["close_proposed_at"].notna()]
    due = _days(pd.Timestamp(as_of), c["close_proposed_at"]) >= auto_close_days
    return pd.Index(c.loc[due, "case_id"], dtype="str")
