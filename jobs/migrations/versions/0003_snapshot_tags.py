"""Risk snapshots gain ``tags``: the watched groups (留守, 随迁, 困难, ...) as a tag, no longer a
colour (issue 15: a tag alone flags no one).

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN keeps the table (and its append-only triggers) on SQLite and PostgreSQL alike
    op.add_column("risk_snapshots", sa.Column("tags", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_snapshots") as batch:
        batch.drop_column("tags")
