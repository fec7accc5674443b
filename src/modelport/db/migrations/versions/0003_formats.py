"""Model formats: baseline statistics and conversion reports on versions.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("baseline", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("conversion", sa.JSON, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("conversion")
        batch.drop_column("baseline")
