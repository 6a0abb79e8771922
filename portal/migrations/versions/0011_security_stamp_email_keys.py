"""The account's security stamp, and email keys that tell ``straße`` from ``strasse``.

- ``users.security_stamp``: raised whenever every outstanding proof of the account ends (a reset, a
  password change, "This wasn't me", a deactivation); reset and "This wasn't me" links carry it.
- ``users.email_canonical`` changes meaning: it was the address case-folded (``casefold`` makes
  "ß" and "ss" equal), it is now email-validator's normalised form (NFC, the domain through IDNA)
  lower-cased. Every stored key is computed again. The normalisation is copied here as it is
  today, so that this migration does the same whatever the code does later. Keys become finer, so
  no two accounts can collide going up; going down, two accounts at such twin addresses would, and
  the downgrade stops with the ids to resolve by hand.

Revision ID: 0011
Revises: 0010
"""

import unicodedata

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String),
                 sa.column("email_canonical", sa.String))


def normalised_key(email: str) -> str:
    text = email.strip()
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return unicodedata.normalize("NFC", text).lower()
    return f"{valid.local_part.lower()}@{valid.domain}"


def folded_key(email: str) -> str:
    return email.strip().casefold()


def rekey(key) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email, users.c.email_canonical)).all()
    wanted = {row.id: key(row.email) for row in rows}
    holders = {}
    for user_id, value in wanted.items():
        holders.setdefault(value, []).append(user_id)
    clashes = {value: ids for value, ids in holders.items() if len(ids) > 1}
    if clashes:
        raise RuntimeError(f"Accounts whose addresses would share one key (ids): {sorted(clashes.values())}")
    changed = [(row.id, wanted[row.id]) for row in rows if row.email_canonical != wanted[row.id]]
    # Through a placeholder first: two rows may swap keys, and the unique index checks each UPDATE.
    for user_id, _ in changed:
        connection.execute(users.update().where(users.c.id == user_id).values(email_canonical=f"\x01{user_id}"))
    for user_id, value in changed:
        connection.execute(users.update().where(users.c.id == user_id).values(email_canonical=value))


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("security_stamp", sa.Integer(), server_default="0", nullable=False))
    rekey(normalised_key)


def downgrade():
    rekey(folded_key)
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("security_stamp")
