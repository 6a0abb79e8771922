"""The portal as an OpenID provider, at the edge: discovery, the authorization endpoint and its
consent page, the token, userinfo, introspection and revocation endpoints.

The person signs in through the portal's own pages (``/login``: every factor the account has
applies) and comes back here; the rules are the services' (``services/oidc/authorization`` for the
request and the consent, ``services/oidc/issuance`` for tokens). The app-facing endpoints take no
cookie and no CSRF token: an app proves itself with its secret (``client_secret_basic`` or
``client_secret_post``) or, a public one, with PKCE alone.
"""

import base64
import binascii
import math
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from .. import clock
from ..extensions import csrf
from ..http import acting, relying_party
from ..limits import limited
from ..media import avatar_path
from ..security import let_forms_lead_to
from ..services.oidc import authorization, issuance
from ..services.oidc.apps import SCOPES
from ..sessions import current_credential, sign_out, signed_in_user
from . import bp

GRANT_TYPES = ("authorization_code", "refresh_token")


def issuer() -> str:
    """``PUBLIC_BASE_URL`` when set, else the origin the request came in on (checked by Flask
    against TRUSTED_HOSTS)."""
    return relying_party().origin


@bp.get("/.well-known/openid-configuration")
def discovery():
    base = issuer()
    return jsonify({
        "issuer": base,
        "authorization_endpoint": base + url_for("oidc.authorize"),
        "token_endpoint": base + url_for("oidc.token"),
        "userinfo_endpoint": base + url_for("oidc.userinfo"),
        "jwks_uri": base + url_for("oidc.jwks"),
        "introspection_endpoint": base + url_for("oidc.introspect"),
        "revocation_endpoint": base + url_for("oidc.revoke"),
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": sorted(authorization.PROMPTS),
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "sid", "name", "given_name",
            "family_name", "preferred_username", "picture", "gender", "birthdate", "zoneinfo", "locale",
            "updated_at", "email", "email_verified", "phone_number", "phone_number_verified", "address",
        ],
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    })


# The authorization endpoint ---------------------------------------------------------------------


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@limited("RATELIMIT_SIGN_IN", methods=["POST"])
def authorize():
    """GET: an app's request; POST: the consent page's answer (CSRF-protected, like every form). A
    HEAD (a link checker, a prefetch) issues no code and records no consent."""
    if request.method == "HEAD":
        return "", 200
    args = request.args if request.method == "GET" else request.form
    try:
        asked = authorization.check_request(args)
    except authorization.NotForTheApp as exc:
        return render_template("oidc/error.html", message=exc.message), 400
    except authorization.ForTheApp as exc:
        return _back_to_app(exc)
    user = signed_in_user()
    credential = current_credential()
    try:
        if request.method == "POST" and user is not None:
            if request.form.get("consent") != "allow":
                return _back_to_app(authorization.refuse(asked, user, acting("web", user)))
            return _approved(asked, user, credential)
        decided = authorization.decide(asked, user, credential.proven_at if credential is not None else None)
    except authorization.ForTheApp as exc:
        return _back_to_app(exc)
    if isinstance(decided, authorization.SignInFirst):
        return _sign_in_first(asked, args)
    if isinstance(decided, authorization.AskConsent):
        # Both of its buttons are answered with a redirect to the app, which the browser checks against
        # this page's form-action.
        return let_forms_lead_to(current_app.make_response(render_template(
            "oidc/consent.html", asked=asked, scopes=[(scope, SCOPES[scope]) for scope in asked.scopes],
            new_scopes=decided.new_scopes, fields=_carried(args),
        )), asked.redirect_uri)
    return _approved(asked, user, credential)


def _approved(asked, user, credential):
    code = authorization.approve(
        asked, user, acting("web", user), auth_time=credential.proven_at or credential.created_at,
        method=credential.method, session_id=credential.public_id,
    )
    return _redirect_with(asked.redirect_uri, code=code, state=asked.state, iss=issuer())


