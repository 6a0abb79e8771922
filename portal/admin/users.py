"""Staff pages for accounts: the searchable list, bulk actions, CSV export, and one user's page."""

import csv
import io
from collections.abc import Callable
from typing import NamedTuple

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from wtforms.fields.choices import SelectChoice

from ..forms import ProfileForm, form_status
from ..services import audit
from ..services.errors import NotFound
from ..services.people import accounts, bulk, directory, groups, users
from ..services.people.fields import CSV_FIELDS
from ..services.signing_in import factors, linked_identities, two_factor
from ..services.ways_in import credentials
from ..sessions import me
from ..templating import number
from . import bp
from .confirm import confirmation_page, same_site
from .forms import AccessForm, AddToGroupForm, UserQuery

PAGE_SIZE = 50
HISTORY_SIZE = 20
# The account fields the registry puts in the CSV, in its data order, then the groups' names.
CSV_COLUMNS = (*CSV_FIELDS, "groups")
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class BulkAction(NamedTuple):
    """How a bulk action (one of ``bulk.ACTIONS``) reads, each a whole sentence to translate: its
    button; the confirmation's title for ``count`` accounts (and the group); what it does to the
    accounts and what follows from that, said before it is done; and what was done (``%(done)s`` of
    ``%(total)s``)."""

    label: str
    title: Callable[[int, str | None], str]
    warning: str
    done: str


BULK_ACTIONS = {
    "activate": BulkAction(
        _l("Activate"),
        lambda count, group: ngettext(
            "Activate %(count)s user", "Activate %(count)s users", count, count=number(count)
        ),
        _l("These accounts will be activated."),
        _l("%(done)s of %(total)s accounts activated."),
    ),
    "deactivate": BulkAction(
        _l("Deactivate"),
        lambda count, group: ngettext(
            "Deactivate %(count)s user", "Deactivate %(count)s users", count, count=number(count)
        ),
        _l("These accounts will be deactivated: every session, sign-in and key of theirs ends."),
        _l("%(done)s of %(total)s accounts deactivated."),
    ),
    "add_to_group": BulkAction(
        _l("Add to group"),
        lambda count, group: ngettext(
            "Add to group %(count)s user (%(group)s)", "Add to group %(count)s users (%(group)s)", count,
            count=number(count), group=group,
        ),
        _l("These accounts will be added to the group."),
        _l("%(done)s of %(total)s accounts added to the group."),
    ),
}


def staff():
    return me("admin")


@bp.get("/")
def index():
    return redirect(url_for("admin.users"))


@bp.get("/users/", endpoint="users")
def users_list():
    wanted = UserQuery.from_args(request.args)
    page = directory.find_users(wanted, page=request.args.get("page", 1, type=int), per_page=PAGE_SIZE)
    return render_template(
        "admin/users.html", page=page, wanted=wanted, groups=groups.all_groups(), sorts=directory.SORTS,
        bulk_actions=BULK_ACTIONS,
    )


@bp.get("/users/export.csv")
def users_export():
    """The filtered list as CSV, streamed; cells that a spreadsheet would run as formulas are quoted."""
    wanted = UserQuery.from_args(request.args)

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for user in directory.stream_users(wanted):
            writer.writerow([_csv_cell(value) for value in _csv_values(user)])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(
        stream_with_context(rows()), mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="users.csv"'},
    )


def _csv_values(user):
    for column in CSV_COLUMNS:
        if column == "groups":
            yield ";".join(group.name for group in user.groups)
        else:
            yield audit.jsonable(getattr(user, column))


def _csv_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


@bp.post("/users/bulk")
def users_bulk():
    key = request.form.get("action")
    selected = directory.users_by_ids(request.form.getlist("ids"))
    if key not in BULK_ACTIONS or not selected:
        flash(_("Choose an action and at least one user."), "error")
        return redirect(request.referrer if same_site(request.referrer) else url_for("admin.users"))
    action = BULK_ACTIONS[key]
    group = groups.get_group(request.form.get("group_id", type=int)) if key == "add_to_group" else None
    hidden = {"action": key, "ids": [user.id for user in selected], "group_id": group.id if group else ""}
    title = action.title(len(selected), group.name if group else None)
    page = confirmation_page(
        title, str(action.warning), str(action.label), items=[u.email for u in selected], hidden=hidden
    )
    if page is not None:
        return page
    outcome = bulk.apply_to_users(key, selected, staff(), group=group)
    flash(str(action.done) % {"done": number(outcome.done), "total": number(len(selected))}, "success")
    for refusal in outcome.refusals:
        flash(_("%(email)s: %(reason)s", email=refusal.email, reason=refusal.reason), "error")
    return redirect(url_for("admin.users"))


