"""Abuse limits: per client address, per account named in the body, and per presented credential.

The limit strings live in the config (RATELIMIT_SIGN_IN, …) so operators can tune them. Limits
are shared by every route that uses the same config key: signing in through /api/token/,
/api/auth/token/login/ or a page draws on one allowance per account and one per address. The
client address is Werkzeug's remote address, which ProxyFix rewrites only behind configured
proxies.
"""

import hashlib
import math
import time

from flask import current_app, g, request, session
from limits import parse
from werkzeug.exceptions import TooManyRequests

from .extensions import limiter
from .http import PENDING_SIGN_IN, SESSION_CREDENTIAL
from .models import canonical_email, canonical_username
from .payload import read_payload
from .services import two_factor
from .services.users import find_user

MFA_TOKEN = "mfa_token"  # names the account of a sign-in waiting for its second step


def _configured(key):
    return lambda: current_app.config[key]


def _account_key(*fields):
    """A key function: the account named by the first of ``fields`` in the body (``MFA_TOKEN``: the
    account of the sign-in that token, or the browser's pending sign-in, finishes).

    The key is the account's email, case-folded: a username (or the sign-in page's ``login``,
    an email or a username) is resolved to its account's email, so every way of naming one
    account shares one allowance, and the key is the same before and after a sign-up creates it.
    """

    def key() -> str:
        try:
            payload = read_payload()
        except Exception:  # the view itself answers a bad body; the limiter only needs a key
            payload = {}
        for field in fields:
            value = payload.get(field)
            if field == MFA_TOKEN:
                # A second step names its account by the sign-in it finishes: the API's mfa_token,
                # or the browser's pending sign-in.
                user = two_factor.account_of(value if isinstance(value, str) else session.get(PENDING_SIGN_IN))
                if user is not None:
                    return f"email:{user.email_canonical}"
                continue
            if not isinstance(value, str) or not value.strip():
                continue
            if field == "email":
                return f"email:{canonical_email(value)}"
            user = find_user(**{field: value})
            return f"email:{user.email_canonical}" if user is not None else f"{field}:{canonical_username(value)}"
        return "anonymous"

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

    def decorator(view):
        keys = []
        if per_account:
            keys.append(("account", _account_key(*per_account)))
        if per_credential:
            keys.append(("credential", _credential_key))
        if per_ip:
            keys.append(("ip", None))
        for name, key_func in keys:
            scope = f"{config_key}:{name}"
            view = limiter.shared_limit(_configured(config_key), scope=scope, key_func=key_func, methods=methods)(view)
            # Read when the OpenAPI document is built (its 429); Flask-Limiter's wrapper, like any
            # decorator above that uses functools.wraps, carries the limits wrapped below it.
            view.rate_limits = {**getattr(view, "rate_limits", {}), scope: methods}
        return view

    return decorator


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
