"""The case ledger (台账): write what the case policy decides; import staff updates.

The writer between the case policy (:mod:`risk.cases`, pure functions that return the
changes: open, reopen, return, propose closing, close, escalate, staff transitions) and the
database (:mod:`jobs.storage`). Every function here writes through a connection that is
already inside a transaction: the nightly run's, or the import's, so a failure leaves nothing
half written. Identifiers are deterministic (:func:`risk.cases.case_id_for`,
:func:`risk.cases.event_id_for`), so the same night run twice writes the same rows.

Event types: the job writes :data:`risk.cases.SYSTEM_EVENT_TYPES`; staff report
:data:`risk.cases.IMPORT_EVENT_TYPES` through ``baoxue cases import FILE``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.config import JobConfig
from features.contract import DROPOUT_REASONS, PLACEMENTS, TABLES
from features.load import REJECT_COLUMNS
from jobs.storage import Case, CaseEvent, Intervention, Staff, read_cases, write_transaction
from risk.assign import OWNER_ROLES
from risk.cases import (
    CASE_CHANGE_COUNTS,
    CLOSURE_REASONS,
    IMPORT_EVENT_TYPES,
    OPEN_STATUSES,
    CaseChanges,
    apply_staff_update,
    length_problems,
    night_case_changes,
    none_if_missing,
    stable_hash,
    timed_case_changes,
)

__all__ = [
    "ACTOR_ROLES",
    "IMPORT_COLUMNS",
    "UPDATE_FIELD_LENGTHS",
    "LedgerCounts",
    "ImportResult",
    "sync_staff",
    "update_ledger",
    "read_updates",
    "validate_updates",
    "import_updates",
    "write_update_template",
]

log = logging.getLogger(__name__)

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
    "note": "备注",
}
_REQUIRED = ("case_id", "ts", "event_type")
_HASHED = [c for c in IMPORT_COLUMNS if c != "note"]  # a row's id: these, then its note when it has one


def _column_lengths() -> dict[str, int]:
    """The length of each import column where the ledger stores it (``case_events``, else ``cases``)."""
    out = {}
    for col in IMPORT_COLUMNS:
        for table in (CaseEvent.__table__, Case.__table__):
            if col in table.c:
                length = getattr(table.c[col].type, "length", None)
                if length:
                    out[col] = int(length)
                break
    return out


#: the longest value each staff update column may hold (the ledger's column lengths); the
#: note's limit is :data:`risk.cases.NOTE_MAX_CHARS`
UPDATE_FIELD_LENGTHS: dict[str, int] = _column_lengths()
_OUTCOMES = tuple(TABLES["case_events"].column("outcome").values or ())


def _date(value) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


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
        a, b = merged[c].map(none_if_missing), merged[f"{c}_old"].map(none_if_missing)
        changed |= (merged["side"] != "left_only") & (a.astype("str") != b.astype("str"))
    rows = []
    for r in merged[changed].itertuples(index=False):
        cap = none_if_missing(r.max_open_cases)
        rows.append(
            {
                "staff_id": str(r.staff_id),
                "school_id": str(r.school_id),
                "role": str(r.role),
                "class_id": None if none_if_missing(r.class_id) is None else str(r.class_id),
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


def _write_changes(conn: Connection, changes: CaseChanges) -> None:
    """Insert the new cases and interventions, set the changed case columns (events: the caller)."""
    cases_t, iv_t = Case.__table__, Intervention.__table__
    if changes.new_cases:
        conn.execute(sa.insert(cases_t), changes.new_cases)
        conn.execute(sa.insert(iv_t), changes.interventions)
    # one executemany per set of columns changed
    groups: dict[tuple[str, ...], list[dict]] = {}
    for cid, values in changes.updates.items():
        if values:
            groups.setdefault(tuple(values), []).append(
                {"b_case_id": cid, **{f"b_{k}": v for k, v in values.items()}}
            )
    for cols, rows in groups.items():
        conn.execute(
            sa.update(cases_t)
            .where(cases_t.c.case_id == sa.bindparam("b_case_id"))
            .values({c: sa.bindparam(f"b_{c}") for c in cols}),
            rows,
        )


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

    The decisions are :mod:`risk.cases`'s; this reads the open cases, writes what
    :func:`risk.cases.night_case_changes` returns (open and update cases), reads the open
    cases again and writes what :func:`risk.cases.timed_case_changes` returns (returns,
    closing proposals, automatic closing, escalation suggestions), then all the night's
    events.

    ``alerts`` are rule alerts of missed nights and ``owner_roles`` the roles that own
    prevention cases (see :func:`risk.assign.plan_cases`). Returns are read from ``streaks``
    (:func:`risk.assign.present_streaks` by student, computed where the attendance is: the
    nightly job computes them with the scores) or else from ``attendance``; ``streaks`` must
    cover every student left with an open suspected-dropout case, or this raises
    ``RuntimeError`` (the ledger changed after they were computed).
    """
    opened = night_case_changes(
        snapshot,
        staff,
        read_cases(conn, open_only=True),
        as_of=as_of,
        run_id=run_id,
        config=config,
        alerts=alerts,
        owner_roles=owner_roles,
    )
    _write_changes(conn, opened)
    timed = timed_case_changes(
        read_cases(conn, open_only=True),
        as_of=as_of,
        run_id=run_id,
        config=config,
        streaks=streaks,
        attendance=attendance,
    )
    _write_changes(conn, timed)
    events = opened.events + timed.events
    if events:
        conn.execute(sa.insert(CaseEvent.__table__), events)
    cases_t = Case.__table__
    return LedgerCounts(
        **{k: opened.counts[k] + timed.counts[k] for k in CASE_CHANGE_COUNTS},
        events=len(events),
        open_after=int(
            conn.execute(
                sa.select(sa.func.count()).select_from(cases_t).where(cases_t.c.status.in_(OPEN_STATUSES))
            ).scalar()
        ),
    )


