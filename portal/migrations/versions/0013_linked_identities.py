"""Accounts at other providers that sign in here; room in a sign-in's method for a provider's name.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

METHOD_COLUMNS = ("credentials", "sign_in_alerts")


def upgrade():
    op.create_table(
        "linked_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_name", sa.String(100), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(200), nullable=True),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("issuer", "subject", name="uq_linked_identities_issuer_subject"),
    )
    op.create_index("ix_linked_identities_user_id", "linked_identities", ["user_id"])
    for table in METHOD_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("method", type_=sa.String(60), existing_type=sa.String(30))


def downgrade():
    for table in METHOD_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("method", type_=sa.String(30), existing_type=sa.String(60))
    op.drop_index("ix_linked_identities_user_id", "linked_identities")
    op.drop_table("linked_identities")
