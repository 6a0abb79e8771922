"""Abuse limits: per client address, per account named in the body, and per presented credential.

The limit strings live in the config (RATELIMIT_SIGN_IN, …) so operators can tune them. Limits
are shared by every route that uses the same config key: signing in through /api/token/,
/api/auth/token/login/ or a page draws on one allowance per account and one per address. The
client address is Werkzeug's remote address, which ProxyFix rewrites only behind configured
proxies.

A limiter's key is read from the request alone: the address, the submitted email (the only name an
allowance per account is kept by), a hash of the presented credential. What must know the account
itself — the sign-in lockout, whatever names the account (a username, an ``mfa_token``), and
whether a browser's device cookie is the account's — resolves it through the services
(``_named_account``), never as a key.

Nobody can lock an account's owner out. A browser that has signed in to the account before carries
a device cookie (``device_cookies``): it draws on an allowance of its own instead of the account's,
which anyone anywhere can spend. The account's sign-in allowance (RATELIMIT_SIGN_IN) counts only
failed tries of unknown sources, and spending it locks out only them, for a time that doubles
while it goes on, mailing the owner (``sign_in_lockout``).
"""

import hashlib
import math
import time  # Flask-Limiter's clock: its windows and reset times are the system's, not ``portal.clock``
from collections.abc import Callable
from functools import cache, wraps

from flask import after_this_request, current_app, g, request, session
from limits import parse
from werkzeug.exceptions import TooManyRequests

from .extensions import limiter
from .http import PENDING_SIGN_IN, SESSION_CREDENTIAL, trusted_origin
from .models import User, canonical_email, canonical_username
from .payload import read_payload
from .services.people.users import find_user
from .services.signing_in import device_cookies, sign_in_lockout, two_factor

MFA_TOKEN = "mfa_token"  # names the account of a sign-in waiting for its second step


def _configured(key):
    return lambda: current_app.config[key]


def _submitted_account(fields: tuple[str, ...]) -> str:
    """The key of the account the first of ``fields`` in the body names, from the request alone: its
    address case-folded (``email:…``), the only name an allowance outside the lockouts is kept by
    (``limited``), so the key is the same before and after a sign-up creates the account."""
    payload = _payload()
    for field in fields:
        value = payload.get(field)
        if isinstance(value, str) and value.strip():
            return f"email:{canonical_email(value)}"
    return "anonymous"


def _payload() -> dict:
    try:
        return read_payload()
    except Exception:  # the view itself answers a bad body; the limiter only needs a key
        return {}


def _account_key(*fields):
    """A key function: the account named by ``fields`` (``_submitted_account``)."""
    return lambda: _submitted_account(fields)


def _named_account(fields: tuple[str, ...]) -> tuple[str, Callable[[], User | None]]:
    """The account named by the first of ``fields`` in the body (``MFA_TOKEN``: the account of the
    sign-in that token, or the browser's pending sign-in, finishes): its key, and how to find its user.

    Never a limiter's key: read by the sign-in lockout and the check for a known browser, which must
    know the account itself. The key is the account's email, case-folded: a username (or the
    sign-in page's ``login``, an email or a username) is resolved to its account's email, so every
    way of naming one account shares one lockout. Found once per request: several checks ask. An
    email is looked up only when the user is needed (a device cookie to check, an owner to mail).
    """
    found = g.setdefault("named_accounts", {})
    if fields not in found:
        found[fields] = _find_named_account(fields)
    return found[fields]


def _find_named_account(fields: tuple[str, ...]) -> tuple[str, Callable[[], User | None]]:
    payload = _payload()
    for field in fields:
        value = payload.get(field)
        if field == MFA_TOKEN:
            # A second step names its account by the sign-in it finishes: the API's mfa_token,
            # or the browser's pending sign-in.
            user = two_factor.account_of(value if isinstance(value, str) else session.get(PENDING_SIGN_IN))
            if user is not None:
                return f"email:{user.email_canonical}", lambda user=user: user
            continue
        if not isinstance(value, str) or not value.strip():
            continue
        if field == "email":
            return f"email:{canonical_email(value)}", cache(lambda email=value: find_user(email=email))
        user = find_user(**{field: value})
        if user is None:
            return f"{field}:{canonical_username(value)}", lambda: None
        return f"email:{user.email_canonical}", lambda user=user: user
    return "anonymous", lambda: None


def _known_device(fields: tuple[str, ...]) -> str | None:
    """This browser, when its device cookie proves it signed in to the named account before.

    Only pages read device cookies: to the API every client is an unknown source (``device_cookies``).
    """
    if request.blueprint != "web" or not device_cookies.presented():
        return None
    known = g.setdefault("known_devices", {})
    if fields not in known:
        known[fields] = device_cookies.known_device(_named_account(fields)[1]())
    return known[fields]


def _device_key(fields: tuple[str, ...]):
    def key() -> str:
        device = _known_device(fields)
        return f"device:{device}" if device is not None else "device:none"

    return key


def _credential_key() -> str:
    """A key function: the presented credential, from the Authorization header or else the browser
    session (hashed; never stored as such)."""
    presented = request.headers.get("Authorization") or f"session {session.get(SESSION_CREDENTIAL, '')}"
    return "credential:" + hashlib.sha256(presented.encode()).hexdigest()[:32]


