"""The account portal: a Flask application factory."""

import hashlib
import sqlite3
from functools import wraps
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, redirect, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from . import config as portal_config
from . import transactions
from .extensions import csrf, db, jwt, limiter, login_manager, migrate


def create_app(config=None, overrides: dict | None = None) -> Flask:
    """Build an app. ``config``: a name (development, testing, production), a class, or None for $PORTAL_ENV."""
    app = Flask(
        __name__,
        template_folder="templates",
        static_folder="static",
    )
    portal_config.load(app, config, overrides)
    app.json.sort_keys = False  # responses keep the documents' field order
    app.json.ensure_ascii = False  # names such as "بهروز" go out as UTF-8 text, as the documents show them
    register_transactions(app)
    register_proxy(app)
    register_observability(app)
    register_providers(app)
    register_security_headers(app)
    register_slash_redirects(app)
    register_body_limits(app)
    register_static_versions(app)
    register_mail_delivery(app)
    register_extensions(app)
    register_blueprints(app)
    register_i18n(app)
    register_templating(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_transactions(app):
    """One commit per request, after the view (``transactions``)."""
    transactions.register(app)


def register_providers(app):
    """Other providers people sign in with: checked now, asked when first needed. Before the
    security headers, whose form-action names where their buttons lead."""
    from . import providers

    providers.init_app(app)


def register_proxy(app):
    """Believe X-Forwarded-* only from the configured number of proxies in front of the app."""
    hops = int(app.config["TRUSTED_PROXY_COUNT"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


def register_observability(app):
    from . import observability

    observability.register(app)


def register_security_headers(app):
    from . import security

    security.register(app)


def register_slash_redirects(app):
    """A URL missing its trailing slash: 301 for GET/HEAD, 308 otherwise so the body survives.

    Registered before the extensions so it answers ahead of CSRF and rate-limit checks, and
    instead of Werkzeug's blanket 308 (and Flask's debug-mode error for form posts).
    """

    @app.before_request
    def redirect_to_slash():
        exc = request.routing_exception
        if isinstance(exc, RequestRedirect):
            # A relative Location: Werkzeug's absolute one repeats whatever Host header was sent.
            location = urlsplit(exc.new_url)._replace(scheme="", netloc="").geturl()
            return redirect(location, 301 if request.method in ("GET", "HEAD") else 308)
        return None


def register_body_limits(app):
    from .payload import refuse_unbounded_bodies

    app.before_request(refuse_unbounded_bodies)


def register_static_versions(app):
    """Static URLs carry a hash of the file's content (``?v=…``), so browsers may keep them for a year:
    a changed file gets a new URL. In debug mode the hash is taken afresh on every page."""
    versions: dict[str, str | None] = {}
    immutable = "public, max-age=31536000, immutable"

    @app.url_defaults
    def add_static_version(endpoint, values):
        filename = values.get("filename")
        if endpoint != "static" or not filename or "v" in values:
            return
        if filename not in versions or app.debug:
            path = Path(app.static_folder) / filename
            versions[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else None
        if versions[filename]:
            values["v"] = versions[filename]

    serve_static = app.view_functions["static"]

    @wraps(serve_static)
    def serve_versioned_static(**kwargs):
        # Wrapping the static view (not an after_request hook) leaves every other request alone.
        response = serve_static(**kwargs)
        if request.args.get("v") and response.status_code == 200:
            response.headers["Cache-Control"] = immutable
        return response

    app.view_functions["static"] = serve_versioned_static


def register_mail_delivery(app):
    """The app composes the mails the services queue, and delivers its own outbox after each commit
    that queued mail (unless a worker does). Before the extensions: its end-of-context step must run
    after the database session's."""
    from . import mails

    mails.register(app)


def register_extensions(app):
    db.init_app(app)
    if "pool_pre_ping" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]:  # an operator's own choice stands
        from .services.plumbing import driver

        with app.app_context():
            for engine in db.engines.values():
                if engine.dialect.name != "sqlite":
                    driver.test_when_idle(engine)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    # Sign-ins never use Flask-Login's remember cookie (a remembered sign-in is a longer session,
    # whose row the database can end), so the hook that tends that cookie after every request goes.
    # A private name of Flask-Login, kept because it pays: the hook looks into every request's session,
    # which made every API answer vary on a cookie it never reads (``Vary: Cookie`` defeats caches
    # keyed on it), and it costs about 3 µs of a ~200 µs authenticated read (python -m bench.request_cpu).
    app.after_request_funcs[None].remove(login_manager._update_remember_cookie)
    jwt.init_app(app)
    # Registered before the limiter: after_request hooks run last-registered first, so this one
    # has the final word on Retry-After.
    from . import limits

    app.after_request(limits.agree_on_retry_after)
    limiter.init_app(app)
    from .services.signing_in import device_cookies

    device_cookies.init_app(app)  # every browser sign-in leaves a device cookie
    from .api.errors import register_jwt_loaders

    register_jwt_loaders(jwt)


def register_blueprints(app):
    from . import sessions  # (also the browser-session loader of Flask-Login)

    app.session_interface = sessions.CookieSessionInterface()
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .health import bp as health_bp
    from .media import bp as media_bp
    from .oidc import bp as oidc_bp
    from .web import bp as web_bp

    csrf.exempt(api_bp)  # API credentials travel in a header, never in a cookie
    app.register_blueprint(api_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(oidc_bp)


def register_i18n(app):
    from . import i18n

    i18n.register(app)


def register_templating(app):
    from . import templating

    templating.register(app)


def register_errorhandlers(app):
    from .errors import register

    register(app)


def register_commands(app):
    from .cli import commands

    for command in commands:
        app.cli.add_command(command)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """Per-connection SQLite settings.

    Foreign keys (ON DELETE CASCADE / SET NULL) are enforced only when asked. WAL lets readers go
    on while one request writes, and with synchronous=NORMAL a commit needs no fsync of its own
    (a power cut may lose the last commits, never corrupt the file).
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's LIKE and lower() know ASCII letters only; the admin's search folds names with Python.
        dbapi_connection.create_function("portal_casefold", 1, _casefold, deterministic=True)


def _casefold(value):
    return value.casefold() if isinstance(value, str) else value
