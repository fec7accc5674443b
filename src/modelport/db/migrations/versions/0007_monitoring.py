"""Monitoring: monitors and their runs, dataset baselines, folded capture, feedback, alerts, leases.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("variant", sa.String(63), nullable=True),
        sa.Column("schedule", sa.JSON, nullable=False),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("next_run_at", sa.DateTime, nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitors"),
        sa.UniqueConstraint("name", name="uq_monitors_name"),
    )
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("monitor_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime, nullable=False),
        sa.Column("until", sa.DateTime, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("violations", sa.Integer, nullable=False),
        sa.Column("report_uri", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_runs"),
        sa.ForeignKeyConstraint(
            ["monitor_id"], ["monitors.id"], ondelete="CASCADE", name="fk_monitor_runs_monitor_id_monitors"
        ),
    )
    op.create_index("ix_monitor_runs_monitor_id", "monitor_runs", ["monitor_id"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("monitor_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("first_at", sa.DateTime, nullable=False),
        sa.Column("last_at", sa.DateTime, nullable=False),
        sa.Column("delivered_at", sa.DateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("resolved_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_alerts"),
        sa.ForeignKeyConstraint(
            ["monitor_id"], ["monitors.id"], ondelete="CASCADE", name="fk_monitor_alerts_monitor_id_monitors"
        ),
    )
    op.create_index("ix_monitor_alerts_monitor_id", "monitor_alerts", ["monitor_id"])
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("statistics", sa.JSON, nullable=False),
        sa.Column("constraints", sa.JSON, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_baselines"),
    )
    op.create_index("ix_baselines_model_version", "baselines", ["model", "version"])
    op.create_table(
        "capture_folds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("variant", sa.String(63), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("binning", sa.String(64), nullable=False),
        sa.Column("first_at", sa.DateTime, nullable=False),
        sa.Column("last_at", sa.DateTime, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("profiles", sa.JSON, nullable=False),
        sa.Column("undecodable", sa.JSON, nullable=False),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("predictions", sa.LargeBinary, nullable=True),
        sa.Column("folded_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_capture_folds"),
        sa.UniqueConstraint("path", "binning", name="uq_capture_folds_path_binning"),
    )
    op.create_index("ix_capture_folds_endpoint_variant_first_at", "capture_folds", ["endpoint", "variant", "first_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("inference_id", sa.String(255), nullable=False),
        sa.Column("label", sa.JSON, nullable=False),
        sa.Column("event_time", sa.DateTime, nullable=True),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("endpoint", "inference_id", name="uq_feedback_endpoint_inference_id"),
    )
    op.create_index("ix_feedback_endpoint_received_at", "feedback", ["endpoint", "received_at"])
    op.create_index("ix_feedback_endpoint_event_time", "feedback", ["endpoint", "event_time"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_feedback_endpoint_event_time", table_name="feedback")
    op.drop_index("ix_feedback_endpoint_received_at", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_capture_folds_endpoint_variant_first_at", table_name="capture_folds")
    op.drop_table("capture_folds")
    op.drop_index("ix_baselines_model_version", table_name="baselines")
    op.drop_table("baselines")
    op.drop_index("ix_monitor_alerts_monitor_id", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_index("ix_monitor_runs_monitor_id", table_name="monitor_runs")
    op.drop_table("monitor_runs")
    op.drop_table("monitors")
