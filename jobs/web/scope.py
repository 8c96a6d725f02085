"""Row scoping of the staff web app, enforced once, in the session.

Every page reads through a :class:`~sqlalchemy.orm.Session` made by :func:`session_factory`;
its ``do_orm_execute`` hook adds :func:`~sqlalchemy.orm.with_loader_criteria` for the
logged-in :class:`Principal` to every ORM ``SELECT``, so no route filters by hand:

============  ====================================================================
head_teacher  their class(es): snapshots, cases, events, plans, notes of that class
counsellor    the cases they own, and those children's snapshots, plans and notes
principal     their school, and its audit rows
county        named rows only of suspected-dropout cases at a 四步法 step (>= 1);
              counts of everything (``aggregate`` statements); the whole audit
researcher    counts only (``aggregate`` statements); no row of any child
============  ====================================================================

A *county figure* (``execution_options(baoxue_county_figures=True)``) is open to every role:
counts, sums, means and maxima of ``risk_snapshots`` grouped and filtered by run, school and
tier only (checked), e.g. the county average a child's risk is a multiple of, or a school's
listed students against its places. Nothing in it can single out a child.

The county's monthly report (月报, ``/county/monthly.xlsx``) is the one read of more rows:
a statement run with ``execution_options(baoxue_monthly_form=True)`` lets the county role
read every *suspected-dropout* case and its events (the form lists each new case), and the
route masks the child (no id, no name, no class) of each case not yet at a 四步法 step, so
what the county sees by name stays what the table above says.

A statement run with ``execution_options(baoxue_aggregate=True)`` may select only counts
and sums grouped by :data:`GROUP_COLUMNS` (no student or case id): for county and
researcher it sees every row, for the others their rows. A Core statement (``select(table)``)
would escape the criteria, so the session refuses any statement that is not an ORM one.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria
from sqlalchemy.sql import functions

from jobs.storage import (
    WEB_ROLES,
    AuditEntry,
    Case,
    CaseEvent,
    Intervention,
    Note,
    PlanVersion,
    RiskSnapshot,
    Staff,
    User,
)

__all__ = [
    "GROUP_COLUMNS",
    "Principal",
    "ScopeError",
    "session_factory",
    "scoped_session",
    "AGGREGATE",
    "MONTHLY_FORM",
    "COUNTY_FIGURES",
]

#: columns an aggregate statement may group by (nothing that names a child or a case)
GROUP_COLUMNS: frozenset[str] = frozenset(
    {"school_id", "class_id", "grade", "tier", "status", "case_type", "four_step_stage", "trigger",
     "event_type", "type", "reason_primary", "run_id", "as_of", "change", "listed", "closure_reason",
     "assignment_mechanism", "outcome", "placement"}
)  # fmt: skip
#: execution options of an aggregate statement
AGGREGATE = {"baoxue_aggregate": True}
#: execution options of a county figure: counts and means of the whole county's snapshots,
#: which every role may read (the county average a risk is a multiple of, a school's places)
COUNTY_FIGURES = {"baoxue_county_figures": True}
_FIGURE_COLUMNS = frozenset({"run_id", "school_id", "tier"})
#: execution options of the county monthly report's read of suspected-dropout cases
MONTHLY_FORM = {"baoxue_monthly_form": True}
_AGG_FUNCTIONS = frozenset({"count", "sum", "avg", "min", "max"})


class ScopeError(PermissionError):
    """A statement the scoped session refuses (a bug in a route, never a user's doing)."""


@dataclass(frozen=True)
class Principal:
    """Who is logged in: the login's role and, from ``staff``, their school and class(es)."""

    staff_id: str
    role: str
    school_id: str | None = None
    class_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in WEB_ROLES:
            raise ValueError(f"unknown web role {self.role!r}")

    @property
    def sees_names(self) -> bool:
        return self.role != "researcher"


def _false():
    return sa.false()


def _criteria(p: Principal, aggregate: bool, monthly_form: bool = False) -> list:
    """The loader criteria of ``p`` (``aggregate``: for a counting statement; ``monthly_form``:
    the county's read of every suspected-dropout case for the monthly report)."""
    cases = Case.__table__
    if aggregate and p.role in ("county", "researcher"):
        return []
    if p.role == "head_teacher":
        classes = list(p.class_ids)
        case_ids = sa.select(cases.c.case_id).where(cases.c.class_id.in_(classes))
        rows = {
            RiskSnapshot: RiskSnapshot.class_id.in_(classes),
            Case: Case.class_id.in_(classes),
            CaseEvent: CaseEvent.case_id.in_(case_ids),
            Intervention: Intervention.case_id.in_(case_ids),
            PlanVersion: PlanVersion.class_id.in_(classes),
            Note: Note.class_id.in_(classes),
            AuditEntry: _false(),
            Staff: Staff.school_id == p.school_id,
        }
    elif p.role == "counsellor":
        owned = sa.select(cases.c.student_id).where(cases.c.owner_staff_id == p.staff_id)
        case_ids = sa.select(cases.c.case_id).where(cases.c.owner_staff_id == p.staff_id)
        rows = {
            RiskSnapshot: RiskSnapshot.student_id.in_(owned),
            Case: Case.owner_staff_id == p.staff_id,
            CaseEvent: CaseEvent.case_id.in_(case_ids),
            Intervention: Intervention.case_id.in_(case_ids),
            PlanVersion: PlanVersion.student_id.in_(owned),
            Note: Note.student_id.in_(owned),
            AuditEntry: _false(),
            Staff: Staff.school_id == p.school_id,
        }
    elif p.role == "principal":
        case_ids = sa.select(cases.c.case_id).where(cases.c.school_id == p.school_id)
        rows = {
            RiskSnapshot: RiskSnapshot.school_id == p.school_id,
            Case: Case.school_id == p.school_id,
            CaseEvent: CaseEvent.case_id.in_(case_ids),
            Intervention: Intervention.case_id.in_(case_ids),
            PlanVersion: PlanVersion.school_id == p.school_id,
            Note: Note.school_id == p.school_id,
            AuditEntry: AuditEntry.school_id == p.school_id,
            Staff: Staff.school_id == p.school_id,
        }
    elif p.role == "county":
        named = (cases.c.case_type == "suspected_dropout") & (cases.c.four_step_stage >= 1)
        students = sa.select(cases.c.student_id).where(named)
        case_ids = sa.select(cases.c.case_id).where(named)
        rows = {
            RiskSnapshot: RiskSnapshot.student_id.in_(students),
            Case: (Case.case_type == "suspected_dropout") & (Case.four_step_stage >= 1),
            CaseEvent: CaseEvent.case_id.in_(case_ids),
            Intervention: Intervention.case_id.in_(case_ids),
            PlanVersion: PlanVersion.student_id.in_(students),
            Note: Note.student_id.in_(students),
        }
        if monthly_form:  # every suspected-dropout case and its events; the route masks the child
            suspected = sa.select(cases.c.case_id).where(cases.c.case_type == "suspected_dropout")
            rows[Case] = Case.case_type == "suspected_dropout"
            rows[CaseEvent] = CaseEvent.case_id.in_(suspected)
    else:  # researcher: no row of any child, no audit, no staff
        rows = dict.fromkeys(
            (RiskSnapshot, Case, CaseEvent, Intervention, PlanVersion, Note, AuditEntry, Staff)
        )
        rows = {k: _false() for k in rows}
    rows[User] = User.staff_id == p.staff_id
    return [with_loader_criteria(entity, crit, include_aliases=True) for entity, crit in rows.items()]


def _check_selected(stmt, allowed: frozenset[str], what: str) -> None:
    """Every selected column is an aggregate function or a column named in ``allowed``."""
    for col in stmt.selected_columns:
        inner = col.element if isinstance(col, sa.sql.elements.Label) else col
        if isinstance(inner, functions.FunctionElement) and inner.name.lower() in _AGG_FUNCTIONS:
            continue
        if getattr(inner, "name", None) in allowed and isinstance(inner, sa.sql.ColumnElement):
            continue
        raise ScopeError(f"{what} may select aggregates and {sorted(allowed)} only, not {col}")


def _check_aggregate(state: ORMExecuteState) -> None:
    _check_selected(state.statement, GROUP_COLUMNS, "an aggregate statement")


def _check_figures(state: ORMExecuteState) -> None:
    """A county figure selects counts, sums, means or maxima of ``risk_snapshots`` only, grouped
    and filtered by run, school and tier only: nothing can single out a child."""
    stmt = state.statement
    froms = stmt.get_final_froms()
    if [getattr(f, "name", None) for f in froms] != [RiskSnapshot.__table__.name]:
        raise ScopeError("a county figure reads risk_snapshots only")
    _check_selected(stmt, _FIGURE_COLUMNS, "a county figure")
    clauses = [c for c in (stmt.whereclause, *stmt._group_by_clauses) if c is not None]
    for clause in clauses:
        for el in sa.sql.visitors.iterate(clause):
            if isinstance(el, sa.Column) and el.name not in _FIGURE_COLUMNS:
                raise ScopeError(
                    f"a county figure may filter and group by {sorted(_FIGURE_COLUMNS)} only, not {el.name}"
                )


def _apply_scope(state: ORMExecuteState) -> None:
    principal = state.session.info.get("principal")
    if principal is None:
        raise ScopeError("a web session without a principal")
    if not state.is_orm_statement:
        raise ScopeError("the scoped session runs ORM statements only (a Core statement escapes the scope)")
    if not state.is_select:
        return  # the app's writes are ORM flushes of rows it read through this session
    if state.execution_options.get("baoxue_county_figures"):
        _check_figures(state)
        return  # the whole county's snapshots, in aggregate
    aggregate = bool(state.execution_options.get("baoxue_aggregate"))
    if aggregate:
        _check_aggregate(state)
    monthly_form = bool(state.execution_options.get("baoxue_monthly_form"))
    state.statement = state.statement.options(*_criteria(principal, aggregate, monthly_form))


def session_factory(engine: Engine) -> sessionmaker:
    """Sessions on ``engine`` whose every ORM ``SELECT`` is scoped to ``session.info['principal']``."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    event.listen(factory, "do_orm_execute", _apply_scope)
    return factory


def scoped_session(factory: sessionmaker, principal: Principal, *, bind: Connection | None = None) -> Session:
    """A session of ``factory`` for ``principal`` (``bind``: inside a caller's transaction)."""
    kwargs = {"bind": bind} if bind is not None else {}
    return factory(info={"principal": principal}, **kwargs)
