"""Sign-in alerts: where each account signs in from, the mails about sign-ins from somewhere new
(whose "This wasn't me" link works once), the person's choice to get them, and the flag that asks
a secured account for a new password.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        # Every account had no alerts before; they are on unless the person turns them off.
        batch_op.add_column(sa.Column("sign_in_alerts", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(
            sa.Column("password_reset_required", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    op.create_table(
        "sign_in_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sign_in_sources_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_sources")),
        sa.UniqueConstraint("user_id", "kind", "value", name="uq_sign_in_sources_user_id_kind_value"),
    )

    op.create_table(
        "sign_in_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("credential_kind", sa.String(length=8), nullable=False),
        sa.Column("browser", sa.String(length=30), nullable=True),
        sa.Column("system", sa.String(length=30), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sign_in_alerts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_alerts")),
    )
    op.create_index("ix_sign_in_alerts_user_id_created_at", "sign_in_alerts", ["user_id", "created_at"])


def downgrade():
    op.drop_index("ix_sign_in_alerts_user_id_created_at", table_name="sign_in_alerts")
    op.drop_table("sign_in_alerts")
    op.drop_table("sign_in_sources")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_reset_required")
        batch_op.drop_column("sign_in_alerts")
