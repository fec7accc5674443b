"""SageMaker control plane: models, endpoint configs and the records the sagemaker API keeps (P11).

One table: each SageMaker resource (model, endpoint config, endpoint, transform
job) by kind and name, the request it was created with, and the modelport
object behind it (a model version, an endpoint, a transform job).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sagemaker_resources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sagemaker_resources"),
        sa.UniqueConstraint("kind", "name", name="uq_sagemaker_resources_kind_name"),
    )


def downgrade() -> None:
    op.drop_table("sagemaker_resources")
