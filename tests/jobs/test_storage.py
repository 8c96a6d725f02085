"""The ledger schema: migrations, append-only tables, one open case per student and kind, the lock."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from jobs.storage import (
    Base,
    Case,
    CaseEvent,
    LockTimeout,
    current_revision,
    head_revision,
    read_cases,
    read_snapshot,
    upgrade,
    write_transaction,
)
from risk.snapshot import SNAPSHOT_COLUMNS


def _case(case_id: str, status: str = "open") -> dict:
    day = dt.date(2025, 3, 10)
    return {"case_id": case_id, "student_id": "s1", "opened_at": day, "trigger": "rule_3day", "case_type": "suspected_dropout",
                "four_step_stage": 0, "status": status, "opened_run_id": "r", "last_run_id": "r", "last_seen": day}  # fmt: skip


def test_migrations_build_exactly_the_models(engine):
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    upgrade(engine)  # at head already: a no-op
    assert current_revision(engine) == head_revision()


def test_snapshot_table_holds_every_snapshot_column_and_no_names(engine):
    cols = set(read_snapshot(engine).columns)
    assert set(SNAPSHOT_COLUMNS) <= cols
    for table in Base.metadata.tables.values():
        assert not {"name", "student_name", "national_id"} & {c.name for c in table.columns}, table.name


def test_case_events_are_append_only(engine):
    with engine.begin() as conn:
        conn.execute(sa.insert(Case.__table__), [_case("c1")])
        conn.execute(
            sa.insert(CaseEvent.__table__),
            [
                {
                    "event_id": "e1",
                    "case_id": "c1",
                    "ts": dt.date(2025, 3, 10),
                    "event_type": "opened",
                    "source": "system",
                }
            ],
        )
    for stmt in (
        sa.update(CaseEvent.__table__).values(event_type="note"),
        sa.delete(CaseEvent.__table__),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(stmt)


def test_one_open_case_per_student_and_kind(engine):
    with engine.begin() as conn:
        conn.execute(sa.insert(Case.__table__), [_case("c1", "closed"), _case("c2", "open")])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(Case.__table__), [_case("c3", "returned")])
    assert list(read_cases(engine, open_only=True)["case_id"]) == ["c2"]


def test_a_second_writer_waits_then_gives_up(engine):
    held, release = threading.Event(), threading.Event()

    def first():
        with write_transaction(engine, timeout_s=5):
            held.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert held.wait(10)
    t0 = time.perf_counter()
    with pytest.raises(LockTimeout, match="another run holds"):
        with write_transaction(engine, timeout_s=0.5):
            pass
    waited = time.perf_counter() - t0
    release.set()
    t.join()
    assert 0.3 < waited < 5
    with write_transaction(engine, timeout_s=1):  # free again
        pass


def test_write_transaction_rolls_back_on_error(engine):
    with pytest.raises(RuntimeError, match="boom"), write_transaction(engine) as conn:
        conn.execute(sa.insert(Case.__table__), [_case("c1")])
        raise RuntimeError("boom")
    assert read_cases(engine).empty
