"""Staff pages for groups: list with member counts, create, rename and edit notes, delete."""

from flask import flash, redirect, render_template, url_for

from ..forms import add_service_errors
from ..services import groups
from ..services.errors import ValidationFailed
from ..sessions import me
from . import bp
from .confirm import confirmation_page
from .forms import GroupForm


@bp.route("/groups/", methods=["GET", "POST"])
def groups_list():
    form = GroupForm()
    if form.validate_on_submit():
        try:
            group = groups.create_group(form.name.data, me("admin"), notes=form.notes.data)
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        else:
            flash(f"Group {group.name} created.", "success")
            return redirect(url_for("admin.groups_list"))
    page = render_template("admin/groups.html", groups=groups.all_groups(), form=form)
    return page, 400 if form.errors else 200


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
def groups_detail(group_id):
    group = groups.get_group(group_id)
    form = GroupForm(obj=group)
    if form.validate_on_submit():
        try:
            groups.update_group(group, me("admin"), name=form.name.data, notes=form.notes.data)
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        else:
            flash("Group saved.", "success")
            return redirect(url_for("admin.groups_list"))
    return render_template("admin/group.html", group=group, form=form), 400 if form.errors else 200


@bp.post("/groups/<int:group_id>/delete")
def groups_delete(group_id):
    group = groups.get_group(group_id)
    page = confirmation_page(
        f"Delete the group {group.name}?",
        f"Its {group.users_count} member{'s' if group.users_count != 1 else ''} stay; only the memberships go.",
        "Delete group",
    )
    if page is not None:
        return page
    groups.delete_group(group, me("admin"))
    flash(f"Group {group.name} deleted.", "success")
    return redirect(url_for("admin.groups_list"))