def _sign_in_first(asked, args):
    """To /login, and back here once signed in; a prompt=login or a max_age out of date signs the
    browser out first, so the person proves it again."""
    carried = dict(_carried(args))
    if current_user.is_authenticated:
        sign_out()
        carried["fresh_after"] = str(math.floor(clock.timestamp()))
        carried.pop("max_age", None)
    back = url_for("oidc.authorize") + "?" + urlencode(carried)
    return redirect(url_for("web.login", next=back, login_hint=asked.login_hint))


def _carried(args) -> list[tuple[str, str]]:
    return [(key, value) for key, value in args.items(multi=True) if key not in ("csrf_token", "consent")]


def _back_to_app(exc: authorization.ForTheApp):
    return _redirect_with(
        exc.request.redirect_uri, error=exc.error, error_description=exc.description, state=exc.request.state,
        iss=issuer(),
    )


def _redirect_with(uri: str, **params):
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return redirect(urlunsplit(parts._replace(query=urlencode(query))), 302)


# The endpoints apps call ------------------------------------------------------------------------


def _proof() -> issuance.ClientProof:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise issuance.TokenError("invalid_client", "A malformed Authorization header.", 401) from None
        return issuance.ClientProof(unquote_plus(client_id), unquote_plus(secret), "client_secret_basic")
    secret = request.form.get("client_secret")
    return issuance.ClientProof(
        request.form.get("client_id"), secret, "client_secret_post" if secret is not None else "none"
    )


def _oauth_error(exc: issuance.TokenError):
    answer = jsonify({"error": exc.error, "error_description": exc.description})
    answer.status_code = exc.status
    if exc.status == 401:
        answer.headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return answer


def _no_store(answer):
    answer.headers["Cache-Control"] = "no-store"
    answer.headers["Pragma"] = "no-cache"
    return answer


@bp.post("/oauth/token")
@limited("RATELIMIT_REFRESH")
def token():
    try:
        app = issuance.authenticate_app(_proof())
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            answer = issuance.exchange_code(
                app, request.form.get("code"), request.form.get("redirect_uri"), request.form.get("code_verifier"),
                issuer=issuer(), actor=acting("api"),
            )
        elif grant_type == "refresh_token":
            answer = issuance.refresh(app, request.form.get("refresh_token"), request.form.get("scope"),
                                      issuer=issuer())
        else:
            raise issuance.TokenError("unsupported_grant_type", f"Grant types offered: {', '.join(GRANT_TYPES)}.")
    except issuance.TokenError as exc:
        return _no_store(_oauth_error(exc))
    return _no_store(jsonify(answer))


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo():
    header = request.headers.get("Authorization", "")
    found = issuance.live_access(header[7:], issuer=issuer()) if header.startswith("Bearer ") else None
    if found is None or "openid" not in found[0].get("scope", "").split():
        answer = jsonify({"error": "invalid_token", "error_description": "The access token is invalid or expired."})
        answer.status_code = 401
        answer.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return answer
    claims, credential = found
    user = credential.user
    picture = issuer() + avatar_path(user.avatar) if user.avatar else None
    return _no_store(jsonify(issuance.userinfo_claims(user, claims["scope"].split(), picture=picture)))


@bp.post("/oauth/introspect")
def introspect():
    try:
        app = issuance.authenticate_app(_proof())
        if app.public:
            raise issuance.TokenError("invalid_client", "Introspection is for confidential apps.", 401)
    except issuance.TokenError as exc:
        return _no_store(_oauth_error(exc))
    return _no_store(jsonify(issuance.introspect(app, request.form.get("token"), issuer=issuer())))


@bp.post("/oauth/revoke")
def revoke():
    try:
        app = issuance.authenticate_app(_proof())
    except issuance.TokenError as exc:
        return _no_store(_oauth_error(exc))
    issuance.revoke(app, request.form.get("token"), issuer=issuer(), actor=acting("api"))
    return _no_store(current_app.response_class(status=200))


for view in (token, userinfo, introspect, revoke):
    csrf.exempt(view)
