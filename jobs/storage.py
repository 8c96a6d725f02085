"""The nightly job's database: runs, risk snapshots, the case ledger (台账), staff, interventions.

SQLAlchemy 2 models on one :class:`~sqlalchemy.MetaData`; the schema itself is created and
changed only by the Alembic migrations packaged in ``jobs/migrations`` (:func:`upgrade`,
``baoxue db upgrade``). The same code runs on the embedded default (a SQLite file) and on
PostgreSQL (a URL in ``[job] db_url``).

Invariants the schema enforces (not only the code):

- ``risk_snapshots``, ``case_events`` and the web app's ``audit``, ``plans`` and ``notes``
  are append-only: a trigger refuses UPDATE and DELETE on each, on SQLite and PostgreSQL alike
  (a revised 一生一案 plan is a new row with the next ``version``).
- one *open* case per student and kind: a partial unique index on
  ``cases (student_id, case_type) WHERE status IN ('open', 'returned')``.
- one line of versions per night (as-of date and configuration): among completed runs
  (``status = 'ok'``), one first version per ``(as_of, config_hash)``
  (``supersedes_run_id IS NULL``) and each run superseded at most once (``nightly --replace``);
  failed and void runs are outside both partial unique indexes. The night's *current* version
  (:func:`current_run`) is the completed run no completed run supersedes.
- no names: tables hold ``student_id`` (an opaque hash) only; there is no name column anywhere.

Reports read the ledger through :func:`read_cases`, :func:`read_case_events`,
:func:`read_snapshot`, :func:`read_runs`, :func:`read_interventions` and
:func:`read_staff`, which return DataFrames in the data contract's column vocabulary.

Examples
--------
>>> engine = connect("sqlite://")
>>> upgrade(engine)
>>> read_runs(engine).empty, list(read_cases(engine).columns[:3])
(True, ['case_id', 'student_id', 'opened_at'])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from features.contract import spec
from risk.cases import OPEN_STATUSES
from risk.snapshot import SNAPSHOT_COLUMNS

__all__ = [
    "Base",
    "JobLock",
    "Run",
    "RiskSnapshot",
    "Staff",
    "Case",
    "CaseEvent",
    "Intervention",
    "WEB_ROLES",
    "User",
    "AuditEntry",
    "PlanVersion",
    "Note",
    "LockTimeout",
    "connect",
    "upgrade",
    "current_revision",
    "head_revision",
    "write_transaction",
    "dump",
    "current_run",
    "read_runs",
    "read_snapshot",
    "read_cases",
    "read_case_events",
    "read_interventions",
    "read_staff",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every ledger table."""

    metadata = sa.MetaData(naming_convention=_NAMING)


class JobLock(Base):
    """One row per job name; the nightly run locks its row for the whole transaction."""

    __tablename__ = "job_lock"
    job: Mapped[str] = mapped_column(sa.String(32), primary_key=True)


