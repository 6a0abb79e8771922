"""Browser sign-in, for the user pages and the admin alike: the signed session cookie names one
Credential row, and nothing else.

Whether a browser is signed in is decided the way it is for a JWT or an API key: the row must be
live, used within its idle limit, and its user active. Revoking the row (sign-out, a password
change elsewhere, deactivation) ends the session in every process at once.
"""

import secrets

from flask import flash, g, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_url, login_user, logout_user

from .extensions import login_manager
from .http import SESSION_CREDENTIAL, acting
from .i18n import keep_picked_language
from .models import Credential, User, utcnow
from .services.signing_in.sign_in import PASSWORD
from .services.ways_in import browser_sessions, credentials

BROWSER_BINDING = "webauthn_binding"

login_manager.login_view = "web.login"
login_manager.login_message = _l("Sign in to see that page.")
# Flashed as the text of the request's language (a lazy string would not fit in the session cookie).
login_manager.localize_callback = str
login_manager.login_message_category = "info"
# The Credential row is the protection: a stolen cookie dies with its row, and sign-in rotates it.
login_manager.session_protection = None
SIGNED_OUT_IDLE = _l("You were signed out after a while without activity. Sign in again to go on.")


@login_manager.request_loader
def load_signed_in_user(_request) -> User | None:
    now = utcnow()  # one reading of the clock for the idle check and the note of use
    credential, refused = browser_sessions.presented_browser_session(session.get(SESSION_CREDENTIAL), now)
    if credential is None:
        return None
    if refused is not None:
        if refused == credentials.IDLE:
            # Said once, on whatever page comes next: the cookie forgets the row.
            session.pop(SESSION_CREDENTIAL, None)
            flash(str(SIGNED_OUT_IDLE), "info")
            g.told_why_signed_out = True
        return None
    g.credential = credential
    credentials.note_use(credential, request.remote_addr, now)
    return credential.user


@login_manager.unauthorized_handler
def ask_to_sign_in():
    """Flask-Login's own answer to a page that needs a signed-in person (to the sign-in page, ``next``
    kept), without its "Sign in to see that page." when the person was just told why they are out."""
    if not g.get("told_why_signed_out"):
        flash(str(login_manager.login_message), login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the work for a request that brings no cookie and leaves
    none (every API call): Flask builds a signer to open an empty session and reads every cookie
    setting to save it again. An answer that writes the cookie is kept from shared caches.

    The cookie is written here, after every ``after_request`` hook, so this is the one place that
    knows an answer sets it.
    """

    def open_session(self, app, request):
        no_cookie = "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app))
        if app.secret_key and no_cookie:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if session or session.modified:
            super().save_session(app, session, response)
            if "Set-Cookie" in response.headers:
                for_this_browser_only(response)
        elif session.accessed:
            # Looked into (a page asking who is signed in), so the answer may depend on the
            # cookie. A second Vary line is as good as a longer one, and cheaper to write.
            response.headers.add("Vary", "Cookie")


def for_this_browser_only(response) -> None:
    """Keep an answer that sets a cookie out of shared caches, which would hand the cookie (a
    stranger's CSRF secret, a session) to the next visitor: ``no-store``, or — for an answer meant to
    be cached (a static file, an avatar, fetched by a remembered sign-in whose cookie is renewed on
    every answer) — ``private``, so the browser still keeps it."""
    cache = response.cache_control
    if cache.no_store or cache.private:
        return
    if "Cache-Control" in response.headers:
        cache.public = False
        cache.private = True
    else:
        response.headers["Cache-Control"] = "no-store"


def sign_in_browser(user: User, *, remember: bool, method: str = PASSWORD) -> None:
    """Start a browser session for ``user``, proven by ``method`` ("password", "password+totp", …): a
    new row, and a cookie that starts afresh (no fixation). A language picked with the switcher
    before signing in is saved on the account first, so even this sign-in's alert mail is in it."""
    keep_picked_language(user, acting("web", user))
    credential = browser_sessions.start_browser_session(
        user, acting("web", user), user_agent=request.user_agent.string, remember=remember, method=method
    )
    session.clear()  # nothing from before the sign-in (an old id, a CSRF token) carries over
    session.permanent = remember
    session[SESSION_CREDENTIAL] = credential.public_id
    g.credential = credential
    login_user(user)
    session.pop("_user_id", None)  # the user is found through the row, never by an id in the cookie


def sign_out() -> None:
    """End this browser's session row and forget the cookie."""
    credential = current_credential()
    if credential is not None:
        credentials.revoke(credential, acting("web", signed_in_user()))
    logout_user()
    session.clear()


def browser_binding() -> str:
    """A random value this browser's session keeps, which a WebAuthn challenge is bound to: the
    answer to a challenge counts only from the browser that asked for it."""
    if not isinstance(session.get(BROWSER_BINDING), str):
        session[BROWSER_BINDING] = secrets.token_urlsafe(24)
    return session[BROWSER_BINDING]


def signed_in_user() -> User:
    return current_user._get_current_object()


def current_credential() -> Credential | None:
    """The session row of this request, once ``current_user`` has been loaded."""
    return g.get("credential") if current_user.is_authenticated else None


def me(via: str = "web"):
    """Who acts in a signed-in page request, for the services."""
    return acting(via, signed_in_user())
