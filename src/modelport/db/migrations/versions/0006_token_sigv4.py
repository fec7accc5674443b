"""Tokens: the secret sealed with the server key, for AWS Signature V4.

NULL for tokens created before this revision: they keep working as bearer
tokens, and SigV4 requests signed with them are refused with a hint to create
a new token.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("sealed_secret", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("sealed_secret")