class Run(Base):
    """One nightly run: ``status`` ok (completed), failed (rolled back, then recorded with its
    ``failed_stage`` and ``error`` by :func:`jobs.guard.record_failed_night`; no snapshot) or void
    (``baoxue runs void``).

    A redo (``nightly --replace``) is a new row whose ``supersedes_run_id`` names the version it
    replaces; reads see only current versions (:func:`current_run`).
    """

    __tablename__ = "runs"
    __table_args__ = (
        sa.Index(
            "uq_runs_first_version",
            "as_of",
            "config_hash",
            unique=True,
            sqlite_where=sa.text("status = 'ok' AND supersedes_run_id IS NULL"),
            postgresql_where=sa.text("status = 'ok' AND supersedes_run_id IS NULL"),
        ),
        sa.Index(
            "uq_runs_supersedes",
            "supersedes_run_id",
            unique=True,
            sqlite_where=sa.text("status = 'ok' AND supersedes_run_id IS NOT NULL"),
            postgresql_where=sa.text("status = 'ok' AND supersedes_run_id IS NOT NULL"),
        ),
    )

    run_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    config_hash: Mapped[str] = mapped_column(sa.String(16))
    previous_run_id: Mapped[str | None] = mapped_column(sa.String(40))
    started_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)
    seconds: Mapped[float] = mapped_column(sa.Float)
    stage_seconds: Mapped[str] = mapped_column(sa.Text)  # JSON {stage: seconds}
    model_version: Mapped[str] = mapped_column(sa.Text)
    code_version: Mapped[str] = mapped_column(sa.Text)
    data_hash: Mapped[str] = mapped_column(sa.String(16))
    missed_days: Mapped[int] = mapped_column(sa.Integer)  # school days since the previous run, caught up
    n_rejects: Mapped[int] = mapped_column(sa.Integer)
    n_students: Mapped[int] = mapped_column(sa.Integer)
    n_red: Mapped[int] = mapped_column(sa.Integer)
    n_yellow: Mapped[int] = mapped_column(sa.Integer)
    n_blue: Mapped[int] = mapped_column(sa.Integer)
    n_listed: Mapped[int] = mapped_column(sa.Integer)
    n_selected: Mapped[int] = mapped_column(sa.Integer)
    n_rules: Mapped[int] = mapped_column(sa.Integer)  # students with a rule firing
    n_new: Mapped[int] = mapped_column(sa.Integer)  # newly listed
    n_rising: Mapped[int] = mapped_column(sa.Integer)
    n_falling: Mapped[int] = mapped_column(sa.Integer)
    n_left: Mapped[int] = mapped_column(sa.Integer)  # listed last run, not tonight
    n_rules_new: Mapped[int] = mapped_column(sa.Integer)  # a rule newly fired
    n_cases_opened: Mapped[int] = mapped_column(sa.Integer)
    n_cases_updated: Mapped[int] = mapped_column(sa.Integer)
    n_cases_closed: Mapped[int] = mapped_column(sa.Integer)
    n_escalations: Mapped[int] = mapped_column(sa.Integer)
    n_returned: Mapped[int] = mapped_column(sa.Integer)
    n_events: Mapped[int] = mapped_column(sa.Integer)
    n_over_capacity: Mapped[int] = mapped_column(sa.Integer)  # cases given to an owner already full
    n_unowned: Mapped[int] = mapped_column(sa.Integer)  # no staff found (fix the staff table)
    n_waiting: Mapped[int] = mapped_column(sa.Integer)  # selected, every owner full: no case yet
    n_open_cases: Mapped[int] = mapped_column(sa.Integer)  # open after the run
    # migration 0004 (issue 20): failed and voided nights, redo, content key, salt fingerprint
    status: Mapped[str] = mapped_column(sa.String(12), default="ok", server_default="ok")
    failed_stage: Mapped[str | None] = mapped_column(sa.String(32))
    error: Mapped[str | None] = mapped_column(sa.Text)
    supersedes_run_id: Mapped[str | None] = mapped_column(sa.String(40))
    void_reason: Mapped[str | None] = mapped_column(sa.Text)
    voided_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    stale_override: Mapped[str | None] = mapped_column(sa.Text)
    salt_fingerprint: Mapped[str | None] = mapped_column(sa.String(16))
    input_key: Mapped[str | None] = mapped_column(sa.String(64))
    store_generation: Mapped[str | None] = mapped_column(sa.String(16))  # features.store manifest loaded


_SQL_TYPES = {
    "str": sa.Text,
    "category": sa.String(16),
    "datetime64[s]": sa.Date,
    "int64": sa.Integer,
    "float64": sa.Float,
    "bool": sa.Boolean,
}

