"""Other providers people sign in with (``SOCIAL_PROVIDERS``): their configuration, and the talk
with them through Authlib's Flask client — the redirect out, the callback back, an ID token a
mobile app hands to the API.

What comes back is an ``Identity``: who the provider says this is. What that identity may do here
(sign in, make an account, be linked to one) is the service's rule
(``services/signing_in/linked_identities``); this module only makes sure the provider said it —
``state`` bound to this browser, PKCE ``S256`` on every provider, ``nonce`` and the ID token's
signature, issuer, audience and expiry checked for OpenID ones.

Discovery and keys are fetched when first needed and kept for the process; a provider that cannot be
reached stops nothing but its own button.
"""

import json
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import current_app, redirect, session
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from . import clock
from .services.signing_in.linked_identities import Identity

log = logging.getLogger(__name__)

KINDS = ("oidc", "google", "github")
GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_URLS = {
    "authorize_url": "https://github.com/login/oauth/authorize",
    "token_url": "https://github.com/login/oauth/access_token",
    "api_url": "https://api.github.com/",
}
DEFAULT_SCOPES = {"oidc": "openid email profile", "google": "openid email profile", "github": "read:user user:email"}
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# Clocks differ: an ID token a minute from its expiry or issue time is still taken.
LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class Provider:
    """One entry of SOCIAL_PROVIDERS, checked at start-up."""

    slug: str
    kind: str
    name: str
    client_id: str
    client_secret: str | None
    issuer: str | None  # OpenID providers
    scopes: str
    audiences: tuple[str, ...]  # client ids besides ours whose ID tokens the API takes (mobile apps)
    authorize_url: str | None = None  # GitHub (Enterprise)
    token_url: str | None = None
    api_url: str | None = None

    @property
    def is_openid(self) -> bool:
        return self.kind != "github"

    @property
    def identity_issuer(self) -> str:
        """What an identity's subject is unique within: the OpenID issuer, or GitHub's API."""
        return self.issuer if self.is_openid else self.api_url


class ProviderError(Exception, ABC):
    """The talk with a provider went wrong: ``status`` for the page, ``says()`` what it tells the
    person; ``logged`` (never a secret) goes to the log."""

    status = 400

    def __init__(self, provider: Provider, *, logged: str | None = None):
        super().__init__(logged or type(self).__name__)
        self.provider = provider
        if logged:
            log.warning("Sign-in with %s refused: %s", provider.slug, logged)

    @abstractmethod
    def says(self) -> str:
        """What the person is told, in their language."""


class ProviderCancelled(ProviderError):
    """The person said no at the provider (``error=access_denied``)."""

    def says(self):
        return _("You cancelled signing in with %(provider)s.", provider=self.provider.name)


class ProviderRefused(ProviderError):
    """What came back cannot be trusted: a missing or wrong ``state``, a spent code, a bad ID token."""

    def says(self):
        return _(
            "The answer from %(provider)s could not be trusted, so nobody was signed in. Start again.",
            provider=self.provider.name,
        )


class ProviderUnreachable(ProviderError):
    status = 503

    def says(self):
        return _(
            "%(provider)s cannot be reached just now. Try again in a few minutes, or sign in another way.",
            provider=self.provider.name,
        )


class ProviderAnsweredNonsense(ProviderError):
    status = 502

    def says(self):
        return _(
            "%(provider)s gave an answer we could not read. Try again later, or sign in another way.",
            provider=self.provider.name,
        )


def init_app(app) -> None:
    """Check SOCIAL_PROVIDERS and register each with Authlib (nothing is fetched yet)."""
    providers = {slug: _provider(slug, entry) for slug, entry in _entries(app.config.get("SOCIAL_PROVIDERS"))}
    oauth = OAuth(app)
    timeout = app.config["PROVIDER_TIMEOUT"]
    for provider in providers.values():
        client_kwargs = {"scope": provider.scopes, "code_challenge_method": "S256", "default_timeout": timeout}
        if provider.is_openid:
            oauth.register(
                provider.slug, client_id=provider.client_id, client_secret=provider.client_secret,
                server_metadata_url=provider.issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_kwargs=client_kwargs,
            )
        else:
            client_kwargs["token_endpoint_auth_method"] = "client_secret_post"  # as GitHub documents it
            oauth.register(
                provider.slug, client_id=provider.client_id, client_secret=provider.client_secret,
                authorize_url=provider.authorize_url, access_token_url=provider.token_url,
                api_base_url=provider.api_url, client_kwargs=client_kwargs,
            )
    app.extensions["providers"] = providers
    app.extensions["provider_clients"] = oauth


