"""What a night checks before it computes, and what it leaves behind when it fails.

:func:`guarded_night` wraps :func:`jobs.nightly.run_nightly`. Before the first stage it

1. checks that the ledger database takes writes (:func:`check_writable`): a read-only SQLite
   file or a PostgreSQL role without INSERT/UPDATE stops the night at once with
   :class:`~jobs.exits.DatabaseUnavailable` (exit 5), not after all the computing;
2. loads the model (:func:`check_model`): a missing, truncated or foreign file is
   :class:`~jobs.exits.ModelUnreadable` (exit 6) naming the file;
3. compares the id salt with the ledger's (:func:`check_salt_matches`): the fingerprint of
   tonight's salt (:func:`features.identity.salt_fingerprint`) must be the one of the last
   good run that recorded one, else :class:`~jobs.exits.SaltMismatch` (exit 2): a new salt
   makes every child a new student, orphans their open cases and opens duplicates. The one
   supported way to change the salt is ``baoxue db rehash`` (:func:`jobs.rehash.rehash_ledger`).

Every log line of the night carries its run id (:func:`jobs.logs.run_context`) and stage.
When the night fails after the database was reached (a stage raised, the model or the salt
was refused), its transaction has rolled back and :func:`record_failed_night` writes one row
to ``runs`` in a transaction of its own: ``status='failed'``, ``failed_stage``, a one-line
``error``. A failed row holds no snapshot and is never a previous run (readers select
``status='ok'``). Its ``run_id`` is the night's run id + ``-x`` + 6 random hex digits, and its
``config_hash`` the run key's first 10 digits + ``-x`` + 4 hex digits, because ``run_id`` is
the primary key and ``(as_of, config_hash)`` is unique over every row: the good rerun of
the night keeps the night's own run id. A lock held by another run (exit 3) and an
unreachable database (exit 5) leave no row (there is nothing to write it with).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobs.exits import DatabaseUnavailable, ModelUnreadable, SaltMismatch, one_line
from jobs.logs import current_stage, run_context

__all__ = [
    "check_writable",
    "check_model",
    "ledger_salt_fingerprint",
    "check_salt_matches",
    "record_failed_night",
    "guarded_night",
]

log = logging.getLogger(__name__)

#: the tables a night writes (a role must be able to INSERT into each, UPDATE the mutable ones)
_WRITES = {"runs": ("INSERT",), "risk_snapshots": ("INSERT",), "case_events": ("INSERT",),
           "cases": ("INSERT", "UPDATE"), "staff": ("INSERT", "UPDATE")}  # fmt: skip


def check_writable(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` unless the ledger takes writes (no lock is taken
    for long, nothing is written).

    SQLite: the file and its folder must be writable, and an UPDATE of the lock row inside a
    transaction that is rolled back must be allowed (a file opened read-only, ``mode=ro``).
    PostgreSQL: the session must not be read-only (a standby, ``default_transaction_read_only``)
    and the role must hold INSERT (and UPDATE where a night updates) on the ledger's tables.
    """
    import os
    from pathlib import Path

    url = engine.url
    where = url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                db = url.database or ""
                path = Path(db.removeprefix("file:").split("?")[0]) if db and db != ":memory:" else None
                if path is not None and path.exists():
                    for p in (path, path.parent):
                        if not os.access(p, os.W_OK):
                            raise DatabaseUnavailable(
                                f"the database {where} is read-only ({p} is not writable); give the "
                                "nightly job write access or point --db at a writable ledger"
                            )
                raw = conn.connection.dbapi_connection
                wait = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute("PRAGMA busy_timeout = 0")  # a writer holds it: the lock waits later
                try:
                    raw.execute("BEGIN")
                    try:
                        raw.execute("UPDATE job_lock SET job = job WHERE job = 'nightly'")
                    finally:
                        raw.execute("ROLLBACK")
                except Exception as exc:  # sqlite3.OperationalError
                    text = str(exc).lower()
                    if "readonly" in text or "read-only" in text or "read only" in text:
                        raise DatabaseUnavailable(
                            f"the database {where} is read-only ({one_line(exc)}); give the nightly "
                            "job write access or point --db at a writable ledger"
                        ) from None
                    if "locked" not in text and "busy" not in text:
                        raise DatabaseUnavailable(
                            f"the database {where} refuses a write: {one_line(exc)}"
                        ) from None
                finally:
                    raw.execute(f"PRAGMA busy_timeout = {int(wait)}")
            elif engine.dialect.name == "postgresql":
                if conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on":
                    raise DatabaseUnavailable(
                        f"the database {where} is read-only (transaction_read_only is on: a standby "
                        "or default_transaction_read_only); point --db at the primary"
                    )
                missing = [
                    f"{what} on {table}"
                    for table, whats in _WRITES.items()
                    for what in whats
                    if not conn.execute(
                        sa.text("SELECT has_table_privilege(current_user, :t, :w)"), {"t": table, "w": what}
                    ).scalar()
                ]
                if missing:
                    raise DatabaseUnavailable(
                        f"the database role {url.username or '?'} cannot write the ledger (no "
                        f"{', '.join(missing)}); GRANT them or use the job's role"
                    )
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"the database {where} is unreachable: {one_line(exc.orig or exc)}"
        ) from None