#: snapshot columns added by the nightly job: the comparison with the previous run
DIFF_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("str", "the run that wrote the row"),
    "prev_probability": ("float64", "probability in the previous run (NaN: not scored then)"),
    "prev_tier": ("str", "tier in the previous run ('' when not scored then)"),
    "change": ("str", "new / rising / falling / steady / left (listed before, not now) / ''"),
    "rules_new": ("str", "';'-joined rules firing tonight that did not fire in the previous run"),
}


def _snapshot_table() -> sa.Table:
    cols: list[sa.Column] = [
        # deferred: the run's row is written last, in the same transaction
        sa.Column(
            "run_id",
            sa.String(40),
            sa.ForeignKey("runs.run_id", deferrable=True, initially="DEFERRED"),
            primary_key=True,
        ),
        sa.Column("student_id", sa.String(64), primary_key=True),
    ]
    for name, (dtype, _) in SNAPSHOT_COLUMNS.items():
        if name != "student_id":
            cols.append(sa.Column(name, _SQL_TYPES[dtype]))
    for name, (dtype, _) in DIFF_COLUMNS.items():
        if name != "run_id":
            cols.append(sa.Column(name, _SQL_TYPES[dtype]))
    # a child's risk over the term (the web app's child page) reads by student (migration 0002)
    return sa.Table(
        "risk_snapshots", Base.metadata, *cols, sa.Index("ix_risk_snapshots_student_id", "student_id")
    )


class RiskSnapshot(Base):
    """One row per cohort student and run: :data:`risk.snapshot.SNAPSHOT_COLUMNS` + the diff."""

    __table__ = _snapshot_table()


class Staff(Base):
    """Staff who can own cases, synced from the input ``staff`` table every run (no names)."""

    __tablename__ = "staff"
    staff_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    school_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    role: Mapped[str] = mapped_column(sa.String(32))
    class_id: Mapped[str | None] = mapped_column(sa.String(64))
    max_open_cases: Mapped[int | None] = mapped_column(sa.Integer)
    active: Mapped[bool] = mapped_column(sa.Boolean)  # in tonight's staff table
    updated_run_id: Mapped[str | None] = mapped_column(sa.String(40))


