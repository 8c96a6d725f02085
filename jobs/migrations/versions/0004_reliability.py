"""Issue 20 (no silent loss): runs record failed and voided nights, which run a night's
redo supersedes, the content key of its inputs, an accepted stale-input override and the
salt's fingerprint; case events keep what staff wrote in a ``note``.

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


def upgrade() -> None:
    # ADD COLUMN keeps each table (and case_events' append-only triggers) on both backends
    for col in _RUN_COLUMNS:
        op.add_column("runs", col)
    op.add_column("case_events", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for col in reversed(_RUN_COLUMNS):
            batch.drop_column(col.name)
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("note")
