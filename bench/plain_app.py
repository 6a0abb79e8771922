"""A reference point: ``GET /api/users/me/`` as a careful plain Flask app would write it.

Flask-SQLAlchemy models of the same tables, flask-jwt-extended checking the portal's access tokens
(same key, algorithm, issuer and audience), a block-list check of the token's sign-in on every
request, the user and its groups loaded in two queries (``selectinload``) and a marshmallow schema
built once. It reads the load run's seeded database; it is not part of the portal.
"""

import os
from datetime import datetime

from flask import Flask
from flask_jwt_extended import JWTManager, current_user, jwt_required
from flask_sqlalchemy import SQLAlchemy
from marshmallow import Schema, fields
from sqlalchemy import Column, ForeignKey, String, Table, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

app = Flask(__name__)
url = os.environ["DATABASE_URL"]
app.config.update(
    SQLALCHEMY_DATABASE_URI=url.replace("postgresql://", "postgresql+psycopg://", 1),
    SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 16},  # a connection per gunicorn thread, as the portal keeps
    JWT_SECRET_KEY=os.environ["SECRET_KEY"],
    JWT_TOKEN_LOCATION=["headers"],
    JWT_DECODE_ISSUER="account-portal",
    JWT_DECODE_AUDIENCE="account-portal-api",
)
db = SQLAlchemy(app)
jwt = JWTManager(app)

memberships = Table(
    "user_groups", db.metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("group_id", ForeignKey("groups.id"), primary_key=True),
)


class Group(db.Model):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    notes: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    username: Mapped[str | None]
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    phone: Mapped[str | None]
    avatar: Mapped[str | None]
    gender: Mapped[str | None]
    is_active: Mapped[bool]
    last_login: Mapped[datetime | None]
    date_joined: Mapped[datetime]
    groups: Mapped[list[Group]] = relationship(secondary=memberships, order_by=Group.name)


class Credential(db.Model):
    __tablename__ = "credentials"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str]
    revoked_at: Mapped[datetime | None]


class GroupSchema(Schema):
    id = fields.Int()
    name = fields.Str()
    notes = fields.Str()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProfileSchema(Schema):
    id = fields.Int()
    username = fields.Str()
    mobile_number = fields.Str(attribute="phone")
    email = fields.Str()
    avatar = fields.Str()
    first_name = fields.Str()
    last_name = fields.Str()
    full_name = fields.Method("get_full_name")
    gender = fields.Str()
    is_profile_completed = fields.Method("get_completed")
    groups = fields.List(fields.Nested(GroupSchema))
    last_login = fields.DateTime()
    created_at = fields.DateTime(attribute="date_joined")

    def get_full_name(self, user):
        return " ".join(n for n in (user.first_name, user.last_name) if n) or None

    def get_completed(self, user):
        return all((user.first_name, user.last_name, user.phone, user.gender))


profile_schema = ProfileSchema()


@jwt.token_in_blocklist_loader
def revoked(_header, claims) -> bool:
    revoked_at = db.session.scalar(select(Credential.revoked_at).where(Credential.public_id == claims.get("sid")))
    return revoked_at is not None


@jwt.user_lookup_loader
def load_user(_header, claims):
    user = db.session.scalars(
        select(User).options(selectinload(User.groups)).where(User.id == int(claims["sub"]))
    ).first()
    return user if user is not None and user.is_active else None


@app.get("/api/users/me/")
@jwt_required()
def me():
    return profile_schema.dump(current_user)
