"""The application class: what it remembers between requests stays bounded."""

import gc

from flask import after_this_request


def test_functions_made_for_one_request_are_not_remembered(make_app):
    """Hooks and views registered once are remembered as needing no wrapping; a function made for a
    single request (``after_this_request``) is forgotten when the request is done."""
    app = make_app()

    @app.get("/with-a-one-off-hook/")
    def with_a_one_off_hook():
        @after_this_request
        def mark(response):
            response.headers["X-One-Off"] = "yes"
            return response

        return {}

    client = app.test_client()
    answers = [client.get("/with-a-one-off-hook/") for _ in range(20)]
    gc.collect()

    assert all(answer.headers["X-One-Off"] == "yes" for answer in answers)
    assert with_a_one_off_hook in app._sync_functions  # a view: remembered
    assert not any(getattr(func, "__name__", "") == "mark" for func in app._sync_functions)