def authorization_origins(app) -> list[str]:
    """Where the providers' buttons send a browser: the origin of GitHub's authorization URL, and an
    OpenID provider's issuer (whose authorization endpoint is on it, as at Google, Microsoft, GitLab,
    Keycloak, Okta and Auth0)."""
    return [_origin(p.authorize_url or p.issuer) for p in app.extensions["providers"].values()]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def configured() -> list[Provider]:
    return list(current_app.extensions["providers"].values())


def find(slug) -> Provider | None:
    return current_app.extensions["providers"].get(slug) if isinstance(slug, str) else None


def name_of(slug: str) -> str:
    """The provider's name as its buttons say it, or the key of one no longer configured."""
    provider = find(slug)
    return provider.name if provider is not None else slug


def redirect_to(provider: Provider, redirect_uri: str, *, purpose: dict, fresh: bool = False):
    """The redirect that sends the browser to the provider; ``purpose`` (JSON values: what to do with
    the identity, where to go after) is kept with the ``state`` in this browser's session. ``fresh``:
    the provider must ask the person again, not answer from its own session."""
    extra = {"prompt": "login"} if fresh and provider.is_openid else {}
    with _talking_to(provider):
        client = _client(provider)
        started = client.create_authorization_url(redirect_uri, **extra)
        client.save_authorize_data(redirect_uri=redirect_uri, purpose=purpose, **started)
    return redirect(started["url"])


def come_back(provider: Provider, args) -> tuple[Identity, dict]:
    """At the callback: the identity the provider vouches for, and the ``purpose`` kept at the start.
    Raises a ProviderError for anything short of that; the state is spent either way."""
    if args.get("error") == "access_denied":
        raise ProviderCancelled(provider)
    client = _client(provider)
    state_data = client.framework.get_state_data(session, args.get("state")) or {}
    with _talking_to(provider):
        if provider.is_openid:
            _check_issuer(provider, client.load_server_metadata(), args.get("iss"))
        token = client.authorize_access_token(leeway=LEEWAY_SECONDS)
        identity = _from_id_token(provider, token) if provider.is_openid else _from_github(provider, client, token)
    return identity, dict(state_data.get("purpose") or {})


def _check_issuer(provider: Provider, metadata: dict, iss) -> None:
    """RFC 9207: an answer that names its issuer must name this provider's (a mix-up attack sends
    another provider's code here); a provider that says it always names it must have."""
    if iss is None and not metadata.get("authorization_response_iss_parameter_supported"):
        return
    if iss != metadata.get("issuer"):
        raise ProviderRefused(provider, logged=f"the answer names the issuer {iss!r}")


def identity_from_id_token(provider: Provider, id_token) -> Identity:
    """An ID token a client (a mobile app) got from the provider itself: its signature by the
    provider's keys, ``iss``, ``aud`` (our client id or one of ``audiences``) and ``exp`` checked."""
    if not provider.is_openid or not isinstance(id_token, str) or len(id_token) > 16_384:
        raise ProviderRefused(provider, logged="no ID token")
    with _talking_to(provider):
        client = _client(provider)
        metadata = client.load_server_metadata()
        keys = KeySet.import_key_set(client.fetch_jwk_set())
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        token = jwt.decode(id_token, keys, algorithms=[a for a in algorithms if a != "none"])
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(clock.timestamp()), leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": metadata.get("issuer", provider.issuer)},
            sub={"essential": True}, exp={"essential": True},
        )
        registry.validate(token.claims)
        audiences = token.claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if not set(audiences) & {provider.client_id, *provider.audiences}:
            raise ProviderRefused(provider, logged=f"an ID token for another audience {audiences!r}")
        return _identity(provider, token.claims)


