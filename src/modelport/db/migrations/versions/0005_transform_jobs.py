"""Batch transform jobs.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transform_jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(140), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("progress", sa.JSON, nullable=False),
        sa.Column("failure_code", sa.String(32), nullable=True),
        sa.Column("failure_reason", sa.Text, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("runner_host", sa.String(255), nullable=True),
        sa.Column("runner_pid", sa.Integer, nullable=True),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_transform_jobs"),
        sa.UniqueConstraint("id", name="uq_transform_jobs_id"),
    )
    op.create_index("ix_transform_jobs_status", "transform_jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_transform_jobs_status", table_name="transform_jobs")
    op.drop_table("transform_jobs")
