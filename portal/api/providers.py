"""Signing in with another provider through the API, for apps that sign the person in with the
provider themselves (a mobile app with Google's SDK) and hand the portal the ID token they got.

``POST /api/token/provider/`` answers exactly as ``POST /api/token/`` does, by the same rules as the
pages (``linked_identities.arrive``). Any ID token that is not accepted — a bad signature, another
issuer or audience, expired — gets one and the same 401, so a caller learns nothing about which
check it failed (the log says). ``/api/users/me/providers/`` lists, connects and disconnects.
"""

from functools import partial

from flask import url_for

from .. import providers, transactions
from ..limits import limited
from ..payload import read_payload
from ..services.errors import ValidationFailed
from ..services.signing_in import linked_identities, reauthentication
from ..services.signing_in.sign_in import UNVERIFIED
from . import bp
from .auth import authenticated, caller_credential, caller_user, current_actor
from .credentials import SIGN_IN_REFUSED
from .documented import documented
from .errors import detail
from .schemas import LinkedIdentityOut, ProviderIdToken
from .two_step import JWT_PAIR, signed_in

ID_TOKEN_REFUSED = "The ID token was not accepted."
UNKNOWN_PROVIDER = "No provider has this key."
LINK_FIRST = (
    "An account with this email address exists. Sign in to it, then connect the provider with "
    "POST /api/users/me/providers/."
)
RECENT_SIGN_IN = "Connecting or removing a provider needs a recent sign-in: sign in again first."
documented_providers = partial(documented, tag="Credentials")
LISTED = LinkedIdentityOut()


def _identity():
    """The identity a request's ``{"provider", "id_token"}`` names, or the refusal to answer."""
    body = ProviderIdToken().to_changes(read_payload())
    provider = providers.find(body["provider"])
    if provider is None:
        raise ValidationFailed.on("provider", UNKNOWN_PROVIDER)
    return providers.identity_from_id_token(provider, body["id_token"])


def _refused(exc: providers.ProviderError):
    if isinstance(exc, providers.ProviderUnreachable | providers.ProviderAnsweredNonsense):
        return detail(exc.status, exc.says())
    return detail(401, ID_TOKEN_REFUSED)


@bp.post("/token/provider/")
@documented_providers(
    body="ProviderIdToken", answer="TokenPair",
    errors={**SIGN_IN_REFUSED, 409: ("Detail", LINK_FIRST), 503: ("Detail", "The provider cannot be reached.")},
)
@limited("RATELIMIT_SIGN_IN")
def token_from_provider():
    """Sign in with another provider's ID token: a JWT pair

    The ID token is checked against the provider's published keys, its issuer, its audience (the
    portal's client id for that provider, or one of its `audiences`) and its expiry. An account
    linked to that identity signs in (a second factor still asked: the two-step answer); a new one
    is made when no account has the address; an account that has the address but is not linked
    answers 409: sign in to it and connect the provider.
    """
    try:
        identity = _identity()
    except providers.ProviderError as exc:
        return _refused(exc)
    arrival = linked_identities.arrive(identity, current_actor())
    if arrival.next == "link":
        return detail(409, LINK_FIRST)
    if arrival.next == "verify":
        transactions.keep_though_refused()  # the new account and its code's mail stand
        return detail(403, str(UNVERIFIED))
    return signed_in(arrival.user, issue=JWT_PAIR, first_step=identity.first_step)


@bp.get("/users/me/providers/")
@documented_providers(answer="LinkedIdentityOutList")
@authenticated
def my_providers():
    """Your connected accounts at other providers"""
    return LISTED.dump(linked_identities.identities_of(caller_user()), many=True)


@bp.post("/users/me/providers/")
@documented_providers(
    body="ProviderIdToken", answer="LinkedIdentityOut", status=201,
    errors={401: ("Detail", ID_TOKEN_REFUSED), 403: ("Detail", RECENT_SIGN_IN)},
)
@authenticated
def connect_provider():
    """Connect an account at another provider

    With an ID token from it. Needs a recent sign-in (`REAUTHENTICATION_AFTER`).
    """
    reauthentication.ensure_recently_proven(caller_credential(), RECENT_SIGN_IN)
    try:
        identity = _identity()
    except providers.ProviderError as exc:
        return _refused(exc)
    linked = linked_identities.connect(caller_user(), identity, current_actor())
    return LISTED.dump(linked), 201, {"Location": url_for("api.my_providers")}


@bp.delete("/users/me/providers/<int:identity_id>/")
@documented_providers(status=204, errors={
    400: ("FieldErrors", "It is the account's last way in: no password, no passkey, no other provider."),
    403: ("Detail", RECENT_SIGN_IN), 404: ("ErrorMessage", "No such connected account of yours."),
})
@authenticated
def remove_provider(identity_id):
    """Disconnect an account at another provider

    Refused (400) when it is the account's last way in: no password, no passkey, no other provider.
    Needs a recent sign-in.
    """
    reauthentication.ensure_recently_proven(caller_credential(), RECENT_SIGN_IN)
    linked_identities.remove(caller_user(), identity_id, current_actor())
    return "", 204
