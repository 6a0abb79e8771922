"""Confirmation before a destructive or bulk action: the first POST shows what will happen, the
second (carrying ``confirmed=yes``) does it. Works without JavaScript."""

from flask import render_template, request


def confirmation_page(title: str, message: str, button: str, *, items=(), hidden: dict | None = None):
    """The page to show first, or None when this POST is the confirmed one."""
    if request.form.get("confirmed") == "yes":
        return None
    return render_template(
        "admin/confirm.html", title=title, message=message, button=button, items=items,
        hidden=hidden or {}, back=request.referrer if _same_site(request.referrer) else None,
    )


def _same_site(url) -> bool:
    return bool(url) and url.startswith(request.host_url)
