"""Staff pages for groups: list with member counts, create, rename and edit notes, delete."""

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from ..forms import call_for, form_page
from ..services.people import groups
from ..sessions import me
from ..templating import number
from . import bp
from .confirm import confirmation_page
from .forms import GroupForm


@bp.route("/groups/", methods=["GET", "POST"])
def groups_list():
    form = GroupForm()
    if form.validate_on_submit() and (created := call_for(
        form, groups.create_group, form.name.data, me("admin"), notes=form.notes.data
    )):
        flash(_("Group %(name)s created.", name=created.result.name), "success")
        return redirect(url_for("admin.groups_list"))
    return form_page("admin/groups.html", form, groups=groups.all_groups())


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
def groups_detail(group_id):
    group = groups.get_group(group_id)
    form = GroupForm(obj=group)
    if form.validate_on_submit() and call_for(
        form, groups.update_group, group, me("admin"), name=form.name.data, notes=form.notes.data
    ):
        flash(_("Group saved."), "success")
        return redirect(url_for("admin.groups_list"))
    return form_page("admin/group.html", form, group=group)


@bp.post("/groups/<int:group_id>/delete")
def groups_delete(group_id):
    group = groups.get_group(group_id)
    page = confirmation_page(
        _("Delete the group %(name)s?", name=group.name),
        ngettext(
            "Its %(count)s member stays; only the memberships go.",
            "Its %(count)s members stay; only the memberships go.",
            group.users_count, count=number(group.users_count),
        ),
        _("Delete group"),
    )
    if page is not None:
        return page
    groups.delete_group(group, me("admin"))
    flash(_("Group %(name)s deleted.", name=group.name), "success")
    return redirect(url_for("admin.groups_list"))
