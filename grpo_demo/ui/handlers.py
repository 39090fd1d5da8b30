"""Every tab's handlers (``*_events``) in one object, ``Demo``, over one ``AppState``, plus
the header and the validators the events share. Handler parameter names are the API's
(``gradio_client`` keywords) and the events' ``inputs_kwargs`` keys: a contract (README)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import gradio as gr

from ..app import forms
from ..app.state import AppState
from ..lora_slots import BASE
from .change_events import ChangeEvents
from .eval_events import EvaluateEvents
from .play_events import PlaygroundEvents
from .train_events import TrainEvents
from .wiring import session, validator

HEADER_ADAPTERS = 3
"""Models the header names with their tasks; more are counted (the Playground's list has all)."""


class Demo(PlaygroundEvents, TrainEvents, EvaluateEvents, ChangeEvents):
    """Every tab's handlers over one shared ``AppState``."""

    def __init__(self, *args, **kwargs):
        """``AppState``'s arguments (``Demo(resident)``, ``Demo(model=..., teacher_key=...)``)."""
        self.state = AppState(*args, **kwargs)
        self._drawing = threading.Lock()  # the run view's charts: one page draws, the rest wait
        self._forms = {"compare": forms.CheckedOnce(forms.compare)} | {
            name: forms.CheckedOnce(partial(getattr(forms, name), self.state))
            for name in ("generate", "train", "browse", "evaluate")
        }

    def validator(self, form: str, fields: dict) -> Callable[..., list[dict]]:
        """The validator of an event's ``fields``: the named form's (``wiring.validator``)."""
        return validator(self._forms[form], fields)

    def asked(self, form: str, request: gr.Request | None, **values):
        """The click's typed request: kept by its validator, else checked now (one check)."""
        return self._forms[form].take(session(request), values)

    # -- the header and the adapter lists ----------------------------------------------------
    def header(self) -> str:
        state, spec = self.state, self.state.spec
        if not state.loaded:
            now = f"failed to load: {state.error}" if state.error else "loading ..."
            return f"**Base model:** `{spec.name}` — {spec.why} · **{now}**"
        resident, names = state.resident, state.resident.names()
        adapters = ", ".join(
            f"`{n}`" + (f" (task {resident.adapters[n].task})" if n in resident.adapters else "")
            for n in names[:HEADER_ADAPTERS]
        )
        if len(names) > HEADER_ADAPTERS:  # the first screen keeps its place as runs pile up
            adapters += f" and {len(names) - HEADER_ADAPTERS} more (each in the Model list)"
        # one short line, folder names only: full paths and reasons pushed the Playground's
        # fields below the first screen
        where = [p.split(": ")[0] for p in resident.problems]
        skipped = ", ".join(Path(w).parent.name if "/" in w else w for w in where)
        problems = f"\n> skipped, would not load: {skipped}" if where else ""
        return (
            f"**Base model:** `{spec.name}` — {spec.why} · **device:** {state.device} · "
            f"**adapters:** {adapters}{problems}"
        )

    def caps_note(self) -> str:
        return caps.note() if (caps := self.state.caps()) else ""

    def refresh_choices(self, known: list[str] | None, play: str | None, chosen: list[str] | None):
        """Adapters that appeared since this page last looked: listed in both dropdowns and
        preselected in Evaluate. Polled every few seconds by every open page (a run finished
        in another session shows up without a reload); nothing changes when nothing is new.
        """
        if not self.state.loaded:
            return gr.skip(), gr.skip(), self.header(), known
        self.state.resident.refresh()
        names = self.state.adapter_names()
        if known == names:
            return gr.skip(), gr.skip(), gr.skip(), known
        new, chosen = [n for n in names if n not in (known or [])], chosen or []
        keep = play if play in names else BASE
        evaluate = [n for n in chosen if n in names] + [n for n in new if n not in chosen]
        picked = (gr.update(choices=names, value=v) for v in (keep, evaluate))
        return *picked, self.header(), names
