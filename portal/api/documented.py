"""Each API route's OpenAPI description, written beside its view: ``@documented(...)``.

The decorator only attaches an ``Operation`` per method to the view function; ``openapi`` reads them
when it builds the document, once per app. What the view's other decorators already say is not
restated here: ``authenticated`` gives the operation its credentials (security requirement, 401) and
``limits.limited`` its 429.
"""

from dataclasses import dataclass, field

JSON, FORM, HTML = "application/json", "multipart/form-data", "text/html"
EVERY_METHOD = "*"  # a description of every method the view's route serves


@dataclass(frozen=True)
class Operation:
    """One method of one route, as the document describes it."""

    summary: str
    tag: str
    description: str = ""
    body: str | None = None  # component name of the request body
    body_required: bool = True
    status: int = 200
    answer: str | None = None  # component name of the success body; None: no body
    answer_type: str = JSON
    representation: bool = False  # a profile with its ETag
    conditional_read: bool = False  # If-None-Match (304) and If-Match (412) on a GET
    conditional_write: bool = False  # If-Match (412)
    errors: dict = field(default_factory=dict)  # more statuses: {403: (body component, why)}
    server_error: str = "Detail"  # the 500 body


def documented(*methods: str, summary: str, tag: str, **details):
    """Describe the decorated view's ``methods``, or every method its route serves when none are
    named; ``details`` are the other fields of ``Operation``.

    Where one view serves several methods that answer differently, stack one decorator per kind. A
    ``{method}`` in the summary is replaced by each method named.
    """

    def attach(view):
        described = dict(operations_of(view))  # a copy: functools.wraps shares a wrapped view's dict
        for method in methods or (EVERY_METHOD,):
            if method in described:
                raise ValueError(f"{view.__qualname__}: {method} is described twice.")
            named = summary.replace("{method}", method) if methods else summary
            described[method] = Operation(summary=named, tag=tag, **details)
        view.openapi_operations = described
        return view

    return attach


def operations_of(view) -> dict[str, Operation]:
    """The descriptions attached to ``view``, by method (``EVERY_METHOD`` for all of its route's)."""
    return getattr(view, "openapi_operations", {})