class Case(Base):
    """A case of the ledger (台账 / 一生一案): the contract's ``cases`` columns + bookkeeping."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.Index(
            "uq_cases_one_open",
            "student_id",
            "case_type",
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'returned')"),
            postgresql_where=sa.text("status IN ('open', 'returned')"),
        ),
        sa.Index("ix_cases_school_status", "school_id", "status"),
    )

    case_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    student_id: Mapped[str] = mapped_column(sa.String(64))
    opened_at: Mapped[dt.date] = mapped_column(sa.Date)
    trigger: Mapped[str] = mapped_column(sa.String(16))
    case_type: Mapped[str] = mapped_column(sa.String(24))
    reason_primary: Mapped[str | None] = mapped_column(sa.String(32))
    reason_secondary: Mapped[str | None] = mapped_column(sa.String(32))
    owner_staff_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    four_step_stage: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16))
    placement: Mapped[str | None] = mapped_column(sa.String(32))
    closed_at: Mapped[dt.date | None] = mapped_column(sa.Date)
    closure_reason: Mapped[str | None] = mapped_column(sa.String(32))
    # bookkeeping (not in the contract's import columns)
    school_id: Mapped[str | None] = mapped_column(sa.String(64))
    class_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    opened_run_id: Mapped[str] = mapped_column(sa.String(40))
    last_run_id: Mapped[str] = mapped_column(sa.String(40))  # last run that updated the case
    last_seen: Mapped[dt.date] = mapped_column(sa.Date)  # as-of of that run
    tier_last: Mapped[str | None] = mapped_column(sa.String(16))
    probability_last: Mapped[float | None] = mapped_column(sa.Float)
    rules_last: Mapped[str | None] = mapped_column(sa.Text)
    returned_at: Mapped[dt.date | None] = mapped_column(sa.Date)
    close_proposed_at: Mapped[dt.date | None] = mapped_column(sa.Date)
    escalated_at: Mapped[dt.date | None] = mapped_column(sa.Date)  # last escalation suggestion


class CaseEvent(Base):
    """The history of a case (劝返记录), append-only: written by the job or imported from staff."""

    __tablename__ = "case_events"
    event_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    case_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("cases.case_id"), index=True)
    ts: Mapped[dt.date] = mapped_column(sa.Date)
    event_type: Mapped[str] = mapped_column(sa.String(24))
    actor_role: Mapped[str | None] = mapped_column(sa.String(32))
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    next_due: Mapped[dt.date | None] = mapped_column(sa.Date)
    four_step_stage: Mapped[int | None] = mapped_column(sa.Integer)  # step suggested or taken
    owner_staff_id: Mapped[str | None] = mapped_column(sa.String(64))  # owner assigned / reassigned
    source: Mapped[str] = mapped_column(sa.String(8))  # system / import
    run_id: Mapped[str | None] = mapped_column(sa.String(40))  # the run that wrote it (system)
    detail: Mapped[str | None] = mapped_column(sa.Text)  # JSON: evidence, codes; never names
    note: Mapped[str | None] = mapped_column(sa.Text)  # what staff wrote (migration 0004)


class Intervention(Base):
    """A support assigned with a case (帮扶措施), with what researchers need to estimate effects."""

    __tablename__ = "interventions"
    intervention_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    student_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(sa.String(40), sa.ForeignKey("cases.case_id"))
    type: Mapped[str] = mapped_column(sa.String(24))
    assigned_to_staff_id: Mapped[str | None] = mapped_column(sa.String(64))
    start_date: Mapped[dt.date] = mapped_column(sa.Date)
    end_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    sessions: Mapped[int | None] = mapped_column(sa.Integer)
    assignment_mechanism: Mapped[str | None] = mapped_column(sa.String(24))
    list_version: Mapped[str | None] = mapped_column(sa.String(40))  # the run_id of the list
    score_at_assign: Mapped[float | None] = mapped_column(sa.Float)
    rank_at_assign: Mapped[int | None] = mapped_column(sa.Integer)


# --- the staff web app (migration 0002) ---------------------------------------------------------

#: the web app's roles (``baoxue users add --role``)
WEB_ROLES: tuple[str, ...] = ("head_teacher", "counsellor", "principal", "county", "researcher")


class User(Base):
    """A login of the staff web app. ``staff_id`` ties head teachers, counsellors and
    principals to their class, cases and school in ``staff``; county and researcher logins
    need no staff row. The password is an argon2 hash; five failures lock it for a while."""

    __tablename__ = "users"
    staff_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.Text)
    failed_logins: Mapped[int] = mapped_column(sa.Integer)
    locked_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    active: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)


class AuditEntry(Base):
    """Who looked at or changed what, when (append-only): each view of a child's page, each change."""

    __tablename__ = "audit"
    audit_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    ts: Mapped[dt.datetime] = mapped_column(sa.DateTime, index=True)
    staff_id: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(24))  # view_student, record_event, plan, close, ...
    student_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(sa.String(40))
    school_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # for the principal's scope
    detail: Mapped[str | None] = mapped_column(sa.Text)  # JSON of codes; never names


class PlanVersion(Base):
    """One version of a child's 一生一案 plan (append-only): a revision is the next ``version``;
    ``(student_id, version)`` is unique, so two people saving one version cannot both win."""

    __tablename__ = "plans"
    __table_args__ = (sa.UniqueConstraint("student_id", "version", name="uq_plans_student_id"),)
    plan_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    student_id: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(sa.Integer)
    case_id: Mapped[str | None] = mapped_column(sa.String(40))
    school_id: Mapped[str | None] = mapped_column(sa.String(64))
    class_id: Mapped[str | None] = mapped_column(sa.String(64))
    goal: Mapped[str] = mapped_column(sa.Text)
    measures: Mapped[str] = mapped_column(sa.Text)
    owner_staff_id: Mapped[str | None] = mapped_column(sa.String(64))
    review_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    progress: Mapped[str | None] = mapped_column(sa.Text)
    author_staff_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)