def check_model(model, cfg):
    """The night's :class:`~risk.score.ScoringModel` (see :func:`jobs.nightly.scoring_model`),
    or :class:`ModelUnreadable` naming the file or URI and why."""
    from jobs.nightly import scoring_model

    label = model if isinstance(model, str) else cfg.job.model_uri if model is None else None
    try:
        return scoring_model(model, cfg)
    except ModelUnreadable:
        raise
    except FileNotFoundError:
        raise ModelUnreadable(label, "no such file") from None
    except (EOFError, MemoryError) as exc:
        raise ModelUnreadable(label, f"the file is truncated or damaged: {type(exc).__name__}") from None
    except Exception as exc:  # unpickling a damaged or foreign file raises nearly anything
        if label is None:  # an object given in memory: not a file problem
            raise
        raise ModelUnreadable(label, one_line(f"{type(exc).__name__}: {exc}", 200)) from None


def ledger_salt_fingerprint(conn) -> tuple[str, str] | None:
    """``(fingerprint, run_id)`` of the latest good run that recorded a salt fingerprint."""
    from jobs.storage import Run

    runs = Run.__table__
    row = conn.execute(
        sa.select(runs.c.salt_fingerprint, runs.c.run_id)
        .where(runs.c.status == "ok", runs.c.salt_fingerprint.is_not(None))
        .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def check_salt_matches(engine: Engine, cfg) -> str | None:
    """Tonight's salt fingerprint; :class:`SaltMismatch` when the ledger recorded another one."""
    from features.identity import salt_fingerprint, salt_from_config

    salt = salt_from_config(cfg.data)
    mine = salt_fingerprint(salt)
    with engine.connect() as conn:
        theirs = ledger_salt_fingerprint(conn)
    if mine is not None and theirs is not None and theirs[0] != mine:
        env = cfg.data.id_salt_env
        raise SaltMismatch(
            f"the id salt differs from the one this ledger's students were pseudonymised with "
            f"(salt fingerprint {theirs[0]} in run {theirs[1]}, tonight {mine}): every child would be "
            f"a new student and their open cases orphaned. Set the old salt back ([data] id_salt or "
            f"{env}), or move the ledger to the new salt first: put the old salt in one environment "
            f"variable and the new one in another, then `baoxue db rehash --old-salt-env OLD_VAR "
            f"--new-salt-env NEW_VAR` (see the README, 'Salt discipline')"
        )
    return mine


def record_failed_night(
    engine: Engine,
    cfg,
    as_of: dt.date,
    run_id: str,
    *,
    stage: str,
    error: BaseException,
    started: dt.datetime,
    seconds: float,
) -> str | None:
    """Write the failed night's row to ``runs`` in its own transaction; its run id, or None
    when the database would not take it (logged; the night's own error is what matters)."""
    from features.identity import salt_fingerprint, salt_from_config
    from jobs.nightly import run_key
    from jobs.storage import Run

    row_id = f"{run_id}-x{secrets.token_hex(3)}"
    counts = {c.name: 0 for c in Run.__table__.columns if c.name.startswith("n_")}
    record = {
        **counts,
        "run_id": row_id,
        "as_of": as_of,
        "config_hash": f"{run_key(cfg)[:10]}-x{secrets.token_hex(2)}",
        "previous_run_id": None,
        "started_at": started.replace(microsecond=0),
        "finished_at": dt.datetime.now().replace(microsecond=0),
        "seconds": round(seconds, 3),
        "stage_seconds": json.dumps({}),
        "model_version": "",
        "code_version": _code_version(),
        "data_hash": "",
        "missed_days": 0,
        "status": "failed",
        "failed_stage": stage,
        "error": one_line(f"{type(error).__name__}: {error}"),
        "salt_fingerprint": _safe(lambda: salt_fingerprint(salt_from_config(cfg.data))),
    }
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(Run.__table__), [record])
    except Exception as exc:  # the database failed too: say so, keep the night's own error
        log.warning("the failed night could not be recorded in runs: %s", one_line(exc))
        return None
    # INFO: the command's own error line is the one line an operator sees; -v and --log-json add this
    log.info("night failed in stage %s: %s (recorded as run %s)", stage, record["error"], row_id)
    return row_id


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _code_version() -> str:
    try:
        from training.bundle import code_version

        return code_version()
    except Exception:
        return ""


def guarded_night(run: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate :func:`jobs.nightly.run_nightly` with the checks and the failure record above."""

    @functools.wraps(run)
    def night(cfg, as_of: dt.date, *, engine: Engine | None = None, model=None, **kwargs: Any):
        from jobs.nightly import night_run_id, open_database
        from jobs.stages import current_fault
        from jobs.storage import LockTimeout

        current_fault()  # an unknown stage name is an error before anything runs
        engine = engine or open_database(cfg.job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
        run_id = night_run_id(cfg, as_of)
        with run_context(run_id):
            check_writable(engine)
            started, clock = dt.datetime.now(), time.perf_counter()
            stage = "preflight"
            try:
                scoring = check_model(model, cfg)
                check_salt_matches(engine, cfg)
                stage = "-"
                return run(cfg, as_of, engine=engine, model=scoring, **kwargs)
            except (LockTimeout, DatabaseUnavailable):
                raise
            except Exception as exc:
                where = stage if stage != "-" else current_stage()
                if where == "-":
                    where = "lock"  # before the first stage: the lock or reading the ledger
                if isinstance(exc, sa.exc.OperationalError) and where == "lock":
                    raise
                record_failed_night(
                    engine,
                    cfg,
                    as_of,
                    run_id,
                    stage=where,
                    error=exc,
                    started=started,
                    seconds=time.perf_counter() - clock,
                )
                raise

    return night
