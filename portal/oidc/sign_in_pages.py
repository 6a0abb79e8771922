"""The sign-in pages an app's request passes through, as far as their policy is concerned.

A person an app sends to the authorization endpoint without a session signs in first (``/login``,
the second step, an emailed code, a passkey, a provider), and the sign-in's answer redirects to
``next``: back to ``/oauth/authorize``, which redirects on to the app's redirect URI when the app is
trusted or was allowed before. Chromium checks every redirect a form's answer leads through against
the ``form-action`` of the form's page, so each of those pages names in its own policy the origin of
the redirect URI its ``next`` leads to — of a request ``authorization.check_request`` accepts, and no
other.
"""

from urllib.parse import parse_qsl, urlsplit

from flask import current_app, url_for
from werkzeug.datastructures import MultiDict

from ..http import safe_next
from ..security import let_forms_lead_to
from ..services.oidc import authorization


def redirect_uri_ahead(next_page) -> str | None:
    """The redirect URI of the authorization request ``next_page`` leads to, or None: when it is not
    this site's ``/oauth/authorize?…``, or names an app that is not registered, a redirect URI the app
    did not register, or is refused in any other way."""
    target = safe_next(next_page, "")
    parts = urlsplit(target)
    if not target or parts.path != url_for("oidc.authorize"):
        return None
    try:
        asked = authorization.check_request(MultiDict(parse_qsl(parts.query, keep_blank_values=True)))
    except (authorization.NotForTheApp, authorization.ForTheApp):
        return None
    return asked.redirect_uri


def let_forms_lead_to_the_app(answer, next_page):
    """A sign-in page's answer (anything a view may return), its policy letting the page's forms end
    at the app ``next_page``'s authorization request returns to (``redirect_uri_ahead``); with no such
    request, the standing policy."""
    response = current_app.make_response(answer)
    uri = redirect_uri_ahead(next_page)
    return response if uri is None else let_forms_lead_to(response, uri)