def limited(
    config_key: str,
    *,
    per_ip: bool = True,
    per_account: tuple[str, ...] = (),
    per_credential: bool = False,
    methods=None,
):
    """Apply the configured limit per client address, per account named in the body (``per_account``)
    and/or per presented credential.

    ``methods`` restricts the count to those methods (a page's GET should not use up its POSTs).
    """
    if per_account and config_key not in LOCKOUTS and set(per_account) != {"email"}:
        # A limiter's key comes from the request alone: only an address names an account there.
        raise ValueError(f"{config_key}: an allowance per account is kept by its email only, not {per_account}.")

    def decorator(view):
        keys = []
        if per_account and config_key in LOCKOUTS:
            view = _sign_in_lockout(per_account, methods)(view)
            view.rate_limits = {**getattr(view, "rate_limits", {}), f"{config_key}:account": methods}
        elif per_account:
            # A browser known to the account draws on an allowance of its own instead of the
            # account's, which anyone anywhere can spend.
            def known(fields=per_account):
                return _known_device(fields) is not None

            def unknown(fields=per_account):
                return _known_device(fields) is None

            keys.append(("account", _account_key(*per_account), known))
            keys.append(("device", _device_key(per_account), unknown))
        if per_credential:
            keys.append(("credential", _credential_key, None))
        if per_ip:
            keys.append(("ip", None, None))
        for name, key_func, exempt_when in keys:
            scope = f"{config_key}:{name}"
            view = limiter.shared_limit(
                _configured(config_key), scope=scope, key_func=key_func, methods=methods, exempt_when=exempt_when
            )(view)
            # Read when the OpenAPI document is built (its 429); Flask-Limiter's wrapper, like any
            # decorator above that uses functools.wraps, carries the limits wrapped below it.
            view.rate_limits = {**getattr(view, "rate_limits", {}), scope: methods}
        return view

    return decorator


# The allowances whose per-account count is a lockout of unknown sources (``sign_in_lockout``):
# each one's tries are sign-in tries, and only failures count.
LOCKOUTS = {"RATELIMIT_SIGN_IN"}


def _sign_in_lockout(fields: tuple[str, ...], methods):
    """Hold back the tries on the account named by ``fields`` of whoever is locked out, and count
    their failures: a known browser's on its own, everyone else's together (``sign_in_lockout``)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_app.config["RATELIMIT_ENABLED"] or (
                methods is not None and request.method.lower() not in map(str.lower, methods)
            ):
                return view(*args, **kwargs)
            key, named_user = _named_account(fields)
            device = _known_device(fields)
            subject = f"device:{device}" if device is not None else f"unknown:{key}"
            wait = sign_in_lockout.held_back_for(subject)
            attempt = sign_in_lockout.take_a_try(subject) if wait is None else None
            if attempt is not None and not attempt.allowed:
                wait = sign_in_lockout.seconds_left_in_window(attempt)
            elif attempt is not None and (wait := sign_in_lockout.held_back_for(subject)) is not None:
                # A lockout that another try began between the look above and this try's place (it
                # empties the allowance as it starts): it holds this try too, which then counts nothing.
                sign_in_lockout.give_back(attempt)
            if wait is not None:
                g.retry_after = wait
                raise TooManyRequests(retry_after=wait)

            @after_this_request
            def settle_the_try(response):
                # After the error handlers: a refusal the view raised is a response here too.
                if not _failed_try(response):
                    sign_in_lockout.give_back(attempt)
                    return response
                lockout = sign_in_lockout.note_failure(attempt)
                if lockout is not None and device is None:
                    user = named_user()
                    if user is not None and user.is_active:
                        sign_in_lockout.tell_owner(user, lockout, trusted_origin())
                return response

            return view(*args, **kwargs)

        return wrapper

    return decorator


def _failed_try(response) -> bool:
    """Whether a sign-in try failed: any refusal (4xx) but a 429 (not tried) and the API's two-step
    answer (a 401 to a right password or code: the first step succeeded)."""
    if not 400 <= response.status_code < 500 or response.status_code == 429:
        return False
    body = response.get_json(silent=True) if response.is_json else None
    return not (isinstance(body, dict) and body.get("mfa_required") is True)


def rate_limits(view, method: str) -> list[str]:
    """The scopes of the limits ``limited`` wrapped around ``view`` that count a request of ``method``."""
    limits = getattr(view, "rate_limits", {})
    # A limit without methods counts every request; Flask-Limiter compares methods in any case.
    return [scope for scope, methods in limits.items() if methods is None or method.lower() in map(str.lower, methods)]


def spend_a_try(config_key: str) -> None:
    """Count one try against the configured limit per presented credential, from inside a view (a
    proof asked for only sometimes, which a decorator would count every time); 429 once it is spent.

    It draws on the same allowance as ``limited(config_key, per_credential=True)``.
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    item, key, scope = parse(current_app.config[config_key]), _credential_key(), f"{config_key}:credential"
    if not limiter.limiter.hit(item, key, scope):
        reset_at, _ = limiter.limiter.get_window_stats(item, key, scope)
        g.retry_after = max(1, math.ceil(reset_at - time.time()))
        raise TooManyRequests(retry_after=g.retry_after)


def retry_after_seconds() -> int | None:
    """Seconds until the breached limit allows again, for the 429 answer's body.

    Flask-Limiter adds the Retry-After header only after the error handlers have run; its breached
    limit says the same.
    """
    if "retry_after" not in g:  # once: the body and the header name the same wait
        limit = limiter.current_limit
        g.retry_after = max(1, math.ceil(limit.reset_at - time.time())) if limit is not None else None
    return g.retry_after


def agree_on_retry_after(response):
    """A 429's ``Retry-After``: the seconds its body names (``retry_after_seconds``).

    Flask-Limiter writes its own from whichever limit it reports in its headers, rounded down: it
    could say 0, or differ from the body when two limits counted the request.
    """
    if response.status_code == 429 and limiter.current_limit is not None:
        response.headers["Retry-After"] = str(retry_after_seconds())
    return response
