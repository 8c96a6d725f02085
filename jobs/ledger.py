"""The case ledger (台账): open, update, escalate, return and close cases; import staff updates.

Wiring between the assignment policy (:mod:`risk.assign`, pure functions) and the database
(:mod:`jobs.storage`). Every function here writes through a connection that is already
inside a transaction: the nightly run's, or the import's, so a failure leaves nothing half
written. Identifiers are deterministic (hashes of the case, the run and the event type), so
the same night run twice writes the same rows.

Event types: the job writes :data:`jobs.storage.SYSTEM_EVENT_TYPES`; staff report
:data:`jobs.storage.IMPORT_EVENT_TYPES` through ``baoxue cases import FILE``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.config import JobConfig
from features.contract import DROPOUT_REASONS, PLACEMENTS, TABLES
from features.load import REJECT_COLUMNS
from jobs.storage import (
    IMPORT_EVENT_TYPES,
    OPEN_STATUSES,
    Case,
    CaseEvent,
    Intervention,
    Staff,
    read_cases,
    write_transaction,
)
from risk.assign import OWNER_ROLES, auto_closes, escalations, off_list, plan_cases, present_streaks, returns

__all__ = [
    "CLOSURE_REASONS",
    "ACTOR_ROLES",
    "IMPORT_COLUMNS",
    "LedgerCounts",
    "ImportResult",
    "case_id_for",
    "sync_staff",
    "update_ledger",
    "read_updates",
    "validate_updates",
    "import_updates",
]

log = logging.getLogger(__name__)

#: why a case was closed (销号)
CLOSURE_REASONS: tuple[str, ...] = (
    "returned",  # back at school (confirmed, or automatically after auto_close_days)
    "placed",  # lawfully placed (劝返安置)
    "transferred",  # verified transfer
    "exempt",  # 免予入学 / 缓学
    "deceased",
    "not_a_dropout",  # e.g. enrolled elsewhere without registry, data error
    "off_list",  # prevention case: off the list and not kept by staff
    "other",
)

#: who acted (case_events.actor_role): the contract's staff roles and the people outside school
ACTOR_ROLES: tuple[str, ...] = tuple(TABLES["staff"].column("role").values or ()) + (
    "village_committee",
    "police",
    "parent",
    "other",
)

#: columns of a staff update file (case_id, ts, event_type required); zh headers accepted
IMPORT_COLUMNS: dict[str, str] = {
    "case_id": "案例编号",
    "ts": "时间",
    "event_type": "记录类型",
    "actor_role": "执行人角色",
    "outcome": "结果",
    "next_due": "下次跟进",
    "four_step_stage": "四步法阶段",
    "placement": "安置方式",
    "reason_primary": "主要原因",
    "owner_staff_id": "包保责任人",
    "closure_reason": "销号原因",
}
_REQUIRED = ("case_id", "ts", "event_type")
_OUTCOMES = tuple(TABLES["case_events"].column("outcome").values or ())
_MEASURE_TO_TYPE = {
    "home_visit": "home_visit",
    "tutoring": "tutoring",
    "aid_referral": "aid",
    "care_counselling": "counselling",
    "home_teaching": "home_teaching",
}


def _h(*parts: object, n: int = 12) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


def case_id_for(student_id: str, case_type: str, opened_at: dt.date | pd.Timestamp) -> str:
    """The case's id: the day it opened and a hash of (student, kind, day); reruns get the same.

    >>> case_id_for("s1", "prevention", dt.date(2025, 3, 10))
    'C20250310-5ec2f9a7248f'
    """
    day = pd.Timestamp(opened_at)
    return f"C{day:%Y%m%d}-{_h(student_id, case_type, day.date())}"


def _event_id(case_id: str, run_id: str, event_type: str) -> str:
    return f"E{case_id[1:9]}-{_h(case_id, run_id, event_type, n=16)}"


def _date(value) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _none(value):
    if value is None:
        return None
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):
        return value


@dataclass
class LedgerCounts:
    """What one night did to the ledger."""

    opened: int = 0
    updated: int = 0
    closed: int = 0
    escalations: int = 0
    returned: int = 0
    events: int = 0
    over_capacity: int = 0
    unowned: int = 0
    waiting: int = 0  # selected, every owner full: no case tonight
    open_after: int = 0


def sync_staff(conn: Connection, staff: pd.DataFrame | None, run_id: str) -> int:
    """Make the ``staff`` table match tonight's input (ids, school, role, class, capacity).

    Only rows that changed are written (``updated_run_id`` = this run); staff no longer in
    the input become ``active = false`` (their cases stay theirs until reassigned).
    Returns the number of rows written.
    """
    t = Staff.__table__
    have = pd.DataFrame(conn.execute(sa.select(t)).fetchall(), columns=[c.name for c in t.columns])
    cols = ["staff_id", "school_id", "role", "class_id", "max_open_cases"]
    if staff is None or staff.empty:
        new = pd.DataFrame(columns=cols)
    else:
        new = staff[cols].astype({"role": "str"}).drop_duplicates("staff_id")
    new = new.assign(active=True)
    merged = new.merge(have, on="staff_id", how="outer", suffixes=("", "_old"), indicator="side")
    merged.loc[merged["side"] == "right_only", cols[1:]] = merged.loc[
        merged["side"] == "right_only", [f"{c}_old" for c in cols[1:]]
    ].to_numpy()
    merged.loc[merged["side"] == "right_only", "active"] = False
    changed = merged["side"] == "left_only"
    for c in [*cols[1:], "active"]:
        a, b = merged[c].map(_none), merged[f"{c}_old"].map(_none)
        changed |= (merged["side"] != "left_only") & (a.astype("str") != b.astype("str"))
    rows = []
    for r in merged[changed].itertuples(index=False):
        cap = _none(r.max_open_cases)
        rows.append(
            {
                "staff_id": str(r.staff_id),
                "school_id": str(r.school_id),
                "role": str(r.role),
                "class_id": None if _none(r.class_id) is None else str(r.class_id),
                "max_open_cases": None if cap is None else int(cap),
                "active": bool(r.active),
                "updated_run_id": run_id,
                "new": r.side == "left_only",
            }
        )
    inserts = [{k: v for k, v in r.items() if k != "new"} for r in rows if r["new"]]
    updates = [{f"b_{k}": v for k, v in r.items() if k != "new"} for r in rows if not r["new"]]
    if inserts:
        conn.execute(sa.insert(t), inserts)
    if updates:
        conn.execute(
            sa.update(t)
            .where(t.c.staff_id == sa.bindparam("b_staff_id"))
            .values({c.name: sa.bindparam(f"b_{c.name}") for c in t.columns if c.name != "staff_id"}),
            updates,
        )
    return len(rows)


def _open_cases(conn: Connection) -> pd.DataFrame:
    return read_cases(conn, open_only=True)


def _evidence(snap_row: dict | None, extra: dict | None = None) -> str:
    out: dict = {}
    if snap_row is not None:
        for key in (
            "probability",
            "rank_school",
            "tier",
            "tier_condition",
            "rules",
            "reason_families",
            "measures",
        ):
            if key in snap_row and _none(snap_row[key]) is not None:
                v = snap_row[key]
                out[key] = (
                    float(v)
                    if isinstance(v, float | np.floating)
                    else int(v)
                    if isinstance(v, int | np.integer)
                    else str(v)
                )
        ev = snap_row.get("rule_evidence")
        if _none(ev):
            try:
                out["rule_evidence"] = json.loads(ev)
            except (TypeError, ValueError):
                out["rule_evidence"] = str(ev)
    out.update(extra or {})
    return json.dumps(out, ensure_ascii=False, sort_keys=True, default=str)


def update_ledger(
    conn: Connection,
    snapshot: pd.DataFrame,
    staff: pd.DataFrame | None,
    *,
    as_of: dt.date,
    run_id: str,
    config: JobConfig,
    attendance: pd.DataFrame | None = None,
    alerts: pd.DataFrame | None = None,
    owner_roles: tuple[str, ...] = OWNER_ROLES,
    streaks: pd.Series | None = None,
) -> LedgerCounts:
    """Apply tonight's snapshot to the ledger inside the caller's transaction.

    In order: open and update cases (:func:`risk.assign.plan_cases`), then the time-based
    steps on the open cases: returns (``return_days`` school days back: ``returned`` and
    ``close_proposed`` events), prevention cases off the list for ``auto_close_days``
    (``close_proposed``), closing what was proposed ``auto_close_days`` ago and left
    unanswered (``closed``), and escalation suggestions (``escalation``: the next four-step
    step, never taken by the job).

    ``alerts`` are rule alerts of missed nights and ``owner_roles`` the roles that own
    prevention cases (see :func:`risk.assign.plan_cases`).

    Returns are read from ``streaks`` (:func:`risk.assign.present_streaks` by student, computed
    where the attendance is: the nightly job computes them with the scores) or else from
    ``attendance``; ``streaks`` must cover every student left with an open suspected-dropout
    case, or this raises ``RuntimeError`` (the ledger changed after they were computed).
    """
    counts = LedgerCounts()
    day = pd.Timestamp(as_of)
    cases_t, ev_t, iv_t = Case.__table__, CaseEvent.__table__, Intervention.__table__
    staff_frame = staff if staff is not None else pd.DataFrame(columns=["staff_id", "school_id", "role",
                                                                          "class_id", "max_open_cases"])  # fmt: skip
    before = _open_cases(conn)
    plan = plan_cases(
        snapshot,
        staff_frame,
        before,
        owner_max_open_cases=config.owner_max_open_cases,
        owner_roles=owner_roles,
        alerts=alerts,
    )
    counts.waiting = int((plan["action"] == "wait").sum())
    # the snapshot rows of the students with a case action, as dicts (one lookup per case)
    involved = snapshot["student_id"].astype("str").isin(plan["student_id"]).to_numpy()
    snap = (
        snapshot.loc[involved]
        .assign(student_id=lambda f: f["student_id"].astype("str"))
        .drop_duplicates("student_id")
        .set_index("student_id")
        .to_dict("index")
    )
    events: list[dict] = []

    def event(case_id: str, etype: str, *, ts=day, detail: str | None = None, **cols) -> None:
        events.append(
            {
                "event_id": _event_id(case_id, run_id, etype),
                "case_id": case_id,
                "ts": _date(ts),
                "event_type": etype,
                "actor_role": cols.get("actor_role", "system"),
                "outcome": cols.get("outcome"),
                "next_due": _date(cols.get("next_due")),
                "four_step_stage": cols.get("four_step_stage"),
                "owner_staff_id": cols.get("owner_staff_id"),
                "source": "system",
                "run_id": run_id,
                "detail": detail,
            }
        )

    # --- open -----------------------------------------------------------------------------------
    opens = plan[plan["action"] == "open"]
    new_cases, new_iv = [], []
    for r in opens.itertuples(index=False):
        srow = snap.get(r.student_id)
        cid = case_id_for(r.student_id, r.case_type, r.opened_at)
        caught_up = pd.Timestamp(r.opened_at) < day
        new_cases.append(
            {
                "case_id": cid,
                "student_id": r.student_id,
                "opened_at": _date(r.opened_at),
                "trigger": r.trigger,
                "case_type": r.case_type,
                "reason_primary": None,
                "reason_secondary": None,
                "owner_staff_id": _none(r.owner_staff_id),
                "four_step_stage": 0,
                "status": "open",
                "placement": None,
                "closed_at": None,
                "closure_reason": None,
                "school_id": _none(r.school_id),
                "class_id": _none(r.class_id),
                "opened_run_id": run_id,
                "last_run_id": run_id,
                "last_seen": _date(day),
                "tier_last": None if srow is None else str(srow["tier"]),
                "probability_last": None if srow is None else float(srow["probability"]),
                "rules_last": r.rules,
                "returned_at": None,
                "close_proposed_at": None,
                "escalated_at": None,
            }
        )
        extra = {"trigger": r.trigger, "over_capacity": bool(r.over_capacity)}
        if caught_up:
            extra["fired_on"] = str(pd.Timestamp(r.opened_at).date())
            extra["caught_up"] = True
        if r.rules and srow is None:
            extra["rules"] = r.rules
        event(cid, "opened", detail=_evidence(srow, extra), owner_staff_id=_none(r.owner_staff_id))
        measures = [] if srow is None else [m for m in str(srow.get("measures", "")).split(";") if m]
        iv_type = "home_visit" if r.case_type == "suspected_dropout" else _MEASURE_TO_TYPE.get(
            measures[0] if measures else "", "talk"
        )  # fmt: skip
        rank = _none(r.rank_school)
        prob = _none(r.probability)
        new_iv.append(
            {
                "intervention_id": "V" + cid[1:],
                "student_id": r.student_id,
                "case_id": cid,
                "type": iv_type,
                "assigned_to_staff_id": _none(r.owner_staff_id),
                "start_date": _date(day),
                "end_date": None,
                "sessions": None,
                "assignment_mechanism": r.assignment_mechanism or "model_rank",
                "list_version": run_id,
                "score_at_assign": None if prob is None else float(prob),
                "rank_at_assign": None if rank is None else int(rank),
            }
        )
        counts.over_capacity += bool(r.over_capacity)
        counts.unowned += _none(r.owner_staff_id) is None
    if new_cases:
        conn.execute(sa.insert(cases_t), new_cases)
        conn.execute(sa.insert(iv_t), new_iv)
    counts.opened = len(new_cases)

    # --- update ---------------------------------------------------------------------------------
    ups = plan[plan["action"] == "update"]
    current = before.set_index("case_id")
    updates = []
    for r in ups.itertuples(index=False):
        c = current.loc[r.case_id]
        srow = snap.get(r.student_id)
        status, returned_at, proposed = c["status"], _date(c["returned_at"]), _date(c["close_proposed_at"])
        tonight = set(filter(None, str(r.rules).split(";")))
        before_rules = set(filter(None, str(_none(c["rules_last"]) or "").split(";")))
        if r.case_type == "suspected_dropout" and status == "returned" and tonight:
            status, returned_at, proposed = "open", None, None
            event(r.case_id, "reopened", detail=_evidence(srow))
        elif r.case_type == "suspected_dropout" and tonight - before_rules:
            event(
                r.case_id,
                "evidence",
                detail=_evidence(srow, {"rules_new": ";".join(sorted(tonight - before_rules))}),
            )
        elif r.case_type == "prevention" and proposed is not None:
            proposed = None
            event(r.case_id, "evidence", detail=_evidence(srow, {"back_on_list": True}))
        updates.append(
            {
                "b_case_id": r.case_id,
                "b_status": status,
                "b_returned_at": returned_at,
                "b_close_proposed_at": proposed,
                "b_school_id": _none(r.school_id),
                "b_class_id": _none(r.class_id),
                "b_last_run_id": run_id,
                "b_last_seen": _date(day),
                "b_tier_last": None if srow is None else str(srow["tier"]),
                "b_probability_last": None if srow is None else float(srow["probability"]),
                "b_rules_last": r.rules,
            }
        )
    if updates:
        conn.execute(
            sa.update(cases_t)
            .where(cases_t.c.case_id == sa.bindparam("b_case_id"))
            .values({k[2:]: sa.bindparam(k) for k in updates[0] if k != "b_case_id"}),
            updates,
        )
    counts.updated = len(updates)

    # --- time-based steps on the open cases -------------------------------------------------------
    cases = _open_cases(conn)
    changes: dict[str, dict] = {}
    if (attendance is not None or streaks is not None) and len(cases):
        sus = pd.Index(
            cases.loc[cases["case_type"] == "suspected_dropout", "student_id"].astype("str").unique()
        )
        if streaks is None:
            streaks = present_streaks(attendance, sus, as_of)
        else:
            missing = sus.difference(streaks.index.astype("str"))
            if len(missing):
                raise RuntimeError(
                    f"return streaks missing for {len(missing)} students with an open suspected-dropout "
                    "case: the ledger changed after the night was computed; run the night again"
                )
            streaks = streaks.set_axis(streaks.index.astype("str")).reindex(sus)
        back = returns(cases, streaks, return_days=config.return_days)
        for cid in back:
            changes[cid] = {"status": "returned", "returned_at": _date(day), "close_proposed_at": _date(day)}
            n = int(streaks[cases.set_index("case_id").loc[cid, "student_id"]])
            event(cid, "returned", outcome="returned", detail=json.dumps({"days_at_school": n}))
            event(cid, "close_proposed", next_due=day + pd.Timedelta(days=config.auto_close_days))
        counts.returned = len(back)
    for cid in off_list(cases, as_of, days=config.auto_close_days):
        changes[cid] = {"close_proposed_at": _date(day)}
        event(
            cid,
            "close_proposed",
            next_due=day + pd.Timedelta(days=config.auto_close_days),
            detail=json.dumps({"off_list_days": config.auto_close_days}),
        )
    for cid in auto_closes(cases, as_of, auto_close_days=config.auto_close_days):
        status = cases.set_index("case_id").loc[cid, "status"]
        reason = "returned" if status == "returned" else "off_list"
        changes[cid] = {"status": "closed", "closed_at": _date(day), "closure_reason": reason}
        event(cid, "closed", detail=json.dumps({"closure_reason": reason, "automatic": True}))
        counts.closed += 1
    esc = escalations(
        cases[~cases["case_id"].isin(list(changes))], as_of, escalation_days=config.escalation_days
    )
    for r in esc.itertuples(index=False):
        changes[r.case_id] = {"escalated_at": _date(day)}
        event(
            r.case_id,
            "escalation",
            four_step_stage=int(r.four_step_stage),
            next_due=day + pd.Timedelta(days=config.escalation_days),
            detail=json.dumps({"suggested_step": int(r.four_step_stage), "decided_by": "a person"}),
        )
    counts.escalations = len(esc)
    for cid, values in changes.items():
        conn.execute(sa.update(cases_t).where(cases_t.c.case_id == cid).values(**values))
    if events:
        conn.execute(sa.insert(ev_t), events)
    counts.events = len(events)
    counts.open_after = int(
        conn.execute(
            sa.select(sa.func.count()).select_from(cases_t).where(cases_t.c.status.in_(OPEN_STATUSES))
        ).scalar()
    )
    return counts


# --- staff updates ---------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What ``baoxue cases import`` did."""

    rows: int
    imported: int
    already: int  # rows imported before (same content): skipped, so a re-import is harmless
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    rejects_file: Path | None = None


