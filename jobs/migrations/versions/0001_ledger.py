"""The ledger: runs, risk snapshots, staff, cases, case events, interventions, the job lock.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('open', 'returned')")
_APPEND_ONLY = ("risk_snapshots", "case_events")


def _n(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "job_lock",
        sa.Column("job", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("job", name="pk_job_lock"),
    )
    op.bulk_insert(sa.table("job_lock", sa.column("job", sa.String)), [{"job": "nightly"}])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("config_hash", sa.String(16), nullable=False),
        sa.Column("previous_run_id", sa.String(40), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("stage_seconds", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("code_version", sa.Text(), nullable=False),
        sa.Column("data_hash", sa.String(16), nullable=False),
        _n("missed_days"),
        _n("n_rejects"),
        _n("n_students"),
        _n("n_red"),
        _n("n_yellow"),
        _n("n_blue"),
        _n("n_listed"),
        _n("n_selected"),
        _n("n_rules"),
        _n("n_new"),
        _n("n_rising"),
        _n("n_falling"),
        _n("n_left"),
        _n("n_rules_new"),
        _n("n_cases_opened"),
        _n("n_cases_updated"),
        _n("n_cases_closed"),
        _n("n_escalations"),
        _n("n_returned"),
        _n("n_events"),
        _n("n_over_capacity"),
        _n("n_unowned"),
        _n("n_waiting"),
        _n("n_open_cases"),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.UniqueConstraint("as_of", "config_hash", name="uq_runs_as_of_config"),
    )
    op.create_index("ix_runs_as_of", "runs", ["as_of"])
    op.create_table(
        "risk_snapshots",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("school_id", sa.Text(), nullable=True),
        sa.Column("class_id", sa.Text(), nullable=True),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("rank_county", sa.Integer(), nullable=True),
        sa.Column("rank_school", sa.Integer(), nullable=True),
        sa.Column("rank_class", sa.Integer(), nullable=True),
        sa.Column("tie_key", sa.Text(), nullable=True),
        sa.Column("tier", sa.String(16), nullable=True),
        sa.Column("tier_condition", sa.Text(), nullable=True),
        sa.Column("tier_reason_zh", sa.Text(), nullable=True),
        sa.Column("tier_reason_en", sa.Text(), nullable=True),
        sa.Column("rules", sa.Text(), nullable=True),
        sa.Column("rule_evidence", sa.Text(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("selected", sa.Boolean(), nullable=True),
        sa.Column("borderline", sa.Boolean(), nullable=True),
        sa.Column("assignment_mechanism", sa.Text(), nullable=True),
        sa.Column("listed", sa.Boolean(), nullable=True),
        sa.Column("explained", sa.Boolean(), nullable=True),
        sa.Column("reason_codes", sa.Text(), nullable=True),
        sa.Column("reason_families", sa.Text(), nullable=True),
        sa.Column("reasons_zh", sa.Text(), nullable=True),
        sa.Column("reasons_en", sa.Text(), nullable=True),
        sa.Column("protective_zh", sa.Text(), nullable=True),
        sa.Column("protective_en", sa.Text(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.Column("measures_zh", sa.Text(), nullable=True),
        sa.Column("measures_en", sa.Text(), nullable=True),
        sa.Column("model_version", sa.Text(), nullable=True),
        sa.Column("prev_probability", sa.Float(), nullable=True),
        sa.Column("prev_tier", sa.Text(), nullable=True),
        sa.Column("change", sa.Text(), nullable=True),
        sa.Column("rules_new", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name="fk_risk_snapshots_run_id_runs",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("run_id", "student_id", name="pk_risk_snapshots"),
    )
    op.create_table(
        "staff",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("class_id", sa.String(64), nullable=True),
        sa.Column("max_open_cases", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_run_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("staff_id", name="pk_staff"),
    )
    op.create_index("ix_staff_school_id", "staff", ["school_id"])
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.Date(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("case_type", sa.String(24), nullable=False),
        sa.Column("reason_primary", sa.String(32), nullable=True),
        sa.Column("reason_secondary", sa.String(32), nullable=True),
        sa.Column("owner_staff_id", sa.String(64), nullable=True),
        sa.Column("four_step_stage", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("placement", sa.String(32), nullable=True),
        sa.Column("closed_at", sa.Date(), nullable=True),
        sa.Column("closure_reason", sa.String(32), nullable=True),
        sa.Column("school_id", sa.String(64), nullable=True),
        sa.Column("class_id", sa.String(64), nullable=True),
        sa.Column("opened_run_id", sa.String(40), nullable=False),
        sa.Column("last_run_id", sa.String(40), nullable=False),
        sa.Column("last_seen", sa.Date(), nullable=False),
        sa.Column("tier_last", sa.String(16), nullable=True),
        sa.Column("probability_last", sa.Float(), nullable=True),
        sa.Column("rules_last", sa.Text(), nullable=True),
        sa.Column("returned_at", sa.Date(), nullable=True),
        sa.Column("close_proposed_at", sa.Date(), nullable=True),
        sa.Column("escalated_at", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
    )
    op.create_index("ix_cases_owner_staff_id", "cases", ["owner_staff_id"])
    op.create_index("ix_cases_class_id", "cases", ["class_id"])
    op.create_index("ix_cases_school_status", "cases", ["school_id", "status"])
    op.create_index(
        "uq_cases_one_open",
        "cases",
        ["student_id", "case_type"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_table(
        "case_events",
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("ts", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(24), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("four_step_stage", sa.Integer(), nullable=True),
        sa.Column("owner_staff_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_case_events_case_id_cases"),
        sa.PrimaryKeyConstraint("event_id", name="pk_case_events"),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "interventions",
        sa.Column("intervention_id", sa.String(48), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("assigned_to_staff_id", sa.String(64), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("sessions", sa.Integer(), nullable=True),
        sa.Column("assignment_mechanism", sa.String(24), nullable=True),
        sa.Column("list_version", sa.String(40), nullable=True),
        sa.Column("score_at_assign", sa.Float(), nullable=True),
        sa.Column("rank_at_assign", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_interventions_case_id_cases"),
        sa.PrimaryKeyConstraint("intervention_id", name="pk_interventions"),
    )
    op.create_index("ix_interventions_student_id", "interventions", ["student_id"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    """UPDATE and DELETE on the append-only tables fail, whoever tries."""
    if op.get_bind().dialect.name == "sqlite":
        for table in _APPEND_ONLY:
            for what in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION baoxue_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION baoxue_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS baoxue_append_only()")
    for table in ("interventions", "case_events", "cases", "staff", "risk_snapshots", "runs", "job_lock"):
        op.drop_table(table)
