"""How the handlers meet Gradio: refusals as ``gr.Error``, validators from the forms, the
browser session of a request. Inputs are wired by name (``inputs_kwargs``): a handler's
parameter names are its fields' names and the API's."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import gradio as gr

from ..app.forms import USER_ERRORS, errors_of
from ..app.state import NotReady

REFUSED = (*USER_ERRORS, NotReady)


def refuse(exc: Exception) -> gr.Error:
    """The user's mistake as a message; one line in the server log, not a traceback."""
    print(f"refused: {type(exc).__name__}: {exc}", file=sys.stderr)
    return gr.Error(str(exc), title=type(exc).__name__, print_exception=False)


def validator(form: Callable[..., Any], names: Iterable[str]) -> Callable[..., list[dict]]:
    """A Gradio validator from a form: one ``gr.validate`` per field, in the order of the
    event's ``inputs_kwargs`` (``names``), each message under its own field."""
    names = list(names)

    def validate(**values: Any) -> list[dict]:
        errors = errors_of(form, **values)
        return [gr.validate(n not in errors, errors.get(n, "")) for n in names]

    return validate


def session(request: gr.Request | None) -> str | None:
    """The browser tab (or API client) behind a request: Gradio's per-connection hash."""
    return getattr(request, "session_hash", None) if request is not None else None
