"""Abuse limits (SPEC §7): per client address, and per account or address named in the body.

The limit strings live in the config (RATELIMIT_SIGN_IN, …) so operators can tune them; the client
address is Werkzeug's remote address, which ProxyFix rewrites only behind configured proxies.
"""

from flask import current_app

from ..extensions import limiter
from ..models import canonical_email
from .payload import read_payload


def _configured(key):
    return lambda: current_app.config[key]


def _field_key(*fields):
    """A key function: the first of ``fields`` present in the body, case-folded."""

    def key() -> str:
        try:
            payload = read_payload()
        except Exception:  # the view itself answers a bad body; the limiter only needs a key
            payload = {}
        value = next((payload[f] for f in fields if isinstance(payload.get(f), str) and payload[f]), "")
        return "|".join(fields) + ":" + canonical_email(value)

    return key


def limited(config_key: str, *, per_ip: bool = True, per_field: tuple[str, ...] = (), methods=None):
    """Apply the configured limit per client address and/or per the account named by ``per_field``.

    ``methods`` restricts the count to those methods (a page's GET should not use up its POSTs).
    """

    def decorator(view):
        if per_field:
            view = limiter.limit(
                _configured(config_key), key_func=_field_key(*per_field), scope=f"{config_key}:account",
                methods=methods,
            )(view)
        if per_ip:
            view = limiter.limit(_configured(config_key), scope=f"{config_key}:ip", methods=methods)(view)
        return view

    return decorator
