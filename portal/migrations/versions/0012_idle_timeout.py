"""An API key's own inactivity timeout, chosen when it is made.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("idle_timeout", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("idle_timeout")
