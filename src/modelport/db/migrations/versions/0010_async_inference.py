"""Asynchronous inference: the durable request queue (P11).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_inferences",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("variant", sa.String(63), nullable=False),
        sa.Column("model", sa.String(140), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input_location", sa.Text, nullable=False),
        sa.Column("output_location", sa.Text, nullable=False),
        sa.Column("failure_location", sa.Text, nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("not_before", sa.DateTime, nullable=False),
        sa.Column("lease_holder", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_async_inferences"),
        sa.UniqueConstraint("id", name="uq_async_inferences_id"),
    )
    op.create_index("ix_async_inferences_status_not_before", "async_inferences", ["status", "not_before"])
    op.create_index("ix_async_inferences_endpoint_status", "async_inferences", ["endpoint", "status"])


def downgrade() -> None:
    op.drop_index("ix_async_inferences_endpoint_status", table_name="async_inferences")
    op.drop_index("ix_async_inferences_status_not_before", table_name="async_inferences")
    op.drop_table("async_inferences")
