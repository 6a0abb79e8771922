"""Each API route's OpenAPI description, written beside its view: its docstring and ``@documented(...)``.

As flask-smorest reads a view, the first line of its docstring is the operation's summary and the
rest its description: the text people read is the view's own documentation. The decorator
keeps the structured facts (body, answer, status, errors, conditional requests) and attaches an
``Operation`` per method to the view function; ``openapi`` reads them when it builds the document,
once per app. What the view's other decorators already say is not restated here: ``authenticated``
gives the operation its credentials (security requirement, 401) and ``limits.limited`` its 429.

A module whose views share a tag of the document names it once, with
``functools.partial(documented, tag=...)``.
"""

import inspect
import re
from dataclasses import dataclass, field

JSON, FORM, HTML = "application/json", "multipart/form-data", "text/html"
EVERY_METHOD = "*"  # a description of every method the view's route serves
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


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


def documented(*methods: str, tag: str, summary: str | None = None, description: str | None = None, **details):
    """Describe the decorated view's ``methods``, or every method its route serves when none are
    named; ``details`` are the other fields of ``Operation``.

    The summary is the first line of the view's docstring and the description the rest of it
    (``docstring_parts``); a ``description`` given replaces the docstring's (a text built from
    constants). Where one view serves several methods that answer differently, stack one decorator
    per kind: the docstring describes the methods of the one that gives no ``summary``, the others
    give their own ``summary`` and ``description``. A ``{method}`` in a ``summary`` is replaced by
    each method named.
    """

    def attach(view):
        if summary is None:
            read_summary, read_description = docstring_parts(view)
            if not read_summary:
                raise ValueError(f"{view.__qualname__}: no summary: give the view a docstring, or summary=.")
        described = dict(operations_of(view))  # a copy: functools.wraps shares a wrapped view's dict
        for method in methods or (EVERY_METHOD,):
            if method in described:
                raise ValueError(f"{view.__qualname__}: {method} is described twice.")
            if summary is None:
                named, text = read_summary, read_description if description is None else description
            else:
                named, text = summary.replace("{method}", method) if methods else summary, description or ""
            described[method] = Operation(summary=named, tag=tag, description=text, **details)
        view.openapi_operations = described
        return view

    return attach


def docstring_parts(view) -> tuple[str, str]:
    """The summary (the first line) and description (the rest) of ``view``'s docstring.

    The description's lines are folded into paragraphs, as Markdown reads them, so a docstring
    wrapped to the code's width says the same as one long line. A summary must fit on one line:
    the next is blank, or the docstring ends.
    """
    summary, _, rest = inspect.cleandoc(view.__doc__ or "").partition("\n")
    if rest and rest.partition("\n")[0].strip():
        raise ValueError(f"{view.__qualname__}: the docstring's summary is longer than its first line.")
    paragraphs = PARAGRAPH_BREAK.split(rest.strip())
    return summary.strip(), "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs if p)


def operations_of(view) -> dict[str, Operation]:
    """The descriptions attached to ``view``, by method (``EVERY_METHOD`` for all of its route's)."""
    return getattr(view, "openapi_operations", {})
