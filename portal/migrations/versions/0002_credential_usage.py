"""Browser sessions are credentials too: when and from where each credential was last used.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("user_agent")
        batch_op.drop_column("last_ip")
        batch_op.drop_column("last_used_at")
