"""An API key's own inactivity timeout, chosen when it is made.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("idle_timeout", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("idle_timeout")
