"""pytest fixtures for the identity providers on loopback (imported by tests/conftest.py).

``oidc_provider``: one OpenID Connect provider (Node.js) for the whole run, with a confidential
client ``portal-web`` and a public client ``portal-mobile``; each test that uses it starts with
nobody signed in and no cancel pending. ``github_stand_in``: a fresh GitHub stand-in per test.
``node_rp``: ``node_rp(issuer, client_id, client_secret, redirect_uri)`` starts an independent
relying party (npm's openid-client, tests/providers/rp.py) for that client of that provider, stopped
after the test. When Node.js or the npm packages are missing, ``oidc_provider`` and ``node_rp`` fail
(``make providers`` installs them): a sign-in test must never pass by being skipped.
"""

import pytest

from tests.providers.github import GitHubStandIn
from tests.providers.oidc import Client, OidcProvider, ProviderUnavailable
from tests.providers.rp import NodeRelyingParty, RelyingPartyUnavailable

WEB_CALLBACK = "http://localhost/login/idp/callback"
OIDC_CLIENTS = (
    Client("portal-web", (WEB_CALLBACK,), client_secret="portal-web-secret"),
    Client("portal-mobile", (WEB_CALLBACK,)),
)
GITHUB_CLIENT_ID = "portal-github"
GITHUB_CLIENT_SECRET = "portal-github-secret"


@pytest.fixture(scope="session")
def oidc_provider():
    provider = OidcProvider(OIDC_CLIENTS)
    try:
        provider.start()
        unavailable = None
    except ProviderUnavailable as error:
        unavailable = str(error)
    if unavailable:
        pytest.fail(f"the OpenID Connect provider is unavailable: {unavailable}", pytrace=False)
    yield provider
    provider.stop()


@pytest.fixture(autouse=True)
def _oidc_provider_fresh(request):
    """A test that uses ``oidc_provider`` starts with nobody signed in and no cancel pending."""
    if "oidc_provider" in request.fixturenames:
        request.getfixturevalue("oidc_provider").reset()


@pytest.fixture
def github_stand_in():
    github = GitHubStandIn(GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET).start()
    yield github
    github.stop()


@pytest.fixture
def node_rp():
    """``node_rp(issuer, client_id, client_secret, redirect_uri, token_endpoint_auth_method=None)``:
    a started ``NodeRelyingParty`` that has discovered ``issuer`` (its metadata in ``.metadata``),
    stopped after the test."""
    started = []

    def start(issuer, client_id, client_secret, redirect_uri, token_endpoint_auth_method=None) -> NodeRelyingParty:
        rp = NodeRelyingParty()
        try:
            rp.start()
            unavailable = None
        except RelyingPartyUnavailable as error:
            unavailable = str(error)
        if unavailable:
            pytest.fail(f"the relying party is unavailable: {unavailable}", pytrace=False)
        started.append(rp)
        rp.discover(issuer, client_id, client_secret, redirect_uri, token_endpoint_auth_method)
        return rp

    yield start
    for rp in started:
        rp.stop()
