"""How the handlers meet Gradio: refusals as ``gr.Error``, validators from the forms, the
browser session of a request. Inputs are wired by name (``inputs_kwargs``): a handler's
parameter names are its fields' names and the API's."""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from ..app.forms import USER_ERRORS, CheckedOnce
from ..app.state import Busy, NotReady

REFUSED = (*USER_ERRORS, NotReady, Busy)
PROGRESS = gr.Progress()  # Gradio's idiom: a default it replaces with the event's own


def log_refusal(exc: Exception) -> None:
    """A user's mistake: one line in the server log, not a traceback."""
    print(f"refused: {type(exc).__name__}: {exc}", file=sys.stderr)


def refuse(exc: Exception) -> gr.Error:
    """The user's mistake as the page's message (logged in one line)."""
    log_refusal(exc)
    return gr.Error(str(exc), title=type(exc).__name__, print_exception=False)


@contextmanager
def refusing() -> Iterator[None]:
    """A refusal in the block (a form, ``Busy``, the model still loading): the page's error."""
    try:
        yield
    except REFUSED as exc:
        raise refuse(exc) from None


def validator(form: CheckedOnce, names: Iterable[str]) -> Callable[..., list[dict]]:
    """A Gradio validator from a form: one ``gr.validate`` per field, in the order of the
    event's ``inputs_kwargs`` (``names``), each message under its own field; a clean form's
    request is kept for the handler (the click's one check)."""
    names = list(names)

    def validate(request: gr.Request = None, **values: Any) -> list[dict]:
        errors = form.errors(session(request), values)
        return [gr.validate(n not in errors, errors.get(n, "")) for n in names]

    return validate


def refusals_under_fields(check: Callable[..., tuple[str, dict[str, str], bool]], fields: dict):
    """A form's check as outputs: its box, then each field with its message under it (in place
    of its help) and a red outline, or as built; last, a value that changes only when the form
    may go (an event on it runs the work). ``check(request, **values)`` returns (box, messages
    by field, ok)."""
    helps = {name: getattr(c, "info", None) or "" for name, c in fields.items()}  # "": none

    def shown(request: gr.Request = None, **values: Any) -> tuple:
        box, wrong, ok = check(request, **values)
        marked = (
            gr.update(info=f"⛔ {wrong[n]}", elem_classes=["refused"])
            if n in wrong
            else gr.update(info=helps[n], elem_classes=[])
            for n in fields
        )
        return box, *marked, (time.monotonic() if ok else gr.skip())

    return shown


GRADIO_FILLED = ("self", "request", "progress")


def takes(*fields: str | tuple[str, Any]) -> Callable[[Callable], Callable]:
    """A handler ``fn(self, request=None, [progress=...,] **values)`` shown with ``fields``
    (a name, or (name, default)) as its keyword parameters: what Gradio's ``inputs_kwargs``,
    the API page and ``inspect`` read; the form behind the handler names each field once."""

    def shown(handler: Callable) -> Callable:
        own = inspect.signature(handler).parameters.values()
        kept = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
        named = [(f, inspect.Parameter.empty) if isinstance(f, str) else f for f in fields]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in named]
        handler.__signature__ = inspect.Signature([*kept, *extra])
        return handler

    return shown


def inputs(fn: Callable[..., Any], components: dict[str, Any]) -> dict[str, Any]:
    """``inputs_kwargs`` for ``fn``: its components by parameter name, in the order of its
    signature (the API's parameter order). A field without a parameter, or a parameter
    without a field, fails when the page is built, not as a shifted value at a click."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(components)  # takes any field (``queue_note``)
    names = [p.name for p in params if p.name not in GRADIO_FILLED]
    if set(names) != set(components):
        missing, extra = set(names) - set(components), set(components) - set(names)
        raise TypeError(
            f"{fn.__name__}: no field for {missing or '-'}, no parameter {extra or '-'}"
        )
    return {name: components[name] for name in names}


def session(request: gr.Request | None) -> str | None:
    """The browser tab (or API client) behind a request: Gradio's per-connection hash."""
    return getattr(request, "session_hash", None)
