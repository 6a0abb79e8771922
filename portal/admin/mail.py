"""The outbox for staff: what is waiting to go, and what was given up and why."""

from flask import render_template

from ..services.mail import outbox
from . import bp


@bp.get("/mail/", endpoint="mail")
def mail_outbox():
    return render_template("admin/mail.html", outbox=outbox.overview())
