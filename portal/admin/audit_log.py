"""The audit log for staff: every account change from every door, filtered and paged."""

from flask import render_template, request

from ..services import audit
from . import bp
from .forms import EventQuery

PAGE_SIZE = 50


@bp.get("/audit/", endpoint="audit")
def audit_log():
    wanted = EventQuery.from_args(request.args)
    unreadable = EventQuery.unreadable_dates(request.args)
    page = max(request.args.get("page", 1, type=int), 1)
    events, has_older = audit.search(wanted, page=page, per_page=PAGE_SIZE)
    return render_template(
        "admin/audit.html", events=events, wanted=wanted, page=page, has_older=has_older, actions=audit.ACTIONS,
        unreadable=unreadable, typed=request.args,
    ), 400 if unreadable else 200
