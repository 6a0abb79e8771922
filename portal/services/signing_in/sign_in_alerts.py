"""Telling a person when their account signs in from somewhere new, and the mailed link that
answers "This wasn't me".

Every sign-in remembers where it came from (``SignInSource``): a browser session its browser and
system by name ("Chrome|Linux", never the whole User-Agent) and its address; an API sign-in its
address. A sign-in is *new* when the account has not signed in from its source within
SIGN_IN_ALERT_WINDOW, and the person is then mailed — unless it is the account's very first
sign-in, or the person turned the mails off (sources are still remembered, so turning them on again
brings no flood).

The mail's "This wasn't me" link is signed, valid SIGN_IN_ALERT_LINK_TTL, spent by one conditional
UPDATE, and carries the account's ``security_stamp``, so an old link cannot secure an account its
owner has since recovered. Its page asks for one confirmation (a POST): a mail scanner that follows
links secures nobody's account.
"""

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select

from ...clock import ClockSigner
from ...extensions import db
from ...models import Credential, SignInAlert, SignInSource, User, utcnow
from ...urls import public_url
from ...user_agents import browser_and_system
from .. import audit
from ..audit import Actor
from ..errors import LinkExpired, ValidationFailed
from ..mail import outbox
from ..people.accounts import ensure_may_manage
from ..people.users import mark_changed
from ..plumbing.atomic import update_where
from ..ways_in.credentials import JWT, KEY, SESSION
from . import securing
from .factors import notify_security_change

BROWSER, ADDRESS = "browser", "address"
LINK_SALT = "sign-in-alert"
LINK_INVALID = _l("This link is not valid.")
LINK_GONE = _l("This link was already used or has expired.")


@dataclass(frozen=True)
class Source:
    kind: str  # BROWSER or ADDRESS
    value: str  # "Chrome|Linux", or the IP


def note_sign_in(user: User, actor: Actor, method: str, credential: Credential) -> SignInAlert | None:
    """Remember where a new ``credential`` signed in from, and mail the person when that is new: the alert."""
    if not current_app.config["SIGN_IN_ALERTS"]:
        return None
    watched, remembered = _sources(credential, actor)
    if not remembered:
        return None
    now = utcnow()
    cutoff = now - current_app.config["SIGN_IN_ALERT_WINDOW"]
    known = {
        Source(row.kind, row.value): row
        for row in db.session.scalars(select(SignInSource).where(SignInSource.user_id == user.id))
    }
    is_new = watched is not None and (watched not in known or known[watched].last_seen_at < cutoff)
    # Sources unseen for the window are as good as unknown: forget them (the ones seen now are
    # written afresh below), so an account keeps only what it used lately.
    stale = [row for row in known.values() if row.last_seen_at < cutoff]
    for row in stale:
        db.session.delete(row)
    db.session.flush()
    for source in remembered:
        row = known.get(source)
        if row is None or row in stale:
            db.session.add(
                SignInSource(user_id=user.id, kind=source.kind, value=source.value, first_seen_at=now, last_seen_at=now)
            )
        else:
            row.last_seen_at = now
    if not is_new or not known or not user.sign_in_alerts:
        return None
    return _alert(user, actor, method, credential, watched, now)


def _sources(credential: Credential, actor: Actor) -> tuple[Source | None, list[Source]]:
    """What a sign-in is judged new by (or None), and every source it remembers. A browser's address
    is remembered too, so an API sign-in from the address of a browser in use is not new; a key made
    on the keys page or the command line is no sign-in from anywhere new."""
    address = Source(ADDRESS, actor.ip) if actor.ip else None
    if credential.kind == SESSION:
        browser, system = browser_and_system(credential.user_agent)
        watched = Source(BROWSER, f"{browser or ''}|{system or ''}")
        return watched, [watched] + ([address] if address else [])
    if credential.kind in (JWT, KEY) and actor.via == "api" and address is not None:
        return address, [address]
    return None, []


def _alert(
    user: User, actor: Actor, method: str, credential: Credential, watched: Source, now: datetime
) -> SignInAlert:
    """The alert row and its mail (the sign-in's audit event names it)."""
    ttl = current_app.config["SIGN_IN_ALERT_LINK_TTL"]
    # Alerts whose links have expired are of no more use (the audit log keeps that they were sent).
    db.session.execute(delete(SignInAlert).where(SignInAlert.user_id == user.id, SignInAlert.created_at < now - ttl))
    browser, system = browser_and_system(credential.user_agent) if credential.kind == SESSION else (None, None)
    alert = SignInAlert(
        user_id=user.id, kind=watched.kind, credential_kind=credential.kind, browser=browser, system=system,
        ip=actor.ip, method=method, created_at=now,
    )
    db.session.add(alert)
    db.session.flush()  # its id goes into the link
    outbox.queue_mail(
        user, "new_sign_in",
        name=user.full_name, alert=alert.told(), not_me_url=not_me_link(alert, actor.origin),
        link_ttl_seconds=ttl.total_seconds(),
        window_seconds=current_app.config["SIGN_IN_ALERT_WINDOW"].total_seconds(),
        sessions_url=public_url("/profile/sessions", actor.origin),
    )
    return alert


