"""Operator commands under ``flask --app portal``; each goes through the same services as the pages.

No request's door commits a command's work: each command that writes is one unit of work, committed
when it succeeds and rolled back when it fails (``transactions.unit_of_work``). ``deliver-mail``
commits each delivery step itself (``courier.deliver_due``). ``db upgrade`` comes from Flask-Migrate.
"""

import json
import secrets
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .extensions import db
from .models import User
from .services.audit import SYSTEM
from .services.errors import ServiceError, ValidationFailed
from .services.mail import courier
from .services.oidc import apps, signing_keys
from .services.people import accounts, groups
from .services.people.users import find_user
from .services.ways_in import api_keys
from .transactions import unit_of_work
from .urls import public_url


def _fail(exc: ServiceError):
    if isinstance(exc, ValidationFailed):
        lines = [f"{field}: {' '.join(messages)}" for field, messages in exc.errors.items()]
        raise click.ClickException("\n".join(lines))
    raise click.ClickException(str(exc))


def _user(email) -> User:
    user = find_user(email=email)
    if user is None:
        raise click.ClickException(f"No user with the email {email}.")
    return user


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.password_option("--password", help="Prompted for (twice) when left out.")
@click.option("--username", default=None)
@click.option("--staff", is_flag=True, help="May use the admin page.")
@click.option("--superuser", is_flag=True, help="Staff who may also grant staff rights.")
def create_user(email, password, username, staff, superuser):
    """Create a verified, active user."""
    try:
        with unit_of_work():
            user = accounts.create_user(
                email, password, SYSTEM, profile={"username": username}, email_verified=True,
                is_staff=staff, is_superuser=superuser,
            )
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"Created user {user.id} <{user.email}>.")


@click.command("create-token")
@with_appcontext
@click.argument("email")
def create_token(email):
    """Print a new API key for the user (shown once)."""
    with unit_of_work():
        _, key = api_keys.issue_api_key(_user(email), SYSTEM, name=api_keys.MADE_ON_THE_COMMAND_LINE)
    click.echo(key)


@click.command("create-group")
@with_appcontext
@click.argument("name")
@click.option("--notes", default=None)
def create_group(name, notes):
    try:
        with unit_of_work():
            group = groups.create_group(name, SYSTEM, notes=notes)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"Created group {group.id} {group.name!r}.")


@click.command("add-to-group")
@with_appcontext
@click.argument("email")
@click.argument("name")
def add_to_group(email, name):
    user = _user(email)
    group = groups.find_group(name)
    if group is None:
        raise click.ClickException(f"No group named {name}.")
    with unit_of_work():
        groups.set_membership(user, group, True, SYSTEM)
    click.echo(f"{user.email} is in {group.name}.")


@click.command("deactivate")
@with_appcontext
@click.argument("email")
def deactivate(email):
    """Deactivate the account; its credentials stop working at once. The last active superuser stays."""
    try:
        with unit_of_work():
            user = accounts.update_account_flags(_user(email), {"is_active": False}, SYSTEM)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"Deactivated {user.email}.")


@click.command("ensure-superuser")
@with_appcontext
@click.option("--email", default="admin@example.com", show_default=True)
def ensure_superuser(email):
    """Create a first superuser when there is none, and print how to sign in."""
    if db.session.scalar(select(User.id).where(User.is_superuser).limit(1)) is not None:
        click.echo("A superuser exists already.")
        return
    password = secrets.token_urlsafe(12)
    try:
        with unit_of_work():
            accounts.create_user(email, password, SYSTEM, email_verified=True, is_superuser=True)
    except ServiceError as exc:
        _fail(exc)
    click.echo(
        f"Created the first superuser. Sign in with\n  email:    {email}\n  password: {password}\n"
        f"for example:\n  curl -s -X POST {public_url('/api/token/')} -H 'Content-Type: application/json' "
        f"-d '{{\"email\": \"{email}\", \"password\": \"{password}\"}}'"
    )


@click.command("deliver-mail")
@with_appcontext
@click.option("--watch", is_flag=True, help="Keep running: deliver new mail and retries as they fall due.")
def deliver_mail(watch):
    """Deliver the outbox's due messages (for a separate mail worker: MAIL_DELIVERY=worker)."""
    poll = current_app.config["MAIL_POLL_INTERVAL"].total_seconds()
    while True:
        report = courier.deliver_due()
        if report.sent or report.retrying or report.failed or not watch:
            click.echo(f"sent {report.sent}, to retry {report.retrying}, given up {report.failed}")
        if not watch:
            return
        db.session.remove()
        time.sleep(poll)


@click.command("rotate-signing-key")
@with_appcontext
def rotate_signing_key():
    """Make a new key sign the portal's tokens; the one it replaces stays published for
    SIGNING_KEY_RETIREMENT, so the tokens it signed still verify until they expire."""
    with unit_of_work():
        old = signing_keys.current_key()
        new = signing_keys.rotate(SYSTEM)
    click.echo(f"New signing key: {new.kid}")
    click.echo(
        f"The key it replaced, {old.kid}, stays published until "
        f"{signing_keys.published_until(old):%Y-%m-%d %H:%M:%S} UTC."
    )


@click.command("create-client")
@with_appcontext
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="Exact; give it once per URI.")
@click.option("--public", is_flag=True, help="A mobile or single-page app: no secret, PKCE alone.")
@click.option("--scope", "scopes", multiple=True, help="A scope it may ask for (default: all).")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--trusted", is_flag=True, help="A first-party app: people are not asked to allow it.")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "client_secret": …}.')
def create_client(name, redirect_uris, public, scopes, post_logout_redirect_uris, backchannel_logout_uri, trusted,
                  as_json):
    """Register an app that signs people in with the portal; its secret is shown once."""
    try:
        with unit_of_work():
            app, secret = apps.register_app(
                name, list(redirect_uris), SYSTEM, public=public, scopes=list(scopes) or None,
                post_logout_redirect_uris=list(post_logout_redirect_uris),
                backchannel_logout_uri=backchannel_logout_uri, trusted=trusted,
            )
    except ServiceError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps({"client_id": app.client_id, "client_secret": secret}))
    else:
        click.echo(f"client_id:     {app.client_id}\nclient_secret: {secret or '(none: a public app)'}")


commands = [
    create_user, create_token, create_group, add_to_group, deactivate, ensure_superuser, deliver_mail, create_client,
    rotate_signing_key,
]
