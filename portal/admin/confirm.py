"""Confirmation before a destructive or bulk action: the first POST shows what will happen, the
second (carrying ``confirmed=yes``) does it. Works without JavaScript."""

from flask import render_template, request


def confirmation_page(title: str, message: str, button: str, *, items=(), hidden: dict | None = None):
    """The page to show first, or None when this POST is the confirmed one."""
    if request.form.get("confirmed") == "yes":
        return None
    return render_template(
        "admin/confirm.html", title=title, message=message, button=button, items=items,
        hidden=hidden or {}, back=request.referrer if same_site(request.referrer) else None,
    )


def same_site(url) -> bool:
    """Whether ``url`` (a Referer) is a page of this site, so a Cancel or a way back may lead to it."""
    return bool(url) and url.startswith(request.host_url)