def describe(alert: SignInAlert) -> str:
    """One line for the pages and the mails, in their language: "Chrome on Linux from 203.0.113.7"."""
    if alert.credential_kind == SESSION:
        browser = alert.browser or _("Unknown browser")
        if alert.system and alert.ip:
            return _("%(browser)s on %(system)s from %(ip)s", browser=browser, system=alert.system, ip=alert.ip)
        if alert.system:
            return _("%(browser)s on %(system)s", browser=browser, system=alert.system)
        if alert.ip:
            return _("%(browser)s from %(ip)s", browser=browser, ip=alert.ip)
        return browser
    if alert.credential_kind == KEY:
        return _("An API key from %(ip)s", ip=alert.ip) if alert.ip else _("An API key")
    return _("An API sign-in from %(ip)s", ip=alert.ip) if alert.ip else _("An API sign-in")


# The "This wasn't me" link ---------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT, signer=ClockSigner)


def not_me_link(alert: SignInAlert, origin: str | None = None) -> str:
    # "s": the account's security stamp when the alert was made; a recovery (reset link, securing,
    # deactivation) moves it on, and the link is spent with every other proof. Not a change of
    # password from a session: an intruder could make one to disarm this very link.
    user = db.session.get(User, alert.user_id)
    token = _serializer().dumps({"a": alert.id, "u": alert.user_id, "s": user.security_stamp})
    return public_url(f"/not-me/{token}/", origin)


def alert_for_link(token) -> SignInAlert:
    """The alert a "This wasn't me" link names while it may be used: ValidationFailed for a link that
    was never good, LinkExpired for one used, too old, or older than the account's security stamp."""
    ttl = current_app.config["SIGN_IN_ALERT_LINK_TTL"]
    try:
        readable = isinstance(token, str) and len(token) < 300
        data = _serializer().loads(token, max_age=ttl.total_seconds()) if readable else None
    except SignatureExpired:
        raise LinkExpired(LINK_GONE) from None
    except BadSignature:
        data = None
    if isinstance(data, dict):
        data.setdefault("s", 0)  # a link mailed before links carried the stamp: the stamp's first value
    if not isinstance(data, dict) or not all(isinstance(data.get(key), int) for key in ("a", "u", "s")):
        raise ValidationFailed.on("token", LINK_INVALID)
    alert = db.session.get(SignInAlert, data["a"])
    if alert is None or alert.user_id != data["u"] or alert.used_at is not None or alert.created_at < utcnow() - ttl:
        raise LinkExpired(LINK_GONE)
    if db.session.get(User, alert.user_id).security_stamp != data["s"]:
        raise LinkExpired(LINK_GONE)
    return alert


def secure_with_link(token, actor: Actor) -> User:
    """"This wasn't me", confirmed: spend the link (once, whoever races for it) and secure the account."""
    alert = alert_for_link(token)
    user = db.session.get(User, alert.user_id)
    now = utcnow()
    # The stamp the link was signed with (as read above) is checked in the same UPDATE: a reset that
    # commits between the reading and this spends the link as surely as one that came before.
    unchanged = select(User.id).where(User.id == user.id, User.security_stamp == user.security_stamp)
    spent = update_where(
        SignInAlert,
        SignInAlert.id == alert.id,
        SignInAlert.used_at.is_(None),
        SignInAlert.created_at >= now - current_app.config["SIGN_IN_ALERT_LINK_TTL"],
        SignInAlert.user_id.in_(unchanged),
        used_at=now,
    )
    if not spent:
        raise LinkExpired(LINK_GONE)
    securing.secure_account(user, actor, how=securing.FROM_ALERT, not_recognised=alert)
    return user


# The person's choice ---------------------------------------------------------------------------


def needs_recent_proof(on) -> bool:
    """Whether setting the mails to ``on`` needs a recent proof: turning them off (an intruder would)."""
    return not on


def set_sign_in_alerts(user: User, on: bool, actor: Actor) -> None:
    """Turn the person's sign-in alerts on or off. Turning them off is mailed (an intruder might)."""
    ensure_may_manage(actor, user)
    on = bool(on)
    if user.sign_in_alerts == on:
        return
    user.sign_in_alerts = on
    mark_changed(user)
    action = "sign_in_alerts_turned_on" if on else "sign_in_alerts_turned_off"
    audit.record(actor, action, user, {"sign_in_alerts": [not on, on]})
    if not on:
        notify_security_change(user, action, actor)