def read_updates(path: str | Path) -> pd.DataFrame:
    """Read a staff update file (CSV in UTF-8 or GBK, or XLSX) as text, headers mapped to English."""
    from features.load import _read_file  # one reader for every input file

    frame = _read_file("case_updates", Path(path))
    zh = {v: k for k, v in IMPORT_COLUMNS.items()}
    return frame.rename(columns=lambda c: zh.get(c, c))


def _reject(rows: list, file_row: int, column: str, value, reason: str) -> None:
    rows.append({"table": "case_updates", "file_row": file_row, "column": column,
                 "value": "" if _none(value) is None else str(value), "reason": reason})  # fmt: skip


def validate_updates(
    frame: pd.DataFrame, cases: pd.DataFrame, staff_ids: set[str], *, as_of: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check a staff update file row by row against its codes and the ledger.

    Returns the valid rows (typed, with ``file_row``) and the rejects (``table, file_row,
    column, value, reason``; a row may be rejected for several reasons). Raises
    :class:`~features.errors.DataContractError` when a required column is missing.
    """
    from features.errors import DataContractError

    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"case_updates: required column(s) {missing} missing; the file needs "
            f"{', '.join(_REQUIRED)} (or {', '.join(IMPORT_COLUMNS[c] for c in _REQUIRED)}); "
            f"optional: {', '.join(c for c in IMPORT_COLUMNS if c not in _REQUIRED)}"
        )
    frame = frame.reindex(columns=list(IMPORT_COLUMNS))  # index = position in the file
    frame = frame.apply(
        lambda s: s.astype("str").str.strip().where(s.notna() & (s.astype("str").str.strip() != ""))
    )
    known = cases.set_index("case_id")
    codes = {
        "event_type": IMPORT_EVENT_TYPES,
        "outcome": _OUTCOMES,
        "placement": PLACEMENTS,
        "reason_primary": DROPOUT_REASONS,
        "actor_role": ACTOR_ROLES,
        "closure_reason": CLOSURE_REASONS,
    }
    rejects: list[dict] = []
    good = []
    for i, r in frame.iterrows():
        n = int(i) + 2  # header = row 1
        bad = False
        for col in _REQUIRED:
            if r[col] is None or pd.isna(r[col]):
                _reject(rejects, n, col, r[col], "missing value")
                bad = True
        for col, allowed in codes.items():
            if _none(r[col]) is not None and r[col] not in allowed:
                _reject(rejects, n, col, r[col], f"unknown code; must be one of {list(allowed)}")
                bad = True
        dates = {}
        for col in ("ts", "next_due"):
            if _none(r[col]) is None:
                dates[col] = None
                continue
            d = pd.to_datetime(r[col], errors="coerce")
            if pd.isna(d):
                _reject(rejects, n, col, r[col], "not a date (YYYY-MM-DD)")
                bad = True
            dates[col] = None if pd.isna(d) else d.normalize()
        if dates.get("ts") is not None and dates["ts"] > pd.Timestamp(as_of):
            _reject(rejects, n, "ts", r["ts"], f"date after the import date {as_of}")
            bad = True
        stage = None
        if _none(r["four_step_stage"]) is not None:
            try:
                stage = int(float(r["four_step_stage"]))
                if not 0 <= stage <= 4 or stage != float(r["four_step_stage"]):
                    raise ValueError
            except ValueError:
                _reject(rejects, n, "four_step_stage", r["four_step_stage"], "must be a whole number 0-4")
                bad = True
                stage = None
        cid = r["case_id"]
        if _none(cid) is not None and cid not in known.index:
            _reject(rejects, n, "case_id", cid, "case_id not in the ledger (see `baoxue cases list`)")
            bad = True
        elif _none(cid) is not None and known.loc[cid, "status"] not in OPEN_STATUSES:
            _reject(rejects, n, "case_id", cid, f"case is already {known.loc[cid, 'status']}")
            bad = True
        et = r["event_type"]
        if et == "step" and stage is None:
            _reject(rejects, n, "four_step_stage", r["four_step_stage"], "a step needs four_step_stage 1-4")
            bad = True
        elif (
            et == "step"
            and cid in known.index
            and stage is not None
            and stage <= known.loc[cid, "four_step_stage"]
        ):
            _reject(rejects, n, "four_step_stage", r["four_step_stage"],
                    f"must be above the case's current step {int(known.loc[cid, 'four_step_stage'])}")  # fmt: skip
            bad = True
        if et == "placement" and _none(r["placement"]) is None:
            _reject(rejects, n, "placement", None, "a placement event needs placement")
            bad = True
        if et == "reassigned" and (
            _none(r["owner_staff_id"]) is None or r["owner_staff_id"] not in staff_ids
        ):
            _reject(
                rejects, n, "owner_staff_id", r["owner_staff_id"], "owner_staff_id not in the staff table"
            )
            bad = True
        if et == "close" and _none(r["closure_reason"]) is None:
            _reject(
                rejects,
                n,
                "closure_reason",
                None,
                f"closing needs closure_reason, one of {list(CLOSURE_REASONS)}",
            )
            bad = True
        if not bad:
            good.append({**r.to_dict(), "ts": dates["ts"], "next_due": dates["next_due"],
                         "four_step_stage": stage, "file_row": n})  # fmt: skip
    ok = pd.DataFrame(good, columns=[*IMPORT_COLUMNS, "file_row"])
    return ok, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def _apply_update(case: dict, r: pd.Series) -> dict:
    """How one staff row changes its case (a dict of the case's columns)."""
    et, ts = r["event_type"], _date(r["ts"])
    out: dict = {}
    if _none(r["reason_primary"]) is not None:
        out["reason_primary"] = r["reason_primary"]
    if _none(r["owner_staff_id"]) is not None and et == "reassigned":
        out["owner_staff_id"] = r["owner_staff_id"]
    if et == "step":
        out.update(four_step_stage=int(r["four_step_stage"]), escalated_at=ts)
    if r["outcome"] == "returned" and case["status"] == "open":
        out.update(status="returned", returned_at=ts, close_proposed_at=ts)
    if et == "placement":
        out["placement"] = r["placement"]
        if r["placement"] != "still_out":
            out.update(status="placed", closed_at=ts, closure_reason="placed")
    if et == "close":
        out.update(status="closed", closed_at=ts, closure_reason=r["closure_reason"])
    return out


def import_updates(
    engine: Engine,
    path: str | Path,
    *,
    as_of: dt.date,
    rejects_file: str | Path | None = None,
    lock_timeout_s: float = 60.0,
) -> ImportResult:
    """Import a staff update file into the ledger, in one transaction (``baoxue cases import``).

    Valid rows become ``case_events`` (``source = 'import'``) and change their case: a step
    taken sets ``four_step_stage``; ``outcome = returned`` marks the student back and
    proposes closing; a placement other than ``still_out`` places and closes the case;
    ``reassigned`` changes the owner; ``close`` closes it (销号) with its reason. Bad rows
    go to ``rejects_file`` (default: next to the file, ``<name>.rejects.csv``) with a reason
    and the rest is imported. Rows imported before are skipped, so importing a file twice
    changes nothing.
    """
    from features.load import write_rejects

    path = Path(path)
    frame = read_updates(path).reset_index(drop=True)
    ev_t, cases_t, staff_t = CaseEvent.__table__, Case.__table__, Staff.__table__
    # a row's id is a hash of its text: a row imported before is recognised before validation
    raw = frame.reindex(columns=list(IMPORT_COLUMNS))
    text = raw.astype("str").apply(lambda s: s.str.strip()).where(raw.notna(), "")
    ids = pd.Series(
        [f"I-{_h(*row, n=20)}" for row in text.itertuples(index=False, name=None)], index=frame.index
    )
    with write_transaction(engine, timeout_s=lock_timeout_s) as conn:
        cases = read_cases(conn)
        staff_ids = {str(s) for s in conn.execute(sa.select(staff_t.c.staff_id)).scalars()}
        seen = set(conn.execute(sa.select(ev_t.c.event_id).where(ev_t.c.event_id.in_(list(ids)))).scalars())
        repeat = ids.isin(seen) | ids.duplicated()
        ok, rejects = validate_updates(frame[~repeat], cases, staff_ids, as_of=as_of)
        ok["event_id"] = ids.to_numpy()[ok["file_row"].to_numpy(dtype="int64") - 2]
        fresh = ok.sort_values(["ts", "file_row"], kind="stable")
        state = cases.set_index("case_id").to_dict("index")
        changes: dict[str, dict] = {}
        events = []
        for _, r in fresh.iterrows():
            case = {**state[r["case_id"]], **changes.get(r["case_id"], {})}
            if case["status"] not in OPEN_STATUSES:
                _reject_rows = [{"table": "case_updates", "file_row": int(r["file_row"]), "column": "case_id",
                                 "value": r["case_id"], "reason": f"case is already {case['status']} (earlier row)"}]  # fmt: skip
                rejects = pd.concat([rejects, pd.DataFrame(_reject_rows)], ignore_index=True)
                continue
            changes.setdefault(r["case_id"], {}).update(_apply_update(case, r))
            detail = {
                k: r[k] for k in ("placement", "reason_primary", "closure_reason") if _none(r[k]) is not None
            }
            events.append(
                {
                    "event_id": r["event_id"],
                    "case_id": r["case_id"],
                    "ts": _date(r["ts"]),
                    "event_type": r["event_type"],
                    "actor_role": _none(r["actor_role"]),
                    "outcome": _none(r["outcome"]),
                    "next_due": _date(r["next_due"]),
                    "four_step_stage": _none(r["four_step_stage"]),
                    "owner_staff_id": _none(r["owner_staff_id"]),
                    "source": "import",
                    "run_id": None,
                    "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
                }
            )
        if events:
            conn.execute(sa.insert(ev_t), events)
        for cid, values in changes.items():
            if values:
                conn.execute(sa.update(cases_t).where(cases_t.c.case_id == cid).values(**values))
    out = Path(rejects_file) if rejects_file else path.with_name(f"{path.stem}.rejects.csv")
    written = write_rejects(rejects, out)
    log.info("imported %d staff update rows, %d rejected rows", len(events), rejects["file_row"].nunique())
    return ImportResult(
        rows=len(frame),
        imported=len(events),
        already=int(repeat.sum()),
        rejects=rejects,
        rejects_file=written,
    )
