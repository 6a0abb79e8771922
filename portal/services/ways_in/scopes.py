"""What a credential may do on the portal's own API: the one rule every authenticated API route is
held to (``check``), whatever the credential is.

A credential's ``scopes`` is None for a full credential — a browser session, a JWT pair from
``/api/token/``, an API key made without scopes — which may do whatever its owner may. Otherwise
it lists what it was given: an app's sign-in the scopes the person allowed the app (its access token
may carry fewer, after a narrowing refresh: the snapshot is narrowed to them), a personal access
token (an API key with scopes) those chosen when it was made.

Each route says what it needs (``api.auth.authenticated(needs=…)``, per method):

- ``READ`` (``api:read``): reading the profile, in every dialect;
- ``WRITE`` (``api:write``): changing the profile, the avatar included, but not the email address;
  ``api:write`` implies ``api:read`` (every write answers the profile it changed);
- ``ANY``: every live credential — only ending the presented credential itself;
- ``FULL``: every other route, and every route that declares nothing: the password, the email
  address, keys, second factors, providers, connected apps, deleting the account, ending other
  sign-ins. No scope grants it: a scoped credential is refused.

A scoped credential also acts on its own account only: staff rights (reading or changing someone
else's profile) need a full credential (``staff_rights``).
"""

from flask_babel import lazy_gettext as _l

from ..errors import InsufficientScope, ValidationFailed

READ, WRITE = "api:read", "api:write"
ANY, FULL = "any", "full"
API_SCOPES = (READ, WRITE)
IMPLIED = {READ: frozenset((READ, WRITE)), WRITE: frozenset((WRITE,))}  # the scopes that grant each

REFUSALS = {
    READ: "This credential may not read the profile: it needs the api:read scope.",
    WRITE: "This credential may not change the profile: it needs the api:write scope.",
    FULL: "Scoped credentials (an app's access token, an API key with scopes) may not use this route: "
          "it needs a full sign-in or a key without scopes.",
}
BAD_SCOPES = _l('Give a list of "api:read" and "api:write", or null for full access.')


def allows(granted, needed: str) -> bool:
    """Whether a credential of ``granted`` scopes (None: full) may do what ``needed`` names."""
    if granted is None or needed == ANY:
        return True
    if needed == FULL:
        return False
    return not IMPLIED[needed].isdisjoint(granted)


def check(credential, needed: str) -> None:
    """InsufficientScope (a 403 naming ``needed``) unless the credential (a model or a snapshot) may."""
    if not allows(credential.scopes, needed):
        raise InsufficientScope(needed, REFUSALS[needed])


def staff_rights(credential) -> bool:
    """Whether the credential may act with its owner's staff rights (on someone else's account)."""
    return credential.scopes is None


def key_scopes_of(value) -> list[str] | None:
    """The scopes asked for a new API key, as stored (sorted, once each), or None for full; else
    ValidationFailed on ``scopes``."""
    if value is None:
        return None
    if (not isinstance(value, list | tuple) or not value
            or not all(isinstance(scope, str) and scope in API_SCOPES for scope in value)):
        raise ValidationFailed.on("scopes", BAD_SCOPES)
    return sorted(set(value))
