"""Probes for load balancers and orchestrators: ``/healthz`` (the process answers) and ``/readyz``
(the database answers and its schema is at the newest migration). Both answer JSON, need no
credentials and touch nothing."""

from functools import cache
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

bp = Blueprint("health", __name__)


@cache
def migrations_head(directory: str) -> str | None:
    config = AlembicConfig()
    config.set_main_option("script_location", directory)
    return ScriptDirectory.from_config(config).get_current_head()


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    head = migrations_head(str(Path(current_app.extensions["migrate"].directory)))
    try:
        current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "unavailable", "database": "unreachable or not migrated", "migration": None}, 503
    if current != head:
        return {"status": "unavailable", "database": "ok", "migration": current, "expected": head}, 503
    return {"status": "ok", "database": "ok", "migration": current}