class _talking_to:
    """Turns what can go wrong talking to a provider into the ProviderError a person can be told."""

    def __init__(self, provider: Provider):
        self.provider = provider

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, ProviderError):
            return False
        provider, what = self.provider, f"{type(error).__name__}: {error}"
        if isinstance(error, requests.ConnectionError | requests.Timeout):
            raise ProviderUnreachable(provider, logged=what) from error
        if isinstance(error, MismatchingStateError):
            raise ProviderRefused(provider, logged="missing or wrong state") from error
        if isinstance(error, OAuthError) and error.error == "access_denied":
            raise ProviderCancelled(provider) from error
        if isinstance(error, OAuthError | JoseError | AuthlibBaseError):
            raise ProviderRefused(provider, logged=what) from error
        if isinstance(error, requests.RequestException | ValueError | KeyError | TypeError | RuntimeError):
            raise ProviderAnsweredNonsense(provider, logged=what) from error
        return False


def _client(provider: Provider):
    return current_app.extensions["provider_clients"].create_client(provider.slug)


def _from_id_token(provider: Provider, token: dict) -> Identity:
    claims = token.get("userinfo")
    if not claims:  # an OpenID provider that sent no ID token
        raise ValueError("no ID token in the token response")
    return _identity(provider, claims)


def _identity(provider: Provider, claims) -> Identity:
    return Identity(
        provider=provider.slug,
        provider_name=provider.name,
        issuer=provider.identity_issuer,
        subject=str(claims["sub"]),
        email=_text(claims.get("email")),
        email_verified=claims.get("email_verified") in (True, "true"),
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
    )


def _from_github(provider: Provider, client, token: dict) -> Identity:
    """GitHub is not an OpenID provider: who it is comes from ``/user``, the address from
    ``/user/emails`` — the primary one, vouched for only when GitHub marks it verified."""
    user = client.get("user", token=token)
    user.raise_for_status()
    emails = client.get("user/emails", token=token)
    emails.raise_for_status()
    person = user.json()
    primary = next((entry for entry in emails.json() if isinstance(entry, dict) and entry.get("primary")), {})
    given, _space, family = (_text(person.get("name")) or "").partition(" ")
    return Identity(
        provider=provider.slug,
        provider_name=provider.name,
        issuer=provider.identity_issuer,
        subject=str(int(person["id"])),
        email=_text(primary.get("email")),
        email_verified=primary.get("verified") is True,
        given_name=given or None,
        family_name=family or None,
    )


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


# Configuration ------------------------------------------------------------------------------------


def _entries(value):
    """SOCIAL_PROVIDERS as (slug, entry) pairs: a dict, or its JSON from FLASK_SOCIAL_PROVIDERS."""
    if value in (None, "", {}):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RuntimeError("SOCIAL_PROVIDERS must be a JSON object of providers.") from None
    if not isinstance(value, dict):
        raise RuntimeError("SOCIAL_PROVIDERS must be an object: {\"<key>\": {\"kind\": …}, …}.")
    return list(value.items())


def _provider(slug, entry) -> Provider:
    def fail(problem):
        raise RuntimeError(f"SOCIAL_PROVIDERS[{slug!r}]: {problem}")

    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        fail("a key is 1-32 lower-case letters, digits, '-' or '_' (it is part of the callback's URL).")
    if not isinstance(entry, dict):
        fail("each provider is an object.")
    kind = entry.get("kind")
    if kind not in KINDS:
        fail(f"kind must be one of {', '.join(KINDS)}.")
    if not entry.get("client_id"):
        fail("client_id is required.")
    issuer = GOOGLE_ISSUER if kind == "google" else entry.get("issuer")
    if kind == "oidc" and not (isinstance(issuer, str) and issuer.startswith(("https://", "http://"))):
        fail("an OpenID provider needs its issuer URL (https://…).")
    urls = {key: entry.get(key) or default for key, default in GITHUB_URLS.items()} if kind == "github" else {}
    if urls:
        urls["api_url"] = urls["api_url"].rstrip("/") + "/"  # "user" is read relative to it
    audiences = entry.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        fail("audiences is a list of client ids.")
    scopes = entry.get("scopes") or DEFAULT_SCOPES[kind]
    if isinstance(scopes, list):
        scopes = " ".join(scopes)
    if kind != "github" and "openid" not in scopes.split():
        scopes = "openid " + scopes
    return Provider(
        slug=slug, kind=kind, name=str(entry.get("name") or slug), client_id=str(entry["client_id"]),
        client_secret=entry.get("client_secret"), issuer=issuer, scopes=scopes, audiences=tuple(audiences), **urls,
    )
