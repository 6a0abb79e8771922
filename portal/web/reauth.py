"""Asking "is it still you?" before a change to how the account signs in.

A page whose POST changes the email, a factor or a passkey, or makes an API key, wears
``@recent_proof_required``. When the session's last proof (its sign-in, or the last time the person
confirmed here) is older than REAUTHENTICATION_AFTER, the POST is not carried out: the answer is a
page asking for the password (or a code from the authenticator app) whose form posts back to the
same address with everything the person had typed, in hidden fields. With a good proof the view
then runs on that very request, so nothing typed is lost; a file chosen for upload is the one thing
a browser cannot carry over, and the page says so.

A ceremony's options fetched by script (passkeys) get a 401 instead, and the script then sends its
form without a passkey, which lands on the same page.
"""

from functools import wraps

from flask import render_template, request

from ..forms import add_service_errors, form_status
from ..limits import spend_a_try
from ..services.errors import ValidationFailed
from ..services.signing_in import factors, linked_identities, reauthentication
from ..sessions import current_credential, me, signed_in_user
from .forms import ReauthenticateForm

# Fields the prompt does not carry over: its own, and the CSRF token (the prompt has a fresh one).
NOT_CARRIED = ("csrf_token", "reauth_password", "reauth_code")
# The service's field names for a proof, as the prompt names them.
PROMPT_FIELDS = {"current_password": "reauth_password", "code": "reauth_code"}


def recent_proof_required(view=None, *, when=None):
    """Run the view's POST only once the session has been proven within REAUTHENTICATION_AFTER.

    ``when(request)`` narrows it to the posts that need it (the profile page: an email change only).
    """

    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            credential = current_credential()
            if (
                request.method != "POST"
                or credential is None
                or (when is not None and not when())
                or not reauthentication.needs_reauthentication(credential)
            ):
                return view(*args, **kwargs)
            if request.accept_mimetypes.best == "application/json":
                return {"detail": reauthentication.TOO_OLD, "reauthenticate": True}, 401
            form = ReauthenticateForm()
            proof_given = form.is_submitted() and (form.reauth_password.data or form.reauth_code.data)
            if proof_given and _proven(form, credential):
                return view(*args, **kwargs)
            return _prompt(form)

        return guarded

    return decorator(view) if view is not None else decorator


def _proven(form: ReauthenticateForm, credential) -> bool:
    """Check the proof given; a wrong one is shown on its field and counts against the session's
    password-check allowance (a stolen session cannot guess the password)."""
    spend_a_try("RATELIMIT_PASSWORD_CHECK")
    try:
        reauthentication.reauthenticate(credential, me(), **form.proof())
    except ValidationFailed as exc:
        add_service_errors(form, {PROMPT_FIELDS.get(name, name): messages for name, messages in exc.errors.items()})
        return False
    return True


def _prompt(form: ReauthenticateForm):
    carried = [(name, value) for name, values in request.form.lists() if name not in NOT_CARRIED for value in values]
    status = form_status(form) if form.errors else 403
    page = render_template(
        "web/reauthenticate.html", form=form, carried=carried, had_files=bool(request.files),
        action=request.full_path if request.query_string else request.path,
        has_app=factors.TOTP.is_set_up(signed_in_user()),
        connected=linked_identities.identities_of(signed_in_user()),
        has_password=linked_identities.has_password(signed_in_user()),
    )
    return page, status