class Note(Base):
    """A note a head teacher adds to a child's page (append-only)."""

    __tablename__ = "notes"
    note_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    student_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(sa.String(40))
    school_id: Mapped[str | None] = mapped_column(sa.String(64))
    class_id: Mapped[str | None] = mapped_column(sa.String(64))
    author_staff_id: Mapped[str] = mapped_column(sa.String(64))
    ts: Mapped[dt.datetime] = mapped_column(sa.DateTime)
    text: Mapped[str] = mapped_column(sa.Text)


class LockTimeout(RuntimeError):
    """Another writer (a nightly run) holds the database lock."""


# --- engines and migrations ------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # let SQLAlchemy's "begin" event issue BEGIN (pysqlite would defer it to the first DML)
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("baoxue_immediate") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def connect(url: str, *, lock_timeout_s: float = 30.0) -> Engine:
    """An engine for ``url`` (``sqlite:///file.db`` or ``postgresql+psycopg://…``).

    On SQLite, transactions are real (``BEGIN`` is emitted by SQLAlchemy, not deferred by
    the driver), foreign keys are enforced and a writer waits ``lock_timeout_s`` for
    another writer before failing. The parent folder of a SQLite file is created.
    """
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite":
        memory = not u.database or u.database == ":memory:"
        if not memory and not u.database.startswith(
            "file:"
        ):  # a file: URI (mode=ro) names a file that exists
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": lock_timeout_s, "check_same_thread": False},
            # one shared connection, so that an in-memory database outlives a checkout
            poolclass=sa.pool.StaticPool if memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url)


