"""The second step's budget of wrong tries on each account; room for argon2id hashes of recovery codes.

Recovery codes stored before this revision stay HMACs: the codes themselves are not known, so
they cannot be hashed again. They keep working until the person makes a new set, which is hashed
with argon2id (``portal/services/signing_in/recovery_codes.py``).

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
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("second_step_failures", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("recovery_codes") as batch_op:
        batch_op.alter_column(
            "code_hash", existing_type=sa.String(length=64), type_=sa.String(length=128), existing_nullable=False
        )


def downgrade():
    # An argon2id hash does not fit the old column: those codes go (the person makes a new set).
    op.execute("DELETE FROM recovery_codes WHERE code_hash LIKE '$argon2%'")
    with op.batch_alter_table("recovery_codes") as batch_op:
        batch_op.alter_column(
            "code_hash", existing_type=sa.String(length=128), type_=sa.String(length=64), existing_nullable=False
        )
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("second_step_failures")
