"""The staff web app: users (logins), audit (append-only), 一生一案 plan versions, notes, and an
index of the snapshots by student (a child's risk over the term).

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("audit", "plans", "notes")


def upgrade() -> None:
    op.create_index("ix_risk_snapshots_student_id", "risk_snapshots", ["student_id"])
    op.create_table(
        "users",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("staff_id", name="pk_users"),
    )
    op.create_table(
        "audit",
        sa.Column("audit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=True),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("school_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("audit_id", name="pk_audit"),
    )
    op.create_index("ix_audit_ts", "audit", ["ts"])
    op.create_index("ix_audit_student_id", "audit", ["student_id"])
    op.create_index("ix_audit_school_id", "audit", ["school_id"])
    op.create_table(
        "plans",
        sa.Column("plan_id", sa.String(48), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("school_id", sa.String(64), nullable=True),
        sa.Column("class_id", sa.String(64), nullable=True),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("owner_staff_id", sa.String(64), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("author_staff_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name="pk_plans"),
        sa.UniqueConstraint("student_id", "version", name="uq_plans_student_id"),
    )
    op.create_table(
        "notes",
        sa.Column("note_id", sa.String(48), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("school_id", sa.String(64), nullable=True),
        sa.Column("class_id", sa.String(64), nullable=True),
        sa.Column("author_staff_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("note_id", name="pk_notes"),
    )
    op.create_index("ix_notes_student_id", "notes", ["student_id"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    """UPDATE and DELETE on the new append-only tables fail (0001 made the function on PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        for table in _APPEND_ONLY:
            for what in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif op.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION baoxue_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    for table in ("notes", "plans", "audit", "users"):
        op.drop_table(table)
    op.drop_index("ix_risk_snapshots_student_id", table_name="risk_snapshots")
