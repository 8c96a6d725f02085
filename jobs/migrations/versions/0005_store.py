"""Issue 21 (the validated store): each run records the generation of the validated store its
night loaded from (``runs.store_generation``; NULL when the store was not used), so the next
night starts from the store state of the last completed run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("store_generation", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("store_generation")
