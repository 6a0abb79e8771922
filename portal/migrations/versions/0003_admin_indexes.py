"""Indexes for the admin: user search, sorting and group filter; the audit log by subject, actor, action.

On PostgreSQL the case-insensitive partial search (ILIKE '%text%') is served by GIN trigram
indexes (pg_trgm): a b-tree only helps a prefix, and people search by any part of a name or
address. SQLite has no such index; it scans.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEARCHED_USER_COLUMNS = ("first_name", "last_name", "email_canonical", "username_canonical", "phone_canonical")


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_date_joined", ["date_joined"], unique=False)
        batch_op.create_index("ix_users_last_login", ["last_login"], unique=False)
        batch_op.create_index("ix_users_name", ["last_name", "first_name"], unique=False)
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCHED_USER_COLUMNS:
            op.create_index(
                f"ix_users_{column}_trgm", "users", [column], unique=False,
                postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"},
            )
    with op.batch_alter_table("user_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_groups_group_id"), ["group_id"], unique=False)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_actor_id")
        batch_op.drop_index("ix_audit_events_subject_id")
        batch_op.create_index("ix_audit_events_subject_created", ["subject_id", "created_at"], unique=False)
        batch_op.create_index("ix_audit_events_actor_created", ["actor_id", "created_at"], unique=False)
        batch_op.create_index("ix_audit_events_action_created", ["action", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_action_created")
        batch_op.drop_index("ix_audit_events_actor_created")
        batch_op.drop_index("ix_audit_events_subject_created")
        batch_op.create_index("ix_audit_events_subject_id", ["subject_id"], unique=False)
        batch_op.create_index("ix_audit_events_actor_id", ["actor_id"], unique=False)
    with op.batch_alter_table("user_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_groups_group_id"))
    if op.get_bind().dialect.name == "postgresql":
        for column in SEARCHED_USER_COLUMNS:
            op.drop_index(f"ix_users_{column}_trgm", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_name")
        batch_op.drop_index("ix_users_last_login")
        batch_op.drop_index("ix_users_date_joined")
