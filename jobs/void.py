"""``baoxue runs void``: make a mistaken night harmless without deleting anything.

A night run by mistake (``--as-of 2052-03-17`` for ``2025-03-17``, a wrong model, a wrong
county's export) stays in the ledger: the append-only tables refuse deletes, and its record
is evidence of what happened. :func:`void_run` marks it ``status = 'void'`` (with the reason
and when), after which

- it is never "the previous run" nor "a later run" (:func:`jobs.storage.current_run`): the
  next night proceeds as if it never ran, and reads ignore its snapshot;
- a redo it superseded becomes the night's current version again;
- the cases it **opened** that are still open are closed (``closure_reason = 'other'``, dated
  the day they opened), each with a system ``closed`` event whose detail says
  ``{"voided_run": …, "why": "opened by a night later voided"}`` and whose note is the reason:
  they were opened on data that was not that night's. If the rule holds on a real night, the
  job opens a new case then;
- the cases it **changed** get back what it changed: a case it closed is open again (or
  returned, if it was) with a system ``reopened`` event; its escalation, closing proposal and
  return dates go back to the latest such event of another run (or none). Its own events stay,
  tagged with its ``run_id``; nothing is deleted.

Only a night's current version can be voided (void the version that supersedes it first).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobs.storage import Case, CaseEvent, Run, write_transaction
from risk.cases import OPEN_STATUSES, close, event_id_for

__all__ = ["VoidResult", "void_run"]

#: the case date each system event type sets, which a void gives back
_TIMERS = {"escalation": "escalated_at", "close_proposed": "close_proposed_at", "returned": "returned_at"}


@dataclass
class VoidResult:
    """What :func:`void_run` did."""

    run_id: str
    as_of: dt.date
    cases_closed: int  # opened by the run, closed as opened by mistake
    cases_reopened: int  # closed by the run, open again
    timers_restored: int  # escalation / closing proposal / return dates given back
    events_kept: int  # the run's own events (kept, append-only)


def _event(case_id: str, run_id: str, event_type: str, ts: dt.date, reason: str, **extra) -> dict:
    return {
        "event_id": event_id_for(case_id, f"void:{run_id}", event_type),
        "case_id": case_id,
        "ts": ts,
        "event_type": event_type,
        "actor_role": "system",
        "outcome": None,
        "next_due": None,
        "four_step_stage": None,
        "owner_staff_id": None,
        "source": "system",
        "run_id": None,  # written by the void, not by a run
        "detail": json.dumps({"voided_run": run_id, **extra}),
        "note": reason,
    }


def void_run(
    engine: Engine, run_id: str, reason: str, *, now: dt.datetime, lock_timeout_s: float = 30.0
) -> VoidResult:
    """Void the run ``run_id`` (see the module docstring); one transaction under the job lock.

    Raises ``ValueError`` when there is no such run, it is not a completed run, a completed run
    supersedes it, or ``reason`` is empty.
    """
    if not reason or not reason.strip():
        raise ValueError("--reason is required: say why the night is void (it is kept with the run)")
    runs, cases, events = Run.__table__, Case.__table__, CaseEvent.__table__
    with write_transaction(engine, timeout_s=lock_timeout_s) as conn:
        run = conn.execute(
            sa.select(runs.c.run_id, runs.c.as_of, runs.c.status).where(runs.c.run_id == run_id)
        ).first()
        if run is None:
            raise ValueError(f"no run {run_id!r} in the ledger (`baoxue runs list --all` lists them)")
        if run.status != "ok":
            raise ValueError(f"run {run_id} is {run.status}: only a completed run can be voided")
        newer = conn.execute(
            sa.select(runs.c.run_id).where(runs.c.supersedes_run_id == run_id, runs.c.status == "ok")
        ).scalar()
        if newer is not None:
            raise ValueError(f"run {newer} supersedes {run_id}: void {newer} first")
        conn.execute(
            sa.update(runs)
            .where(runs.c.run_id == run_id)
            .values(status="void", void_reason=reason.strip(), voided_at=now.replace(microsecond=0))
        )
        new_events: list[dict] = []
        # cases it opened, still open: closed as opened by mistake, on the day they opened
        opened = conn.execute(
            sa.select(cases.c.case_id, cases.c.opened_at).where(
                cases.c.opened_run_id == run_id, cases.c.status.in_(OPEN_STATUSES)
            )
        ).fetchall()
        for case in opened:
            change = close(case.opened_at, "other")
            conn.execute(sa.update(cases).where(cases.c.case_id == case.case_id).values(**change))
            new_events.append(
                _event(
                    case.case_id,
                    run_id,
                    "closed",
                    case.opened_at,
                    reason.strip(),
                    why="opened by a night later voided",
                    closure_reason="other",
                )  # fmt: skip
            )
        # cases it closed (not opened by it): open again, unless another case of the kind is open
        closed = conn.execute(
            sa.select(cases)
            .join(events, events.c.case_id == cases.c.case_id)
            .where(
                events.c.run_id == run_id,
                events.c.event_type == "closed",
                cases.c.status == "closed",
                cases.c.opened_run_id != run_id,
            )
        ).fetchall()
        reopened = 0
        for case in closed:
            busy = conn.execute(
                sa.select(cases.c.case_id).where(
                    cases.c.student_id == case.student_id,
                    cases.c.case_type == case.case_type,
                    cases.c.status.in_(OPEN_STATUSES),
                )
            ).first()
            if busy is not None:
                continue
            status = "returned" if case.returned_at is not None else "open"
            conn.execute(
                sa.update(cases)
                .where(cases.c.case_id == case.case_id)
                .values(status=status, closed_at=None, closure_reason=None)
            )
            new_events.append(
                _event(
                    case.case_id,
                    run_id,
                    "reopened",
                    case.closed_at or run.as_of,
                    reason.strip(),
                    why="closed by a night later voided",
                )  # fmt: skip
            )
            reopened += 1
        # the dates it set: back to the latest such event of another run (or none)
        restored = 0
        for event_type, column in _TIMERS.items():
            touched = conn.execute(
                sa.select(events.c.case_id)
                .where(events.c.run_id == run_id, events.c.event_type == event_type)
                .distinct()
            ).scalars()
            for case_id in touched:
                before = conn.execute(
                    sa.select(sa.func.max(events.c.ts)).where(
                        events.c.case_id == case_id,
                        events.c.event_type == event_type,
                        sa.or_(events.c.run_id.is_(None), events.c.run_id != run_id),
                    )
                ).scalar()
                values = {column: before}
                if event_type == "returned" and before is None:
                    case = conn.execute(sa.select(cases.c.status).where(cases.c.case_id == case_id)).first()
                    if case is not None and case.status == "returned":
                        values.update(status="open", close_proposed_at=None)
                conn.execute(sa.update(cases).where(cases.c.case_id == case_id).values(**values))
                restored += 1
        if new_events:
            conn.execute(sa.insert(events), new_events)
        kept = conn.execute(sa.select(sa.func.count()).where(events.c.run_id == run_id)).scalar() or 0
    return VoidResult(
        run_id=run_id,
        as_of=run.as_of,
        cases_closed=len(opened),
        cases_reopened=reopened,
        timers_restored=restored,
        events_kept=int(kept),
    )