def _alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` (``baoxue db upgrade``)."""
    from alembic import command

    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)
        return
    # SQLite rebuilds a table to change its constraints (batch mode, migration 0004 on `runs`):
    # foreign keys are off meanwhile (the PRAGMA only acts outside a transaction), checked after
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                command.upgrade(_alembic_config(conn), revision)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke {len(broken)} foreign keys: {broken[:3]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine) -> str | None:
    """The database's migration revision (``None``: never upgraded)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


@contextmanager
def write_transaction(
    engine: Engine, *, job: str = "nightly", timeout_s: float = 30.0
) -> Iterator[Connection]:
    """One transaction that holds the job's lock from its first statement to commit.

    SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock at once (a second writer
    waits up to ``timeout_s``). PostgreSQL: ``SELECT … FOR UPDATE`` on the job's row of
    ``job_lock`` (waiting up to ``timeout_s``). Either way two runs never write together.
    Raises :class:`LockTimeout` when the lock is not granted in time. Commits when the
    block ends normally, rolls back on any exception.
    """
    backend = engine.dialect.name
    conn = engine.connect()
    try:
        if backend == "sqlite":
            # wait for another writer at most timeout_s (before BEGIN: PRAGMA is not transactional)
            conn.connection.dbapi_connection.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            conn = conn.execution_options(baoxue_immediate=True)
            try:
                trans = conn.begin()
            except sa.exc.OperationalError as exc:
                if "locked" in str(exc):
                    raise LockTimeout(
                        f"another run holds the database's write lock (waited {timeout_s:g} s)"
                    ) from None
                raise
        else:
            trans = conn.begin()
            if backend == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(timeout_s * 1000)}ms'")
        lock = sa.select(JobLock.job).where(JobLock.job == job)
        if backend != "sqlite":
            lock = lock.with_for_update()
        try:
            row = conn.execute(lock).first()
        except sa.exc.OperationalError as exc:
            trans.rollback()
            if "lock" in str(exc).lower():
                raise LockTimeout(f"another run holds the {job!r} lock (waited {timeout_s:g} s)") from None
            raise
        if row is None:
            trans.rollback()
            raise RuntimeError(f"job_lock has no row {job!r}: run `baoxue db upgrade` first")
        try:
            yield conn
        except BaseException:
            trans.rollback()
            raise
        trans.commit()
    finally:
        conn.close()


# --- reading -------------------------------------------------------------------------------------


def current_run():
    """The condition on ``runs`` (ORM or Core) of a night's current version: completed
    (``status = 'ok'``; failed and void runs never count) and superseded by no completed run.

    Every read of "the latest run", "the previous run" and "a later run exists" goes through it.
    """
    newer = sa.orm.aliased(Run)
    return sa.and_(
        Run.status == "ok",
        ~sa.exists().where(newer.supersedes_run_id == Run.run_id, newer.status == "ok"),
    )


_CASE_COLUMNS = [c.name for c in spec("cases").columns]  # the data contract's order


def _frame(conn_or_engine: Engine | Connection, stmt, dates: tuple[str, ...] = ()) -> pd.DataFrame:
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            result = conn.execute(stmt)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    else:
        result = conn_or_engine.execute(stmt)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for c in dates:
        if c in frame.columns:
            frame[c] = pd.to_datetime(frame[c]).astype("datetime64[s]")
    return frame


def read_runs(
    engine: Engine | Connection, *, last: int | None = None, every: bool = False, status: str | None = None
) -> pd.DataFrame:
    """Past runs, oldest first: ``run_id, as_of``, counts, timings, versions, status.

    By default the current version of each night only (:func:`current_run`: no failed, void
    or superseded run); ``every=True`` lists every run. ``status`` keeps the runs of that status
    among all versions (``failed``, ``void``, ``ok`` with superseded ones). ``last`` keeps only
    the latest ``last`` runs.
    """
    t = Run.__table__
    stmt = sa.select(t).order_by(t.c.as_of, t.c.started_at, t.c.finished_at)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    elif not every:
        stmt = stmt.where(current_run())
    frame = _frame(engine, stmt, ("as_of", "started_at", "finished_at"))
    return frame.tail(last).reset_index(drop=True) if last else frame


def read_snapshot(
    engine: Engine | Connection, *, run_id: str | None = None, as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """The risk snapshot of one run: ``SNAPSHOT_COLUMNS`` in order, then the diff columns.

    Give ``run_id``, or ``as_of`` (the current version of that night); neither: the latest
    night's current version (failed, void and superseded runs are never chosen: :func:`current_run`).
    Empty when there is no such run. ``tier`` is a category with :data:`risk.snapshot.TIERS`.
    """
    from risk.snapshot import TIERS

    runs = Run.__table__
    if run_id is None:
        stmt = (
            sa.select(runs.c.run_id)
            .where(current_run())
            .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc())
            .limit(1)
        )
        if as_of is not None:
            stmt = stmt.where(runs.c.as_of == pd.Timestamp(as_of).date())
        found = _frame(engine, stmt)
        if found.empty:
            return _empty_snapshot()
        run_id = str(found["run_id"].iloc[0])
    t = RiskSnapshot.__table__
    frame = _frame(engine, sa.select(t).where(t.c.run_id == run_id).order_by(t.c.rank_county), ("as_of",))
    if frame.empty:
        return _empty_snapshot()
    order = list(SNAPSHOT_COLUMNS) + list(DIFF_COLUMNS)
    frame = frame[order]
    frame["tier"] = pd.Categorical(frame["tier"], categories=list(TIERS))
    return frame.reset_index(drop=True)


def _empty_snapshot() -> pd.DataFrame:
    cols = {**SNAPSHOT_COLUMNS, **DIFF_COLUMNS}
    return pd.DataFrame({c: pd.Series(dtype=d) for c, (d, _) in cols.items()})


def read_cases(
    engine: Engine | Connection,
    *,
    school_id: str | None = None,
    class_id: str | None = None,
    status: str | tuple[str, ...] | None = None,
    open_only: bool = False,
) -> pd.DataFrame:
    """The ledger's cases: the contract's ``cases`` columns first, then the bookkeeping columns.

    Filter by ``school_id`` / ``class_id`` (a case's school and class when last seen),
    ``status`` or ``open_only`` (status open or returned).
    """
    t = Case.__table__
    stmt = sa.select(t).order_by(t.c.opened_at, t.c.case_id)
    if school_id is not None:
        stmt = stmt.where(t.c.school_id == school_id)
    if class_id is not None:
        stmt = stmt.where(t.c.class_id == class_id)
    if open_only:
        stmt = stmt.where(t.c.status.in_(OPEN_STATUSES))
    if status is not None:
        stmt = stmt.where(t.c.status.in_((status,) if isinstance(status, str) else status))
    frame = _frame(
        engine,
        stmt,
        ("opened_at", "closed_at", "last_seen", "returned_at", "close_proposed_at", "escalated_at"),
    )
    frame["four_step_stage"] = frame["four_step_stage"].astype("int64")
    rest = [c for c in frame.columns if c not in _CASE_COLUMNS]
    return frame[_CASE_COLUMNS + rest].reset_index(drop=True)


def read_case_events(
    engine: Engine | Connection,
    *,
    case_id: str | None = None,
    school_id: str | None = None,
    class_id: str | None = None,
) -> pd.DataFrame:
    """Case events (``event_id, case_id, ts, event_type, actor_role, outcome, next_due`` + more),
    in order of time; filter by case, or by the case's school / class."""
    e, c = CaseEvent.__table__, Case.__table__
    stmt = sa.select(e).order_by(e.c.ts, e.c.case_id, e.c.event_id)
    if case_id is not None:
        stmt = stmt.where(e.c.case_id == case_id)
    if school_id is not None or class_id is not None:
        stmt = stmt.join(c, c.c.case_id == e.c.case_id)
        if school_id is not None:
            stmt = stmt.where(c.c.school_id == school_id)
        if class_id is not None:
            stmt = stmt.where(c.c.class_id == class_id)
    return _frame(engine, stmt, ("ts", "next_due"))


def read_interventions(engine: Engine | Connection, *, school_id: str | None = None) -> pd.DataFrame:
    """Interventions in the contract's columns (filter by the case's school)."""
    t, c = Intervention.__table__, Case.__table__
    stmt = sa.select(t).order_by(t.c.start_date, t.c.intervention_id)
    if school_id is not None:
        stmt = stmt.join(c, c.c.case_id == t.c.case_id).where(c.c.school_id == school_id)
    return _frame(engine, stmt, ("start_date", "end_date"))


def read_staff(engine: Engine | Connection, *, school_id: str | None = None) -> pd.DataFrame:
    """Staff as last synced, with ``open_cases`` (their current open-case load)."""
    s, c = Staff.__table__, Case.__table__
    load = (
        sa.select(c.c.owner_staff_id, sa.func.count().label("open_cases"))
        .where(c.c.status.in_(OPEN_STATUSES))
        .group_by(c.c.owner_staff_id)
        .subquery()
    )
    stmt = (
        sa.select(s, sa.func.coalesce(load.c.open_cases, 0).label("open_cases"))
        .join(load, load.c.owner_staff_id == s.c.staff_id, isouter=True)
        .order_by(s.c.school_id, s.c.staff_id)
    )
    if school_id is not None:
        stmt = stmt.where(s.c.school_id == school_id)
    return _frame(engine, stmt)


def dump(engine: Engine | Connection) -> dict[str, pd.DataFrame]:
    """Every ledger table, sorted by its key: what the idempotence tests compare."""
    out: dict[str, pd.DataFrame] = {}
    for table in Base.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        out[table.name] = _frame(engine, sa.select(table).order_by(*keys))
    return out
