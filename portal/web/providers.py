"""Signing in with another account (``SOCIAL_PROVIDERS``): the buttons' forms, the callback, and the
Security page's connected accounts.

Every trip to a provider starts with a POST (CSRF) here, which sends the browser away with
``state``, PKCE and a ``nonce`` (``portal.providers``), and comes back to one callback per provider.
What the trip was for — signing in, connecting an account to the signed-in one, or confirming it is
still the person — travels with its ``state`` in this browser's session, never in the URL. What an
identity may do is the service's rule (``linked_identities.arrive``); this only renders it.
"""

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import providers
from ..forms import call_for, form_page
from ..http import OFFERED_LINK, acting, relying_party, safe_next
from ..limits import limited
from ..services.errors import AuthenticationFailed, NotFound, ValidationFailed
from ..services.people import accounts
from ..services.signing_in import linked_identities, reauthentication
from ..sessions import current_credential, me, signed_in_user
from ..templating import isolated, sentence
from . import bp
from .auth import PENDING_EMAIL
from .forms import SetPasswordForm
from .reauth import recent_proof_required
from .two_step import continue_sign_in

SIGN_IN, CONNECT, CONFIRM = "sign_in", "connect", "confirm"


def _provider(slug):
    provider = providers.find(slug)
    if provider is None:
        abort(404)
    return provider


def _away(provider, purpose: dict, *, fresh: bool = False):
    callback = relying_party().origin + url_for("web.provider_callback", slug=provider.slug)
    try:
        return providers.redirect_to(provider, callback, purpose=purpose, fresh=fresh)
    except providers.ProviderError as exc:
        return _problem(exc)


@bp.post("/login/<slug>")
@limited("RATELIMIT_SIGN_IN")
def provider_sign_in(slug):
    """A button on /login or /register: off to the provider to sign in (or sign up)."""
    provider = _provider(slug)
    next_page = safe_next(request.args.get("next"), url_for("web.profile"))
    if current_user.is_authenticated:
        return redirect(next_page)
    return _away(provider, {"do": SIGN_IN, "next": next_page})


@bp.post("/profile/security/connect/<slug>")
@login_required
@recent_proof_required
def provider_connect(slug):
    """Connect an account at a provider to the signed-in one."""
    return _away(_provider(slug), {"do": CONNECT, "user": signed_in_user().id})


@bp.post("/profile/confirm/<slug>")
@login_required
def provider_confirm(slug):
    """Confirm it's you by signing in again at a connected provider (an account without a password)."""
    next_page = safe_next(request.args.get("next"), url_for("web.security"))
    return _away(_provider(slug), {"do": CONFIRM, "user": signed_in_user().id, "next": next_page}, fresh=True)


@bp.get("/login/<slug>/callback")
@limited("RATELIMIT_SIGN_IN")
def provider_callback(slug):
    if request.method == "HEAD":
        return "", 200  # a HEAD (a link checker, a prefetch) spends no state and signs nobody in
    provider = _provider(slug)
    try:
        identity, purpose = providers.come_back(provider, request.args)
    except providers.ProviderCancelled as exc:
        flash(exc.says(), "info")
        return redirect(url_for("web.security" if current_user.is_authenticated else "web.login"))
    except providers.ProviderError as exc:
        return _problem(exc)
    doing = purpose.get("do")
    if doing in (CONNECT, CONFIRM):
        return _for_signed_in(provider, identity, purpose)
    if current_user.is_authenticated:
        return redirect(url_for("web.profile"))
    try:
        arrival = linked_identities.arrive(identity, acting("web"))
    except AuthenticationFailed as exc:
        flash(exc.detail, "error")
        return redirect(url_for("web.login"))
    except ValidationFailed as exc:
        return _refusal(provider, exc, 409 if isinstance(exc, linked_identities.AddressNotVouched) else 400)
    if arrival.next == "verify":
        session[PENDING_EMAIL] = arrival.user.email
        flash(sentence(
            _("We mailed a 6-digit code to %(email)s. Enter it below to finish signing up."),
            email=isolated(arrival.user.email),
        ), "success")
        return redirect(url_for("web.verify"))
    if arrival.next == "link":
        session[OFFERED_LINK] = identity.kept()
        page = render_template("web/provider_link.html", provider=provider, email=identity.email,
                               next_page=safe_next(purpose.get("next"), url_for("web.profile")))
        return page, 409
    return continue_sign_in(arrival.user, remember=False, next_page=purpose.get("next") or url_for("web.profile"),
                            first_step=identity.first_step)


def _for_signed_in(provider, identity, purpose):
    """Connect or confirm: only for the account that started the trip, still signed in here."""
    user = signed_in_user()
    if user is None or purpose.get("user") != user.id:
        flash(_("Sign in first, then connect the account again."), "error")
        return redirect(url_for("web.login"))
    if purpose["do"] == CONFIRM:
        if not linked_identities.is_linked_to(user, identity):
            flash(sentence(
                _("That account at %(provider)s is not connected to yours."), provider=isolated(provider.name)
            ), "error")
            return redirect(url_for("web.security"))
        reauthentication.stamp(current_credential())
        return redirect(safe_next(purpose.get("next"), url_for("web.security")))
    try:
        linked_identities.connect(user, identity, me())
    except ValidationFailed as exc:
        return _refusal(provider, exc, 409)
    flash(sentence(_("Your account at %(provider)s is connected."), provider=isolated(provider.name)), "success")
    return redirect(url_for("web.security"))


@bp.post("/profile/security/connected/<int:identity_id>/remove")
@login_required
@recent_proof_required
def provider_remove(identity_id):
    user = signed_in_user()
    try:
        removed = linked_identities.remove(user, identity_id, me())
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
        return redirect(url_for("web.security"))
    flash(sentence(
        _("Your account at %(provider)s is disconnected; it no longer signs you in."),
        provider=isolated(removed.provider_name),
    ), "success")
    return redirect(url_for("web.security"))


@bp.route("/profile/security/password", methods=["GET", "POST"])
@login_required
@recent_proof_required
def set_password():
    """An account made through a provider chooses its first password here."""
    user = signed_in_user()
    if linked_identities.has_password(user):
        return redirect(url_for("web.change_password"))
    form = SetPasswordForm()
    if form.validate_on_submit() and call_for(
        form, accounts.set_first_password, user, form.new_password.data, me(), keep=current_credential()
    ):
        flash(_("Your password is set: you can sign in with it too."), "success")
        return redirect(url_for("web.security"))
    return form_page("web/set_password.html", form)


def _problem(exc: providers.ProviderError):
    page = render_template("web/provider_problem.html", provider=exc.provider, message=exc.says())
    return page, exc.status


def _refusal(provider, exc: ValidationFailed, status: int):
    message = " ".join(str(m) for messages in exc.errors.values() for m in messages)
    return render_template("web/provider_problem.html", provider=provider, message=message), status