# --- staff updates ---------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What ``baoxue cases import`` did."""

    rows: int
    imported: int
    already: int  # rows imported before (same content): skipped, so a re-import is harmless
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    rejects_file: Path | None = None
    unknown_columns: list[str] = field(default_factory=list)  # reported in the rejects (row 1), not imported


def read_updates(path: str | Path) -> pd.DataFrame:
    """Read a staff update file (CSV in UTF-8 or GBK, or XLSX) as text, headers mapped to English."""
    from features.load import read_file  # one reader for every input file

    frame = read_file("case_updates", Path(path))
    zh = {v: k for k, v in IMPORT_COLUMNS.items()}
    return frame.rename(columns=lambda c: zh.get(c, c))


def unknown_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a staff update file the import does not know (not imported: reported).

    An unnamed column (``Unnamed: 3``, an empty header) is reported only when it holds a value.
    """
    out = []
    for col in frame.columns:
        if col in IMPORT_COLUMNS:
            continue
        values = frame[col].astype("str").str.strip().where(frame[col].notna(), "")
        if not str(col).startswith("Unnamed:") or values.ne("").any():
            out.append(str(col))
    return out


def _reject(rows: list, file_row: int, column: str, value, reason: str) -> None:
    rows.append({"table": "case_updates", "file_row": file_row, "column": column,
                 "value": "" if none_if_missing(value) is None else str(value), "reason": reason})  # fmt: skip


def validate_updates(
    frame: pd.DataFrame, cases: pd.DataFrame, staff_ids: set[str], *, as_of: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check a staff update file row by row against its codes and the ledger, before anything is written.

    Returns the valid rows (typed, with ``file_row``, ``time`` (the time of day when ``ts``
    has one) and ``change``: the case columns the row sets) and the rejects (``table,
    file_row, column, value, reason``; a row may be rejected for several reasons).

    First each row alone: required values, codes, dates, stage numbers and lengths (the
    ledger's column lengths, :data:`UPDATE_FIELD_LENGTHS`, and the note's
    :data:`risk.cases.NOTE_MAX_CHARS`: a value too long is refused here, so it never reaches
    the database). Then the rows left, in order of time (then of the file), against their case
    as the ledger and the earlier rows leave it, through the one state machine
    :func:`risk.cases.apply_staff_update` (steps in order, closing only on return or lawful
    placement, dates between the case's opening and ``as_of``...). Raises
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
            if none_if_missing(r[col]) is not None and r[col] not in allowed:
                _reject(rejects, n, col, r[col], f"unknown code; must be one of {list(allowed)}")
                bad = True
        dates, time = {}, None
        for col in ("ts", "next_due"):
            if none_if_missing(r[col]) is None:
                dates[col] = None
                continue
            d = pd.to_datetime(r[col], errors="coerce")
            if pd.isna(d):
                _reject(rejects, n, col, r[col], "not a date (YYYY-MM-DD)")
                bad = True
            dates[col] = None if pd.isna(d) else d.normalize()
            if col == "ts" and not pd.isna(d) and d != d.normalize():
                time = f"{d:%H:%M}" if d.second == 0 else f"{d:%H:%M:%S}"
        stage = None
        if none_if_missing(r["four_step_stage"]) is not None:
            try:
                stage = int(float(r["four_step_stage"]))
                if not 0 <= stage <= 4 or stage != float(r["four_step_stage"]):
                    raise ValueError
            except ValueError:
                _reject(rejects, n, "four_step_stage", r["four_step_stage"], "must be a whole number 0-4")
                bad = True
                stage = None
        for problem in length_problems(r, UPDATE_FIELD_LENGTHS):
            _reject(rejects, n, problem.column, r[problem.column], problem.reason)
            bad = True
        if not bad:
            good.append({**r.to_dict(), "ts": dates["ts"], "next_due": dates["next_due"],
                         "four_step_stage": stage, "file_row": n, "time": time, "raw": r})  # fmt: skip
    # the rows against their cases, in order of time, each seeing what the earlier ones did
    known = cases.set_index("case_id").to_dict("index")
    state: dict[str, dict] = {}
    ok = []
    for r in sorted(good, key=lambda g: (g["ts"], g["file_row"])):
        cid = r["case_id"]
        before = known.get(cid)
        case = None if before is None else state.setdefault(cid, dict(before))
        change = apply_staff_update(case, r, staff_ids=staff_ids, as_of=as_of)
        if isinstance(change, list):
            for problem in change:
                reason = problem.reason
                if problem.column == "case_id" and before is not None and before["status"] in OPEN_STATUSES:
                    reason += " (earlier row)"  # an earlier row of this file closed it
                _reject(rejects, r["file_row"], problem.column, r["raw"].get(problem.column), reason)
            continue
        case.update(change)
        ok.append({**{k: v for k, v in r.items() if k != "raw"}, "change": change})
    out = pd.DataFrame(ok, columns=[*IMPORT_COLUMNS, "file_row", "time", "change"])
    return out, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def _row_ids(frame: pd.DataFrame) -> pd.Series:
    """Each row's event id: a hash of its text (and of its note when it has one), so a row
    imported before is recognised; the second and later copies of an identical row in the
    file hash their copy number too (two calls the same day are two events, and the same
    file imported again gives the same ids)."""
    raw = frame.reindex(columns=list(IMPORT_COLUMNS))
    text = raw.astype("str").apply(lambda s: s.str.strip()).where(raw.notna(), "")
    keys = [
        (*row[: len(_HASHED)], *((row[-1],) if row[-1] else ()))
        for row in text[[*_HASHED, "note"]].itertuples(index=False, name=None)
    ]
    copies: dict[tuple, int] = {}
    out = []
    for key in keys:
        k = copies[key] = copies.get(key, -1) + 1
        out.append(f"I-{stable_hash(*key, *((f'copy{k}',) if k else ()), n=20)}")
    return pd.Series(
        out,
        index=frame.index,
    )


def import_updates(
    engine: Engine,
    path: str | Path,
    *,
    as_of: dt.date,
    rejects_file: str | Path | None = None,
    lock_timeout_s: float = 60.0,
) -> ImportResult:
    """Import a staff update file into the ledger, in one transaction (``baoxue cases import``).

    Valid rows become ``case_events`` (``source = 'import'``, staff's ``note`` kept in its
    column) and change their case, in order of time, through
    :func:`risk.cases.apply_staff_update` (the state machine the web app uses too): a step
    taken sets ``four_step_stage``; ``outcome = returned`` marks the student back and proposes
    closing; a placement other than ``still_out`` places and closes the case; ``reassigned``
    changes the owner; ``close`` closes it (销号) with its reason. Every row is checked before
    anything is written (:func:`validate_updates`), so one bad row never voids the sheet: it
    goes to ``rejects_file`` (default: next to the file, ``<name>.rejects.csv``) with a reason,
    and the rest is imported. Columns the import does not know are reported there too (row 1,
    the header) and in :attr:`ImportResult.unknown_columns`. Rows imported before are
    skipped, so importing a file twice changes nothing.
    """
    from features.load import write_rejects

    path = Path(path)
    frame = read_updates(path).reset_index(drop=True)
    unknown = unknown_columns(frame)
    ev_t, cases_t, staff_t = CaseEvent.__table__, Case.__table__, Staff.__table__
    ids = _row_ids(frame)
    with write_transaction(engine, timeout_s=lock_timeout_s) as conn:
        cases = read_cases(conn)
        staff_ids = {str(s) for s in conn.execute(sa.select(staff_t.c.staff_id)).scalars()}
        seen = set(conn.execute(sa.select(ev_t.c.event_id).where(ev_t.c.event_id.in_(list(ids)))).scalars())
        repeat = ids.isin(seen)
        ok, rejects = validate_updates(frame[~repeat], cases, staff_ids, as_of=as_of)
        ok["event_id"] = ids.to_numpy()[ok["file_row"].to_numpy(dtype="int64") - 2]
        changes: dict[str, dict] = {}
        events = []
        for _, r in ok.iterrows():
            changes.setdefault(r["case_id"], {}).update(r["change"])
            detail = {
                k: r[k]
                for k in ("placement", "reason_primary", "closure_reason", "time")
                if none_if_missing(r[k]) is not None
            }
            events.append(
                {
                    "event_id": r["event_id"],
                    "case_id": r["case_id"],
                    "ts": _date(r["ts"]),
                    "event_type": r["event_type"],
                    "actor_role": none_if_missing(r["actor_role"]),
                    "outcome": none_if_missing(r["outcome"]),
                    "next_due": _date(r["next_due"]),
                    "four_step_stage": none_if_missing(r["four_step_stage"]),
                    "owner_staff_id": none_if_missing(r["owner_staff_id"]),
                    "source": "import",
                    "run_id": None,
                    "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
                    "note": none_if_missing(r["note"]),
                }
            )
        if events:
            conn.execute(sa.insert(ev_t), events)
        for cid, values in changes.items():
            if values:
                conn.execute(sa.update(cases_t).where(cases_t.c.case_id == cid).values(**values))
    if unknown:
        known = ", ".join(f"{c} ({zh})" for c, zh in IMPORT_COLUMNS.items())
        header = [{"table": "case_updates", "file_row": 1, "column": col, "value": "",
                   "reason": f"unknown column: its values were not imported; the columns are {known}"}
                  for col in unknown]  # fmt: skip
        rejects = pd.concat([pd.DataFrame(header, columns=REJECT_COLUMNS), rejects], ignore_index=True)
        log.warning("staff update file: %d unknown column(s) not imported: %s", len(unknown), unknown)
    out = Path(rejects_file) if rejects_file else path.with_name(f"{path.stem}.rejects.csv")
    written = write_rejects(rejects, out)
    n_bad = rejects.loc[rejects["file_row"] > 1, "file_row"].nunique()
    log.info("imported %d staff update rows, %d rejected rows", len(events), n_bad)
    return ImportResult(
        rows=len(frame),
        imported=len(events),
        already=int(repeat.sum()),
        rejects=rejects,
        rejects_file=written,
        unknown_columns=unknown,
    )


def write_update_template(path: str | Path, *, lang: str = "zh") -> Path:
    """An empty staff update sheet (XLSX, or CSV by the suffix) with the import's headers in
    ``lang`` (``zh``: 案例编号, 时间, 记录类型 ... 备注; ``en``: the column names). The ``时间``
    column takes a date, or a date and time (``2025-03-12 16:00``: kept in the event's detail,
    so two calls on one day stay two events); ``备注`` a note of up to
    :data:`risk.cases.NOTE_MAX_CHARS` characters. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    headers = list(IMPORT_COLUMNS.values()) if lang == "zh" else list(IMPORT_COLUMNS)
    frame = pd.DataFrame(columns=headers)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        frame.to_excel(path, index=False, sheet_name="case_updates")
    return path
