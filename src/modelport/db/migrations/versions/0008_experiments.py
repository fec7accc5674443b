"""Experiments: experiments and their events; per-minute data-plane counters per variant (arm statistics).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("control", sa.String(63), nullable=False),
        sa.Column("treatment", sa.String(63), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("stop_reason", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("evaluated_at", sa.DateTime, nullable=True),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )
    op.create_index("ix_experiments_endpoint_status", "experiments", ["endpoint", "status"])
    op.create_index(
        "uq_experiments_running_endpoint",
        "experiments",
        ["endpoint"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "experiment_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiment_events"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            ondelete="CASCADE",
            name="fk_experiment_events_experiment_id_experiments",
        ),
    )
    op.create_index("ix_experiment_events_experiment_id", "experiment_events", ["experiment_id"])
    op.create_table(
        "arm_counters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("variant", sa.String(63), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("experiment", sa.String(63), nullable=False),
        sa.Column("minute", sa.DateTime, nullable=False),
        sa.Column("process", sa.String(255), nullable=False),
        sa.Column("counters", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_arm_counters"),
        sa.UniqueConstraint(
            "endpoint", "variant", "minute", "model", "experiment", "process", name="uq_arm_counters_key"
        ),
    )
    op.create_index("ix_arm_counters_minute", "arm_counters", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_arm_counters_minute", table_name="arm_counters")
    op.drop_table("arm_counters")
    op.drop_index("ix_experiment_events_experiment_id", table_name="experiment_events")
    op.drop_table("experiment_events")
    op.drop_index("uq_experiments_running_endpoint", table_name="experiments")
    op.drop_index("ix_experiments_endpoint_status", table_name="experiments")
    op.drop_table("experiments")