def _user_page(user, form=None):
    form = form or ProfileForm.of(user)
    access = AccessForm(data={"is_staff": user.is_staff, "is_superuser": user.is_superuser})
    add_to_group = AddToGroupForm()
    add_to_group.group_id.choices = [SelectChoice(g.id, g.name) for g in groups.all_groups() if g not in user.groups]
    history = audit.history(user, page=1, per_page=HISTORY_SIZE)
    page = render_template(
        "admin/user.html", user=user, form=form, access=access, add_to_group=add_to_group,
        ways_in=credentials.live_credentials(user), history=history, methods=factors.listed(user),
        has_factor=factors.has_second_factor(user),
        connected=linked_identities.identities_of(user), has_password=linked_identities.has_password(user),
    )
    return page, form_status(form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def users_detail(user_id):
    user = users.get_user(user_id)
    if request.method != "POST":
        return _user_page(user)
    form = ProfileForm()
    if form.validate_on_submit() and form.save(user, staff()):
        flash(_("The profile is saved; its owner was told by mail which fields changed."), "success")
        return redirect(url_for("admin.users_detail", user_id=user.id))
    return _user_page(user, form)


def _flags(user, flags: dict, done: str, *, confirm: tuple[str, str, str] | None = None):
    """Change account flags through the service; ``confirm`` (title, message, button) asks first."""
    if confirm is not None:
        page = confirmation_page(*confirm, items=[user.email])
        if page is not None:
            return page
    accounts.update_account_flags(user, flags, staff())
    flash(done, "success")
    return redirect(url_for("admin.users_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/access")
def users_access(user_id):
    user = users.get_user(user_id)
    form = AccessForm()
    return _flags(user, {"is_staff": form.is_staff.data, "is_superuser": form.is_superuser.data}, _("Rights saved."))


@bp.post("/users/<int:user_id>/activate")
def users_activate(user_id):
    return _flags(users.get_user(user_id), {"is_active": True}, _("The account is active again."))


@bp.post("/users/<int:user_id>/deactivate")
def users_deactivate(user_id):
    return _flags(
        users.get_user(user_id), {"is_active": False},
        _("The account is deactivated; every session, sign-in and key of it has ended."),
        confirm=(
            _("Deactivate this account?"),
            _("The person is signed out everywhere at once and cannot sign in until the account is activated again."),
            _("Deactivate"),
        ),
    )


@bp.post("/users/<int:user_id>/verify")
def users_verify(user_id):
    return _flags(users.get_user(user_id), {"email_verified": True}, _("The address is marked verified."))


@bp.post("/users/<int:user_id>/avatar/remove")
def users_remove_avatar(user_id):
    user = users.get_user(user_id)
    page = confirmation_page(_("Remove this picture?"), _("The picture is deleted for good."), _("Remove picture"),
                             items=[user.email])
    if page is not None:
        return page
    accounts.update_profile(user, {"avatar": None}, staff())
    flash(_("The picture is removed."), "success")
    return redirect(url_for("admin.users_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/delete")
def users_delete(user_id):
    user = users.get_user(user_id)
    page = confirmation_page(
        _("Delete this account?"),
        _("The profile, picture, memberships and every way in are deleted. The audit history stays. "
          "This cannot be undone."),
        _("Delete account"), items=[user.email],
    )
    if page is not None:
        return page
    accounts.delete_account(user, staff())
    flash(_("The account %(email)s is deleted.", email=user.email), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/two-factor/reset")
def users_reset_two_factor(user_id):
    user = users.get_user(user_id)
    remove_passkeys = request.form.get("remove_passkeys") == "yes"
    page = confirmation_page(
        _("Reset two-step sign-in?"),
        _("The authenticator app and the recovery codes of this account are removed, and its passkeys. The person "
          "is mailed, and signs in with the password until they set a factor up again.")
        if remove_passkeys else
        _("The authenticator app and the recovery codes of this account are removed. The person is mailed, and "
          "signs in with the password until they set a factor up again."),
        _("Reset two-step sign-in"), items=[user.email], hidden={"remove_passkeys": "yes" if remove_passkeys else ""},
    )
    if page is not None:
        return page
    two_factor.reset_two_factor(user, staff(), remove_passkeys=remove_passkeys)
    flash(_("Two-step sign-in is reset; the person was told by mail."), "success")
    return redirect(url_for("admin.users_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/identities/<int:identity_id>/remove")
def users_remove_identity(user_id, identity_id):
    user = users.get_user(user_id)
    page = confirmation_page(
        _("Disconnect this account at another provider?"),
        _("It no longer signs the person in. They are mailed, and get back in with their password, a passkey or "
          "through their mailbox."),
        _("Disconnect"), items=[user.email],
    )
    if page is not None:
        return page
    try:
        removed = linked_identities.remove(user, identity_id, staff())
    except NotFound:
        abort(404)
    flash(_("The account at %(provider)s is disconnected; the person was told by mail.",
            provider=removed.provider_name), "success")
    return redirect(url_for("admin.users_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/groups")
def users_add_to_group(user_id):
    return _set_membership(user_id, request.form.get("group_id", type=int), True)


@bp.post("/users/<int:user_id>/groups/<int:group_id>/remove")
def users_remove_from_group(user_id, group_id):
    return _set_membership(user_id, group_id, False)


def _set_membership(user_id, group_id, member: bool):
    user, group = users.get_user(user_id), groups.get_group(group_id)
    groups.set_membership(user, group, member, staff())
    flash(_("Added to %(group)s.", group=group.name) if member else _("Removed from %(group)s.", group=group.name),
          "success")
    return redirect(url_for("admin.users_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/credentials/<public_id>/end")
def users_end_credential(user_id, public_id):
    user = users.get_user(user_id)
    accounts.end_credential(user, public_id, staff())
    flash(_("That session or key is ended."), "success")
    return redirect(url_for("admin.users_detail", user_id=user.id))
