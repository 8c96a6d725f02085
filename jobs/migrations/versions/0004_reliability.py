"""Issue 20 (no silent loss): runs record failed and voided nights, which run a night's
redo supersedes, the content key of its inputs, an accepted stale-input override and the
salt's fingerprint; case events keep what staff wrote in a ``note``.

A night may now have several versions (a redo supersedes the one before; a void run no longer
counts), so ``runs (as_of, config_hash)`` is no longer unique. In its place, two partial unique
indexes over completed runs (``status = 'ok'``): one first version per night
(``uq_runs_first_version``) and each run superseded at most once (``uq_runs_supersedes``): the
versions of a night form one line.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_RUN_COLUMNS = (
    # ok (a completed night), failed (the night stopped: stage and error say where and why),
    # void (a mistaken night made harmless by `baoxue runs void`)
    sa.Column("status", sa.String(12), nullable=False, server_default="ok"),
    sa.Column("failed_stage", sa.String(32), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("supersedes_run_id", sa.String(40), nullable=True),  # `nightly --replace`
    sa.Column("void_reason", sa.Text(), nullable=True),
    sa.Column("voided_at", sa.DateTime(), nullable=True),
    sa.Column("stale_override", sa.Text(), nullable=True),  # JSON: what --accept-stale let through
    sa.Column("salt_fingerprint", sa.String(16), nullable=True),
    sa.Column("input_key", sa.String(64), nullable=True),  # hashes of model, data, config, as-of
)


_FIRST = "status = 'ok' AND supersedes_run_id IS NULL"
_LATER = "status = 'ok' AND supersedes_run_id IS NOT NULL"


def upgrade() -> None:
    # ADD COLUMN keeps each table (and case_events' append-only triggers) on both backends
    for col in _RUN_COLUMNS:
        op.add_column("runs", col)
    op.add_column("case_events", sa.Column("note", sa.Text(), nullable=True))
    # SQLite cannot drop a table's constraint in place: batch mode rebuilds `runs` (no triggers)
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("uq_runs_as_of_config", type_="unique")
    for name, cols, where in (
        ("uq_runs_first_version", ["as_of", "config_hash"], _FIRST),
        ("uq_runs_supersedes", ["supersedes_run_id"], _LATER),
    ):
        op.create_index(
            name, "runs", cols, unique=True, sqlite_where=sa.text(where), postgresql_where=sa.text(where)
        )


def downgrade() -> None:
    op.drop_index("uq_runs_supersedes", table_name="runs")
    op.drop_index("uq_runs_first_version", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for col in reversed(_RUN_COLUMNS):
            batch.drop_column(col.name)
        batch.create_unique_constraint("uq_runs_as_of_config", ["as_of", "config_hash"])
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("note")
