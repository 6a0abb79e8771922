"""Flask extensions, created unbound here and bound to an app in the factory."""

import ipaddress

from flask import request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so migrations are stable and integrity errors can be traced to a field.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)  # SQLite alters tables by copying them
login_manager = LoginManager()
csrf = CSRFProtect()
jwt = JWTManager()


def client_network() -> str:
    """Who the client is, for per-address limits.

    The remote address as Werkzeug sees it: ProxyFix (installed only for a configured number of
    trusted proxies) has already put the client's address there where that is safe. An IPv6
    client counts by its /64, since one host usually holds the whole block.
    """
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else address


limiter = Limiter(key_func=client_network)
